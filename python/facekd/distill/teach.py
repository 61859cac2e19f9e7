"""Fill a teacher targets cache: every frozen teacher once over every training face (see
:mod:`facekd.distill.targets` for what is stored and how training reads it)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from facekd.data.base import DataError
from facekd.distill.targets import TeacherTargets, WeightKnobs, point_weights
from facekd.errors import FacekdError

__all__ = ["build_targets", "score_targets", "PARTS"]

PARTS = "parts"  # the unfinished chunks of a run, under its --out


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
        return {"index": i, **{k: it[k] for k in ("image", "affine", "key", "image_wh", "labelled")}}


def _collate(items):
    good = [it for it in items if "bad" not in it]
    bad = [it["bad"] for it in items if "bad" in it]
    batch = torch.utils.data.default_collate(good) if good else None
    return batch, bad


def build_targets(sources: Sequence[Any], scheme, teachers: dict[str, tuple[nn.Module, Any]], *,
                  batch_size: int = 32, workers: int = 0, device: str = "cpu", progress: bool = True,
                  knobs: WeightKnobs = WeightKnobs(), max_faces: int | None = None, channels_last: bool = True,
                  preview: str | None = None, preview_per_source: int = 4, flip_test: bool = False,
                  parts: str | Path | None = None, chunk: int = 512, resume: bool = False,
                  fingerprint: dict[str, Any] | None = None, log: Callable[[str], None] | None = None
                  ) -> tuple[TeacherTargets, dict[str, Any]]:
    """Run ``teachers`` (name -> (model, card)) on the canonical crops of ``sources`` (``DataSource`` list).

    The crops follow the teachers' card (input size, crop scale; all teachers must agree). Returns the cache and
    a summary (faces per source, mean confidence per teacher, median spread between teachers, share of points
    whose weight is low, time). ``max_faces``: only that many faces per source, evenly spread (smoke runs).
    ``flip_test``: each teacher's heatmaps are the mean of the crop's and of the mirrored crop's mapped back
    (the scheme's ``flip_perm``), as ``facekd eval --flip-test`` scores it; twice the teacher passes.

    ``parts``: a folder where every ``chunk`` faces of a source are written as they finish, so an interrupted
    run loses at most one chunk. Finished chunks there are read back instead of recomputed only with
    ``resume=True`` (else a non-empty folder is an error), and only if the folder was written for the same
    teachers, sources and settings (``fingerprint`` adds what the caller knows, e.g. the teachers' paths)."""
    from tqdm import tqdm

    from facekd.data import CropDataset, load_dataset

    log = log or (lambda m: print(m, file=sys.stderr, flush=True))
    if not teachers:
        raise FacekdError("facekd teach: no teacher (set distill.teachers or pass --teacher NAME=PATH)")
    if chunk < 1:
        raise FacekdError(f"facekd teach: chunk must be >= 1, got {chunk}")
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
    meta = {"teachers": [{"name": n, "card": c.to_dict()} for n, c in zip(names, cards)],
            "input_size": size, "crop_scale": cs, "scheme": scheme.name, "num_points": scheme.num_points,
            "flip_test": bool(flip_test),
            "sources": [{"path": s.path, "name": s.label, "labelled": bool(s.labelled)} for s in sources]}
    store = _Parts(Path(parts), {**meta, "max_faces": max_faces, "chunk": chunk, **(fingerprint or {})},
                   resume) if parts is not None else None
    codecs = [c.get_codec() for c in cards]
    dev = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    models = [teachers[n][0].to(dev, memory_format=fmt).eval() for n in names]

    def run_chunk(crops, idx: list[int], bar) -> dict[str, np.ndarray]:
        loader = torch.utils.data.DataLoader(torch.utils.data.Subset(_Faces(crops), idx), batch_size=batch_size,
                                             num_workers=workers, collate_fn=_collate)
        pts, conf, aff, wh, keys, lab, rows, bad = [], [], [], [], [], [], [], []
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
                pts.append(np.stack([d[0] for d in dec]))  # [T, B, K, 2]
                conf.append(np.stack([d[1] for d in dec]))
                aff.append(batch["affine"].numpy())
                wh.append(batch["image_wh"].numpy())
                keys += list(batch["key"])
                lab += [bool(v) for v in batch["labelled"]]
                rows += [int(v) for v in batch["index"]]
            bar.update(len(bad_items) + (0 if batch is None else len(batch["key"])))
        t, k = len(models), scheme.num_points
        return {"points": np.concatenate(pts, 1) if pts else np.zeros((t, 0, k, 2), np.float32),
                "conf": np.concatenate(conf, 1) if conf else np.zeros((t, 0, k), np.float32),
                "affine": np.concatenate(aff) if aff else np.zeros((0, 2, 3), np.float32),
                "image_wh": np.concatenate(wh) if wh else np.zeros((0, 2), np.int32),
                "keys": np.asarray(keys, dtype=np.str_), "labelled": np.asarray(lab, dtype=bool),
                "index": np.asarray(rows, dtype=np.int64), "bad": np.asarray(bad, dtype=np.str_)}

    done: list[dict[str, np.ndarray]] = []
    previews: list[tuple[str, int, np.ndarray]] = []
    per_source: dict[str, dict[str, Any]] = {}
    reused = 0
    t0 = time.perf_counter()
    for si, src in enumerate(sources):
        base = load_dataset(src.spec, scheme=scheme)
        if max_faces is not None and max_faces < len(base):
            base = base.select(sorted(set(np.linspace(0, len(base) - 1, max_faces).round().astype(int).tolist())))
        crops = CropDataset(base, None, scheme, augment=None, crop_scale=cs, input_size=size, strict=True,
                            with_key=True)
        first_row, first_part = sum(len(c["keys"]) for c in done), len(done)
        n_ok, bad = 0, []
        with tqdm(total=len(crops), desc=f"teach {src.label}", disable=not progress, file=sys.stderr,
                  dynamic_ncols=True, mininterval=1.0) as bar:
            for ci, start in enumerate(range(0, len(crops), chunk)):
                idx = list(range(start, min(start + chunk, len(crops))))
                part = store.get(si, ci) if store is not None else None
                if part is None:
                    part = run_chunk(crops, idx, bar)
                    if store is not None:
                        store.put(si, ci, part)
                else:
                    reused += len(part["keys"])
                    bar.update(len(idx))
                done.append(part)
                n_ok += len(part["keys"])
                bad += [str(b) for b in part["bad"]]
        # a few canonical crops of the source for the preview sheet (cropped again: chunks may come from disk)
        if preview and n_ok:
            first = np.concatenate([c["index"] for c in done[first_part:]])[:preview_per_source]
            previews += [(src.label, first_row + j, np.asarray(crops[int(i)]["image"])) for j, i in enumerate(first)]
        per_source[src.label] = {"faces": n_ok, "skipped": len(bad), "labelled": bool(src.labelled),
                                 "skipped_examples": bad[:5]}
        if bad:
            log(f"{src.label}: {len(bad)} unreadable face(s) left out, e.g. {bad[0]}")
    keys = [str(k) for c in done for k in c["keys"]]
    if not keys:
        raise FacekdError("facekd teach: no face could be read from the training sources")
    dup = len(keys) - len(set(keys))
    if dup:
        raise FacekdError(f"facekd teach: {dup} face(s) appear twice (same image and box) across the sources; "
                          "list each dataset once")
    points = np.concatenate([c["points"] for c in done], axis=1)
    conf = np.concatenate([c["conf"] for c in done], axis=1)
    labelled = np.concatenate([c["labelled"] for c in done])
    targets = TeacherTargets(meta, points.astype(np.float16), conf.astype(np.float16),
                             np.concatenate([c["affine"] for c in done]).astype(np.float32),
                             np.concatenate([c["image_wh"] for c in done]).astype(np.int32), keys)
    elapsed = time.perf_counter() - t0
    summary = {"faces": len(keys), "seconds": elapsed,
               "faces_per_s": (len(keys) - reused) / max(elapsed, 1e-9), "resumed_faces": reused,
               "sources": per_source, "teachers": {}, **_quality(targets, labelled, knobs)}
    for i, n in enumerate(names):
        summary["teachers"][n] = {"mean_confidence": float(conf[i].astype(np.float64).mean())}
    if preview and previews:
        summary["preview"] = str(_preview_sheet(preview, targets, previews, knobs))
    return targets, summary


class _Parts:
    """Finished chunks of a ``facekd teach`` run on disk (``PARTS/SS_CCCCC.npz`` + ``fingerprint.json``)."""

    def __init__(self, folder: Path, fingerprint: dict[str, Any], resume: bool):
        self.folder = folder
        fp = json.loads(json.dumps(fingerprint, default=str))  # as it reads back from the file
        have = sorted(folder.glob("*.npz")) if folder.is_dir() else []
        fp_file = folder / "fingerprint.json"
        if have and not resume:
            raise FacekdError(f"{folder} holds {len(have)} finished chunk(s) of an interrupted `facekd teach`: pass "
                              "--resume to continue it, or --force to start again")
        old = json.loads(fp_file.read_text()) if have and fp_file.is_file() else fp
        if old != fp:
            diff = sorted(k for k in set(old) | set(fp) if old.get(k) != fp.get(k))
            raise FacekdError(f"{folder}: the finished chunks were made with other settings ({', '.join(diff)} "
                              "differ): pass --force to start again")
        folder.mkdir(parents=True, exist_ok=True)
        if not have:
            for f in folder.glob("*.npz.tmp.npz"):
                f.unlink()
        fp_file.write_text(json.dumps(fp, indent=2))

    def _path(self, si: int, ci: int) -> Path:
        return self.folder / f"{si:02d}_{ci:05d}.npz"

    def get(self, si: int, ci: int) -> dict[str, np.ndarray] | None:
        p = self._path(si, ci)
        if not p.is_file():
            return None
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def put(self, si: int, ci: int, part: dict[str, np.ndarray]) -> None:
        p = self._path(si, ci)
        tmp = p.with_name(p.name + ".tmp.npz")
        np.savez(tmp, **part)
        tmp.replace(p)


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


def score_targets(targets: TeacherTargets, dataset, scheme, priors: Sequence[Sequence[float]] = ()
                  ) -> dict[str, Any]:
    """How good the cached targets are where labels exist: ``targets`` made by `facekd teach` over a labelled
    ``dataset`` (e.g. the val sets), each teacher's points mapped to the image and scored against the labels
    (mean NME, the scheme's normalisation), and, for each ``priors`` vector (one share per teacher), the
    consensus the distiller would form on an unlabelled face with those teacher shares: the points averaged with
    weights prior_t x confidence. Returns ``{"faces", "teachers": {name: nme}, "consensus": [nme per prior]}``."""
    from facekd.data import CropDataset
    from facekd.engine.metrics import nme

    names = targets.teacher_names
    pri = [np.asarray(p, dtype=np.float64) for p in priors]
    for p in pri:
        if p.shape != (len(names),) or (p < 0).any() or p.sum() <= 0:
            raise FacekdError(f"score_targets: a prior needs {len(names)} shares >= 0 (teachers {names}), got {p}")
    crops = CropDataset(dataset, None, scheme, augment=None, crop_scale=targets.meta["crop_scale"],
                        input_size=targets.meta["input_size"], strict=True, with_key=True)
    pts, conf, gt = [], [], []
    for i in range(len(crops)):
        it = crops[i]
        row = targets.row(it["key"])
        if row is None:
            raise FacekdError(f"face {it['key']} is not in the targets cache: make it with `facekd teach` over "
                              "this dataset")
        pts.append(targets.image_points(row))
        conf.append(targets.conf[:, row].astype(np.float64))
        gt.append(np.asarray(it["landmarks"], dtype=np.float32))
    if not gt:
        raise FacekdError("score_targets: the dataset is empty")
    P, C, G = np.stack(pts, 1).astype(np.float64), np.clip(np.stack(conf, 1), 0, None), np.stack(gt)

    def score(pred: np.ndarray) -> float:
        return float(np.nanmean(nme(pred.astype(np.float32), G, scheme)))

    out = {"faces": int(len(G)), "teachers": {n: score(P[t]) for t, n in enumerate(names)}, "consensus": []}
    for p in pri:
        w = C * p[:, None, None] + 1e-12 * (p[:, None, None] > 0)
        w = w / w.sum(0, keepdims=True)
        out["consensus"].append(score((w[..., None] * P).sum(0)))
    return out
