"""How much do two ytf68 label sets of the same face disagree? (docs/results, "label noise")

ytf68 holds several frames of each YouTube clip, labelled independently. Frames of one clip
(same identity, same video digit of the two-digit index, same image size) are aligned with an
ECC affine fit on the face region; the labels of frame A are moved into frame B and compared with
B's own labels (inter-ocular NME, B's outer eye corners). Where the alignment is near perfect
(ECC correlation >= 0.99) what is left is label disagreement plus the little motion an affine
cannot explain (expression, blink, out-of-plane turn).

Control: the same pairs and warps applied to a model's predictions (flip test) instead of the
labels. A model is deterministic, so its pair disagreement bounds what the procedure itself adds;
the labels disagreeing well beyond that is annotation noise, which caps how low any model's NME
against these labels can go.

Run from the repo root (about 5 minutes on 2 cores):
    python docs/results/label_noise/measure.py --data ../shared/data/ytf68 \
        --model w18=models/teachers/hrnetv2_w18_68pt --model w24=models/students/hrnet_slim_w24_d1_128_gt \
        --out docs/results/label_noise
"""
from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facekd.data import load_dataset, read_pts
from facekd.engine.evaluator import evaluate
from facekd.models import load_model
from facekd.schemes import as_scheme

SCHEME = as_scheme("ibug68")
THRESHOLDS = (0.98, 0.99, 0.995, 0.998)
NAME = re.compile(r"^(?P<id>.+)_(?P<vid>\d)(?P<frame>\d)_(?:tr|te)\.jpg$")


def clip_pairs(root: Path) -> list[tuple[str, str]]:
    clips: dict[tuple, list[str]] = defaultdict(list)
    with open(root / "manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            m = NAME.match(Path(row["file"]).name)
            if m is None:
                raise SystemExit(f"unexpected ytf68 file name: {row['file']}")
            clips[(row["identity"], m["vid"], row["width"], row["height"])].append(row["file"])
    return [p for files in clips.values() for p in itertools.combinations(sorted(files), 2)]


def align(a: np.ndarray, b: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, float]:
    """Affine W with a(W [x, 1]) ~ b(x) on the face box of b; returns (W, ECC correlation)."""
    mask = np.zeros(b.shape, np.uint8)
    x0, y0 = np.floor(box[0]).astype(int)
    x1, y1 = np.ceil(box[1]).astype(int)
    mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 255
    warp = np.eye(2, 3, dtype=np.float32)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    cc, warp = cv2.findTransformECC(b, a, warp, cv2.MOTION_AFFINE, crit, mask, 5)
    return warp.astype(np.float64), float(cc)


def move(points: np.ndarray, warp: np.ndarray) -> np.ndarray:
    """Points in A's frame -> B's frame (inverse of the ECC warp, which maps B to A)."""
    inv = cv2.invertAffineTransform(warp)
    return points @ inv[:, :2].T + inv[:, 2]


def point_errors(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(g[SCHEME.eye_corners[0]] - g[SCHEME.eye_corners[1]])
    return np.linalg.norm(p - g, axis=-1) / d


def model_points(models: dict[str, str], root: Path) -> dict[str, dict[str, np.ndarray]]:
    import torch

    torch.set_num_threads(2)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, path in models.items():
        module, card = load_model(path)
        module = module.eval()
        pts: dict[str, np.ndarray] = {}
        for split in ("train", "val", "test"):
            data = load_dataset(root / split, "ibug68")
            r = evaluate(module, data, card.get_codec(), data.scheme, batch_size=64, flip_test=True,
                         output_type=card.output_type, model_scheme=card.get_scheme(),
                         input_size=card.input_size, crop_scale=card.crop_scale, progress=True)
            for p, pr in zip(r.paths, r.pred):
                pts[f"{split}/{Path(p).name}"] = pr.astype(np.float64)
        out[name] = pts
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="the ytf68 folder (manifest.csv, train/val/test)")
    ap.add_argument("--model", action="append", default=[], help="NAME=PATH of a model for the control")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=None, help="first N pairs only (a quick check)")
    args = ap.parse_args()
    models = dict(m.split("=", 1) for m in args.model)
    pairs = clip_pairs(args.data)[:args.limit]
    preds = model_points(models, args.data) if models else {}

    rows = []
    for fa, fb in tqdm(pairs, desc="aligning frame pairs", unit="pair"):
        ia = cv2.imread(str(args.data / fa), cv2.IMREAD_GRAYSCALE).astype(np.float32)
        ib = cv2.imread(str(args.data / fb), cv2.IMREAD_GRAYSCALE).astype(np.float32)
        la = read_pts(args.data / Path(fa).with_suffix(".pts")).astype(np.float64)
        lb = read_pts(args.data / Path(fb).with_suffix(".pts")).astype(np.float64)
        lo, hi = lb.min(0), lb.max(0)
        pad = 0.1 * (hi - lo)
        try:
            warp, cc = align(ia, ib, np.stack([lo - pad, hi + pad]))
        except cv2.error:
            continue  # ECC did not converge: the frames are too different to count as a pair
        row = {"a": fa, "b": fb, "cc": cc, "labels": point_errors(move(la, warp), lb)}
        for name, pts in preds.items():
            row[name] = point_errors(move(pts[fa], warp), pts[fb])
        rows.append(row)

    summary: dict = {"pairs": len(pairs), "aligned": len(rows), "models": models, "thresholds": {}}
    for t in THRESHOLDS:
        sel = [r for r in rows if r["cc"] >= t]
        if not sel:
            continue
        entry = {"n": len(sel), "train_pairs": sum(r["a"].startswith("train/") for r in sel)}
        for key in ["labels", *models]:
            errs = np.stack([r[key] for r in sel])            # [n, 68]
            entry[key] = {"median_nme": float(np.median(errs.mean(1))),
                          "mean_nme": float(errs.mean()),
                          "regions": {g: float(np.median(errs[:, list(ix)].mean(1)))
                                      for g, ix in SCHEME.groups.items()}}
        summary["thresholds"][str(t)] = entry
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "label_noise.json").write_text(json.dumps(summary, indent=1))
    plot(rows, list(models), args.out / "label_noise.png")
    for t, e in summary["thresholds"].items():
        parts = [f"{k} {100 * e[k]['median_nme']:.2f} %" for k in ["labels", *models]]
        print(f"ECC cc >= {t}: {e['n']} pairs, median pair NME: " + ", ".join(parts))


def plot(rows: list[dict], models: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    sel = [r for r in rows if r["cc"] >= 0.99]
    for key in ["labels", *models]:
        e = np.sort([100 * r[key].mean() for r in sel])
        ax1.plot(e, np.linspace(0, 1, len(e)), label=("two label sets" if key == "labels" else f"{key} predictions"))
    ax1.set_xlabel("pair NME after ECC alignment (%)")
    ax1.set_ylabel("fraction of frame pairs")
    ax1.set_xlim(0, 10)
    ax1.set_title(f"ytf68 frame pairs of one clip, ECC cc >= 0.99 (n={len(sel)})")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ts = np.linspace(0.95, 0.999, 25)
    for key in ["labels", *models]:
        med = [np.median([100 * r[key].mean() for r in rows if r["cc"] >= t] or [np.nan]) for t in ts]
        ax2.plot(ts, med, marker=".", label=key)
    ax2.set_xlabel("minimum ECC correlation of the pair")
    ax2.set_ylabel("median pair NME (%)")
    ax2.set_title("better-aligned pairs: the models agree, the labels do not")
    ax2.legend()
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
