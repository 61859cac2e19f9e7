"""Model card: everything needed to rebuild, feed and decode a facekd model, stored as JSON.

A card travels with the weights (``model.json`` beside ``model.safetensors``, inside training
checkpoints and inside exported programs). Preprocessing: crop the face box enlarged by
``crop_scale`` to ``input_size`` pixels, RGB, ``(v / 255 - mean) / std``; decode with ``codec``.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from facekd.errors import FacekdError

CARD_FORMAT = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _facekd_version() -> str:
    try:
        from facekd import __version__
        return __version__
    except Exception:  # pragma: no cover - only without the compiled core
        return "unknown"


@dataclass
class ModelCard:
    """Description of a trained model (serialised with :meth:`to_json`)."""

    model: str  # registry name, e.g. "hrnet_slim_w16"
    arch: str  # module family: "hrnet", "mobilenetv2_heatmap", "pfld_regress"
    config: dict[str, Any]  # the architecture config (rebuilds the module)
    num_keypoints: int
    input_size: int
    scheme: dict[str, Any]  # LandmarkScheme.to_dict() (custom schemes travel with the model)
    output_type: str = "heatmap"  # "heatmap" ([N,K,h,w]) or "coords" ([N,K,2], crop-normalised)
    codec: dict[str, Any] = field(default_factory=dict)  # HeatmapCodec.to_dict()
    crop_scale: float = 1.25
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    pixel_format: str = "RGB"
    facekd_version: str = field(default_factory=_facekd_version)
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    # Turn-check threshold measured for this model (mean landmark score below which the pipeline tries
    # the crop turned by 90/180/270 degrees; `facekd bench turn`, engine.evaluator.choose_threshold). None: 0.4.
    turn_threshold: float | None = None
    # Tracking loss threshold measured for this model (mean landmark score below which a tracked face counts as
    # lost; `facekd bench turn`, engine.evaluator.choose_threshold). None: 0.3.
    loss_threshold: float | None = None
    format: int = CARD_FORMAT

    def __post_init__(self) -> None:
        self.mean = tuple(float(v) for v in self.mean)
        self.std = tuple(float(v) for v in self.std)
        self.validate()

    @property
    def scheme_name(self) -> str:
        return str(self.scheme.get("name", ""))

    @property
    def flip_perm(self) -> list[int]:
        return list(self.scheme.get("flip_perm", []))

    def validate(self) -> None:
        def bad(msg: str) -> FacekdError:
            return FacekdError(f"invalid model card: {msg}")

        if self.format > CARD_FORMAT:
            raise bad(f"card format {self.format} is newer than this facekd understands ({CARD_FORMAT})")
        if self.num_keypoints < 1:
            raise bad(f"num_keypoints must be >= 1, got {self.num_keypoints}")
        cfg_k = self.config.get("num_keypoints")
        if cfg_k is not None and int(cfg_k) != self.num_keypoints:
            raise bad(f"config has {cfg_k} keypoints, card says {self.num_keypoints}")
        sk = self.scheme.get("num_points")
        if sk is not None and int(sk) != self.num_keypoints:
            raise bad(f"scheme '{self.scheme_name}' has {sk} points, card says {self.num_keypoints}")
        if self.input_size < 8:
            raise bad(f"input_size must be >= 8, got {self.input_size}")
        if self.output_type not in ("heatmap", "coords"):
            raise bad(f"output_type must be 'heatmap' or 'coords', got {self.output_type!r}")
        if self.output_type == "heatmap" and not self.codec:
            raise bad("a heatmap model needs a codec")
        if len(self.mean) != 3 or len(self.std) != 3 or any(s <= 0 for s in self.std):
            raise bad(f"mean/std must be 3 values with std > 0, got {self.mean} / {self.std}")
        if self.pixel_format != "RGB":
            raise bad(f"pixel_format must be 'RGB', got {self.pixel_format!r}")
        if self.crop_scale <= 0:
            raise bad(f"crop_scale must be > 0, got {self.crop_scale}")
        for name in ("turn_threshold", "loss_threshold"):
            t = getattr(self, name)
            if t is not None and (isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0):
                raise bad(f"{name} must be a finite number >= 0, got {t!r}")

    # -- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["flip_perm"] = self.flip_perm  # convenience copy for consumers that read JSON only
        for name in ("turn_threshold", "loss_threshold"):  # absent: consumers use 0.4 / 0.3
            if d[name] is None:
                del d[name]
        return d

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelCard":
        if not isinstance(d, dict):
            raise FacekdError(f"invalid model card: expected a JSON object, got {type(d).__name__}")
        d = dict(d)
        d.pop("flip_perm", None)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            hint = (" (the card of an exported model: read it with facekd.export.split_exported_card)"
                    if "export" in unknown else "")
            raise FacekdError(f"invalid model card: unknown field(s) {unknown}{hint}")
        missing = sorted(f.name for f in fields(cls) if f.name not in d and f.default is MISSING
                         and f.default_factory is MISSING)
        if missing:
            raise FacekdError(f"invalid model card: missing field(s) {missing}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "ModelCard":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise FacekdError(f"invalid model card JSON: {e}") from None

    @classmethod
    def read(cls, path: str | Path) -> "ModelCard":
        p = Path(path)
        if not p.is_file():
            raise FacekdError(f"model card not found: {p}")
        return cls.from_json(p.read_text(encoding="utf-8"))

    # -- helpers ------------------------------------------------------------------------------
    def get_scheme(self):
        """The landmark scheme (rebuilt from the stored dict, so custom schemes work)."""
        from facekd.schemes import LandmarkScheme
        return LandmarkScheme.from_dict(self.scheme, source="model card scheme")

    def get_codec(self):
        """The model's codec: :class:`~facekd.codecs.HeatmapCodec` for heatmap models,
        :class:`~facekd.codecs.CoordCodec` for coordinate models (both decode outputs to points)."""
        from facekd.codecs import CoordCodec, HeatmapCodec
        if self.output_type == "coords":
            return CoordCodec(self.input_size)
        return HeatmapCodec.from_dict(self.codec)
