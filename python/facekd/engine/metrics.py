"""Landmark accuracy metrics: NME, failure rate, CED and AUC (fractions, not percent)."""

from __future__ import annotations

import numpy as np

from facekd.errors import FacekdError
from facekd.schemes import LandmarkScheme, as_scheme

__all__ = ["nme", "normalizer", "failure_rate", "auc", "ced", "NORMS"]

NORMS = ("interocular", "interpupil", "bbox")


def normalizer(gt: np.ndarray, scheme: LandmarkScheme | str, norm: str = "interocular") -> np.ndarray:
    """Per-face normalising distance [N] of ground truth [N, K, 2].

    interocular: outer eye corners; interpupil: centroids of the scheme's pupil groups;
    bbox: sqrt(w * h) of the tight box of the labelled ground-truth points.
    """
    s = as_scheme(scheme)
    g = np.asarray(gt, dtype=np.float64)
    if norm == "interocular":
        a, b = s.eye_corners
        return np.linalg.norm(g[:, a] - g[:, b], axis=-1)
    if norm == "interpupil":
        if s.pupils is None:
            raise FacekdError(f"scheme '{s.name}' defines no pupils; use norm='interocular' or 'bbox'")
        left = g[:, list(s.pupils[0])].mean(axis=1)
        right = g[:, list(s.pupils[1])].mean(axis=1)
        return np.linalg.norm(left - right, axis=-1)
    if norm == "bbox":
        with np.errstate(invalid="ignore"):
            w = np.nanmax(g[..., 0], axis=1) - np.nanmin(g[..., 0], axis=1)
            h = np.nanmax(g[..., 1], axis=1) - np.nanmin(g[..., 1], axis=1)
        return np.sqrt(w * h)
    raise FacekdError(f"unknown NME normalisation {norm!r}; use one of {', '.join(NORMS)}")


def nme(pred: np.ndarray, gt: np.ndarray, scheme: LandmarkScheme | str, norm: str = "interocular",
        visible: np.ndarray | None = None) -> np.ndarray:
    """Per-face normalised mean error [N]: mean over points of ||pred - gt|| / d.

    Points count where ``visible`` (if given) holds and both pred and gt are finite. A face with
    no such point, or a zero / non-finite normaliser, raises (no silent number).
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim == 2:
        p, g = p[None], g[None]
        visible = None if visible is None else np.asarray(visible)[None]
    if p.shape != g.shape or p.ndim != 3 or p.shape[-1] != 2:
        raise FacekdError(f"nme: pred {np.shape(pred)} and gt {np.shape(gt)} must both be [N, K, 2]")
    s = as_scheme(scheme)
    if p.shape[1] != s.num_points:
        raise FacekdError(f"nme: {p.shape[1]} points but scheme '{s.name}' has {s.num_points}")
    mask = np.isfinite(p).all(-1) & np.isfinite(g).all(-1)
    if visible is not None:
        v = np.asarray(visible, dtype=bool)
        if v.shape != mask.shape:
            raise FacekdError(f"nme: visible must be [N, K] = {mask.shape}, got {v.shape}")
        mask &= v
    d = normalizer(g, s, norm)
    bad = ~(np.isfinite(d) & (d > 0))
    if bad.any():
        raise FacekdError(f"nme: {norm} distance is zero or undefined for face(s) "
                          f"{np.flatnonzero(bad)[:10].tolist()}")
    count = mask.sum(axis=1)
    if (count == 0).any():
        raise FacekdError(f"nme: no scorable point for face(s) {np.flatnonzero(count == 0)[:10].tolist()}")
    err = np.where(mask, np.linalg.norm(np.where(mask[..., None], p - g, 0.0), axis=-1), 0.0)
    return err.sum(axis=1) / count / d


def _check(nmes: np.ndarray, thr: float) -> np.ndarray:
    e = np.asarray(nmes, dtype=np.float64).ravel()
    if e.size == 0:
        raise FacekdError("no NME values to summarise")
    if not np.isfinite(e).all():
        raise FacekdError("NME values must be finite")
    if not thr > 0:
        raise FacekdError(f"threshold must be > 0, got {thr}")
    return e


def failure_rate(nmes: np.ndarray, thr: float = 0.10) -> float:
    """Fraction of faces with NME > thr."""
    e = _check(nmes, thr)
    return float(np.mean(e > thr))


def auc(nmes: np.ndarray, thr: float = 0.10) -> float:
    """Area under the CED curve on [0, thr], divided by thr (PIPNet/STAR convention).

    The CED is a step function, so the integral is exact: each face with NME e < thr adds
    (thr - e) / thr / N.
    """
    e = _check(nmes, thr)
    return float(np.mean(np.clip(thr - e, 0.0, None)) / thr)


def ced(nmes: np.ndarray, thr: float = 0.10, bins: int = 1001) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution: ``xs`` = linspace(0, thr, bins), ``ys`` = fraction of faces
    with NME <= x."""
    e = np.sort(_check(nmes, thr))
    if bins < 2:
        raise FacekdError(f"ced: bins must be >= 2, got {bins}")
    xs = np.linspace(0.0, thr, int(bins))
    ys = np.searchsorted(e, xs, side="right") / e.size
    return xs, ys
