"""Image corruptions at five severities, for robustness evaluation.

Two kinds. *Image* corruptions change the pixels of the whole image before it is cropped (noise,
blur, JPEG, brightness, contrast, low resolution, occluders placed from the ground-truth
landmarks). *Geometry* corruptions change the crop instead (in-plane rotation of the face in the
crop, detector-like box jitter); :func:`corrupt_geometry` gives their parameters.

Spatial sizes (blur lengths, occluder padding) are fractions of the face side (``max(w, h)`` of the
face box), so a severity means the same thing on small and large faces. Randomness comes from the
``rng`` passed in; the runner seeds it by (seed, corruption, face) and not by severity, so the five
severities of one face share their random draws (noise pattern, blur direction, jitter direction,
occluder colour) and differ only in strength.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from facekd.errors import FacekdError

__all__ = ["Corruption", "CorruptionError", "CORRUPTIONS", "SEVERITIES", "IMAGE_CORRUPTIONS",
           "GEOMETRY_CORRUPTIONS", "corrupt_image", "corrupt_geometry", "get_corruption",
           "face_side", "psnr"]

SEVERITIES = (1, 2, 3, 4, 5)


class CorruptionError(FacekdError):
    """An unknown corruption, a bad severity, or a corruption the data cannot support."""


@dataclass(frozen=True)
class Corruption:
    """One corruption: ``levels[s - 1]`` is its parameter at severity ``s`` (unit in ``unit``)."""

    name: str
    kind: str                      # "image" (pixels, before cropping) or "geometry" (the crop)
    levels: tuple[float, ...]
    unit: str
    description: str
    groups: tuple[str, ...] = ()   # scheme groups an occluder covers (needs landmarks)

    def level(self, severity: int) -> float:
        if isinstance(severity, bool) or int(severity) != severity or not 1 <= severity <= len(self.levels):
            raise CorruptionError(f"{self.name}: severity must be an integer in 1..{len(self.levels)}, "
                                  f"got {severity!r}")
        return float(self.levels[int(severity) - 1])


_LIST = (
    Corruption("gaussian_noise", "image", (0.08, 0.12, 0.18, 0.26, 0.38), "sigma / 255",
               "additive i.i.d. Gaussian noise per pixel and channel"),
    Corruption("motion_blur", "image", (0.03, 0.05, 0.08, 0.12, 0.16), "length / face side",
               "linear motion blur in a random direction"),
    Corruption("defocus_blur", "image", (0.015, 0.025, 0.04, 0.06, 0.08), "radius / face side",
               "disk (defocus) blur"),
    Corruption("jpeg", "image", (25, 18, 15, 10, 7), "JPEG quality", "JPEG re-encoding"),
    Corruption("brightness", "image", (0.1, 0.2, 0.3, 0.4, 0.5), "HSV value shift",
               "brightness raised in HSV space"),
    Corruption("contrast", "image", (0.4, 0.3, 0.2, 0.1, 0.05), "contrast factor",
               "contrast reduced around the mean colour"),
    Corruption("low_resolution", "image", (2, 3, 4, 6, 8), "downsampling factor",
               "downsampled (area) then upsampled (bilinear) to the original size"),
    Corruption("occlusion_eyes", "image", (1.0, 1.3, 1.6, 2.0, 2.5), "patch / eye-region box",
               "flat-colour patch over both eyes, placed from the ground-truth landmarks",
               groups=("right_eye", "left_eye")),
    Corruption("occlusion_mouth", "image", (1.0, 1.3, 1.6, 2.0, 2.5), "patch / mouth box",
               "flat-colour patch over the mouth, placed from the ground-truth landmarks",
               groups=("mouth",)),
    Corruption("rotation", "geometry", (10, 20, 30, 45, 60), "degrees",
               "in-plane rotation of the face in the crop (random sign)"),
    Corruption("box_jitter", "geometry", (0.05, 0.1, 0.15, 0.2, 0.3), "edge shift / box side",
               "each face-box edge moved by up to this fraction of the box side (detector noise)"),
)
CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in _LIST}
IMAGE_CORRUPTIONS = tuple(c.name for c in _LIST if c.kind == "image")
GEOMETRY_CORRUPTIONS = tuple(c.name for c in _LIST if c.kind == "geometry")
OCCLUSION_MIN_PAD = 0.02  # occluder padding around the points, fraction of the face side


def get_corruption(name: str) -> Corruption:
    try:
        return CORRUPTIONS[name]
    except (KeyError, TypeError):
        raise CorruptionError(f"unknown corruption {name!r}; available: {', '.join(CORRUPTIONS)}") from None


def face_side(box) -> float:
    """``max(w, h)`` of an (x, y, w, h) box, checked to be finite and positive."""
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.isfinite(b).all() or not max(b[2], b[3]) > 0:
        raise CorruptionError(f"face box must be 4 finite values with a positive side, got {b.tolist()}")
    return float(max(b[2], b[3]))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) of two uint8 images (inf when equal)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = float(np.mean(d * d))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def _check_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise CorruptionError("image must be a uint8 RGB array [H, W, 3], got "
                              + (f"{image.dtype} {list(image.shape)}" if isinstance(image, np.ndarray)
                                 else type(image).__name__))
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise CorruptionError(f"image must not be empty, got shape {list(image.shape)}")
    return image


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _filter(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    import cv2

    k = (kernel / kernel.sum()).astype(np.float32)
    out = cv2.filter2D(image.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT_101)
    return _to_uint8(out)


def _motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Anti-aliased line of ``length`` pixels through the kernel centre."""
    r = int(math.ceil(length / 2)) + 1
    size = 2 * r + 1
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    t = math.radians(angle_deg)
    along = xx * math.cos(t) + yy * math.sin(t)
    across = -xx * math.sin(t) + yy * math.cos(t)
    w_across = np.clip(1.0 - np.abs(across), 0.0, 1.0)
    w_along = np.clip(length / 2 + 0.5 - np.abs(along), 0.0, 1.0)
    k = w_across * w_along
    if k.sum() <= 0:
        k = np.zeros((size, size))
        k[r, r] = 1.0
    return k


