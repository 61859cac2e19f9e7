"""`facekd bench`: benchmarks against peers, and face-detector calibration / recall.

``facekd bench peers --data DIR --model default --out DIR``: facekd and dlib's 68-point shape
predictor on the same faces with the same metric code, (a) each with its own face detector
(misses counted separately) and (b) from ground-truth boxes (mapped to each method's box
convention with its calibrated transform); single-thread per-face latency of both; a Markdown
table, a JSON file and CED plots.

``facekd bench detector --data DIR [--calibrate-on DIR --write-config FILE]``: detector recall,
and the detector-box -> landmark-box calibration stored as data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facekd.errors import FacekdError


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    pp = sub.add_parser("peers", help="facekd vs dlib's 68-point shape predictor",
                        description="facekd vs dlib's 68-point shape predictor on the same faces")
    pp.add_argument("--data", required=True, help="dataset with 68-point iBUG landmarks (e.g. ytf68/test)")
    pp.add_argument("--model", default="default", help="facekd model (default: the bundled one)")
    pp.add_argument("--out", type=Path, default=Path("runs/bench/peers"), help="output folder")
    pp.add_argument("--limit", type=int, default=None, help="first N faces only")
    pp.add_argument("--norm", default="interocular", choices=("interocular", "interpupil", "bbox"))
    pp.add_argument("--dlib-upsample", type=int, default=1, help="dlib HOG detector up-sampling steps")
    pp.add_argument("--quiet", action="store_true", help="no progress bar")

    pd = sub.add_parser("detector", help="face-detector recall and box calibration",
                        description="face-detector recall and detector-box -> landmark-box calibration")
    pd.add_argument("--data", required=True, help="dataset to measure recall on (one face per image)")
    pd.add_argument("--detector", default="haar", choices=("haar", "dlib"),
                    help="the bundled Haar cascade or dlib's HOG detector (peer)")
    pd.add_argument("--calibrate-on", default=None, help="dataset to calibrate the box transform on")
    pd.add_argument("--write-config", type=Path, default=None,
                    help="write the detector config JSON (params, calibrated transform, stats)")
    pd.add_argument("--limit", type=int, default=None, help="first N faces of --data")
    pd.add_argument("--calibrate-limit", type=int, default=None, help="N faces of --calibrate-on "
                    "(spread over the whole set)")
    pd.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.bench == "detector":
        return _detector(args)
    return _peers(args)


# ------------------------------------------------------------------------------------------------

def _spread(dataset, n: int | None):
    if n is None or n >= len(dataset):
        return dataset
    if n < 1:
        raise FacekdError(f"limit must be >= 1, got {n}")
    idx = sorted({int(round(v)) for v in np.linspace(0, len(dataset) - 1, n)})
    return dataset.select(idx)


def _make_detector(kind: str, box_transform="bundled"):
    if kind == "dlib":
        from facekd.peers import DlibHogDetector

        return DlibHogDetector(box_transform=box_transform)
    from facekd.detectors import CascadeFaceDetector

    return CascadeFaceDetector(box_transform=box_transform)


def _detector(args: argparse.Namespace) -> int:
    from facekd.data import load_dataset
    from facekd.detectors import calibrate, recall

    det = _make_detector(args.detector)
    cal = None
    if args.calibrate_on:
        train = _spread(load_dataset(args.calibrate_on), args.calibrate_limit)
        cal = calibrate(det, train, progress=not args.quiet)
        cal["data"] = str(args.calibrate_on)
        from facekd.detectors import BoxTransform

        det.box_transform = BoxTransform.from_dict(cal["box_transform"])
        print("calibration:", json.dumps(cal))
    data = load_dataset(args.data)
    if args.limit is not None:
        data = _spread(data, args.limit)
    rec = recall(det, data, progress=not args.quiet)
    rec["data"] = str(args.data)
    print("recall:", json.dumps(rec))
    if args.write_config:
        if cal is None:
            raise FacekdError("--write-config needs --calibrate-on")
        _write_config(args, det, cal, rec)
        print(f"wrote {args.write_config}")
    return 0


def _write_config(args, det, cal: dict, rec: dict) -> None:
    from facekd.detectors import write_config

    notes = ["recall_centre: a detection's centre inside the tight landmark box; recall_iou0.5: "
             "IoU >= 0.5 between the mapped detection and that box",
             "calibration: per-parameter medians over matched faces (detection with the highest "
             "IoU among those whose centre is inside the ground-truth box)"]
    if args.detector == "dlib":
        d = {"detector": "dlib HOG frontal face detector", "params": det.params(),
             "box_transform": cal["box_transform"],
             "box_convention": "dlib HOG box -> tight box of the landmarks; its inverse maps "
                               "ground-truth landmark boxes to dlib's convention",
             "calibration": {k: v for k, v in cal.items() if k != "box_transform"},
             "recall": rec, "notes": notes}
        args.write_config.parent.mkdir(parents=True, exist_ok=True)
        args.write_config.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
    else:
        write_config(args.write_config, det, cal, rec, cascade_name=det.config["cascade"], notes=notes)


# ------------------------------------------------------------------------------------------------

def _peers(args: argparse.Namespace) -> int:
    import torch
    from tqdm import tqdm

    from facekd.api import Landmarker
    from facekd.data import load_dataset
    from facekd.data.base import box_from_points
    from facekd.detectors import match_detection
    from facekd.engine.metrics import auc, failure_rate, nme
    from facekd.engine.plots import plot_ced
    from facekd.peers import DlibHogDetector, DlibShapePredictor, dlib_box_transform, dlib_unavailable
    from facekd.schemes import get_scheme

    why = dlib_unavailable()
    if why:
        raise FacekdError(f"bench peers: {why}")
    data = load_dataset(args.data)
    if args.limit is not None:
        data = _spread(data, args.limit)
    if len(data) == 0:
        raise FacekdError(f"bench peers: no faces in {args.data}")
    dlib_scheme = get_scheme("ibug68")
    if data.scheme.num_points != dlib_scheme.num_points or data.scheme.name != dlib_scheme.name:
        raise FacekdError(f"bench peers: dlib predicts the {dlib_scheme.name} points; the data has "
                          f"'{data.scheme.name}' ({data.scheme.num_points} points)")
    torch.set_num_threads(1)
    lm = Landmarker(args.model, threads=1)
    if lm.scheme.name != data.scheme.name:
        raise FacekdError(f"bench peers: the model predicts '{lm.scheme.name}', the data is '{data.scheme.name}'")
    haar = lm.detector
    dlib_det = DlibHogDetector(upsample=args.dlib_upsample)
    dlib_sp = DlibShapePredictor()
    to_dlib = dlib_box_transform()
    if to_dlib is None:
        raise FacekdError("bench peers: no calibrated dlib box transform in facekd/assets/peers/dlib.json "
                          "(run facekd bench detector --detector dlib --calibrate-on ... --write-config ...)")
    gt_to_dlib = to_dlib.inverse()

    n = len(data)
    K = data.scheme.num_points
    nan = np.full((K, 2), np.nan, np.float32)
    res = {k: [] for k in ("fk_gt", "dl_gt", "fk_det", "dl_det")}
    found = {"facekd": [], "dlib": []}
    lat = {"facekd": [], "dlib": [], "haar": [], "hog": []}
    gts = []
    for i in tqdm(range(n), desc="bench peers", unit="face", disable=args.quiet):
        it = data[i]
        img, gt = it["image"], it["landmarks"]
        gts.append(gt)
        gt_box = box_from_points(gt)
        # (b) ground-truth boxes, each in its method's convention; timed per face
        t0 = time.perf_counter()
        p_fk, _ = lm.predict(img, gt_box[None])
        t1 = time.perf_counter()
        dl_box = gt_to_dlib.apply(gt_box)
        t2 = time.perf_counter()
        p_dl = dlib_sp.predict(img, dl_box)
        t3 = time.perf_counter()
        lat["facekd"].append(t1 - t0)
        lat["dlib"].append(t3 - t2)
        res["fk_gt"].append(p_fk[0])
        res["dl_gt"].append(p_dl)
        # (a) each method's own detector; the face matched to the ground truth, misses counted
        t0 = time.perf_counter()
        hb, _ = haar(img)
        t1 = time.perf_counter()
        db, _ = dlib_det(img)
        t2 = time.perf_counter()
        lat["haar"].append(t1 - t0)
        lat["hog"].append(t2 - t1)
        j = match_detection(hb, gt_box)
        found["facekd"].append(j is not None)
        if j is None:
            res["fk_det"].append(nan)
        else:
            from facekd.detectors import detections_to_landmark_boxes

            res["fk_det"].append(lm.predict(img, detections_to_landmark_boxes(haar, hb[j:j + 1]))[0][0])
        j = match_detection(db, gt_box)
        found["dlib"].append(j is not None)
        res["dl_det"].append(nan if j is None else dlib_sp.predict(img, db[j]))

    gt = np.stack(gts)
    scheme = data.scheme
    rows, curves = [], {}
    summary: dict[str, Any] = {"data": str(args.data), "faces": n, "norm": args.norm,
                               "model": args.model, "model_card": lm.card.model,
                               "dlib_predictor": str(dlib_sp.path), "dlib_box_transform": to_dlib.to_dict(),
                               "detector_box_transform": (haar.box_transform.to_dict()
                                                          if getattr(haar, "box_transform", None) else None)}
    for setting, key_fk, key_dl in (("ground-truth boxes", "fk_gt", "dl_gt"),
                                    ("own detector", "fk_det", "dl_det")):
        for name, key, fkey in (("facekd", key_fk, "facekd"), ("dlib", key_dl, "dlib")):
            pred = np.stack(res[key])
            mask = np.ones(n, bool) if key.endswith("gt") else np.asarray(found[fkey])
            row = {"setting": setting, "method": name, "faces": int(mask.sum()), "missed": int(n - mask.sum())}
            if mask.any():
                e = nme(pred[mask], gt[mask], scheme, norm=args.norm)
                row.update(nme=float(e.mean()), fr10=failure_rate(e, 0.10), auc10=auc(e, 0.10),
                           fr08=failure_rate(e, 0.08), auc08=auc(e, 0.08))
                curves[(setting, name)] = e
            rows.append(row)
    # faces both detectors found: a like-for-like comparison of setting (a)
    both = np.asarray(found["facekd"]) & np.asarray(found["dlib"])
    if both.any():
        for name, key in (("facekd", "fk_det"), ("dlib", "dl_det")):
            e = nme(np.stack(res[key])[both], gt[both], scheme, norm=args.norm)
            rows.append({"setting": "own detector, faces both found", "method": name, "faces": int(both.sum()),
                         "missed": 0, "nme": float(e.mean()), "fr10": failure_rate(e, 0.10),
                         "auc10": auc(e, 0.10), "fr08": failure_rate(e, 0.08), "auc08": auc(e, 0.08)})
    ms = {k: 1000 * float(np.median(v)) for k, v in lat.items()}
    summary.update(rows=rows, latency_ms_median=ms,
                   latency_note="single thread, per face, median; landmarks from a given box "
                                "(crop + forward + decode for facekd, shape predictor for dlib); "
                                "detectors per image")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "peers.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    md = _markdown(summary)
    (out / "peers.md").write_text(md, encoding="utf-8")
    files = [out / "peers.json", out / "peers.md"]
    for setting, fname in (("ground-truth boxes", "ced_gt_boxes.png"), ("own detector", "ced_own_detector.png")):
        c = {name: curves[(setting, name)] for name in ("facekd", "dlib") if (setting, name) in curves}
        if c:
            files.append(plot_ced(c, out / fname, title=f"CED, {setting}, {Path(str(args.data)).name} ({n} faces)"))
    print(md)
    for f in files:
        print(f"wrote {f}", file=sys.stderr)
    return 0


def _markdown(s: dict[str, Any]) -> str:
    lat = s["latency_ms_median"]
    lines = [f"facekd (`{s['model']}`, {s['model_card']}) vs dlib 68-point shape predictor on "
             f"`{s['data']}` ({s['faces']} faces, {s['norm']} NME)", "",
             "| setting | method | faces | missed | NME % | FR@0.10 % | AUC@0.10 | FR@0.08 % | AUC@0.08 |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        if "nme" in r:
            lines.append(f"| {r['setting']} | {r['method']} | {r['faces']} | {r['missed']} | {100 * r['nme']:.2f} | "
                         f"{100 * r['fr10']:.2f} | {r['auc10']:.4f} | {100 * r['fr08']:.2f} | {r['auc08']:.4f} |")
        else:
            lines.append(f"| {r['setting']} | {r['method']} | 0 | {r['missed']} | - | - | - | - | - |")
    lines += ["", "Latency (single thread, median): landmarks per face from a box: "
              f"facekd {lat['facekd']:.2f} ms, dlib {lat['dlib']:.2f} ms; detection per image: "
              f"facekd Haar {lat['haar']:.1f} ms, dlib HOG {lat['hog']:.1f} ms.", ""]
    return "\n".join(lines)
