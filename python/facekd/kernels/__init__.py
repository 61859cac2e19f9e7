"""facekd kernels: heatmap decoding, face-crop preprocessing, landmark geometry, One-Euro smoothing.

The fast path through the C library (``facekd._core``, the C API of ``csrc/include/facekd/c_api.h``
that the iOS and Android libraries run too). :mod:`facekd.kernels.reference` is the same API in
plain numpy and the readable specification. Coordinates: the centre of pixel ``i`` is at ``i``;
``x`` is the column, ``y`` the row.

Bad input raises ``TypeError`` (wrong type or dtype) or ``ValueError`` (shape, layout, value), with a
message naming the argument.
"""

from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from facekd import _core

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PIXEL_FORMATS: tuple[str, ...] = tuple(_core.PIXEL_FORMATS)
DECODE_MODES: tuple[str, ...] = tuple(_core.DECODE_MODES)

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "PIXEL_FORMATS", "DECODE_MODES",
    "decode_heatmaps", "box_to_affine", "crop_affine", "crop_box", "affine_invert",
    "points_transform", "heatmap_to_image", "box_from_landmarks", "OneEuroSmoother",
]


def _real(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def _int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return int(value)


def _floats(value, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A small real-valued array argument as float32 (boxes, affines, points)."""
    try:
        arr = np.asarray(value)
    except Exception as e:  # ragged sequences and the like
        raise TypeError(f"{name} must be a real-valued array: {e}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{name} must be a real-valued array, got dtype {arr.dtype}")
    if shape is not None and arr.shape != shape:
        raise ValueError(f"{name} must have shape {list(shape)}, got {list(arr.shape)}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _channel_values(value, name: str, out_channels: int) -> tuple[float, float, float]:
    """mean/std: 3 values, or (for 1 output channel) a scalar or 1 value; padded to 3."""
    arr = np.atleast_1d(_floats(value, name)).astype(np.float64)
    if arr.ndim != 1 or arr.size not in ((1, 3) if out_channels == 1 else (3,)):
        raise ValueError(f"{name} must hold {'1 or 3' if out_channels == 1 else '3'} values, got shape {list(arr.shape)}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr.tolist()}")
    values = arr.tolist() if arr.size == 3 else [arr[0]] * 3
    return values[0], values[1], values[2]


def _format_code(pixel_format: str) -> int:
    if not isinstance(pixel_format, str):
        raise TypeError(f"pixel_format must be a string, got {type(pixel_format).__name__}")
    try:
        return _core.PIXEL_FORMATS[pixel_format.upper()]
    except KeyError:
        raise ValueError(f"pixel_format must be one of {', '.join(PIXEL_FORMATS)}; got {pixel_format!r}") from None


def _image(image, name: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy uint8 array, got {type(image).__name__}")
    return image


# ------------------------------------------------------------------------------------------------
# 1. Heatmap decoding
# ------------------------------------------------------------------------------------------------

def decode_heatmaps(heatmaps, mode: str = "argmax", *, blur_sigma: float = 1.5, beta: float = 1.0):
    """Peak of every heatmap -> (coords float32 ``[N, K, 2]`` (x, y) in heatmap pixels, scores
    float32 ``[N, K]``, the maximum of each map).

    ``heatmaps``: float32 ``[N, K, H, W]``, or ``[K, H, W]`` (outputs then have no N axis).
    ``mode``: ``"argmax"`` (+ quarter-pixel shift), ``"dark"`` (Taylor refinement on the log of the
    map blurred with ``blur_sigma``, normally the training target's sigma) or ``"softargmax"``
    (softmax of ``beta * map`` as weights: the map is read as logits; a log-domain Gaussian decodes
    exactly with beta 1, while a plain Gaussian of peak 1 on a zero background needs beta ~16 to
    outweigh the background, and then sigma >= 2 px to stay within 0.05 px on a 64x64 map; at
    sigma 1 no beta gets below ~0.26 px).
    """
    hm = np.asarray(heatmaps)
    if hm.dtype != np.float32:
        raise TypeError(f"heatmaps must be float32, got {hm.dtype}")
    if hm.ndim not in (3, 4):
        raise ValueError(f"heatmaps must have shape [N, K, H, W] or [K, H, W], got {list(hm.shape)}")
    if hm.size == 0:
        raise ValueError(f"heatmaps must not be empty, got shape {list(hm.shape)}")
    if not isinstance(mode, str) or mode.lower() not in _core.DECODE_MODES:
        raise ValueError(f"mode must be one of {', '.join(DECODE_MODES)}; got {mode!r}")
    batched = hm.ndim == 4
    hm4 = np.ascontiguousarray(hm if batched else hm[None])
    coords, scores = _core.decode_heatmaps(hm4, _core.DECODE_MODES[mode.lower()], _real(blur_sigma, "blur_sigma"),
                                           _real(beta, "beta"))
    return (coords, scores) if batched else (coords[0], scores[0])


# ------------------------------------------------------------------------------------------------
# 2. Face-crop preprocessing
# ------------------------------------------------------------------------------------------------

def box_to_affine(box, *, scale: float = 1.25, rotation: float = 0.0, flip: bool = False,
                  out_size: int = 256) -> np.ndarray:
    """Crop-to-image affine float32 ``[2, 3]`` for a face box (x, y, w, h): a square crop of side
    ``max(w, h) * scale`` around the box centre, ``out_size`` pixels wide, rotated by ``rotation``
    degrees (pass the roll of :func:`box_from_landmarks` for an upright face), mirrored if ``flip``."""
    return _core.box_to_affine(_floats(box, "box", (4,)), _real(scale, "scale"), _real(rotation, "rotation"),
                               bool(flip), _int(out_size, "out_size"))


def crop_affine(image, affine, out_size: int, *, pixel_format: str = "RGB", out_channels: int = 3,
                mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                border_value: float = 0.0, uv=None, out=None) -> np.ndarray:
    """Normalised float32 ``[C, S, S]`` crop: ``out[c, v, u] = (bilinear(image, A (u, v, 1)) / 255 -
    mean[c]) / std[c]``, samples outside the image take ``border_value`` (0..255).

    ``image``: uint8 ``[H, W, C]`` (C matching ``pixel_format``: RGB/BGR 3, RGBA/BGRA 4) or ``[H, W]``
    for GRAY/NV12/NV21 (the Y plane); rows may be padded (any row stride, e.g. ``big[:, :W]``), the
    pixels of a row must be contiguous. ``uv`` (NV12/NV21): uint8 ``[ceil(H/2), 2*ceil(W/2)]``; when
    None, ``image`` is the stacked ``[H + ceil(H/2), W]`` buffer (even W). ``out_channels``: 3 (RGB
    order) or 1 (gray). ``out``: optional float32 C-contiguous ``[C, S, S]`` buffer, filled and returned.
    """
    oc = _int(out_channels, "out_channels")
    return _core.crop_affine(_image(image), _format_code(pixel_format), uv, _floats(affine, "affine", (2, 3)),
                             _int(out_size, "out_size"), oc, _channel_values(mean, "mean", oc),
                             _channel_values(std, "std", oc), _real(border_value, "border_value"), out)


def crop_box(image, box, out_size: int, *, scale: float = 1.25, rotation: float = 0.0, flip: bool = False,
             pixel_format: str = "RGB", out_channels: int = 3, mean: Sequence[float] = IMAGENET_MEAN,
             std: Sequence[float] = IMAGENET_STD, border_value: float = 0.0, uv=None, out=None):
    """:func:`box_to_affine` + :func:`crop_affine` -> (crop ``[C, S, S]``, affine ``[2, 3]``).
    The box must overlap the image."""
    oc = _int(out_channels, "out_channels")
    crop, affine = _core.crop_box(_image(image), _format_code(pixel_format), uv, _floats(box, "box", (4,)),
                                  _real(scale, "scale"), _real(rotation, "rotation"), bool(flip),
                                  _int(out_size, "out_size"), oc, _channel_values(mean, "mean", oc),
                                  _channel_values(std, "std", oc), _real(border_value, "border_value"), out)
    return crop, affine


# ------------------------------------------------------------------------------------------------
# 3. Landmark geometry
# ------------------------------------------------------------------------------------------------

def affine_invert(affine) -> np.ndarray:
    """Inverse of a 2x3 affine (ValueError if singular)."""
    return _core.affine_invert(_floats(affine, "affine", (2, 3)))


def points_transform(points, affine) -> np.ndarray:
    """``A (p, 1)`` for every point of ``points [..., 2]``; float32, same shape."""
    p = _floats(points, "points")
    if p.ndim < 1 or p.shape[-1] != 2:
        raise ValueError(f"points must have shape [..., 2], got {list(p.shape)}")
    out = _core.points_transform(p.reshape(-1, 2), _floats(affine, "affine", (2, 3)))
    return out.reshape(p.shape)


def heatmap_to_image(points, heatmap_size, input_size, affine) -> np.ndarray:
    """Heatmap coordinates -> image coordinates (float32, same shape as ``points``).

    ``points``: ``[K, 2]`` with ``affine [2, 3]``, or ``[N, K, 2]`` with ``affine [N, 2, 3]`` (or one
    ``[2, 3]`` for all). ``heatmap_size``, ``input_size``: (w, h) of the heatmap and of the network input.
    """
    p = _floats(points, "points")
    A = _floats(affine, "affine")
    sizes = []
    for name, size in (("heatmap_size", heatmap_size), ("input_size", input_size)):
        if not isinstance(size, (tuple, list, np.ndarray)) or len(size) != 2:
            raise ValueError(f"{name} must be (w, h), got {size!r}")
        sizes.extend(_int(s, name) for s in size)
    hw, hh, iw, ih = sizes
    if p.ndim == 2 and p.shape[1] == 2:
        if A.shape != (2, 3):
            raise ValueError(f"affine must have shape [2, 3] for points [K, 2], got {list(A.shape)}")
        return _core.heatmap_to_image(p, hw, hh, iw, ih, A)
    if p.ndim == 3 and p.shape[2] == 2:
        if A.shape == (2, 3):
            A = np.broadcast_to(A, (p.shape[0], 2, 3))
        if A.shape != (p.shape[0], 2, 3):
            raise ValueError(f"affine must have shape [{p.shape[0]}, 2, 3] or [2, 3], got {list(A.shape)}")
        out = np.empty_like(p)
        for i in range(p.shape[0]):
            out[i] = _core.heatmap_to_image(p[i], hw, hh, iw, ih, np.ascontiguousarray(A[i]))
        return out
    raise ValueError(f"points must have shape [K, 2] or [N, K, 2], got {list(p.shape)}")


def box_from_landmarks(points, left_idx: int = -1, right_idx: int = -1):
    """Tight box float32 ``[4]`` (x_min, y_min, w, h) of ``points [K, 2]`` and the roll in degrees
    of the eye corners ``left_idx`` (image-left) -> ``right_idx`` (0 when either is negative)."""
    p = _floats(points, "points")
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0:
        raise ValueError(f"points must have shape [K, 2] with K >= 1, got {list(p.shape)}")
    box, roll = _core.box_from_landmarks(p, _int(left_idx, "left_idx"), _int(right_idx, "right_idx"))
    return box, float(roll)


# ------------------------------------------------------------------------------------------------
# 4. One-Euro smoother
# ------------------------------------------------------------------------------------------------

class OneEuroSmoother:
    """One-Euro filter over frames of ``n_values`` floats (e.g. K landmarks x 2), owning an
    ``fk_smoother``. ``apply(values, timestamp)`` (seconds, strictly increasing) returns the filtered
    frame with the shape of ``values``; the first frame after creation or :meth:`reset` passes through."""

    def __init__(self, n_values: int, *, min_cutoff: float = 1.0, beta: float = 0.007, d_cutoff: float = 1.0):
        self._impl = _core.Smoother(_int(n_values, "n_values"), _real(min_cutoff, "min_cutoff"),
                                    _real(beta, "beta"), _real(d_cutoff, "d_cutoff"))

    @property
    def n_values(self) -> int:
        return self._impl.n_values

    def apply(self, values, timestamp: float) -> np.ndarray:
        v = _floats(values, "values")
        if v.size != self.n_values:
            raise ValueError(f"values must hold n_values = {self.n_values} floats, got shape {list(v.shape)}")
        return self._impl.apply(v.reshape(-1), _real(timestamp, "timestamp")).reshape(v.shape)

    def reset(self) -> None:
        self._impl.reset()
