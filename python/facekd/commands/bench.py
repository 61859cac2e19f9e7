"""`facekd bench`: benchmarks against peers, and face-detector calibration / recall.

``facekd bench peers --data DIR --model default --out DIR``: facekd and dlib's 68-point shape
predictor on the same faces with the same metric code, (a) each with its own face detector
(misses counted separately) and (b) from ground-truth boxes (mapped to each method's box
convention with its calibrated transform); single-thread per-face latency of both; a Markdown
table, a JSON file and CED plots.

``facekd bench detector --data DIR [--calibrate-on DIR --write-config FILE]``: one detector's
recall on one-face images, and its detector-box -> landmark-box calibration stored as data.

``facekd bench detector --photos DIR --detectors yunet_n,yunet_s,haar_frontalface --calibrate-on
DIR [--write-configs] [--out DIR]``: the candidates side by side in one run, each calibrated on the
same faces (not the test photos): recall at IoU >= 0.5 of the mapped boxes against the tight
landmark boxes, unmatched detections per photo, seconds per photo and per 640 x 480 image on one
thread (eager torch for YuNet), a score-threshold sweep, a Markdown table, a JSON file and a
contact sheet of the unmatched detections.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facekd.commands import csv_list
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

    pd = sub.add_parser("detector", help="face-detector recall, calibration and comparison",
                        description="face-detector recall and detector-box -> landmark-box calibration; "
                                    "with --photos, several detectors side by side")
    pd.add_argument("--data", default=None, help="dataset to measure recall on (one face per image)")
    pd.add_argument("--detector", default="haar", help="one detector: a bundled name (yunet_n, yunet_s, "
                    "haar_frontalface; 'haar' = haar_frontalface) or 'dlib' (dlib's HOG detector, a peer)")
    pd.add_argument("--photos", type=Path, default=None,
                    help="photo folder with faces.csv (e.g. ../shared/data/afw_photos): compare --detectors")
    pd.add_argument("--detectors", type=csv_list(str), default=("yunet_n", "yunet_s", "haar_frontalface"),
                    help="comma-separated detectors for --photos (default: yunet_n,yunet_s,haar_frontalface)")
    pd.add_argument("--score-thresholds", type=csv_list(float), default=(0.5, 0.6, 0.7, 0.8, 0.9),
                    help="YuNet score thresholds to sweep with --photos (run at the lowest)")
    pd.add_argument("--out", type=Path, default=Path("runs/bench/detector"), help="output folder (--photos)")
    pd.add_argument("--max-sides", type=csv_list(int), default=None,
                    help="with --photos: run each YuNet detector at each of these max sides (resize policy), "
                         "e.g. 640,320 (default: the detector's own)")
    pd.add_argument("--runtime", choices=("eager", "executorch"), default="eager",
                    help="with --photos: run YuNet detectors eagerly or as fully delegated ExecuTorch programs "
                         "(canvas max_side x 3/4 max_side, landscape); the Haar cascade is numpy either way")
    pd.add_argument("--write-configs", action="store_true",
                    help="with --photos: store each bundled detector's calibration and statistics in its JSON")
    pd.add_argument("--calibrate-on", default=None, help="dataset to calibrate the box transform on")
    pd.add_argument("--calibrate-exclude", default=None, metavar="PREFIX",
                    help="drop calibration faces whose image file name starts with PREFIX (e.g. 'afw_' "
                         "to keep the AFW test photos out of a helen_afw calibration)")
    pd.add_argument("--write-config", type=Path, default=None,
                    help="write the detector config JSON (params, calibrated transform, stats)")
    pd.add_argument("--limit", type=int, default=None, help="first N faces of --data / N photos of --photos")
    pd.add_argument("--calibrate-limit", type=int, default=None, help="N faces of --calibrate-on "
                    "(spread over the whole set)")
    pd.add_argument("--quiet", action="store_true", help="no progress bar")

    pr = sub.add_parser("rotation", help="detector recall on a seeded set of turned faces",
                        description="detector recall and keypoint-roll error on faces turned by a uniform "
                                    "random angle (facekd.data.rotated.RotatedFaces)")
    pr.add_argument("--data", type=csv_list(str), required=True, help="comma-separated datasets (one face per image)")
    pr.add_argument("--detector", default="yunet_n", help="bundled detector name")
    pr.add_argument("--max-angles", type=csv_list(float), default=(90.0, 180.0), help="angle ranges +-A to run")
    pr.add_argument("--strategies", type=csv_list(str), default=("upright", "fallback", "always"),
                    help="upright: one pass; fallback: passes at 90/180/270 when the upright one finds "
                         "nothing; always: all four passes, merged by NMS")
    pr.add_argument("--fallback-threshold", type=float, default=None,
                    help="YuNet fallback_threshold: on an image without a detection at the score threshold, "
                         "detections down to this score count (the default pipeline detector uses 0.7)")
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--model", default=None,
                    help="also run the whole pipeline (this landmark model, e.g. 'default', behind the detector, "
                         "roll-aware crops and re-crops): NME and misses on the turned faces and on the same "
                         "faces upright (one thread)")
    pr.add_argument("--limit", type=int, default=None, help="N faces per dataset (spread)")
    pr.add_argument("--out", type=Path, default=Path("runs/bench/rotation"), help="output folder")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")
    pt = sub.add_parser("turn", help="measure a model's turn-check threshold (its card's turn_threshold)",
                        description="mean landmark scores of correct crops, of crops turned the wrong way "
                                    "(90/180/270 deg) and of crops beside the face (moved by one box side) on "
                                    "turned faces; the turn-check and tracking-loss thresholds halfway between "
                                    "their 5th / 95th percentiles")
    pt.add_argument("--model", required=True, help="model directory (or 'default')")
    pt.add_argument("--data", type=csv_list(str), required=True,
                    help="comma-separated val datasets (select on val: never the test split)")
    pt.add_argument("--max-angle", type=float, default=180.0, help="faces turned by a uniform angle in +-A")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--limit", type=int, default=None, help="N faces per dataset (spread)")
    pt.add_argument("--write-card", action="store_true",
                    help="store the thresholds as turn_threshold and loss_threshold in MODEL/model.json "
                         "(replaces the values there)")
    pt.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_targets(sub)


def _add_targets(sub) -> None:
    pg = sub.add_parser("targets", help="score a teacher targets cache against the labels (teacher mixes)",
                        description="each cached teacher's points, and the confidence-weighted consensus for a "
                                    "range of shares of one teacher, against the labels of a dataset the cache "
                                    "was made over (`facekd teach` with data.train = the val sets)")
    pg.add_argument("--targets", required=True, type=Path, help="targets cache folder (facekd teach --out)")
    pg.add_argument("--data", type=csv_list(str), required=True, help="comma-separated labelled datasets")
    pg.add_argument("--scheme", default="ibug68", help="landmark scheme of the data (default ibug68)")
    pg.add_argument("--vary", default=None, help="teacher whose share of the consensus is varied (default: the first)")
    pg.add_argument("--shares", type=csv_list(float), default=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
                    help="its shares (the other teachers split the rest equally)")


def run(args: argparse.Namespace) -> int:
    if args.bench == "detector":
        return _detector(args)
    if args.bench == "rotation":
        return _rotation(args)
    if args.bench == "turn":
        return _turn(args)
    if args.bench == "targets":
        return _targets(args)
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
    from facekd.detectors import load_detector

    return load_detector("haar_frontalface" if kind == "haar" else kind, box_transform=box_transform)


def _calibration_set(args):
    from pathlib import Path as _P

    from facekd.data import load_dataset

    train = load_dataset(args.calibrate_on)
    if args.calibrate_exclude:
        keep = [i for i, r in enumerate(train.records)
                if not _P(r.image_path).name.startswith(args.calibrate_exclude)]
        if not keep:
            raise FacekdError(f"--calibrate-exclude {args.calibrate_exclude!r} leaves no calibration face")
        train = train.select(keep)
    return _spread(train, args.calibrate_limit)


def _detector(args: argparse.Namespace) -> int:
    if args.photos is not None:
        return _compare(args)
    if args.data is None:
        raise FacekdError("bench detector needs --data (one-face recall) or --photos (comparison)")
    from facekd.data import load_dataset
    from facekd.detectors import BoxTransform, calibrate, recall

    det = _make_detector(args.detector)
    cal = None
    if args.calibrate_on:
        cal = calibrate(det, _calibration_set(args), progress=not args.quiet)
        cal["data"] = str(args.calibrate_on)
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


def _time_640x480(det, image: np.ndarray, repeats: int = 10) -> float:
    """Median seconds of ``det.detect`` on ``image`` resized to 640 x 480 (after one warm-up)."""
    import cv2

    img = cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)
    det.detect(img)
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        det.detect(img)
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def _compare(args: argparse.Namespace) -> int:
    import os

    import cv2
    import torch

    from facekd.data.base import load_image
    from facekd.detectors import BoxTransform, calibrate, load_photo_boxes, photo_stats

    photos = load_photo_boxes(args.photos)
    if args.limit is not None:
        photos = [photos[i] for i in sorted({int(round(v)) for v in np.linspace(0, len(photos) - 1, args.limit)})]
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cal_set = _calibration_set(args) if args.calibrate_on else None
    probe = load_image(photos[0][0])
    rows, results = [], {}
    for label, name, det in _compare_detectors(args):
        sweep = ()
        if hasattr(det, "score_threshold"):
            base = det.score_threshold
            sweep = tuple(sorted(set(args.score_thresholds) | {base}))
            det.score_threshold = min(sweep)
        cal = None
        if cal_set is not None:
            cal = calibrate(det, cal_set, progress=not args.quiet)
            cal["data"] = str(args.calibrate_on) + (f" (without {args.calibrate_exclude}*)"
                                                    if args.calibrate_exclude else "")
            det.box_transform = BoxTransform.from_dict(cal["box_transform"])
        st = photo_stats(det, photos, score_thresholds=sweep, progress=not args.quiet, desc=name)
        if sweep:  # the detector's own threshold, from the sweep (identical to a run at it)
            det.score_threshold = base
            at = next(r for r in st["sweep"] if r["score_threshold"] == base)
            keep = [u for u in st["unmatched_detections"] if u[2] >= base]
            st.update({"found": at["found"], "recall_iou0.5": at["recall"], "unmatched": len(keep),
                       "unmatched_per_photo": at["unmatched_per_photo"], "unmatched_detections": keep})
        st["s_640x480"] = _time_640x480(det, probe)
        st["params"] = det.params()
        st["runtime"] = "executorch" if getattr(det, "_runner", None) is not None else "eager"
        st["calibration"] = cal
        results[label] = st
        rows.append((label, st))
        print(f"{label}: recall {st['recall_iou0.5']:.3f} ({st['found']}/{st['faces']}), "
              f"{st['unmatched_per_photo']:.2f} unmatched/photo, {1000 * st['s_per_photo_mean']:.1f} ms/photo, "
              f"{1000 * st['s_640x480']:.1f} ms at 640x480")
        if args.write_configs and name != "dlib" and label == name and st["runtime"] == "eager":
            _update_bundled_config(det, name, cal, st, args)
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    meta = {"photos": str(args.photos), "threads": 1,
            "runtime": "YuNet: " + ("ExecuTorch XNNPACK, fully delegated" if args.runtime == "executorch"
                                    else "eager torch") + "; Haar: numpy",
            "loadavg_1_5_15": [round(v, 2) for v in load], "cpu_count": os.cpu_count()}
    (args.out / "detectors.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n",
                                             encoding="utf-8")
    md = ["| detector | faces found | recall (IoU >= 0.5) | unmatched / photo | ms / photo (mean) | "
          "ms / 640x480 | params |", "|---|---|---|---|---|---|---|"]
    for name, st in rows:
        md.append(f"| {name} | {st['found']} / {st['faces']} | {st['recall_iou0.5']:.3f} | "
                  f"{st['unmatched_per_photo']:.2f} | {1000 * st['s_per_photo_mean']:.1f} | "
                  f"{1000 * st['s_640x480']:.1f} | {json.dumps(st['params'])} |")
    md.append("")
    md.append(f"one thread, {meta['runtime']}; load average {meta['loadavg_1_5_15']} on {meta['cpu_count']} cores")
    for name, st in rows:
        if st["sweep"]:
            md += ["", f"{name} score-threshold sweep:", "", "| score >= | recall | unmatched / photo |",
                   "|---|---|---|"]
            md += [f"| {r['score_threshold']:g} | {r['recall']:.3f} | {r['unmatched_per_photo']:.2f} |"
                   for r in st["sweep"]]
    (args.out / "detectors.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    for name, st in rows:
        sheet = _unmatched_sheet(st["unmatched_detections"], args.out / f"unmatched_{name}.png", name)
        if sheet:
            print(f"wrote {sheet}")
    print(f"wrote {args.out / 'detectors.md'} and {args.out / 'detectors.json'}")
    return 0


def _compare_detectors(args: argparse.Namespace):
    """(label, name, detector) of each --detectors entry, at each --max-sides for YuNet, as an
    ExecuTorch program with --runtime executorch."""
    from facekd.detectors import YuNetDetector

    for name in args.detectors:
        det = _make_detector(name)
        if not isinstance(det, YuNetDetector):  # Haar, dlib: one row, their own runtime
            yield name, name, det
            continue
        for side in (args.max_sides or (None,)):
            d = det if side is None else _make_detector(name)
            if side is not None:
                if side < 32:
                    raise FacekdError(f"--max-sides: {side} is below 32")
                d.max_side = int(side)
            if args.runtime == "executorch":
                from facekd.export.executorch import PteModel, set_num_threads

                w = -(-d.max_side // 32) * 32
                h = -(-(3 * d.max_side // 4) // 32) * 32
                data, report = d.export_pte(h, w)
                if not report.fully_delegated:
                    raise FacekdError(f"{name}: the exported detector is not fully delegated: {report.summary()}")
                set_num_threads(1)
                d = YuNetDetector(name, runner=PteModel(data), box_transform=d.box_transform,
                                  score_threshold=d.score_threshold, max_side=d.max_side)
            yield (name if side is None else f"{name}@{side}"), name, d


def _unmatched_sheet(unmatched, path: Path, name: str):
    """Contact sheet of unmatched detections (each with some context), to be looked at."""
    if not unmatched:
        return None
    from PIL import Image, ImageDraw

    from facekd.data.base import load_image

    size, cols = 128, 10
    tiles = []
    for photo, (x, y, w, h), score in unmatched:
        img = Image.fromarray(load_image(photo))
        m = 0.5 * max(w, h)
        crop = img.crop((int(x - m), int(y - m), int(x + w + m), int(y + h + m))).resize((size, size))
        d = ImageDraw.Draw(crop)
        s = size / (w + 2 * m)
        d.rectangle((m * s, m * s, (m + w) * s, (m + h) * s), outline=(255, 0, 0))
        d.text((2, 2), f"{score:.2f} {Path(photo).stem[:10]}", fill=(255, 255, 0))
        tiles.append(crop)
    rows = -(-len(tiles) // cols)
    sheet = Image.new("RGB", (cols * size, rows * size + 16), (0, 0, 0))
    ImageDraw.Draw(sheet).text((4, 2), f"{name}: {len(tiles)} unmatched detections", fill=(255, 255, 255))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % cols) * size, 16 + (i // cols) * size))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _update_bundled_config(det, name: str, cal, st: dict, args) -> None:
    """Store a detector's calibration and afw statistics in its bundled JSON (params kept)."""
    from importlib import resources

    f = Path(str(resources.files("facekd").joinpath("assets", "detectors", f"{name}.json")))
    d = json.loads(f.read_text(encoding="utf-8"))
    if cal is not None:
        d["box_transform"] = dict(cal["box_transform"])
        d["calibration"] = {k: v for k, v in cal.items() if k != "box_transform"}
    d["photos"] = {"data": str(args.photos), "faces": st["faces"], "found": st["found"],
                   "recall_iou0.5": st["recall_iou0.5"], "unmatched_per_photo": st["unmatched_per_photo"],
                   "note": "recall: IoU >= 0.5 between the mapped detection and the tight landmark box "
                           "(one-to-one greedy matching); unmatched: detections matching no annotated face"}
    f.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
    print(f"updated {f}")


