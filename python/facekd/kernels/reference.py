"""Pure-numpy reference of the facekd kernels: the readable specification of
``csrc/include/facekd/c_api.h``.

Same public names and arguments as :mod:`facekd.kernels` (the fast path through the C library);
tests check one against the other, and ``tests/golden/generate.py`` writes the golden vectors from
this module. Written for clarity, not speed: arithmetic in float64, results in float32.

Coordinates: the centre of pixel ``i`` is at coordinate ``i`` (a ``W``-pixel row spans
``[-0.5, W - 0.5]``); ``x`` is the column, ``y`` the row. Parameters that are float32 in the C API
(sigma, beta, affines, boxes, ...) are rounded to float32 first, exactly as a C caller would pass them.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PIXEL_FORMATS = ("RGB", "BGR", "RGBA", "BGRA", "GRAY", "NV12", "NV21")
DECODE_MODES = ("argmax", "dark", "softargmax")

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "PIXEL_FORMATS", "DECODE_MODES",
    "decode_heatmaps", "box_to_affine", "crop_affine", "crop_box", "affine_invert",
    "points_transform", "heatmap_to_image", "box_from_landmarks", "OneEuroSmoother",
]


def _f32(value) -> float:
    """A parameter as the C API sees it: rounded to float32, then computed with in float64."""
    return float(np.float32(value))


def _f32_array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).astype(np.float64)


# ------------------------------------------------------------------------------------------------
# 1. Heatmap decoding
# ------------------------------------------------------------------------------------------------

def decode_heatmaps(heatmaps, mode: str = "argmax", *, blur_sigma: float = 1.5, beta: float = 1.0):
    """Peak of every heatmap: float32 ``[N, K, H, W]`` (or ``[K, H, W]``) -> (coords ``[N, K, 2]``
    as (x, y) in heatmap pixels, scores ``[N, K]`` = the maximum of each map)."""
    hm = np.asarray(heatmaps, dtype=np.float32)
    batched = hm.ndim == 4
    if not batched:
        hm = hm[None]
    if hm.ndim != 4 or hm.size == 0:
        raise ValueError(f"heatmaps must have shape [N, K, H, W] or [K, H, W], got {np.shape(heatmaps)}")
    if mode not in DECODE_MODES:
        raise ValueError(f"mode must be one of {DECODE_MODES}, got {mode!r}")
    n, k = hm.shape[:2]
    coords = np.zeros((n, k, 2), np.float32)
    scores = np.zeros((n, k), np.float32)
    for i in range(n):
        for j in range(k):
            if not np.isfinite(hm[i, j]).all():
                raise ValueError(f"heatmaps[{i}, {j}] (sample, keypoint) contains NaN or Inf")
            coords[i, j], scores[i, j] = _decode_map(hm[i, j], mode, _f32(blur_sigma), _f32(beta))
    return (coords, scores) if batched else (coords[0], scores[0])


def _decode_map(m: np.ndarray, mode: str, sigma: float, beta: float):
    h, w = m.shape
    py, px = np.unravel_index(np.argmax(m), m.shape)  # ties: the first in row-major order
    score = m[py, px]
    if mode == "argmax":
        return _quarter_shift(m, px, py), score
    if mode == "dark":
        return _dark(m, px, py, sigma), score
    # soft-argmax: the softmax of beta * map (maximum subtracted first) weights the pixel positions.
    e = np.exp(beta * (m.astype(np.float64) - float(score)))
    ys, xs = np.mgrid[0:h, 0:w]
    return ((e * xs).sum() / e.sum(), (e * ys).sum() / e.sum()), score


def _quarter_shift(m: np.ndarray, px: int, py: int):
    """argmax + the MSRA/HRNet quarter-pixel shift toward the higher neighbour (not on borders)."""
    h, w = m.shape
    x, y = float(px), float(py)
    if 0 < px < w - 1:
        x += 0.25 * np.sign(float(m[py, px + 1]) - float(m[py, px - 1]))
    if 0 < py < h - 1:
        y += 0.25 * np.sign(float(m[py + 1, px]) - float(m[py - 1, px]))
    return x, y


def _dark(m: np.ndarray, px: int, py: int, sigma: float):
    """DARK: a Newton step on the log of the Gaussian-blurred map around the argmax."""
    h, w = m.shape
    r = math.ceil(3.0 * sigma)
    g = np.exp(-np.arange(-r, r + 1, dtype=np.float64) ** 2 / (2.0 * sigma * sigma))
    g /= g.sum()  # normalised 1-D kernel; the blur is separable
    padded = np.pad(m.astype(np.float64), r)  # zero outside the map

    def log_blurred(dx: int, dy: int) -> float:
        # Positions outside the map take the value of the nearest in-map position.
        x = min(max(px + dx, 0), w - 1)
        y = min(max(py + dy, 0), h - 1)
        window = padded[y:y + 2 * r + 1, x:x + 2 * r + 1]
        return math.log(max(float(g @ window @ g), 1e-10))

    L = log_blurred
    dx = 0.5 * (L(1, 0) - L(-1, 0))
    dy = 0.5 * (L(0, 1) - L(0, -1))
    dxx = 0.25 * (L(2, 0) - 2 * L(0, 0) + L(-2, 0))
    dyy = 0.25 * (L(0, 2) - 2 * L(0, 0) + L(0, -2))
    dxy = 0.25 * (L(1, 1) - L(1, -1) - L(-1, 1) + L(-1, -1))
    det = dxx * dyy - dxy * dxy
    if not (dxx < 0 and det > 1e-12):  # the Hessian must be negative definite
        return float(px), float(py)
    step_x = -(dyy * dx - dxy * dy) / det  # -H^-1 g
    step_y = -(-dxy * dx + dxx * dy) / det
    if abs(step_x) > 1 or abs(step_y) > 1:
        return float(px), float(py)
    h, w = m.shape  # a peak on the border may step past it: keep the point on the map
    return min(max(px + step_x, -0.5), w - 0.5), min(max(py + step_y, -0.5), h - 0.5)


# ------------------------------------------------------------------------------------------------
# 2. Face-crop preprocessing
# ------------------------------------------------------------------------------------------------

def box_to_affine(box, *, scale: float = 1.25, rotation: float = 0.0, flip: bool = False,
                  out_size: int = 256) -> np.ndarray:
    """Affine ``[2, 3]`` mapping crop pixel (u, v, 1) to the image, for a face box (x, y, w, h).

    The crop is a square of side ``max(w, h) * scale`` centred on the box centre
    (x + w/2, y + h/2), tiled by ``out_size`` crop pixels, its axes rotated by ``rotation`` degrees
    (the crop's x axis turns from the image x axis toward the image y axis), mirrored
    horizontally (u -> S-1-u) when ``flip``.
    """
    x, y, w, h = _f32_array(box)
    if not (w > 0 and h > 0):
        raise ValueError(f"box width and height must be > 0, got {w}, {h}")
    s = int(out_size)
    step = max(w, h) * _f32(scale) / s  # image pixels per crop pixel
    t = math.radians(_f32(rotation))
    sx = -step if flip else step
    a, b = sx * math.cos(t), -step * math.sin(t)
    d, e = sx * math.sin(t), step * math.cos(t)
    m = (s - 1) / 2  # the crop centre, in crop pixels
    cx, cy = x + w / 2, y + h / 2
    return np.array([[a, b, cx - (a + b) * m], [d, e, cy - (d + e) * m]], np.float32)


def crop_affine(image, affine, out_size: int, *, pixel_format: str = "RGB", out_channels: int = 3,
                mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                border_value: float = 0.0, uv=None, out=None) -> np.ndarray:
    """``out[c, v, u] = (bilinear(rgb, A (u, v, 1)) / 255 - mean[c]) / std[c]``, float32 ``[C, S, S]``.

    The image is converted to RGB per pixel first; bilinear neighbours outside the image take
    ``border_value`` (pixel units, every channel). One output channel: BT.601 luma of the RGB value
    (a GRAY8 input gives its value).
    """
    rgb = _to_rgb(image, pixel_format, uv)
    H, W = rgb.shape[:2]
    A = _f32_array(affine).reshape(2, 3)
    S = int(out_size)
    v, u = np.mgrid[0:S, 0:S].astype(np.float64)
    x = A[0, 0] * u + A[0, 1] * v + A[0, 2]
    y = A[1, 0] * u + A[1, 1] * v + A[1, 2]
    fx, fy = x - np.floor(x), y - np.floor(y)
    # Far-away positions only ever see the border: clip them before the integer conversion.
    x0 = np.clip(np.floor(x), -2, W + 1).astype(np.int64)
    y0 = np.clip(np.floor(y), -2, H + 1).astype(np.int64)
    border = _f32(border_value)

    def pixel(xi, yi):  # [S, S, 3]: RGB value of pixel (xi, yi), or the border outside the image
        inside = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        value = np.full(xi.shape + (3,), border)
        value[inside] = rgb[yi[inside], xi[inside]]
        return value

    wx, wy = fx[..., None], fy[..., None]
    top = pixel(x0, y0) * (1 - wx) + pixel(x0 + 1, y0) * wx
    bottom = pixel(x0, y0 + 1) * (1 - wx) + pixel(x0 + 1, y0 + 1) * wx
    value = top * (1 - wy) + bottom * wy  # [S, S, 3]

    if out_channels == 3:
        planes = value.transpose(2, 0, 1)
    elif out_channels == 1:
        gray = value[..., 0] if pixel_format == "GRAY" else value @ np.array([0.299, 0.587, 0.114])
        planes = gray[None]
    else:
        raise ValueError(f"out_channels must be 1 or 3, got {out_channels}")
    c = planes.shape[0]
    mean_ = np.atleast_1d(_f32_array(mean))[:c, None, None]
    std_ = np.atleast_1d(_f32_array(std))[:c, None, None]
    result = ((planes / 255.0 - mean_) / std_).astype(np.float32)
    if out is not None:
        out[...] = result
        return out
    return result


def crop_box(image, box, out_size: int, *, scale: float = 1.25, rotation: float = 0.0, flip: bool = False,
             pixel_format: str = "RGB", out_channels: int = 3, mean: Sequence[float] = IMAGENET_MEAN,
             std: Sequence[float] = IMAGENET_STD, border_value: float = 0.0, uv=None, out=None):
    """:func:`box_to_affine` + :func:`crop_affine`; the box must overlap the image.
    Returns (crop ``[C, S, S]``, affine ``[2, 3]``)."""
    x, y, w, h = _f32_array(box)
    H, W = _to_rgb(image, pixel_format, uv).shape[:2]
    # The image covers [-0.5, W - 0.5] x [-0.5, H - 0.5].
    if not (x < W - 0.5 and x + w > -0.5 and y < H - 0.5 and y + h > -0.5):
        raise ValueError(f"box {(x, y, w, h)} does not overlap the {W}x{H} image")
    A = box_to_affine(box, scale=scale, rotation=rotation, flip=flip, out_size=out_size)
    crop = crop_affine(image, A, out_size, pixel_format=pixel_format, out_channels=out_channels, mean=mean,
                       std=std, border_value=border_value, uv=uv, out=out)
    return crop, A


def _to_rgb(image, pixel_format: str, uv=None) -> np.ndarray:
    """float64 ``[H, W, 3]`` RGB of an image in any of :data:`PIXEL_FORMATS`."""
    im = np.asarray(image)
    if pixel_format == "RGB":
        return im[..., :3].astype(np.float64)
    if pixel_format == "BGR":
        return im[..., 2::-1].astype(np.float64)
    if pixel_format == "RGBA":
        return im[..., :3].astype(np.float64)
    if pixel_format == "BGRA":
        return im[..., 2::-1].astype(np.float64)
    if pixel_format == "GRAY":
        g = im.reshape(im.shape[0], im.shape[1]).astype(np.float64)
        return np.repeat(g[..., None], 3, axis=2)
    if pixel_format in ("NV12", "NV21"):
        if uv is None:  # stacked buffer: H rows of Y, then ceil(H/2) rows of chroma
            rows = im.shape[0]
            H = 2 * rows // 3
            Y, uv = im[:H], im[H:]
        else:
            Y, uv = im, np.asarray(uv)
        H, W = Y.shape
        chroma = uv.reshape(uv.shape[0], -1)[:, : 2 * ((W + 1) // 2)].reshape(uv.shape[0], -1, 2)
        # Pixel (x, y) uses chroma sample (x // 2, y // 2).
        c = chroma[np.arange(H)[:, None] // 2, np.arange(W)[None, :] // 2].astype(np.float64)
        U, V = (c[..., 0], c[..., 1]) if pixel_format == "NV12" else (c[..., 1], c[..., 0])
        U, V, Y = U - 128.0, V - 128.0, Y.astype(np.float64)
        rgb = np.stack([Y + 1.402 * V, Y - 0.344136 * U - 0.714136 * V, Y + 1.772 * U], axis=-1)
        return np.clip(rgb, 0.0, 255.0)  # full-range BT.601
    raise ValueError(f"pixel_format must be one of {PIXEL_FORMATS}, got {pixel_format!r}")


# ------------------------------------------------------------------------------------------------
# 3. Landmark geometry
# ------------------------------------------------------------------------------------------------

def affine_invert(affine) -> np.ndarray:
    """Inverse of a 2x3 affine; ``|det| < 1e-12`` is singular."""
    (a, b, c), (d, e, f) = _f32_array(affine).reshape(2, 3)
    det = a * e - b * d
    if abs(det) < 1e-12:
        raise ValueError(f"affine is singular (|det| = {abs(det):g})")
    inverse = np.array([[e, -b, b * f - c * e], [-d, a, c * d - a * f]]) / det
    return inverse.astype(np.float32)


def points_transform(points, affine) -> np.ndarray:
    """``A (p, 1)`` for every point of ``points [..., 2]``."""
    p = _f32_array(points)
    A = _f32_array(affine).reshape(2, 3)
    return (p @ A[:, :2].T + A[:, 2]).astype(np.float32)


def heatmap_to_image(points, heatmap_size, input_size, affine) -> np.ndarray:
    """Heatmap coordinates -> crop (``(x + 0.5) * input / heatmap - 0.5``) -> image through the
    crop-to-image affine. ``points [K, 2]`` with ``affine [2, 3]``, or ``[N, K, 2]`` with ``[N, 2, 3]``."""
    p = _f32_array(points)
    (hw, hh), (iw, ih) = heatmap_size, input_size
    crop = (p + 0.5) * np.array([iw / hw, ih / hh]) - 0.5
    A = _f32_array(affine)
    if p.ndim == 3:
        A = np.broadcast_to(A.reshape(-1, 2, 3), (p.shape[0], 2, 3))
        return np.stack([points_transform(c, a) for c, a in zip(crop, A)])
    return points_transform(crop, A)


def box_from_landmarks(points, left_idx: int = -1, right_idx: int = -1):
    """Tight box (x_min, y_min, width, height) of ``points [K, 2]`` and the roll in degrees
    ``atan2(y_r - y_l, x_r - x_l)`` of the two eye corners (0 when an index is negative)."""
    p = _f32_array(points).reshape(-1, 2)
    if not np.isfinite(p).all():
        raise ValueError("points must be finite")
    lo, hi = p.min(axis=0), p.max(axis=0)
    box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float32)
    roll = 0.0
    if left_idx >= 0 and right_idx >= 0:
        dx, dy = p[right_idx] - p[left_idx]
        roll = math.degrees(math.atan2(dy, dx))
    return box, float(np.float32(roll))


# ------------------------------------------------------------------------------------------------
# 4. One-Euro smoother
# ------------------------------------------------------------------------------------------------

class OneEuroSmoother:
    """One-Euro filter (Casiez, Roussel, Vogel, CHI 2012) over frames of ``n_values`` floats.

    The first frame (after construction or :meth:`reset`) passes through; then, per value,
    ``dx_hat`` low-passes the speed with cutoff ``d_cutoff`` and ``x_hat`` low-passes the value with
    cutoff ``min_cutoff + beta * |dx_hat|``, where ``alpha(fc, dt) = 1 / (1 + 1 / (2 pi fc dt))``.
    """

    def __init__(self, n_values: int, *, min_cutoff: float = 1.0, beta: float = 0.007, d_cutoff: float = 1.0):
        self.n_values = int(n_values)
        self.min_cutoff, self.beta, self.d_cutoff = _f32(min_cutoff), _f32(beta), _f32(d_cutoff)
        self.reset()

    def reset(self) -> None:
        self._x_hat = None
        self._dx_hat = None
        self._t = None

    @staticmethod
    def _alpha(cutoff, dt):
        return 1.0 / (1.0 + 1.0 / (2.0 * math.pi * cutoff * dt))

    def apply(self, values, timestamp: float) -> np.ndarray:
        x = _f32_array(values)
        if x.size != self.n_values:
            raise ValueError(f"values must hold {self.n_values} floats, got {x.size}")
        if not np.isfinite(x).all():
            raise ValueError("values must be finite")
        t = float(timestamp)
        if not math.isfinite(t):
            raise ValueError(f"timestamp must be finite, got {t}")
        if self._x_hat is None:
            self._x_hat, self._dx_hat, self._t = x.copy(), np.zeros_like(x), t
            return x.astype(np.float32)
        if not t > self._t:
            raise ValueError(f"timestamp must be strictly increasing, got {t} after {self._t}")
        dt = t - self._t
        dx = (x - self._x_hat) / dt
        self._dx_hat = self._dx_hat + self._alpha(self.d_cutoff, dt) * (dx - self._dx_hat)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx_hat)
        self._x_hat = self._x_hat + self._alpha(cutoff, dt) * (x - self._x_hat)
        self._t = t
        return self._x_hat.astype(np.float32)
