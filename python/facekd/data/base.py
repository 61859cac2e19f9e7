"""The common loader protocol: lazily loaded face items, errors that name the file, skipping."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from facekd.errors import FacekdError
from facekd.schemes import LandmarkScheme

__all__ = ["DataError", "FaceRecord", "LandmarkDataset", "SkipBadSamples", "load_image", "image_cache_budget",
           "box_from_points", "transform_points", "IMAGE_EXTS", "IMAGE_CACHE_ENV"]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp", ".gif")


class DataError(FacekdError):
    """A sample that cannot be used: unreadable image, malformed annotation, wrong point count."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


IMAGE_CACHE_ENV = "FACEKD_IMAGE_CACHE_MB"
_CACHE: dict[str, np.ndarray] = {}
_CACHE_BYTES = [0]


def image_cache_budget() -> int:
    """Bytes of decoded images each process may keep (``$FACEKD_IMAGE_CACHE_MB``; unset or 0: no cache).

    A pure speed knob: cached pixels are the decoded pixels, so training results do not change with it
    (and it is not part of a run's config). The trainer keeps its loader workers alive across epochs when
    it is set, so that each worker keeps its cache."""
    text = os.environ.get(IMAGE_CACHE_ENV, "").strip()
    if not text:
        return 0
    try:
        mb = float(text)
    except ValueError:
        raise FacekdError(f"${IMAGE_CACHE_ENV} must be a number of megabytes, got {text!r}") from None
    if mb < 0:
        raise FacekdError(f"${IMAGE_CACHE_ENV} must be >= 0, got {text!r}")
    return int(mb * 2 ** 20)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image as uint8 RGB [H, W, 3] (any Pillow mode is converted).

    With ``$FACEKD_IMAGE_CACHE_MB`` set, decoded images are kept in this process (first come, up to that
    budget, never evicted) and returned read-only: callers must not write into the array."""
    budget = image_cache_budget()
    if budget:
        key = str(path)
        hit = _CACHE.get(key)
        if hit is not None:
            return hit
        arr = _decode(path)
        if _CACHE_BYTES[0] + arr.nbytes <= budget:
            arr.setflags(write=False)
            _CACHE[key] = arr
            _CACHE_BYTES[0] += arr.nbytes
        return arr
    return _decode(path)


def _decode(path: str | Path) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                if im.mode != "RGB":
                    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                        im = im.convert("RGBA").convert("RGB")
                    else:
                        im = im.convert("RGB")
                arr = np.asarray(im, dtype=np.uint8)
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError,
            Image.DecompressionBombWarning) as e:
        raise DataError(path, f"cannot read image ({type(e).__name__}: {e})") from None
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(path, f"unexpected decoded image shape {arr.shape}")
    return np.ascontiguousarray(arr)


def box_from_points(points: np.ndarray) -> np.ndarray:
    """Tight (x, y, w, h) box of the finite points (the kernels' box convention)."""
    from facekd import kernels

    pts = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("no finite landmark to build a box from")
    box, _ = kernels.box_from_landmarks(np.ascontiguousarray(pts))
    return np.asarray(box, dtype=np.float32)


def transform_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """``kernels.points_transform`` of points [K, 2] that keeps NaN (unlabelled) rows as NaN."""
    from facekd import kernels

    pts = np.asarray(points, dtype=np.float32)
    out = np.full_like(pts, np.nan)
    finite = np.isfinite(pts).all(axis=1)
    if finite.any():
        out[finite] = kernels.points_transform(np.ascontiguousarray(pts[finite]),
                                               np.asarray(affine, dtype=np.float32))
    return out


@dataclass
class FaceRecord:
    """One annotated face; the image is read only when the item is requested."""

    image_path: str
    landmarks: np.ndarray            # float32 [K, 2], 0-based pixel coordinates, NaN = unlabelled
    visible: np.ndarray              # bool [K]
    box: np.ndarray | None = None    # float32 [4] (x, y, w, h) from the annotation, if any
    meta: dict[str, Any] = field(default_factory=dict)


class LandmarkDataset:
    """Base of the loaders: a list of :class:`FaceRecord` read from an annotation source.

    ``ds[i]`` is a dict ``image`` (uint8 RGB [H,W,3]), ``landmarks`` (float32 [K,2], 0-based),
    ``visible`` (bool [K]), ``box`` (float32 [4]), ``meta`` (path, subsets, attributes, source).
    Annotation problems raise :class:`DataError` with ``on_error="raise"``; with ``"skip"`` they are
    listed in ``skipped`` as ``(path, reason)``. Unreadable images raise at access time.
    """

    source = "landmarks"

    def __init__(self, scheme: LandmarkScheme, records: list[FaceRecord],
                 skipped: list[tuple[str, str]] | None = None):
        self.scheme = scheme
        self.records = records
        self.skipped = list(skipped or [])

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} faces")
        r = self.records[index]
        image = load_image(r.image_path)
        box = r.box
        if box is None:
            try:
                box = box_from_points(r.landmarks)
            except ValueError as e:
                raise DataError(r.image_path, str(e)) from None
        meta = dict(r.meta)
        meta.setdefault("path", r.image_path)
        meta.setdefault("source", self.source)
        meta.setdefault("subsets", [])
        meta["index"] = index if index >= 0 else index + len(self)
        return {"image": image, "landmarks": r.landmarks.copy(), "visible": r.visible.copy(),
                "box": np.asarray(box, dtype=np.float32).copy(), "meta": meta}

    def select(self, indices) -> "LandmarkDataset":
        """A dataset of the faces at ``indices`` (same scheme and source)."""
        out = LandmarkDataset(self.scheme, [self.records[i] for i in indices])
        out.source = self.source
        return out

    def subsets(self) -> list[str]:
        """Subset names present (sorted by first appearance)."""
        seen: dict[str, None] = {}
        for r in self.records:
            for s in r.meta.get("subsets", ()):
                seen.setdefault(s, None)
        return list(seen)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self)} faces, scheme={self.scheme.name}"
                + (f", {len(self.skipped)} skipped" if self.skipped else "") + ")")


