"""Teacher targets cache: the frozen teachers' points on every canonical crop, read back under augmentation.

``facekd teach`` runs each teacher once over every training face (labelled crops and the unlabelled pool) on its
un-augmented canonical crop and stores, per teacher t, face n and point k, the decoded sub-pixel point in that
crop's pixels (fp16: 1/16 px resolution up to 128 px, 1/8 px up to 256 px) and its confidence (the heatmap
peak, fp16), plus the crop -> image affine (fp32) and the image size. A face is keyed by its image path and
the canonical crop box (:func:`crop_key`), so any run whose data hold the same faces finds them, whatever its
batch order, subset or input size.

During training :class:`TargetSampler` turns a cached row into the targets of the AUGMENTED crop: the teacher
points go to image coordinates through the cached affine, then into the sample's crop through the inverse of
its augmentation affine (mirrored crops permute left/right points), and the codec re-encodes them as heatmaps.
Each point gets a weight (:func:`point_weights`):

    p̄_k     = Σ_t c_t,k p_t,k / Σ_t c_t,k                       (confidence-weighted consensus)
    spread_k = sqrt(mean_t |p_t,k − p̄_k|²) / S                  (S = crop side)
    agree_k  = exp(−(spread_k / σ_a)²)                            (1 with one teacher)
    conf_k   = min(1, mean_t c_t,k / c_min)
    inside_k = 1 if every teacher's point lies in the image and in the crop, else ``outside_weight``
    r_k      = agree_k · conf_k · inside_k                        (reliability of point k)
    share_t,k = softmax_t(−e_t,k / (τ · mean_t e_t,k + ε)),  e_t,k = |p_t,k − ref_k|²
                with ref = the ground-truth point where there is one, else p̄ ("weighted"; "uniform": 1/T)
    w_t,k    = share_t,k · r_k                                    (the KD weight of teacher t at point k)

so points the teachers disagree on, or that leave a tight crop or the image, count little. Hard pseudo-labels
(the no-KD baseline) are p̄ with weight 1 where r ≥ ``pl_min_weight`` on faces without ground truth.
No torch import here: this runs in DataLoader workers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from facekd.errors import FacekdError

__all__ = ["TeacherTargets", "TargetSampler", "WeightKnobs", "crop_key", "point_weights", "FORMAT"]

FORMAT = 1
ARRAYS = "targets.npz"
META = "targets.json"


def crop_key(image_path: str, box: np.ndarray) -> str:
    """The cache key of a face: its image path and canonical crop box (x, y, w, h) to 1/100 px."""
    b = np.asarray(box, dtype=np.float64).reshape(4)
    return f"{image_path}|" + ",".join(f"{v:.2f}" for v in b)


@dataclass(frozen=True)
class WeightKnobs:
    """The weighting parameters (``DistillConfig`` fields of the same names)."""

    agreement_sigma: float = 0.03
    min_confidence: float = 0.5
    outside_weight: float = 0.1
    teacher_weighting: str = "weighted"
    weighting_tau: float = 0.5
    pl_min_weight: float = 0.5

    @classmethod
    def from_config(cls, d) -> "WeightKnobs":
        return cls(d.agreement_sigma, d.min_confidence, d.outside_weight, d.teacher_weighting, d.weighting_tau,
                   d.pl_min_weight)


def point_weights(points: np.ndarray, conf: np.ndarray, inside: np.ndarray, crop_size: float,
                  ref: np.ndarray | None = None, knobs: WeightKnobs = WeightKnobs()
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``points`` [T, K, 2] (crop px), ``conf`` [T, K], ``inside`` [T, K] bool, ``ref`` [K, 2] (NaN where
    there is no ground truth) -> (w [T, K] KD weights, r [K] reliability, consensus [K, 2]); see the module
    docstring for the formulas."""
    p = np.asarray(points, dtype=np.float64)
    c = np.clip(np.asarray(conf, dtype=np.float64), 0.0, None)
    t = p.shape[0]
    finite = np.isfinite(p).all(-1)  # [T, K]
    c = np.where(finite, c, 0.0)
    p0 = np.where(finite[..., None], p, 0.0)
    cw = c + 1e-6 * finite  # all-zero confidences still give the plain mean
    consensus = (cw[..., None] * p0).sum(0) / np.maximum(cw.sum(0), 1e-12)[:, None]  # [K, 2]
    d2 = ((p0 - consensus[None]) ** 2).sum(-1)  # [T, K]
    spread = np.sqrt((d2 * finite).sum(0) / np.maximum(finite.sum(0), 1)) / float(crop_size)
    agree = np.exp(-(spread / knobs.agreement_sigma) ** 2) if t > 1 else np.ones_like(spread)
    conf_w = np.minimum(1.0, c.mean(0) / knobs.min_confidence) if knobs.min_confidence > 0 else np.ones_like(spread)
    ins = np.asarray(inside, dtype=bool) & finite
    inside_w = np.where(ins.all(0), 1.0, knobs.outside_weight)
    r = agree * conf_w * inside_w * finite.any(0)
    if knobs.teacher_weighting == "uniform" or t == 1:
        share = finite / np.maximum(finite.sum(0, keepdims=True), 1)
    else:
        target = consensus if ref is None else np.where(np.isfinite(ref).all(-1, keepdims=True), ref, consensus)
        e = ((p0 - target[None]) ** 2).sum(-1)
        e = np.where(finite, e, np.inf)
        scale = knobs.weighting_tau * np.where(finite, e, 0).sum(0) / np.maximum(finite.sum(0), 1) + 1e-12
        z = -e / scale
        z = z - z.max(0, keepdims=True)
        share = np.exp(z) * finite
        share = share / np.maximum(share.sum(0, keepdims=True), 1e-12)
    consensus = np.where(finite.any(0)[:, None], consensus, np.nan)
    return (share * r[None]).astype(np.float32), r.astype(np.float32), consensus.astype(np.float32)


