"""Fill a teacher targets cache: every frozen teacher once over every training face (see
:mod:`facekd.distill.targets` for what is stored and how training reads it)."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from facekd.data.base import DataError
from facekd.distill.targets import TeacherTargets, WeightKnobs, point_weights
from facekd.errors import FacekdError

__all__ = ["build_targets"]


class _Faces(torch.utils.data.Dataset):
    """Canonical crops with their cache key; a bad sample becomes None (counted, not replaced by another face)."""

    def __init__(self, crops):
        self.crops = crops

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int):
        try:
            it = self.crops[i]
        except DataError as e:
            return {"bad": f"{e.path}: {e.reason}"}
        return {k: it[k] for k in ("image", "affine", "key", "image_wh", "labelled")}


def _collate(items):
    good = [it for it in items if "bad" not in it]
    bad = [it["bad"] for it in items if "bad" in it]
    batch = torch.utils.data.default_collate(good) if good else None
    return batch, bad


def build_targets(sources: Sequence[Any], scheme, teachers: dict[str, tuple[nn.Module, Any]], *,
                  batch_size: int = 32, workers: int = 0, device: str = "cpu", progress: bool = True,
                  knobs: WeightKnobs = WeightKnobs(), max_faces: int | None = None, channels_last: bool = True,
                  preview: str | None = None, preview_per_source: int = 4, flip_test: bool = False,
                  log: Callable[[str], None] | None = None
                  ) -> tuple[TeacherTargets, dict[str, Any]]:
    """Run ``teachers`` (name -> (model, card)) on the canonical crops of ``sources`` (``DataSource`` list).

    The crops follow the teachers' card (input size, crop scale; all teachers must agree). Returns the cache and
    a summary (faces per source, mean confidence per teacher, median spread between teachers, share of points
    whose weight is low, time). ``max_faces``: only that many faces per source, evenly spread (smoke runs).
    ``flip_test``: each teacher's heatmaps are the mean of the crop's and of the mirrored crop's mapped back
    (the scheme's ``flip_perm``), as ``facekd eval --flip-test`` scores it; twice the teacher passes."""
    from tqdm import tqdm

    from facekd.data import CropDataset, load_dataset

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if not teachers:
        raise FacekdError("facekd teach: no teacher (set distill.teachers or pass --teacher NAME=PATH)")
    names = list(teachers)
    cards = [teachers[n][1] for n in names]
    size, cs = cards[0].input_size, cards[0].crop_scale
    for n, c in zip(names, cards):
        if c.input_size != size or c.crop_scale != cs:
            raise FacekdError(f"teacher {n} crops at {c.input_size} px x {c.crop_scale}, teacher {names[0]} at "
                              f"{size} px x {cs}: the cache holds one crop per face, so teachers must agree")
        if c.output_type != "heatmap":
            raise FacekdError(f"teacher {n} is not a heatmap model")
        if c.num_keypoints != scheme.num_points:
            raise FacekdError(f"teacher {n} predicts {c.num_keypoints} points, the data's scheme has {scheme.num_points}")
    codecs = [c.get_codec() for c in cards]
    dev = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    models = [teachers[n][0].to(dev, memory_format=fmt).eval() for n in names]
    pts_all, conf_all, aff_all, wh_all, keys, labelled = [], [], [], [], [], []
    previews: list[tuple[str, int, np.ndarray]] = []
    per_source: dict[str, dict[str, Any]] = {}
    t0 = time.perf_counter()
    for src in sources:
        base = load_dataset(src.spec, scheme=scheme)
        if max_faces is not None and max_faces < len(base):
            base = base.select(sorted(set(np.linspace(0, len(base) - 1, max_faces).round().astype(int).tolist())))
        crops = CropDataset(base, None, scheme, augment=None, crop_scale=cs, input_size=size, strict=True,
                            with_key=True)
        loader = torch.utils.data.DataLoader(_Faces(crops), batch_size=batch_size, num_workers=workers,
                                             collate_fn=_collate)
        n_ok, bad = 0, []
        shown = 0
        with tqdm(total=len(crops), desc=f"teach {src.label}", disable=not progress, file=sys.stderr,
                  dynamic_ncols=True, mininterval=1.0) as bar:
            for batch, bad_items in loader:
                bad += bad_items
                if batch is not None:
                    x = batch["image"].to(dev).contiguous(memory_format=fmt)
                    with torch.no_grad():
                        outs = [m(x).float().cpu().numpy() for m in models]
                        if flip_test:
                            xf = x.flip(-1)
                            outs = [0.5 * (o + codec.flip_output(m(xf).float().cpu().numpy(), scheme.flip_perm))
                                    for o, m, codec in zip(outs, models, codecs)]
                    dec = [codec.decode(o) for codec, o in zip(codecs, outs)]  # crop px, peak values
                    pts_all.append(np.stack([d[0] for d in dec]))  # [T, B, K, 2]
                    conf_all.append(np.stack([d[1] for d in dec]))
                    aff_all.append(batch["affine"].numpy())
                    wh_all.append(batch["image_wh"].numpy())
                    if shown < preview_per_source:  # a few canonical crops for the preview sheet
                        take = min(preview_per_source - shown, len(x))
                        previews += [(src.label, len(keys) + j, batch["image"][j].numpy()) for j in range(take)]
                        shown += take
                    keys += list(batch["key"])
                    labelled += [bool(v) for v in batch["labelled"]]
                    n_ok += len(x)
                bar.update(len(bad_items) + (0 if batch is None else len(batch["key"])))
        per_source[src.label] = {"faces": n_ok, "skipped": len(bad), "labelled": bool(src.labelled),
                                 "skipped_examples": bad[:5]}
        if bad:
            log(f"{src.label}: {len(bad)} unreadable face(s) left out, e.g. {bad[0]}")
    if not keys:
        raise FacekdError("facekd teach: no face could be read from the training sources")
    dup = len(keys) - len(set(keys))
    if dup:
        raise FacekdError(f"facekd teach: {dup} face(s) appear twice (same image and box) across the sources; "
                          "list each dataset once")
    points = np.concatenate(pts_all, axis=1)
    conf = np.concatenate(conf_all, axis=1)
    meta = {"teachers": [{"name": n, "card": c.to_dict()} for n, c in zip(names, cards)],
            "input_size": size, "crop_scale": cs, "scheme": scheme.name, "num_points": scheme.num_points,
            "flip_test": bool(flip_test),
            "sources": [{"path": s.path, "name": s.label, "labelled": bool(s.labelled)} for s in sources]}
    targets = TeacherTargets(meta, points.astype(np.float16), conf.astype(np.float16),
                             np.concatenate(aff_all).astype(np.float32), np.concatenate(wh_all).astype(np.int32),
                             keys)
    elapsed = time.perf_counter() - t0
    summary = {"faces": len(keys), "seconds": elapsed, "faces_per_s": len(keys) / max(elapsed, 1e-9),
               "sources": per_source, "teachers": {}, **_quality(targets, np.asarray(labelled), knobs)}
    for i, n in enumerate(names):
        summary["teachers"][n] = {"mean_confidence": float(conf[i].astype(np.float64).mean())}
    if preview and previews:
        summary["preview"] = str(_preview_sheet(preview, targets, previews, knobs))
    return targets, summary


def _preview_sheet(path, targets: TeacherTargets, previews, knobs: WeightKnobs):
    """Canonical crops with the teachers' consensus points coloured by their weight (annotated image)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from facekd import kernels

    size = float(targets.meta["input_size"])
    mean = np.asarray(kernels.IMAGENET_MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(kernels.IMAGENET_STD, dtype=np.float32)[:, None, None]
    cols = min(4, len(previews))
    rows = -(-len(previews) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.6 * rows + 0.6), dpi=100, squeeze=False)
    sc = None
    for ax, (label, row, img) in zip(axes.flat, previews):
        pts = targets.points[:, row].astype(np.float32)
        conf = targets.conf[:, row].astype(np.float32)
        _, r, cons = point_weights(pts, conf, _inside(targets, row), size, None, knobs)
        ax.imshow(np.clip((img * std + mean).transpose(1, 2, 0), 0, 1))
        sc = ax.scatter(cons[:, 0], cons[:, 1], c=r, cmap="viridis", vmin=0, vmax=1, s=6)
        ax.set_title(f"{label} (mean w {r.mean():.2f})", fontsize=7)
        ax.set_axis_off()
    for ax in list(axes.flat)[len(previews):]:
        ax.set_axis_off()
    if sc is not None:
        fig.colorbar(sc, ax=axes, fraction=0.02, label="point weight (agreement x confidence x inside)")
    fig.suptitle(f"teacher consensus on canonical crops ({', '.join(targets.teacher_names)})", fontsize=9)
    fig.savefig(path)
    plt.close(fig)
    return path


def _inside(targets: TeacherTargets, row: int) -> np.ndarray:
    """[T, K]: each teacher's point lies in its canonical crop and in the image."""
    size = float(targets.meta["input_size"])
    pts = targets.points[:, row].astype(np.float32)
    w, h = (float(v) for v in targets.image_wh[row])
    ip = targets.image_points(row)
    return (((pts >= -0.5) & (pts <= size - 0.5)).all(-1) & (ip[..., 0] >= -0.5) & (ip[..., 0] <= w - 0.5)
            & (ip[..., 1] >= -0.5) & (ip[..., 1] <= h - 0.5))


def _quality(targets: TeacherTargets, labelled: np.ndarray, knobs: WeightKnobs) -> dict[str, Any]:
    """Median teacher spread (fraction of the crop side) and the share of low-weight points, canonical crops."""
    size = float(targets.meta["input_size"])
    pts = targets.points.astype(np.float32)
    conf = targets.conf.astype(np.float32)
    spreads, low = [], []
    for n in range(len(targets)):
        _, r, cons = point_weights(pts[:, n], conf[:, n], _inside(targets, n), size, None, knobs)
        spreads.append(np.sqrt(((pts[:, n] - cons[None]) ** 2).sum(-1).mean(0)) / size)
        low.append(r < 0.5)
    spreads, low = np.stack(spreads), np.stack(low)
    out = {"median_spread": float(np.median(spreads)), "low_weight_share": float(low.mean())}
    for name, sel in (("labelled", labelled), ("unlabelled", ~labelled)):
        if sel.any():
            out[f"low_weight_share_{name}"] = float(low[sel].mean())
    return out