def fetch_skipping(get: Callable[[int], Any], index: int, n: int, *, max_tries: int,
                   on_skip: Callable[[int, DataError], None]) -> tuple[Any, int]:
    """``get(index)``, moving on to the next indices (cyclically) while they raise DataError.

    Returns the item and the number of bad samples passed over; raises after ``max_tries``.
    """
    last: DataError | None = None
    for t in range(max_tries):
        j = (index + t) % n
        try:
            return get(j), t
        except DataError as e:
            on_skip(j, e)
            last = e
    raise DataError(getattr(last, "path", "?"),
                    f"{max_tries} consecutive bad samples from index {index}; last: "
                    f"{getattr(last, 'reason', last)}")


class SkipBadSamples:
    """Wrap a dataset for training: a bad sample is skipped (the next good one is returned
    instead) and counted. ``summary()`` lists what was skipped and why."""

    def __init__(self, dataset, max_tries: int = 16):
        self.dataset = dataset
        self.max_tries = int(max_tries)
        self.skipped: Counter[tuple[str, str]] = Counter()
        for path, reason in getattr(dataset, "skipped", ()):
            self.skipped[(path, reason)] += 1

    def __len__(self) -> int:
        return len(self.dataset)

    def _record(self, _j: int, e: DataError) -> None:
        self.skipped[(e.path, e.reason)] += 1

    def __getitem__(self, index: int):
        item, _ = fetch_skipping(self.dataset.__getitem__, index, len(self.dataset),
                                 max_tries=self.max_tries, on_skip=self._record)
        return item

    @property
    def num_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        return summarize_skips(self.skipped.items())


def summarize_skips(skips: Iterable[tuple[tuple[str, str], int]], limit: int = 10) -> str:
    """Human-readable summary of ``((path, reason), count)`` pairs."""
    skips = list(skips)
    if not skips:
        return "no bad samples"
    total = sum(c for _, c in skips)
    lines = [f"{total} bad sample(s) skipped, {len(skips)} distinct:"]
    for (path, reason), c in skips[:limit]:
        lines.append(f"  {path}: {reason}" + (f" (x{c})" if c > 1 else ""))
    if len(skips) > limit:
        lines.append(f"  ... and {len(skips) - limit} more")
    return "\n".join(lines)