class TeacherTargets:
    """A targets cache folder (``targets.npz`` + ``targets.json``), read-only once written."""

    def __init__(self, meta: dict[str, Any], points: np.ndarray, conf: np.ndarray, affine: np.ndarray,
                 image_wh: np.ndarray, keys: Sequence[str]):
        t, n, k = conf.shape
        if points.shape != (t, n, k, 2) or affine.shape != (n, 2, 3) or image_wh.shape != (n, 2) or len(keys) != n:
            raise FacekdError(f"targets cache: inconsistent array shapes {points.shape}, {conf.shape}, "
                              f"{affine.shape}, {image_wh.shape}, {len(keys)} keys")
        if len(meta.get("teachers", [])) != t:
            raise FacekdError(f"targets cache: {t} teachers in the arrays, {len(meta.get('teachers', []))} named")
        self.meta = meta
        self.points, self.conf, self.affine, self.image_wh = points, conf, affine, image_wh
        self.keys = list(keys)
        self.index = {key: i for i, key in enumerate(self.keys)}
        if len(self.index) != n:
            raise FacekdError("targets cache: duplicate keys (two faces with the same image and crop box)")

    @property
    def teacher_names(self) -> list[str]:
        return [t["name"] for t in self.meta["teachers"]]

    @property
    def num_points(self) -> int:
        return int(self.conf.shape[2])

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, key: str) -> int | None:
        return self.index.get(key)

    def image_points(self, row: int, teachers: Sequence[int] | None = None) -> np.ndarray:
        """Teacher points of face ``row`` in image coordinates, float32 [T, K, 2]."""
        sel = slice(None) if teachers is None else list(teachers)
        p = self.points[sel, row].astype(np.float32)  # [T, K, 2]
        a = self.affine[row].astype(np.float64)
        out = p @ a[:, :2].T.astype(np.float32) + a[:, 2].astype(np.float32)
        return out.astype(np.float32)

    # -- files -----------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / (ARRAYS + ".tmp.npz")
        np.savez(tmp, points=self.points.astype(np.float16), conf=self.conf.astype(np.float16),
                 affine=self.affine.astype(np.float32), image_wh=self.image_wh.astype(np.int32),
                 keys=np.asarray(self.keys, dtype=np.str_))
        tmp.replace(folder / ARRAYS)
        (folder / META).write_text(json.dumps({"format": FORMAT, **self.meta}, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "TeacherTargets":
        folder = Path(folder)
        if not (folder / ARRAYS).is_file() or not (folder / META).is_file():
            raise FacekdError(f"{folder}: not a teacher targets cache ({ARRAYS} + {META}); make one with "
                              "`facekd teach`")
        meta = json.loads((folder / META).read_text())
        if meta.get("format") != FORMAT:
            raise FacekdError(f"{folder}: targets cache format {meta.get('format')!r}, this facekd reads {FORMAT}")
        with np.load(folder / ARRAYS, allow_pickle=False) as z:
            return cls(meta, z["points"], z["conf"], z["affine"], z["image_wh"], [str(k) for k in z["keys"]])


class TargetSampler:
    """What :class:`facekd.data.CropDataset` calls per sample to get its teacher targets (see the module
    docstring): ``t_heatmap`` [T, K, h, h], ``t_weight`` [T, K], ``pl_heatmap`` [K, h, h], ``pl_weight`` [K]
    and ``t_points`` [T, K, 2] (augmented-crop pixels). ``teachers`` picks cached teachers by name (order kept)."""

    def __init__(self, targets: TeacherTargets, codec, knobs: WeightKnobs = WeightKnobs(),
                 teachers: Sequence[str] | None = None, source: str = ""):
        names = targets.teacher_names
        teachers = list(teachers) if teachers else names
        missing = [t for t in teachers if t not in names]
        if missing:
            raise FacekdError(f"targets cache {source or ''}: no teacher(s) {missing}; it holds {names} "
                              "(rerun `facekd teach` with them)")
        self.targets, self.codec, self.knobs = targets, codec, knobs
        self.teachers = teachers
        self.rows = [names.index(t) for t in teachers]
        self.source = source

    def sample(self, key: str, affine: np.ndarray, flip_perm: Sequence[int] | None, gt_crop: np.ndarray,
               crop_size: int) -> dict[str, np.ndarray]:
        from facekd.data.base import transform_points
        from facekd import kernels

        row = self.targets.row(key)
        if row is None:
            raise FacekdError(f"face {key} is not in the teacher targets cache {self.source}: the cache was made "
                              "for other data; rerun `facekd teach` with this config")
        pts_img = self.targets.image_points(row, self.rows)  # [T, K, 2]
        conf = self.targets.conf[self.rows, row].astype(np.float32)  # [T, K]
        w, h = (int(v) for v in self.targets.image_wh[row])
        in_img = (pts_img[..., 0] >= -0.5) & (pts_img[..., 0] <= w - 0.5) & \
                 (pts_img[..., 1] >= -0.5) & (pts_img[..., 1] <= h - 0.5)
        inv = np.asarray(kernels.affine_invert(np.asarray(affine, dtype=np.float32)), dtype=np.float32)
        pts = np.stack([transform_points(p, inv) for p in pts_img])  # [T, K, 2] augmented-crop pixels
        if flip_perm is not None:
            perm = list(flip_perm)
            pts, conf, in_img = pts[:, perm], conf[:, perm], in_img[:, perm]
        in_crop = ((pts >= -0.5) & (pts <= crop_size - 0.5)).all(-1)
        wt, r, cons = point_weights(pts, conf, in_img & in_crop, crop_size, gt_crop, self.knobs)
        t, k = pts.shape[:2]
        # one codec call for every teacher and the consensus (points outside the heatmap encode to 0)
        allp = np.concatenate([pts.reshape(-1, 2), np.nan_to_num(cons, nan=-1e4)])
        maps, inside = self.codec.encode(allp)
        hms = maps[: t * k].reshape(t, k, *maps.shape[1:])
        pl_hm, pl_inside = maps[t * k:], inside[t * k:]
        labelled = np.isfinite(gt_crop).all(-1)
        pl_w = ((r >= self.knobs.pl_min_weight) & ~labelled & (pl_inside > 0)).astype(np.float32)
        return {"t_heatmap": hms.astype(np.float32), "t_weight": wt, "t_points": pts.astype(np.float32),
                "pl_heatmap": pl_hm.astype(np.float32), "pl_weight": pl_w}
