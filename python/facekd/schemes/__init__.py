"""Landmark schemes: point count, flip permutation, eye corners, pupils and part groups.

Schemes are data (JSON files shipped in ``facekd/schemes/data``); ``load_scheme`` reads custom ones
from YAML or JSON. All indices are 0-based. Sides in group names are the subject's: ``right_eye`` is
the image-left eye on a frontal face, and ``eye_corners`` lists the image-left outer corner first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from facekd.errors import FacekdError

__all__ = [
    "LandmarkScheme", "SchemeError", "get_scheme", "load_scheme", "list_schemes", "as_scheme",
    "convert", "common_points", "IBUG68", "WFLW98", "COFW29", "AFLW19",
]


class SchemeError(FacekdError):
    """An invalid or unknown landmark scheme."""


@dataclass(frozen=True)
class LandmarkScheme:
    """A landmark markup. ``flip_perm[i]`` is the point that becomes point ``i`` after a horizontal
    mirror; ``pupils`` is a pair of index groups whose centroids are the pupils (inter-pupil NME)."""

    name: str
    num_points: int
    flip_perm: tuple[int, ...]
    eye_corners: tuple[int, int]
    pupils: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    groups: Mapping[str, tuple[int, ...]] = field(default_factory=dict, hash=False)
    names: tuple[str, ...] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _validate(self)

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "num_points": self.num_points,
            "flip_perm": list(self.flip_perm),
            "eye_corners": list(self.eye_corners),
            "pupils": None if self.pupils is None else [list(g) for g in self.pupils],
            "groups": {k: list(v) for k, v in self.groups.items()},
            "names": None if self.names is None else list(self.names),
            "description": self.description,
        }
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "scheme") -> "LandmarkScheme":
        """Build and validate a scheme from a mapping (e.g. parsed YAML/JSON)."""
        if not isinstance(d, Mapping):
            raise SchemeError(f"{source}: expected a mapping, got {type(d).__name__}")
        allowed = {"name", "num_points", "flip_perm", "eye_corners", "pupils", "groups", "names",
                   "description"}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise SchemeError(f"{source}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
        for key in ("name", "num_points", "flip_perm", "eye_corners"):
            if key not in d:
                raise SchemeError(f"{source}: missing required key '{key}'")
        try:
            pupils = d.get("pupils")
            return cls(
                name=str(d["name"]),
                num_points=_as_int(d["num_points"], "num_points", source),
                flip_perm=tuple(_as_int(i, "flip_perm", source) for i in d["flip_perm"]),
                eye_corners=tuple(_as_int(i, "eye_corners", source) for i in d["eye_corners"]),
                pupils=None if pupils is None else tuple(
                    tuple(_as_int(i, "pupils", source) for i in g) for g in pupils),
                groups={str(k): tuple(_as_int(i, f"groups.{k}", source) for i in v)
                        for k, v in (d.get("groups") or {}).items()},
                names=None if d.get("names") is None else tuple(str(n) for n in d["names"]),
                description=str(d.get("description", "")),
            )
        except TypeError as e:  # e.g. a number where a list was expected
            raise SchemeError(f"{source}: malformed field: {e}") from None

    # -- geometry helpers -------------------------------------------------------------------
    def flip_points(self, points: np.ndarray, image_width: float) -> np.ndarray:
        """Mirror points [..., K, 2] of an image ``image_width`` pixels wide (x -> W-1-x, pixel
        centres at integers) and permute them so that each index keeps its meaning."""
        pts = np.asarray(points, dtype=np.float32)
        if pts.shape[-2:] != (self.num_points, 2):
            raise SchemeError(f"{self.name}: points of shape {pts.shape} do not end in "
                              f"({self.num_points}, 2)")
        out = pts[..., list(self.flip_perm), :].copy()
        out[..., 0] = (image_width - 1) - out[..., 0]
        return out

    def group_of(self) -> list[str | None]:
        """Name of the group each point belongs to (first match), None where none."""
        out: list[str | None] = [None] * self.num_points
        for g, idx in self.groups.items():
            for i in idx:
                if out[i] is None:
                    out[i] = g
        return out


def _as_int(v: Any, what: str, source: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        if isinstance(v, float) and v.is_integer():
            return int(v)
        raise SchemeError(f"{source}: {what} must hold integers, got {v!r}")
    return int(v)


def _validate(s: LandmarkScheme) -> None:
    src = f"scheme '{s.name}'"
    if not s.name:
        raise SchemeError("scheme: 'name' must be a non-empty string")
    if s.num_points < 1:
        raise SchemeError(f"{src}: num_points must be >= 1, got {s.num_points}")
    k = s.num_points

    def check_range(idx: Sequence[int], what: str) -> None:
        bad = [i for i in idx if not 0 <= i < k]
        if bad:
            raise SchemeError(f"{src}: {what} has index(es) {bad} outside [0, {k - 1}]")

    perm = list(s.flip_perm)
    if len(perm) != k:
        raise SchemeError(f"{src}: flip_perm has {len(perm)} entries, expected num_points={k}")
    check_range(perm, "flip_perm")
    if sorted(perm) != list(range(k)):
        dup = sorted({i for i in perm if perm.count(i) > 1})
        raise SchemeError(f"{src}: flip_perm is not a permutation (repeated: {dup})")
    not_inv = [i for i in range(k) if perm[perm[i]] != i]
    if not_inv:
        raise SchemeError(f"{src}: flip_perm is not an involution (perm[perm[i]] != i for i in "
                          f"{not_inv[:10]})")
    if len(s.eye_corners) != 2:
        raise SchemeError(f"{src}: eye_corners must be a pair, got {list(s.eye_corners)}")
    check_range(s.eye_corners, "eye_corners")
    if s.eye_corners[0] == s.eye_corners[1]:
        raise SchemeError(f"{src}: eye_corners must be two different points")
    if perm[s.eye_corners[0]] != s.eye_corners[1]:
        raise SchemeError(f"{src}: flip_perm must swap the eye corners {list(s.eye_corners)}")
    if s.pupils is not None:
        if len(s.pupils) != 2 or any(len(g) == 0 for g in s.pupils):
            raise SchemeError(f"{src}: pupils must be two non-empty index groups")
        for g in s.pupils:
            check_range(g, "pupils")
    for g, idx in s.groups.items():
        if not idx:
            raise SchemeError(f"{src}: group '{g}' is empty")
        check_range(idx, f"group '{g}'")
    if s.names is not None and len(s.names) != k:
        raise SchemeError(f"{src}: names has {len(s.names)} entries, expected {k}")


# -- registry ---------------------------------------------------------------------------------

def _data_file(name: str):
    return resources.files("facekd.schemes").joinpath("data", name)


@lru_cache(maxsize=None)
def _builtin(name: str) -> LandmarkScheme:
    f = _data_file(f"{name}.json")
    return LandmarkScheme.from_dict(json.loads(f.read_text(encoding="utf-8")),
                                    source=f"built-in scheme {name}")


_BUILTIN_NAMES = ("ibug68", "wflw98", "cofw29", "aflw19")


def list_schemes() -> tuple[str, ...]:
    """Names of the built-in schemes."""
    return _BUILTIN_NAMES


def get_scheme(name: str) -> LandmarkScheme:
    """A built-in scheme by name (``ibug68``, ``wflw98``, ``cofw29``, ``aflw19``)."""
    key = str(name).lower()
    if key not in _BUILTIN_NAMES:
        raise SchemeError(f"unknown landmark scheme '{name}'; built-in: {', '.join(_BUILTIN_NAMES)}"
                          " (or give a path to a YAML/JSON scheme file)")
    return _builtin(key)


def load_scheme(path: str | Path) -> LandmarkScheme:
    """Read and validate a custom scheme from a ``.yaml``/``.yml``/``.json`` file."""
    p = Path(path)
    if not p.is_file():
        raise SchemeError(f"scheme file not found: {p}")
    text = p.read_text(encoding="utf-8")
    try:
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as e:  # yaml.YAMLError / json.JSONDecodeError
        raise SchemeError(f"{p}: cannot parse scheme file: {e}") from None
    return LandmarkScheme.from_dict(data, source=str(p))


def as_scheme(scheme: "LandmarkScheme | str | Path") -> LandmarkScheme:
    """Accept a scheme, a built-in name, or a path to a scheme file."""
    if isinstance(scheme, LandmarkScheme):
        return scheme
    s = str(scheme)
    if s.lower() in _BUILTIN_NAMES:
        return get_scheme(s)
    if Path(s).suffix.lower() in (".yaml", ".yml", ".json"):
        return load_scheme(s)
    return get_scheme(s)  # raises with the list of names


def scheme_for_count(num_points: int) -> LandmarkScheme | None:
    """The built-in scheme with ``num_points`` points, or None."""
    for n in _BUILTIN_NAMES:
        if _builtin(n).num_points == num_points:
            return _builtin(n)
    return None


# -- conversion between schemes ---------------------------------------------------------------

@lru_cache(maxsize=None)
def _conversions() -> dict[tuple[str, str], tuple[int, ...]]:
    raw = json.loads(_data_file("conversions.json").read_text(encoding="utf-8"))
    out = {}
    for key, entry in raw.items():
        src, dst = key.split("->")
        out[(src, dst)] = tuple(int(i) for i in entry["index"])
    return out


def common_points(a: LandmarkScheme | str, b: LandmarkScheme | str) -> tuple[list[int], list[int]]:
    """Index lists ``(ia, ib)`` with ``points_a[ia[j]]`` and ``points_b[ib[j]]`` the same facial point.

    Identity for equal schemes; the shipped WFLW-98 <-> iBUG-68 map otherwise (either direction).
    """
    sa, sb = as_scheme(a), as_scheme(b)
    if sa.name == sb.name:
        if sa.num_points != sb.num_points:
            raise SchemeError(f"two schemes named '{sa.name}' with different point counts")
        return list(range(sa.num_points)), list(range(sb.num_points))
    conv = _conversions()
    if (sa.name, sb.name) in conv:  # index into a for each point of b
        idx = conv[(sa.name, sb.name)]
        return list(idx), list(range(len(idx)))
    if (sb.name, sa.name) in conv:
        idx = conv[(sb.name, sa.name)]
        return list(range(len(idx))), list(idx)
    known = ", ".join(f"{s}<->{d}" for s, d in conv)
    raise SchemeError(f"no point correspondence between '{sa.name}' and '{sb.name}' (known: {known})")


def convert(points: np.ndarray, src: LandmarkScheme | str, dst: LandmarkScheme | str, *,
            fill: float | None = None) -> np.ndarray:
    """Re-index points [..., K_src, 2] (or [..., K_src]) into scheme ``dst``.

    Points of ``dst`` without a counterpart in ``src`` take ``fill`` (e.g. ``np.nan``); with
    ``fill=None`` such a conversion is refused.
    """
    s, d = as_scheme(src), as_scheme(dst)
    pts = np.asarray(points)
    axis = pts.ndim - 2 if (pts.ndim >= 2 and pts.shape[-1] == 2
                            and pts.shape[-2] == s.num_points) else pts.ndim - 1
    if pts.ndim == 0 or pts.shape[axis] != s.num_points:
        raise SchemeError(f"convert: points of shape {pts.shape} do not hold {s.num_points} "
                          f"'{s.name}' points")
    ia, ib = common_points(s, d)
    if len(ib) < d.num_points and fill is None:
        raise SchemeError(f"convert: '{s.name}' covers only {len(ib)} of the {d.num_points} "
                          f"'{d.name}' points; pass fill= (e.g. nan) to convert anyway")
    shape = list(pts.shape)
    shape[axis] = d.num_points
    if fill is None:
        out = np.empty(shape, dtype=pts.dtype)
    else:
        out = np.full(shape, fill, dtype=np.result_type(pts.dtype, np.float32))
    sl_out = [slice(None)] * pts.ndim
    sl_in = [slice(None)] * pts.ndim
    sl_out[axis], sl_in[axis] = ib, ia
    out[tuple(sl_out)] = pts[tuple(sl_in)]
    return out


def __getattr__(name: str) -> LandmarkScheme:
    consts = {"IBUG68": "ibug68", "WFLW98": "wflw98", "COFW29": "cofw29", "AFLW19": "aflw19"}
    if name in consts:
        return get_scheme(consts[name])
    raise AttributeError(f"module 'facekd.schemes' has no attribute '{name}'")