def _rotation(args: argparse.Namespace) -> int:
    import os

    import cv2
    import torch

    from facekd.data import load_dataset
    from facekd.data.rotated import RotatedFaces
    from facekd.detectors import load_detector, rotation_stats

    bad = [s for s in args.strategies if s not in ("upright", "fallback", "always")]
    if bad:
        raise FacekdError(f"--strategies: unknown {bad} (upright, fallback, always)")
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    datasets = [(str(d), _spread(load_dataset(d), args.limit)) for d in args.data]
    results = []
    for max_angle in args.max_angles:
        for strategy in args.strategies:
            det = load_detector(args.detector, **_rotation_kw(args, strategy))
            for name, ds in datasets:
                st = rotation_stats(det, RotatedFaces(ds, max_angle=max_angle, seed=args.seed),
                                    progress=not args.quiet, desc=f"+-{max_angle:g} {strategy} {Path(name).name}")
                st.update({"data": name, "max_angle": max_angle, "strategy": strategy, "seed": args.seed})
                results.append(st)
                print(json.dumps({k: st[k] for k in ("data", "max_angle", "strategy", "faces", "found_iou",
                                                       "found_centre", "missed_iou", "roll_error_median_deg",
                                                       "s_per_image_mean")}))
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"detector": args.detector, "fallback_threshold": args.fallback_threshold, "threads": 1, "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()]}
    (args.out / "rotation.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n",
                                            encoding="utf-8")
    md = ["| set | angles | strategy | faces | found (IoU >= 0.5) | missed | found (centre) | "
          "roll error median / p90 (deg) | ms / image |", "|---|---|---|---|---|---|---|---|---|"]
    for st in results:
        re_ = (f"{st['roll_error_median_deg']:.1f} / {st['roll_error_p90_deg']:.1f}"
               if st["roll_error_median_deg"] is not None else "-")
        md.append(f"| {Path(st['data']).parent.name}/{Path(st['data']).name} | +-{st['max_angle']:g} | "
                  f"{st['strategy']} | {st['faces']} | {st['found_iou']:.3f} | {st['missed_iou']} | "
                  f"{st['found_centre']:.3f} | {re_} | {1000 * st['s_per_image_mean']:.1f} |")
    bins = list(dict.fromkeys(b for st in results for b in st["by_angle"]))
    md += ["", "found by |angle| (IoU >= 0.5; faces in the bin):", "",
           "| set | angles | strategy | " + " | ".join(f"{b} deg" for b in bins) + " |",
           "|---|---|---|" + "---|" * len(bins)]
    for st in results:
        cells = [f"{st['by_angle'][b]['found_iou']:.3f} ({st['by_angle'][b]['faces']})" if b in st["by_angle"]
                 else "-" for b in bins]
        md.append(f"| {Path(st['data']).parent.name}/{Path(st['data']).name} | +-{st['max_angle']:g} | "
                  f"{st['strategy']} | " + " | ".join(cells) + " |")
    if args.model is not None:
        pipe = _rotation_pipeline(args, datasets)
        meta["model"] = args.model
        (args.out / "rotation.json").write_text(
            json.dumps({"meta": meta, "results": results, "pipeline": pipe}, indent=1) + "\n", encoding="utf-8")
        md += ["", f"pipeline (detector {args.detector}, model {args.model}, roll re-crops): NME of the found faces, "
               "and of the faces found both turned and upright, whose ratio is turned / upright:", "",
               "| set | angles | strategy | faces | missed | miss rate | NME | FR@0.1 | NME (both) | "
               "NME upright (both) | ratio | ms / image |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for st in pipe:
            md.append(f"| {Path(st['data']).parent.name}/{Path(st['data']).name} | +-{st['max_angle']:g} | "
                      f"{st['strategy']} | {st['faces']} | {st['missed']} | {100 * st['miss_rate']:.1f} % | "
                      f"{_pct(st['nme'])} | {_pct(st['fr'])} | {_pct(st.get('nme_both'))} | "
                      f"{_pct(st.get('nme_upright_both'))} | "
                      f"{'-' if st.get('ratio') is None else format(st['ratio'], '.3f')} | {st['ms_per_image']:.0f} |")
    (args.out / "rotation.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    print("\n".join(md))
    return 0


def _turn(args: argparse.Namespace) -> int:
    import torch

    from facekd.api import Landmarker
    from facekd.data import load_dataset
    from facekd.data.rotated import RotatedFaces
    from facekd.engine.evaluator import choose_threshold, turn_scores

    card_path = None
    if args.write_card:
        card_path = Path(args.model) / "model.json"
        if not card_path.is_file():
            raise FacekdError(f"--write-card needs a model directory with a model.json, got {args.model}")
    torch.set_num_threads(1)
    lm = Landmarker(args.model, threads=1)
    correct, wrong, gone = [], [], []
    for d in args.data:
        rot = RotatedFaces(_spread(load_dataset(d), args.limit), max_angle=args.max_angle, seed=args.seed)
        sc = turn_scores(lm, rot, progress=not args.quiet, desc=f"turn scores {Path(d).name}")
        c, w, g = sc["correct"], sc["wrong"], sc["gone"]
        print(f"{d}: {len(c)} faces; correct fits min {c.min():.3f} p5 {np.percentile(c, 5):.3f} median "
              f"{np.median(c):.3f}; wrongly turned max {w.max():.3f} p95 {np.percentile(w, 95):.3f} "
              f"median {np.median(w):.3f}; beside the face max {g.max():.3f} p95 {np.percentile(g, 95):.3f} "
              f"median {np.median(g):.3f}")
        correct.append(c)
        wrong.append(w)
        gone.append(g)
    c = np.concatenate(correct)
    res = {"turn_threshold": choose_threshold(c, np.concatenate(wrong)),
           "loss_threshold": choose_threshold(c, np.concatenate(gone))}
    print(json.dumps({"model": str(args.model), **res}))
    for name, r in res.items():
        if r["gap"] <= 0:
            print(f"warning: {name}: the score ranges overlap (correct p5 {r['correct_p5']:.3f} <= wrong p95 "
                  f"{r['wrong_p95']:.3f})", file=sys.stderr)
    if card_path is not None:
        d = json.loads(card_path.read_text(encoding="utf-8"))
        for name, r in res.items():
            d[name] = r["threshold"]
        card_path.write_text(json.dumps(d, indent=2) + "\n", encoding="utf-8")
        print(f"turn_threshold {res['turn_threshold']['threshold']} and loss_threshold "
              f"{res['loss_threshold']['threshold']} written to {card_path}")
    return 0


def _targets(args: argparse.Namespace) -> int:
    from facekd.data import load_dataset
    from facekd.distill.targets import TeacherTargets
    from facekd.distill.teach import score_targets
    from facekd.schemes import as_scheme

    t = TeacherTargets.load(args.targets)
    names = t.teacher_names
    vary = args.vary or names[0]
    if vary not in names:
        raise FacekdError(f"--vary: the cache holds teachers {names}, not {vary!r}")
    if len(names) < 2:
        raise FacekdError(f"--vary needs two or more teachers; the cache holds {names}")
    bad = [v for v in args.shares if not 0 <= v <= 1]
    if bad:
        raise FacekdError(f"--shares must be in [0, 1], got {bad}")
    i = names.index(vary)
    priors = [[v if j == i else (1 - v) / (len(names) - 1) for j in range(len(names))] for v in args.shares]
    scheme = as_scheme(args.scheme)
    rows = []
    for d in args.data:
        r = score_targets(t, load_dataset(d, scheme=scheme), scheme, priors)
        rows.append(r)
        print(json.dumps({"data": d, **r}))
    md = [f"targets `{args.targets}` ({', '.join(names)}) on {', '.join(args.data)}: mean NME over the sets", "",
          "| " + " | ".join(names) + " | " + " | ".join(f"{vary} share {v:g}" for v in args.shares) + " |",
          "|" + "---|" * (len(names) + len(args.shares))]
    mean = lambda xs: 100 * float(np.mean(xs))  # noqa: E731
    md.append("| " + " | ".join(f"{mean([r['teachers'][n] for r in rows]):.3f} %" for n in names) + " | "
              + " | ".join(f"{mean([r['consensus'][k] for r in rows]):.3f} %" for k in range(len(priors))) + " |")
    print("\n".join(md))
    return 0


def _rotation_kw(args: argparse.Namespace, strategy: str) -> dict[str, Any]:
    kw: dict[str, Any] = {} if strategy == "upright" else {"rotations": (90, 180, 270), "rotate": strategy}
    if args.fallback_threshold is not None:
        kw["fallback_threshold"] = args.fallback_threshold
    return kw


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _rotation_pipeline(args: argparse.Namespace, datasets) -> list[dict[str, Any]]:
    """Whole-pipeline NME on the turned faces and on the same faces upright (angle 0, same canvas)."""
    from facekd.api import Landmarker
    from facekd.data.rotated import RotatedFaces
    from facekd.detectors import load_detector
    from facekd.engine.evaluator import evaluate_pipeline, pipeline_summary

    rows = []
    for strategy in args.strategies:
        lm = Landmarker(args.model, threads=1, detector=load_detector(args.detector, **_rotation_kw(args, strategy)))
        for name, ds in datasets:
            up = evaluate_pipeline(lm, RotatedFaces(ds, max_angle=0.0, seed=args.seed), progress=not args.quiet,
                                   desc=f"pipeline upright {strategy} {Path(name).name}")
            rows.append({"data": name, "max_angle": 0.0, "strategy": strategy, **pipeline_summary(up)})
            for max_angle in args.max_angles:
                res = evaluate_pipeline(lm, RotatedFaces(ds, max_angle=max_angle, seed=args.seed),
                                        progress=not args.quiet,
                                        desc=f"pipeline +-{max_angle:g} {strategy} {Path(name).name}")
                st = pipeline_summary(res, up)
                st.update({"data": name, "max_angle": max_angle, "strategy": strategy, "seed": args.seed})
                rows.append(st)
                print(json.dumps({k: st[k] for k in ("data", "max_angle", "strategy", "faces", "missed", "nme",
                                                       "ratio")}))
    return rows


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
    elif getattr(det, "kind", None) == "haar":
        write_config(args.write_config, det, cal, rec, cascade_name=det.config["cascade"], notes=notes)
    else:
        raise FacekdError(f"--write-config writes Haar and dlib configs; for {args.detector} use "
                          "--photos DIR --calibrate-on DIR --write-configs")


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
