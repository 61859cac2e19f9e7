"""Training augmentation: one random affine per sample (applied by the C++ crop kernel) plus
photometric changes on the crop."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from facekd.errors import FacekdError

__all__ = ["AugmentConfig", "GeometricParams", "sample_geometry", "apply_photometric"]


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation ranges and probabilities (HRNet facial-landmark recipe by default).

    scale: crop scale factor drawn from [1 - scale, 1 + scale]; rotation: degrees drawn from
    [-rotation, rotation] with probability rotation_p; rotation_wide / rotation_wide_p: with that
    probability the angle is drawn from [-rotation_wide, rotation_wide] instead (occasional large
    rolls, e.g. 180 degrees, that a detector's keypoints can leave); translate: crop-centre shift per axis, a
    fraction of the crop side; flip_p: horizontal mirror (points permuted by the scheme);
    brightness / contrast / saturation: colour-jitter strengths applied with probability color_p;
    grayscale_p; blur_p with Gaussian sigma in blur_sigma (pixels at 256 px, scaled with the
    crop); occlusion_p: one random rectangle (side fraction in occlusion_size) of noise or flat
    colour pasted on the crop.
    """

    scale: float = 0.25
    rotation: float = 30.0
    rotation_p: float = 0.6
    rotation_wide: float = 0.0
    rotation_wide_p: float = 0.0
    translate: float = 0.05
    flip_p: float = 0.5
    color_p: float = 0.8
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    grayscale_p: float = 0.05
    blur_p: float = 0.1
    blur_sigma: tuple[float, float] = (0.5, 2.0)
    occlusion_p: float = 0.2
    occlusion_size: tuple[float, float] = (0.1, 0.4)

    def __post_init__(self) -> None:
        for f in ("rotation_p", "rotation_wide_p", "flip_p", "color_p", "grayscale_p", "blur_p", "occlusion_p"):
            v = getattr(self, f)
            if not 0.0 <= v <= 1.0:
                raise FacekdError(f"augment: {f} must be a probability in [0, 1], got {v}")
        for f in ("rotation", "rotation_wide", "translate", "brightness", "contrast", "saturation"):
            if getattr(self, f) < 0:
                raise FacekdError(f"augment: {f} must be >= 0, got {getattr(self, f)}")
        if not 0.0 <= self.scale < 1.0:
            raise FacekdError(f"augment: scale must be in [0, 1), got {self.scale}")
        for f in ("blur_sigma", "occlusion_size"):
            lo, hi = getattr(self, f)
            if not 0 <= lo <= hi:
                raise FacekdError(f"augment: {f} must be (low, high) with 0 <= low <= high")
        if self.occlusion_size[1] > 1:
            raise FacekdError("augment: occlusion_size is a fraction of the crop side (<= 1)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "AugmentConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise FacekdError(f"augment: unknown key(s) {unknown}; allowed: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation at all (identity geometry, no photometric change)."""
        return cls(scale=0.0, rotation=0.0, rotation_p=0.0, rotation_wide=0.0, rotation_wide_p=0.0,
                   translate=0.0, flip_p=0.0, color_p=0.0,
                   grayscale_p=0.0, blur_p=0.0, occlusion_p=0.0)

    @property
    def photometric(self) -> bool:
        return any(p > 0 for p in (self.color_p, self.grayscale_p, self.blur_p, self.occlusion_p))


@dataclass(frozen=True)
class GeometricParams:
    scale: float = 1.0        # multiplies the crop scale
    rotation: float = 0.0     # degrees
    shift: tuple[float, float] = (0.0, 0.0)  # crop-centre shift, fraction of the crop side
    flip: bool = False


def sample_geometry(cfg: AugmentConfig, rng: np.random.Generator) -> GeometricParams:
    """Draw the per-sample geometric augmentation."""
    s = 1.0 + rng.uniform(-cfg.scale, cfg.scale)
    if cfg.rotation_wide_p > 0 and rng.random() < cfg.rotation_wide_p:  # no extra draw when off
        rot = rng.uniform(-cfg.rotation_wide, cfg.rotation_wide)
    else:
        rot = rng.uniform(-cfg.rotation, cfg.rotation) if rng.random() < cfg.rotation_p else 0.0
    shift = tuple(float(v) for v in rng.uniform(-cfg.translate, cfg.translate, size=2))
    flip = bool(rng.random() < cfg.flip_p)
    return GeometricParams(float(s), float(rot), shift, flip)  # type: ignore[arg-type]


_LUMA = np.asarray([0.299, 0.587, 0.114], dtype=np.float32)


def apply_photometric(crop: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter, grayscale, blur and occlusion on a crop [3, S, S] with values in [0, 1]
    (modified in place and returned, clipped to [0, 1])."""
    x = crop
    s = x.shape[-1]
    if rng.random() < cfg.color_p:
        ops = rng.permutation(3)
        for op in ops:
            if op == 0 and cfg.brightness > 0:
                x *= rng.uniform(1 - cfg.brightness, 1 + cfg.brightness)
            elif op == 1 and cfg.contrast > 0:
                m = float(np.tensordot(_LUMA, x, axes=1).mean())
                c = rng.uniform(1 - cfg.contrast, 1 + cfg.contrast)
                x -= m
                x *= c
                x += m
            elif op == 2 and cfg.saturation > 0:
                g = np.tensordot(_LUMA, x, axes=1)[None]
                a = rng.uniform(1 - cfg.saturation, 1 + cfg.saturation)
                x *= a
                x += (1 - a) * g
        np.clip(x, 0.0, 1.0, out=x)
    if rng.random() < cfg.grayscale_p:
        x[:] = np.tensordot(_LUMA, x, axes=1)[None]
    if rng.random() < cfg.blur_p:
        import cv2

        sigma = rng.uniform(*cfg.blur_sigma) * s / 256.0
        if sigma > 0.05:
            hwc = np.ascontiguousarray(x.transpose(1, 2, 0))
            hwc = cv2.GaussianBlur(hwc, (0, 0), sigmaX=sigma, sigmaY=sigma,
                                   borderType=cv2.BORDER_REFLECT)
            x[:] = hwc.transpose(2, 0, 1)
    if rng.random() < cfg.occlusion_p:
        lo, hi = cfg.occlusion_size
        w = max(1, int(round(rng.uniform(lo, hi) * s)))
        h = max(1, int(round(rng.uniform(lo, hi) * s)))
        x0 = int(rng.integers(0, s - w + 1))
        y0 = int(rng.integers(0, s - h + 1))
        if rng.random() < 0.5:
            x[:, y0:y0 + h, x0:x0 + w] = rng.random((3, h, w), dtype=np.float32)
        else:
            x[:, y0:y0 + h, x0:x0 + w] = rng.random((3, 1, 1), dtype=np.float32)
    return x
