"""Face-crop dataset for training and evaluation: one affine per sample through the C++ crop kernel
(the code the apps run), heatmap targets from the codec."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from facekd.codecs import HeatmapCodec
from facekd.data.augment import AugmentConfig, GeometricParams, apply_photometric, sample_geometry
from facekd.data.base import (DataError, box_from_points, fetch_skipping, summarize_skips,
                               transform_points)
from facekd.errors import FacekdError
from facekd.schemes import LandmarkScheme, as_scheme

__all__ = ["CropDataset"]

_ZERO = (0.0, 0.0, 0.0)
_ONE = (1.0, 1.0, 1.0)


class CropDataset:
    """Crops of ``base`` items ready for a heatmap model.

    Items: ``image`` float32 [3, S, S] (ImageNet-normalised), ``heatmap`` float32 [K, h, h],
    ``weight`` float32 [K], ``landmarks`` float32 [K, 2] ground truth in IMAGE coordinates
    (unflipped; NaN = unlabelled), ``visible`` bool [K], ``affine`` float32 [2, 3] crop -> image,
    ``flipped`` bool, ``index`` (the base index used) and ``skipped`` (bad samples passed over).
    Without a codec (``input_size`` given instead) there is no ``heatmap`` / ``weight``.
    ``labelled`` (bool) is False for faces without landmarks (an unlabelled source such as
    ``images:FOLDER``): their crop box is the item's box, their targets are empty (weight 0).

    ``targets`` (a :class:`facekd.distill.targets.TargetSampler`) adds the cached teacher targets of
    each face, warped into the sample's (augmented) crop: ``t_heatmap``, ``t_weight``,
    ``t_points``, ``pl_heatmap``, ``pl_weight`` (see that module). The cache key is the image path
    and the canonical (un-augmented, un-jittered) crop box; ``with_key`` adds it to each item
    (``key``, with ``image_wh``), which is how ``facekd teach`` fills the cache.

    The crop box is the landmarks' tight box (``box_from="landmarks"``, the HRNet protocol) or
    the item's box (``"item"``: the annotation's box when present). ``crop_scale`` enlarges it;
    ``box_jitter`` > 0 moves each box edge by up to that fraction of the box side (detector-like
    noise, also in evaluation). Randomness is a function of (seed, epoch, index) only, so
    DataLoader workers give the same samples as a single process; call ``set_epoch`` each epoch.
    ``strict`` (default: True without ``augment``) raises on a bad sample; otherwise the next good
    sample is used and the skip is counted.
    """

    def __init__(self, base, codec: HeatmapCodec | None, scheme: LandmarkScheme | str | None = None,
                 augment: AugmentConfig | None = None, seed: int = 0, crop_scale: float = 1.25,
                 box_jitter: float = 0.0, *, box_from: str = "landmarks", strict: bool | None = None,
                 max_tries: int = 16, input_size: int | None = None, targets=None, with_key: bool = False):
        import torch

        if len(base) == 0:
            raise FacekdError("CropDataset: the base dataset is empty")
        if codec is None and input_size is None:
            raise FacekdError("CropDataset: pass a codec (or input_size for crops without targets)")
        if codec is not None and input_size is not None and input_size != codec.input_size:
            raise FacekdError(f"CropDataset: input_size {input_size} differs from the codec's "
                              f"{codec.input_size}")
        self.base = base
        self.codec = codec
        self.input_size = int(codec.input_size if codec is not None else input_size)
        base_scheme = getattr(base, "scheme", None)
        self.scheme = as_scheme(scheme) if scheme is not None else base_scheme
        if self.scheme is None:
            raise FacekdError("CropDataset: pass scheme= (the base dataset has none)")
        if base_scheme is not None and base_scheme.num_points != self.scheme.num_points:
            raise FacekdError(f"CropDataset: scheme '{self.scheme.name}' has {self.scheme.num_points}"
                              f" points but the data ('{base_scheme.name}') has "
                              f"{base_scheme.num_points}")
        if box_from not in ("landmarks", "item"):
            raise FacekdError(f"CropDataset: box_from must be 'landmarks' or 'item', got {box_from!r}")
        if not crop_scale > 0:
            raise FacekdError(f"CropDataset: crop_scale must be > 0, got {crop_scale}")
        if not 0 <= box_jitter < 0.5:
            raise FacekdError(f"CropDataset: box_jitter must be in [0, 0.5), got {box_jitter}")
        self.augment = augment
        self.seed = int(seed)
        self.crop_scale = float(crop_scale)
        self.box_jitter = float(box_jitter)
        self.box_from = box_from
        self.strict = (augment is None) if strict is None else bool(strict)
        self.max_tries = int(max_tries)
        if targets is not None and codec is None:
            raise FacekdError("CropDataset: teacher targets need a codec (to re-encode them as heatmaps)")
        self.targets = targets
        self.with_key = bool(with_key)
        self._perm = list(self.scheme.flip_perm)
        # shared memory, so persistent DataLoader workers see set_epoch()
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self.skipped: Counter[tuple[str, str]] = Counter()

    def __len__(self) -> int:
        return len(self.base)

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        self._epoch[0] = int(epoch)

    def summary(self) -> str:
        """What was skipped in this process (workers count into each item's ``skipped``)."""
        return summarize_skips(self.skipped.items())

    def _record(self, _j: int, e: DataError) -> None:
        self.skipped[(e.path, e.reason)] += 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self)
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {n} faces")
        if self.strict:
            return self._make(index) | {"skipped": 0}
        item, skipped = fetch_skipping(self._make, index, n, max_tries=self.max_tries,
                                       on_skip=self._record)
        item["skipped"] = skipped
        return item

    # -------------------------------------------------------------------------------------------
    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def canonical_box(self, item: dict[str, Any]) -> np.ndarray:
        """The un-augmented crop box (x, y, w, h) of an item: the landmarks' tight box (or the
        item's box with ``box_from="item"``, and always for an unlabelled item)."""
        if self.box_from == "landmarks" and item.get("meta", {}).get("labelled", True):
            return box_from_points(item["landmarks"])
        return np.asarray(item["box"], dtype=np.float32)

    def crop_affine(self, item: dict[str, Any], rng: np.random.Generator
                    ) -> tuple[np.ndarray, GeometricParams]:
        """The crop -> image affine for an item (with this sample's augmentation)."""
        from facekd import kernels

        box = self.canonical_box(item).astype(np.float64)
        h, w = np.shape(item["image"])[:2]
        if not (box[0] < w - 0.5 and box[1] < h - 0.5 and box[0] + box[2] > -0.5
                and box[1] + box[3] > -0.5):
            raise DataError(item.get("meta", {}).get("path", "?"),
                            f"face box {np.round(box, 1).tolist()} lies outside the {w}x{h} image")
        if self.box_jitter > 0:
            side = np.array([box[2], box[3], box[2], box[3]])
            d = rng.uniform(-self.box_jitter, self.box_jitter, size=4) * side
            x0, y0 = box[0] + d[0], box[1] + d[1]
            x1, y1 = box[0] + box[2] + d[2], box[1] + box[3] + d[3]
            box = np.array([x0, y0, max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)])
        g = sample_geometry(self.augment, rng) if self.augment is not None else GeometricParams()
        if g.shift != (0.0, 0.0):
            side = max(box[2], box[3]) * self.crop_scale * g.scale
            box = box + np.array([g.shift[0] * side, g.shift[1] * side, 0.0, 0.0])
        affine = kernels.box_to_affine(box.astype(np.float32), scale=self.crop_scale * g.scale,
                                       rotation=g.rotation, flip=g.flip,
                                       out_size=self.input_size)
        return np.asarray(affine, dtype=np.float32), g

    def _make(self, index: int) -> dict[str, Any]:
        from facekd import kernels

        item = self.base[index]
        path = item.get("meta", {}).get("path", f"item {index}")
        lm = np.asarray(item["landmarks"], dtype=np.float32)
        vis = np.asarray(item["visible"], dtype=bool)
        if lm.shape != (self.scheme.num_points, 2):
            raise DataError(path, f"landmarks of shape {lm.shape}, expected "
                                  f"({self.scheme.num_points}, 2) for '{self.scheme.name}'")
        rng = self.rng(index)
        s = self.input_size
        try:
            affine, g = self.crop_affine(item, rng)
            photometric = self.augment is not None and self.augment.photometric
            if photometric:
                crop = kernels.crop_affine(item["image"], affine, s, mean=_ZERO, std=_ONE)
                crop = apply_photometric(np.asarray(crop, dtype=np.float32), self.augment, rng)
                mean = np.asarray(kernels.IMAGENET_MEAN, dtype=np.float32)[:, None, None]
                std = np.asarray(kernels.IMAGENET_STD, dtype=np.float32)[:, None, None]
                crop = (crop - mean) / std
            else:
                crop = kernels.crop_affine(item["image"], affine, s, mean=kernels.IMAGENET_MEAN,
                                           std=kernels.IMAGENET_STD)
            pts_crop = transform_points(lm, kernels.affine_invert(affine))
        except (ValueError, FacekdError) as e:
            if isinstance(e, DataError):
                raise
            raise DataError(path, f"cannot crop: {e}") from None
        tvis = vis
        if g.flip:
            pts_crop = pts_crop[self._perm]
            tvis = vis[self._perm]
        out = {"image": np.ascontiguousarray(crop, dtype=np.float32)}
        if self.codec is not None:
            out["heatmap"], out["weight"] = self.codec.encode(pts_crop, tvis)
        if self.targets is not None or self.with_key:
            from facekd.distill.targets import crop_key

            key = crop_key(path, self.canonical_box(item))
        if self.with_key:
            h, w = np.shape(item["image"])[:2]
            out |= {"key": key, "image_wh": np.asarray([w, h], dtype=np.int32)}
        if self.targets is not None:
            gt = np.where(tvis[:, None], pts_crop, np.nan).astype(np.float32)
            out |= self.targets.sample(key, affine, self._perm if g.flip else None, gt, s)
        return out | {
            "labelled": bool(item.get("meta", {}).get("labelled", True)),
            "landmarks": lm,
            "visible": vis,
            "affine": affine,
            "flipped": g.flip,
            "index": index,
        }