def _disk_kernel(radius: float) -> np.ndarray:
    """Disk of ``radius`` pixels with a one-pixel anti-aliased rim."""
    r = int(math.ceil(radius)) + 1
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1].astype(np.float64)
    k = np.clip(radius + 0.5 - np.hypot(xx, yy), 0.0, 1.0)
    if k.sum() <= 0:
        k[r, r] = 1.0
    return k


def _occluder_box(landmarks: np.ndarray, scheme, groups: Sequence[str], factor: float,
                  side: float) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of the occluder: the tight box of the groups' points, padded and scaled."""
    missing = [g for g in groups if g not in scheme.groups]
    if missing:
        raise CorruptionError(f"scheme '{scheme.name}' has no group(s) {missing} to place an occluder on")
    idx = sorted({i for g in groups for i in scheme.groups[g]})
    pts = np.asarray(landmarks, dtype=np.float64)[idx]
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise CorruptionError(f"no labelled point in group(s) {list(groups)} to place an occluder on")
    pad = OCCLUSION_MIN_PAD * side
    x0, y0 = pts.min(axis=0) - pad
    x1, y1 = pts.max(axis=0) + pad
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hw, hh = (x1 - x0) / 2 * factor, (y1 - y0) / 2 * factor
    return cx - hw, cy - hh, cx + hw, cy + hh


def corrupt_image(image: np.ndarray, name: str, severity: int, rng: np.random.Generator, *,
                  box=None, landmarks: np.ndarray | None = None, scheme=None) -> np.ndarray:
    """A corrupted copy of ``image`` (uint8 RGB [H, W, 3]) for an *image* corruption.

    ``box`` (x, y, w, h) is the face box that spatial sizes refer to (default: the whole image).
    Occlusions need ``landmarks`` [K, 2] (image coordinates) and their ``scheme``.
    """
    import cv2

    c = get_corruption(name)
    if c.kind != "image":
        raise CorruptionError(f"{name} changes the crop, not the image: use corrupt_geometry")
    level = c.level(severity)
    img = _check_image(image)
    h, w = img.shape[:2]
    side = face_side(box) if box is not None else float(max(h, w))
    x = img.astype(np.float32)

    if name == "gaussian_noise":
        noise = rng.standard_normal(img.shape, dtype=np.float32)
        return _to_uint8(x + noise * (level * 255.0))
    if name == "motion_blur":
        angle = float(rng.uniform(0.0, 180.0))
        return _filter(img, _motion_kernel(max(1.0, level * side), angle))
    if name == "defocus_blur":
        return _filter(img, _disk_kernel(max(0.5, level * side)))
    if name == "jpeg":
        ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(level)])
        if not ok:
            raise CorruptionError("JPEG encoding failed")
        return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1])
    if name == "brightness":
        hsv = cv2.cvtColor(x / 255.0, cv2.COLOR_RGB2HSV)
        hsv[..., 2] = np.clip(hsv[..., 2] + level, 0.0, 1.0)
        return _to_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB) * 255.0)
    if name == "contrast":
        mean = x.mean(axis=(0, 1), keepdims=True)
        return _to_uint8((x - mean) * level + mean)
    if name == "low_resolution":
        sw, sh = max(1, int(round(w / level))), max(1, int(round(h / level)))
        small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR))
    if name in ("occlusion_eyes", "occlusion_mouth"):
        if landmarks is None or scheme is None:
            raise CorruptionError(f"{name} is placed from the landmarks: pass landmarks= and scheme=")
        colour = rng.integers(0, 256, size=3).astype(np.uint8)
        x0, y0, x1, y1 = _occluder_box(landmarks, scheme, c.groups, level, side)
        out = img.copy()
        # pixel i covers [i - 0.5, i + 0.5]: fill the pixels whose centre lies inside the patch
        c0, c1 = max(0, math.ceil(x0)), min(w - 1, math.floor(x1))
        r0, r1 = max(0, math.ceil(y0)), min(h - 1, math.floor(y1))
        if c0 <= c1 and r0 <= r1:
            out[r0:r1 + 1, c0:c1 + 1] = colour
        return out
    raise CorruptionError(f"no implementation for image corruption {name!r}")  # pragma: no cover


def corrupt_geometry(name: str, severity: int, rng: np.random.Generator) -> dict[str, Any]:
    """Parameters of a *geometry* corruption: ``{"rotation": degrees}`` or ``{"box_jitter": f}``
    (each box edge moves by ``u * f * side`` with ``u`` uniform in [-1, 1], see
    :class:`facekd.robust.runner.CorruptedCrops`). The sign of the rotation comes from ``rng``."""
    c = get_corruption(name)
    if c.kind != "geometry":
        raise CorruptionError(f"{name} changes the image, not the crop: use corrupt_image")
    level = c.level(severity)
    if name == "rotation":
        sign = 1.0 if rng.random() < 0.5 else -1.0
        return {"rotation": sign * level}
    return {"box_jitter": level}
