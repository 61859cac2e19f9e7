"""Heatmap codec: landmarks <-> heatmaps, both directions driven by one object.

Coordinates follow the kernels' convention (pixel i's centre at i). A crop of ``input_size`` pixels
and its heatmap of ``heatmap_size`` pixels relate by ``x_hm = (x_crop + 0.5) * h / S - 0.5``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from facekd.errors import FacekdError

__all__ = ["HeatmapCodec", "CoordCodec", "CodecError", "DECODE_MODES", "codec_from_dict"]

DECODE_MODES = ("dark", "argmax", "softargmax")


class CodecError(FacekdError):
    """Invalid codec parameters or inputs."""


class HeatmapCodec:
    """Sub-pixel Gaussian heatmap targets and their decoding.

    ``encode`` renders, per point, ``exp(-d^2 / (2 sigma^2))`` centred at the exact (sub-pixel)
    heatmap position; ``decode`` runs ``facekd.kernels.decode_heatmaps`` (DARK uses ``sigma`` as
    its blur) and maps the result to crop or image coordinates.
    """

    def __init__(self, input_size: int, heatmap_size: int, sigma: float, decode: str = "dark",
                 beta: float = 1.0):
        if int(input_size) != input_size or input_size < 1:
            raise CodecError(f"input_size must be a positive integer, got {input_size!r}")
        if int(heatmap_size) != heatmap_size or heatmap_size < 1:
            raise CodecError(f"heatmap_size must be a positive integer, got {heatmap_size!r}")
        if heatmap_size > input_size:
            raise CodecError(f"heatmap_size ({heatmap_size}) must not exceed input_size ({input_size})")
        if not (np.isfinite(sigma) and sigma > 0):
            raise CodecError(f"sigma must be > 0, got {sigma!r}")
        if decode not in DECODE_MODES:
            raise CodecError(f"decode must be one of {', '.join(DECODE_MODES)}, got {decode!r}")
        if not (np.isfinite(beta) and beta > 0):
            raise CodecError(f"beta must be > 0, got {beta!r}")
        self.input_size = int(input_size)
        self.heatmap_size = int(heatmap_size)
        self.sigma = float(sigma)
        self.decode_mode = decode
        self.beta = float(beta)

    # -- serialisation ----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"type": "heatmap", "input_size": self.input_size, "heatmap_size": self.heatmap_size,
                "sigma": self.sigma, "decode": self.decode_mode, "beta": self.beta}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "HeatmapCodec":
        if not isinstance(d, Mapping):
            raise CodecError(f"codec: expected a mapping, got {type(d).__name__}")
        if d.get("type", "heatmap") != "heatmap":
            raise CodecError(f"codec: unsupported type {d.get('type')!r} (expected 'heatmap')")
        missing = [k for k in ("input_size", "heatmap_size", "sigma") if k not in d]
        if missing:
            raise CodecError(f"codec: missing key(s) {missing}")
        return cls(d["input_size"], d["heatmap_size"], d["sigma"], d.get("decode", "dark"),
                   d.get("beta", 1.0))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeatmapCodec) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return (f"HeatmapCodec(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma}, decode={self.decode_mode!r}, beta={self.beta})")

    # -- coordinates -------------------------------------------------------------------------
    @property
    def stride(self) -> float:
        return self.input_size / self.heatmap_size

    def crop_to_heatmap(self, points: np.ndarray) -> np.ndarray:
        """Crop pixel coordinates -> heatmap pixel coordinates."""
        return (np.asarray(points, dtype=np.float32) + 0.5) / self.stride - 0.5

    def heatmap_to_crop(self, points: np.ndarray) -> np.ndarray:
        """Heatmap pixel coordinates -> crop pixel coordinates."""
        return (np.asarray(points, dtype=np.float32) + 0.5) * self.stride - 0.5

    # -- encode ------------------------------------------------------------------------------
    def encode(self, points_crop: np.ndarray, visible: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Targets for points [K, 2] in crop pixels: heatmaps float32 [K, h, h] and weights
        float32 [K] (0 for invisible, non-finite or out-of-heatmap points)."""
        pts = np.asarray(points_crop, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise CodecError(f"encode: points must be [K, 2], got shape {pts.shape}")
        k, h = pts.shape[0], self.heatmap_size
        hm_pts = self.crop_to_heatmap(pts).astype(np.float64)
        finite = np.isfinite(hm_pts).all(axis=1)
        inside = finite & (hm_pts >= -0.5).all(axis=1) & (hm_pts <= h - 0.5).all(axis=1)
        weights = inside.astype(np.float32)
        if visible is not None:
            vis = np.asarray(visible, dtype=bool)
            if vis.shape != (k,):
                raise CodecError(f"encode: visible must be [{k}], got shape {vis.shape}")
            weights *= vis
        grid = np.arange(h, dtype=np.float64)
        mu = np.where(finite[:, None], hm_pts, 0.0)
        inv = 1.0 / (2.0 * self.sigma ** 2)
        gx = np.exp(-((grid[None, :] - mu[:, 0:1]) ** 2) * inv).astype(np.float32)  # [K, h]
        gy = np.exp(-((grid[None, :] - mu[:, 1:2]) ** 2) * inv).astype(np.float32)
        heatmaps = gy[:, :, None] * gx[:, None, :]  # separable: exp(-dx^2/2s^2) * exp(-dy^2/2s^2)
        heatmaps[~inside] = 0.0
        return heatmaps, weights

    def flip_output(self, output: np.ndarray, flip_perm) -> np.ndarray:
        """The output of a mirrored crop [N, K, h, w] mapped back onto the plain crop's points."""
        return _to_numpy(output)[:, list(flip_perm), :, ::-1]

    # -- decode ------------------------------------------------------------------------------
    def decode(self, heatmaps, crop_to_image: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Heatmaps [N, K, h, w] (numpy or torch) -> (points [N, K, 2], scores [N, K]).

        Points are image coordinates when ``crop_to_image`` ([N, 2, 3] or [2, 3]) is given,
        crop coordinates otherwise.
        """
        from facekd import kernels

        hm = _to_numpy(heatmaps)
        if hm.ndim != 4:
            raise CodecError(f"decode: heatmaps must be [N, K, h, w], got shape {hm.shape}")
        n, _, hh, ww = hm.shape
        coords, scores = kernels.decode_heatmaps(np.ascontiguousarray(hm, dtype=np.float32),
                                                 mode=self.decode_mode, blur_sigma=self.sigma,
                                                 beta=self.beta)
        coords = np.asarray(coords, dtype=np.float32)
        if crop_to_image is None:
            out = coords.copy()
            out[..., 0] = (out[..., 0] + 0.5) * self.input_size / ww - 0.5
            out[..., 1] = (out[..., 1] + 0.5) * self.input_size / hh - 0.5
            return out, np.asarray(scores, dtype=np.float32)
        aff = np.asarray(crop_to_image, dtype=np.float32)
        if aff.shape == (2, 3):
            aff = np.broadcast_to(aff, (n, 2, 3))
        if aff.shape != (n, 2, 3):
            raise CodecError(f"decode: crop_to_image must be [N, 2, 3] with N={n}, got {aff.shape}")
        out = np.empty_like(coords)
        for i in range(n):
            out[i] = kernels.heatmap_to_image(np.ascontiguousarray(coords[i]), (ww, hh),
                                              (self.input_size, self.input_size),
                                              np.ascontiguousarray(aff[i]))
        return out, np.asarray(scores, dtype=np.float32)


class CoordCodec:
    """Coordinate regression with :class:`HeatmapCodec`'s interface: the model outputs
    crop-normalised coordinates ``[N, K, 2]``, ``(u + 0.5) / S`` per axis (u in crop pixels of the
    kernels' convention), scores are 1."""

    def __init__(self, input_size: int):
        if int(input_size) != input_size or input_size < 1:
            raise CodecError(f"input_size must be a positive integer, got {input_size!r}")
        self.input_size = int(input_size)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "coords", "input_size": self.input_size}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CoordCodec":
        if not isinstance(d, Mapping) or d.get("type") != "coords" or "input_size" not in d:
            raise CodecError(f"codec: expected {{'type': 'coords', 'input_size': S}}, got {d!r}")
        return cls(d["input_size"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CoordCodec) and self.input_size == other.input_size

    def __repr__(self) -> str:
        return f"CoordCodec(input_size={self.input_size})"

    def encode(self, points_crop: np.ndarray, visible: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """Targets for points [K, 2] in crop pixels: normalised coordinates float32 [K, 2] and
        weights float32 [K] (0 for invisible or non-finite points)."""
        pts = np.asarray(points_crop, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise CodecError(f"encode: points must be [K, 2], got shape {pts.shape}")
        finite = np.isfinite(pts).all(axis=1)
        weights = finite.astype(np.float32)
        if visible is not None:
            weights *= np.asarray(visible, dtype=bool)
        return np.where(finite[:, None], (pts + 0.5) / self.input_size, 0.0).astype(np.float32), weights

    def flip_output(self, output: np.ndarray, flip_perm) -> np.ndarray:
        """The output of a mirrored crop mapped back: re-indexed, x -> 1 - x."""
        out = _to_numpy(output)[:, list(flip_perm)].copy()
        out[..., 0] = 1.0 - out[..., 0]
        return out

    def decode(self, output, crop_to_image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates [N, K, 2] -> (points [N, K, 2], scores [N, K] of ones); image coordinates
        when ``crop_to_image`` ([N, 2, 3] or [2, 3]) is given, crop pixels otherwise."""
        from facekd import kernels

        out = _to_numpy(output)
        if out.ndim != 3 or out.shape[-1] != 2:
            raise CodecError(f"decode: the model returned shape {list(out.shape)}; expected coordinates [N, K, 2]")
        uv = (out.astype(np.float32) * self.input_size - 0.5).astype(np.float32)
        scores = np.ones(out.shape[:2], np.float32)
        if crop_to_image is None:
            return uv, scores
        aff = np.asarray(crop_to_image, dtype=np.float32)
        if aff.shape == (2, 3):
            aff = np.broadcast_to(aff, (len(uv), 2, 3))
        if aff.shape != (len(uv), 2, 3):
            raise CodecError(f"decode: crop_to_image must be [N, 2, 3] with N={len(uv)}, got {aff.shape}")
        pts = np.stack([kernels.points_transform(np.ascontiguousarray(uv[i]), np.ascontiguousarray(aff[i]))
                        for i in range(len(uv))]) if len(uv) else uv
        return pts.astype(np.float32), scores


def codec_from_dict(d: Mapping[str, Any]) -> "HeatmapCodec | CoordCodec":
    """The codec a card describes (``type`` "heatmap", the default, or "coords")."""
    if isinstance(d, Mapping) and d.get("type") == "coords":
        return CoordCodec.from_dict(d)
    return HeatmapCodec.from_dict(d)


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch tensor
        return x.detach().to("cpu").float().numpy()
    return np.asarray(x)
