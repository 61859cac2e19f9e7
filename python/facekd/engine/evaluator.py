"""Evaluate a landmark predictor on a dataset: per-face NME, per-subset tables (NME, FR, AUC), JSON
and Markdown reports, CED plot and a contact sheet of the worst faces."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from facekd.codecs import HeatmapCodec
from facekd.engine.metrics import auc, failure_rate, nme
from facekd.errors import FacekdError
from facekd.schemes import LandmarkScheme, as_scheme, common_points, convert

__all__ = ["EvalResult", "evaluate", "evaluate_pipeline", "MeanShapePredictor", "pipeline_summary",
           "predict_points", "subset_table", "THRESHOLDS", "turn_scores", "choose_threshold"]

THRESHOLDS = (0.10, 0.08)


def subset_table(nmes: np.ndarray, subsets: Sequence[Sequence[str]]) -> dict[str, dict[str, float]]:
    """``{"all": row, subset: row, ...}`` with row = n, nme, fr@0.10, fr@0.08, auc@0.10, auc@0.08."""
    e = np.asarray(nmes, dtype=np.float64)
    groups: dict[str, list[int]] = {"all": list(range(len(e)))}
    for i, ss in enumerate(subsets):
        for s in ss:
            groups.setdefault(s, []).append(i)
    table = {}
    for name, idx in groups.items():
        sub = e[idx]
        row: dict[str, float] = {"n": int(len(sub)), "nme": float(sub.mean())}
        for t in THRESHOLDS:
            row[f"fr@{t:.2f}"] = failure_rate(sub, t)
        for t in THRESHOLDS:
            row[f"auc@{t:.2f}"] = auc(sub, t)
        table[name] = row
    return table


@dataclass
class EvalResult:
    """Per-face predictions and errors plus the per-subset summary (fractions, not percent)."""

    nme: np.ndarray                 # [N]
    pred: np.ndarray                # [N, K, 2] image coords, data scheme (NaN = not predicted)
    gt: np.ndarray                  # [N, K, 2]
    paths: list[str]
    subsets: list[list[str]]
    table: dict[str, dict[str, float]]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, per_face: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {"settings": self.settings, "table": self.table}
        if per_face:
            d["faces"] = [{"path": p, "subsets": s, "nme": float(e)}
                          for p, s, e in zip(self.paths, self.subsets, self.nme)]
        return d

    def write_json(self, path: str | Path) -> Path:
        from facekd.fileio import write_json

        return write_json(path, self.to_dict())

    def to_markdown(self) -> str:
        s = self.settings
        head = (f"**{s.get('model', 'model')}** on `{s.get('data', '?')}` ({s.get('scheme', '?')}, "
                f"{s.get('norm', 'interocular')} NME, decode {s.get('decode') or '-'}, flip test "
                f"{'on' if s.get('flip_test') else 'off'})\n\n")
        cols = ["subset", "faces", "NME %", "FR@0.10 %", "FR@0.08 %", "AUC@0.10", "AUC@0.08"]
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for name, r in self.table.items():
            lines.append(f"| {name} | {r['n']} | {100 * r['nme']:.2f} | {100 * r['fr@0.10']:.2f} | "
                         f"{100 * r['fr@0.08']:.2f} | {r['auc@0.10']:.4f} | {r['auc@0.08']:.4f} |")
        return head + "\n".join(lines) + "\n"

    def write_markdown(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_markdown(), encoding="utf-8")
        return path

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["index", "path", "subsets", "nme"])
            for i, (p, s, e) in enumerate(zip(self.paths, self.subsets, self.nme)):
                w.writerow([i, p, ";".join(s), f"{e:.6f}"])
        return path

    def save(self, out_dir: str | Path, dataset=None, *, worst_n: int = 16,
             name: str | None = None) -> dict[str, Path]:
        """Write results.json, results.md, per_face.csv, ced.png and (given the base dataset)
        worst.png into ``out_dir``."""
        from facekd.engine.plots import plot_ced, worst_faces_sheet

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        files = {
            "json": self.write_json(out / "results.json"),
            "markdown": self.write_markdown(out / "results.md"),
            "csv": self.write_csv(out / "per_face.csv"),
            "ced": plot_ced({name or self.settings.get("model", "model"): self.nme}, out / "ced.png",
                            title="CED on " + "/".join(Path(str(self.settings.get("data", ""))).parts[-2:])),
        }
        if dataset is not None and worst_n > 0:
            scheme = getattr(dataset, "scheme", None) or as_scheme(self.settings["scheme"])
            files["worst"] = worst_faces_sheet(dataset, self.pred, self.nme, out / "worst.png",
                                               n=worst_n, scheme=scheme)
        return files


# ---------------------------------------------------------------------------------------------

class MeanShapePredictor:
    """Baseline: always predicts the mean training shape (in crop coordinates), rendered as
    heatmaps through the codec."""

    def __init__(self, mean_shape_crop: np.ndarray, codec: HeatmapCodec):
        self.mean_shape = np.asarray(mean_shape_crop, dtype=np.float32)
        self.codec = codec
        self.heatmaps, _ = codec.encode(self.mean_shape)

    @classmethod
    def from_dataset(cls, dataset, codec: HeatmapCodec, *, crop_scale: float = 1.25,
                     box_from: str = "landmarks") -> "MeanShapePredictor":
        """Mean of the landmarks in crop coordinates over a loader's faces (reads annotations
        only, no image)."""
        from facekd import kernels
        from facekd.data.base import box_from_points, transform_points

        records = getattr(dataset, "records", None)
        if records is None:
            raise FacekdError("mean-shape baseline: the training data must be a facekd loader")
        acc = []
        for r in records:
            box = box_from_points(r.landmarks) if (box_from == "landmarks" or r.box is None) else r.box
            aff = kernels.box_to_affine(np.asarray(box, dtype=np.float32), scale=crop_scale,
                                        out_size=codec.input_size)
            acc.append(transform_points(r.landmarks, kernels.affine_invert(aff)))
        mean = np.nanmean(np.stack(acc), axis=0)
        if not np.isfinite(mean).all():
            raise FacekdError("mean-shape baseline: some point is never labelled in the training data")
        return cls(mean, codec)

    def __call__(self, crops):
        import torch

        n = crops.shape[0]
        return torch.from_numpy(np.broadcast_to(self.heatmaps, (n,) + self.heatmaps.shape).copy())


# ---------------------------------------------------------------------------------------------

def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        return x.detach().to("cpu").float().numpy()
    return np.asarray(x, dtype=np.float32)


def _run(predictor: Callable, x):
    """Call the predictor (a torch module runs in eval mode on its own device, without grad)."""
    import torch

    if isinstance(predictor, torch.nn.Module):
        p = next(iter(predictor.parameters()), None)
        if p is not None:
            x = x.to(p.device)
        with torch.inference_mode():
            return predictor(x)
    return predictor(x)


def predict_points(predictor: Callable, crops, affines: np.ndarray, *, output_type: str = "heatmap",
                   codec: HeatmapCodec | None = None, input_size: int | None = None,
                   flip_perm: Sequence[int] | None = None) -> np.ndarray:
    """Image-coordinate points [N, K, 2] (model scheme) for a batch of crops [N, 3, S, S].

    ``flip_perm`` turns on flip testing: the mirrored crop is predicted too, mirrored back,
    re-indexed with the permutation and averaged with the plain output (heatmaps are averaged
    before decoding)."""
    from facekd.codecs import CodecError, CoordCodec

    if codec is None or (output_type == "coords" and not isinstance(codec, CoordCodec)):
        if output_type == "heatmap":
            raise FacekdError("heatmap outputs need a codec")
        s = input_size or (codec.input_size if codec else None)
        if s is None:
            raise FacekdError("coordinate outputs need input_size")
        codec = CoordCodec(s)
    out = _as_numpy(_run(predictor, crops))
    if flip_perm is not None:
        out = 0.5 * (out + codec.flip_output(_as_numpy(_run(predictor, crops.flip(-1))), flip_perm))
    if isinstance(codec, HeatmapCodec) and out.ndim != 4:
        raise FacekdError(f"the model returned shape {out.shape}; expected heatmaps [N, K, h, w]")
    try:
        pts, _ = codec.decode(np.ascontiguousarray(out), affines)
    except CodecError as e:
        raise FacekdError(str(e)) from None
    return pts


def evaluate(predictor: Callable, dataset, codec: HeatmapCodec | None, scheme: LandmarkScheme | str,
             batch_size: int = 32, flip_test: bool = False, *, norm: str = "interocular",
             output_type: str = "heatmap", model_scheme: LandmarkScheme | str | None = None,
             input_size: int | None = None, crop_scale: float = 1.25, box_from: str = "landmarks",
             num_workers: int = 0, progress: bool = True, settings: dict[str, Any] | None = None
             ) -> EvalResult:
    """Run ``predictor`` (crops float32 tensor [N, 3, S, S] -> heatmaps [N, K, h, w], or
    crop-normalised coords [N, K, 2] with ``output_type="coords"``) over every face of ``dataset``
    (a loader, or a ready :class:`~facekd.data.CropDataset`) and score it.

    ``scheme`` is the data's scheme; a model with another ``model_scheme`` is scored on the points
    the two share. Bad samples raise (no silent number).
    """
    import torch
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from facekd.data.crop import CropDataset

    data_scheme = as_scheme(scheme)
    m_scheme = as_scheme(model_scheme) if model_scheme is not None else data_scheme
    if m_scheme.name != data_scheme.name:
        common_points(m_scheme, data_scheme)  # raises early when there is no correspondence
    if isinstance(dataset, CropDataset):
        crops, base = dataset, dataset.base
        if not crops.strict or crops.augment is not None:
            raise FacekdError("evaluate: the CropDataset must be strict and without augmentation")
    else:
        base = dataset
        if input_size is None:
            if codec is None:
                raise FacekdError("evaluate: pass a codec or input_size")
            input_size = codec.input_size
        crops = CropDataset(base, None, data_scheme, augment=None, crop_scale=crop_scale,
                            box_from=box_from, strict=True, input_size=input_size)
    size = crops.input_size
    if len(crops) == 0:
        raise FacekdError("evaluate: the dataset is empty")
    loader = DataLoader(crops, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    preds, gts = [], []
    perm = m_scheme.flip_perm if flip_test else None
    for batch in tqdm(loader, desc="evaluating", unit="batch", disable=not progress):
        x = batch["image"]
        if not isinstance(x, torch.Tensor):
            x = torch.as_tensor(x)
        pts = predict_points(predictor, x, batch["affine"].numpy(), output_type=output_type,
                             codec=codec, input_size=size, flip_perm=perm)
        if m_scheme.name != data_scheme.name:
            pts = convert(pts, m_scheme, data_scheme, fill=np.nan)
        preds.append(pts)
        gts.append(batch["landmarks"].numpy())
    pred = np.concatenate(preds).astype(np.float32)
    gt = np.concatenate(gts).astype(np.float32)
    if pred.shape != gt.shape:
        raise FacekdError(f"evaluate: predictions {pred.shape} do not match ground truth {gt.shape}; "
                          "is the model's scheme right?")
    e = nme(pred, gt, data_scheme, norm=norm)
    records = getattr(base, "records", None)
    if records is not None:
        paths = [r.meta.get("path", r.image_path) for r in records]
        subsets = [list(r.meta.get("subsets", ())) for r in records]
    else:
        metas = [base[i]["meta"] for i in range(len(base))]
        paths = [m.get("path", str(i)) for i, m in enumerate(metas)]
        subsets = [list(m.get("subsets", ())) for m in metas]
    st = {"scheme": data_scheme.name, "model_scheme": m_scheme.name, "norm": norm,
          "flip_test": bool(flip_test), "output_type": output_type,
          "decode": codec.decode_mode if (codec is not None and output_type == "heatmap") else None,
          "codec": codec.to_dict() if codec is not None else None, "input_size": size,
          "crop_scale": crops.crop_scale, "box_from": crops.box_from, "faces": int(len(e))}
    st.update(settings or {})
    return EvalResult(nme=e, pred=pred, gt=gt, paths=paths, subsets=subsets,
                      table=subset_table(e, subsets), settings=st)


def evaluate_pipeline(landmarker, dataset, *, norm: str = "interocular", progress: bool = True,
                      desc: str = "pipeline") -> dict[str, Any]:
    """The whole-image pipeline on ``dataset`` (one annotated face per image, e.g.
    :class:`facekd.data.rotated.RotatedFaces`): ``landmarker.detect(image)`` with its own detector,
    roll and re-crops, then the face whose predicted landmarks' box has its centre inside the
    ground-truth tight box (highest IoU among those) is scored. A face with no such prediction is a
    miss (NME NaN). Returns per-face arrays ``nme``, ``angle`` (``meta["angle"]``, 0 without one),
    ``rotation`` (the crop roll the landmarker used, degrees), ``seconds`` and ``faces`` (detected
    faces per image)."""
    import time

    from tqdm import tqdm

    from facekd.data.base import box_from_points
    from facekd.detectors import match_detection

    n = len(dataset)
    if n == 0:
        raise FacekdError("evaluate_pipeline: the dataset is empty")
    scheme = landmarker.scheme
    out = {k: np.full(n, np.nan) for k in ("nme", "angle", "rotation", "seconds")}
    out["faces"] = np.zeros(n, np.int64)
    for i in tqdm(range(n), desc=desc, unit="img", disable=not progress):
        it = dataset[i]
        gt = np.asarray(it["landmarks"], dtype=np.float32)
        g = box_from_points(gt)
        out["angle"][i] = float(it.get("meta", {}).get("angle", 0.0))
        t0 = time.perf_counter()
        faces = landmarker.detect(it["image"])
        out["seconds"][i] = time.perf_counter() - t0
        out["faces"][i] = len(faces)
        j = match_detection(np.stack([box_from_points(f.landmarks) for f in faces]), g) if faces else None
        if j is None:
            continue
        best = faces[j]
        vis = it.get("visible")
        out["nme"][i] = float(nme(best.landmarks[None].astype(np.float32), gt[None], scheme, norm=norm,
                                  visible=None if vis is None else np.asarray(vis)[None])[0])
        out["rotation"][i] = float(best.rotation)
    return out


def turn_scores(landmarker, dataset, *, progress: bool = True, desc: str = "turn scores") -> dict[str, np.ndarray]:
    """Mean landmark scores of ``landmarker``'s model on each face of ``dataset`` cropped the right way
    up, turned the wrong way, and beside the face: the crop box is the tight box of the ground-truth
    points in the face's own frame, its roll the ground-truth eye roll (the scheme's ``eye_corners``);
    ``correct`` holds the score at that roll, ``wrong`` the best of the three crops turned by 90, 180
    and 270 degrees more (what the turn check must tell apart), ``gone`` the best of the four crops
    at that roll with the box moved by its longer side left, right, up and down (a face the tracker
    has lost: what the loss threshold must tell apart). The box and roll are the pipeline's own
    (:meth:`facekd.api.Landmarker.crop_box`); faces with unlabelled points are skipped."""
    from tqdm import tqdm

    correct, wrong, gone = [], [], []
    for i in tqdm(range(len(dataset)), desc=desc, unit="face", disable=not progress):
        it = dataset[i]
        gt = np.asarray(it["landmarks"], dtype=np.float32)
        if not np.isfinite(gt).all():
            continue
        box, roll = landmarker.crop_box(gt)
        side = float(max(box[2], box[3]))
        moved = [box + np.array([dx * side, dy * side, 0, 0], np.float32)
                 for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        _, sc = landmarker.predict(it["image"], np.stack([box] * 4 + moved),
                                   rotations=[roll + 90.0 * t for t in range(4)] + [roll] * 4)
        m = sc.mean(axis=1)
        correct.append(float(m[0]))
        wrong.append(float(m[1:4].max()))
        gone.append(float(m[4:].max()))
    return {"correct": np.asarray(correct), "wrong": np.asarray(wrong), "gone": np.asarray(gone)}


def choose_threshold(correct: np.ndarray, wrong: np.ndarray) -> dict[str, float]:
    """A score threshold between correct fits and wrong crops (the turn check's: crops turned the wrong
    way; the tracker's loss threshold: crops beside the face): halfway between the 5th percentile of the
    correct fits' scores and the 95th percentile of the wrong crops' (rounded to 0.01), with the
    separation it leaves (``gap`` > 0: the two percentiles do not overlap)."""
    c, w = np.asarray(correct, np.float64), np.asarray(wrong, np.float64)
    if len(c) == 0 or len(w) == 0:
        raise FacekdError("choose_threshold: no scores (no fully labelled face)")
    lo, hi = float(np.percentile(c, 5)), float(np.percentile(w, 95))
    t = round((lo + hi) / 2, 2)
    return {"threshold": t, "correct_p5": lo, "wrong_p95": hi, "gap": lo - hi,
            "correct_min": float(c.min()), "wrong_max": float(w.max()),
            "correct_below": float((c < t).mean()), "wrong_above": float((w >= t).mean()), "faces": int(len(c))}


def pipeline_summary(res: dict[str, Any], upright: dict[str, Any] | None = None) -> dict[str, Any]:
    """Totals of :func:`evaluate_pipeline`: faces, misses, miss rate, mean NME / FR / AUC over the
    found faces; with ``upright`` (the same faces unturned), the NME of the faces found in both runs
    and its ratio (turned / upright)."""
    e = np.asarray(res["nme"], dtype=np.float64)
    found = np.isfinite(e)
    s: dict[str, Any] = {"faces": int(len(e)), "missed": int((~found).sum()), "miss_rate": float((~found).mean()),
                         "nme": float(e[found].mean()) if found.any() else None,
                         "fr": failure_rate(e[found], 0.1) if found.any() else None,
                         "auc": auc(e[found], 0.1) if found.any() else None,
                         "ms_per_image": float(1000 * np.nanmean(res["seconds"]))}
    if upright is not None:
        u = np.asarray(upright["nme"], dtype=np.float64)
        both = found & np.isfinite(u)
        s["both"] = int(both.sum())
        s["nme_both"] = float(e[both].mean()) if both.any() else None
        s["nme_upright_both"] = float(u[both].mean()) if both.any() else None
        s["ratio"] = (s["nme_both"] / s["nme_upright_both"]) if both.any() else None
    return s
