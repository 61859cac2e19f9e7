"""`facekd sweep --configs ...`: candidate students, each its own training config, trained with one
schedule and ranked by mean val NME against the per-face int8 ExecuTorch latency on one thread (crop +
inference + decode), timed in the same run as dlib's shape predictor and the current default model.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path
from typing import Any

from facekd.errors import FacekdError

# sections that must be equal in every candidate config: the "one schedule" of the comparison
SHARED_FIELDS = (("data", ("train", "val", "epoch_size", "scheme", "crop_scale", "batch_size", "max_samples",
                           "max_val_samples")),
                 ("augment", None), ("optim", None), ("schedule", None))


def _section(cfg, name: str, keys) -> dict[str, Any]:
    d = cfg.to_dict()[name]
    if not isinstance(d, dict):
        return {"": d}
    return d if keys is None else {k: d[k] for k in keys}


def check_same_schedule(configs: list[tuple[str, Any]]) -> None:
    """FacekdError naming the first field in which a candidate config differs from the first one."""
    (ref_name, ref), rest = configs[0], configs[1:]
    for name, cfg in rest:
        for section, keys in SHARED_FIELDS:
            a, b = _section(ref, section, keys), _section(cfg, section, keys)
            for k in a:
                if a[k] != b[k]:
                    where = f"{section}.{k}" if k else section
                    raise FacekdError(f"candidate {name} differs from {ref_name} in {where} "
                                      f"({b[k]!r} vs {a[k]!r}): candidates must share data and schedule")


def _card(module, cfg):
    from facekd.codecs import HeatmapCodec
    from facekd.models import card_for
    from facekd.schemes import as_scheme

    codec = HeatmapCodec(cfg.data.input_size, cfg.heatmap_size, cfg.codec.sigma, decode=cfg.codec.decode)
    return card_for(module, scheme=as_scheme(cfg.data.scheme), input_size=cfg.data.input_size, codec=codec,
                    crop_scale=cfg.data.crop_scale)


def measure(label: str, module, card, faces, calib_faces) -> tuple[dict[str, Any], Any]:
    """Params, FLOPs, int8 program (fully delegated or FacekdError) and its per-face runner."""
    from facekd.export.executorch import PteModel
    from facekd.export.latency import calibration_crops, int8_program, pipeline
    from facekd.models.report import count_flops, count_params

    module = module.eval()
    flops, out_shape = count_flops(module, card.input_size)
    print(f"  {label}: lowering the int8 program", flush=True)
    program = int8_program(module, card.input_size, calibration_crops(calib_faces, card))
    pte = PteModel(program)
    info = {"params": count_params(module), "flops": flops, "input_size": card.input_size,
            "heatmap_size": int(out_shape[-1]) if len(out_shape) == 4 else None, "pte_bytes": len(program),
            "fully_delegated": True, "model": card.model}
    return info, pipeline(pte, card)


def mean_val(model: Path, vals, scheme) -> dict[str, float]:
    """NME / FR / AUC of a saved model, averaged over the val sets (each set weighs the same)."""
    from facekd.data import load_dataset
    from facekd.engine import experiments as ex

    per = [ex.score_model(model, load_dataset(v.path, scheme)) for v in vals]
    return {k: sum(p[k] for p in per) / len(per) for k in ("nme", "fr", "auc")}


def run_candidates(args: argparse.Namespace) -> int:
    from facekd.config import as_sources, load_config
    from facekd.engine import experiments as ex
    from facekd.export.latency import load_faces
    from facekd.models import create_model, load_model

    overrides = list(args.overrides) + ([f"runtime.threads={args.threads}"] if args.threads else [])
    configs = []
    for path in args.configs:
        if not Path(path).is_file():
            raise FacekdError(f"candidate config not found: {path}")
        configs.append((Path(path).stem, load_config(path, overrides)))
    labels = [n for n, _ in configs]
    if len(set(labels)) != len(labels):
        raise FacekdError(f"candidate config names must be unique, got {labels}")
    check_same_schedule(configs)
    base = configs[0][1]
    vals = as_sources(base.data.val)
    if not vals and not args.latency_only:
        raise FacekdError("candidates are ranked on val NME: set data.val")
    trains = as_sources(base.data.train)
    faces = load_faces((vals or trains)[0].path, args.latency_faces)
    calib = load_faces(trains[0].path, 32) if trains else faces

    t0 = time.perf_counter()
    rows, runners = [], {}
    for i, (label, cfg) in enumerate(configs):
        print(f"[{i + 1}/{len(configs)}] {label}", flush=True)
        if args.latency_only:
            module = create_model(cfg.model.name, _num_points(cfg), **cfg.model.overrides)
            model_path, val, train_time, steps = None, {}, float("nan"), 0
        else:
            cfg = copy.deepcopy(cfg)
            cfg.seed, cfg.distill = args.seed, None
            cfg.name = f"{cfg.name or 'candidate'}-{label}-seed{args.seed}"
            out = args.runs / label / f"seed{args.seed}"
            summary = ex.run_or_reuse(cfg, out, None)
            model_path, val = out / "best", ex.best_val_metrics(summary)
            train_time, steps = float(summary["train_time_s"]), int(summary["steps"])
            module, _ = load_model(model_path)
        module.model_name = cfg.model.name
        info, runner = measure(label, module, _card(module, cfg), faces, calib)
        info.update(model=cfg.model.name, overrides=dict(cfg.model.overrides), config=str(args.configs[i]))
        runners[label] = runner
        rows.append(ex.RunRecord(label, args.seed, str(model_path or ""), val, None, train_time, steps, info))

    s = base.schedule
    training = (f"Training: {s.epochs} epoch(s), {s.kind}, batch {base.data.batch_size}, seed {args.seed}, "
                f"ground truth only; mean val NME over " + ", ".join(f"`{v.path}`" for v in vals) + ".")
    return _time_and_report(args, rows, runners, faces, calib, vals, base.data.scheme,
                            training if not args.latency_only else None, base.to_dict(), t0)


def run_trained(args: argparse.Namespace) -> int:
    """``facekd sweep --models DIR,DIR --val A,B``: already-trained students (each its own recipe, which its
    README names) timed like the candidates and ranked by their mean val NME (fp32, the model's card)."""
    from facekd.config import DataSource
    from facekd.engine import experiments as ex
    from facekd.export.latency import load_faces
    from facekd.models import load_model

    dirs = [Path(m) for m in args.models]
    for d in dirs:
        if not (d / "model.json").is_file():
            raise FacekdError(f"not a saved model (no model.json): {d}")
    labels = [d.name if d.name != "best" else d.parent.name for d in dirs]
    if len(set(labels)) != len(labels):
        raise FacekdError(f"model folder names must be unique, got {labels}")
    if not args.val:
        raise FacekdError("--models ranks trained students on val NME: give --val DATA[,DATA]")
    vals = [DataSource(v) for v in args.val]
    faces = load_faces(vals[0].path, args.latency_faces)
    t0 = time.perf_counter()
    rows, runners, scheme = [], {}, None
    for i, (label, d) in enumerate(zip(labels, dirs)):
        print(f"[{i + 1}/{len(dirs)}] {label}", flush=True)
        module, card = load_model(d)
        scheme = scheme or card.get_scheme()
        val = mean_val(d, vals, card.get_scheme())
        module.model_name = card.model
        info, runners[label] = measure(label, module, card, faces, faces)
        info.update(overrides={}, config=str(d))
        rows.append(ex.RunRecord(label, args.seed, str(d), val, None, float("nan"), 0, info))
    training = ("Trained students as given (each model's README has its recipe); mean val NME (fp32 eager) over "
                + ", ".join(f"`{v.path}`" for v in vals) + "; int8 calibrated on the timed faces (latency only).")
    return _time_and_report(args, rows, runners, faces, faces, vals, scheme, training,
                            {"models": [str(d) for d in dirs]}, t0)


def _time_and_report(args, rows, runners, faces, calib, vals, scheme, training: str | None,
                     config: dict[str, Any], t0: float) -> int:
    """Time every runner with the default and dlib interleaved, then write the table (and plot when trained)."""
    from facekd.export.executorch import set_num_threads
    from facekd.export.latency import dlib_runner, time_per_face
    from facekd.models import load_model
    from facekd.peers import dlib_unavailable

    marks: dict[str, Any] = {}
    default = _default_path(args.default_model) if args.default_model else None
    if default is not None:
        module, card = load_model(default)
        info, runners["default"] = measure("default", module, card, faces, calib)
        marks["default"] = info
        if vals:
            marks["default"]["val"] = mean_val(default, vals, scheme)
    why_no_dlib = "--no-dlib" if args.no_dlib else dlib_unavailable()
    if not why_no_dlib:
        runners["dlib"] = dlib_runner()

    set_num_threads(1)
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timing = time_per_face(runners, faces, rounds=args.latency_rounds)
    finally:
        torch.set_num_threads(threads)
    args.out.mkdir(parents=True, exist_ok=True)
    from facekd.fileio import write_json

    write_json(args.out / "timing.json", {k: t.to_dict() for k, t in timing.items()})  # kept if the report fails
    for r in rows:
        r.extra["int8_ms"], r.extra["int8_median_ms"] = timing[r.group].min_ms, timing[r.group].median_ms
    for k in ("default", "dlib"):
        if k in timing:
            marks.setdefault(k, {}).update(int8_ms=timing[k].min_ms, int8_median_ms=timing[k].median_ms)
    files = write_candidates(args.out, rows, marks, training, config, vals, faces, args, why_no_dlib)
    print(files["markdown"].read_text())
    print(f"candidates: {len(rows)} in {time.perf_counter() - t0:.0f} s; report in {args.out}")
    return 0


def _default_path(model: str) -> Path:
    from facekd.api import DEFAULT_MODEL, default_model_path

    if model == DEFAULT_MODEL:
        path = default_model_path()
        if path is None:
            raise FacekdError("no bundled default model to mark; pass --default MODEL_DIR or --default ''")
        return path
    if not Path(model).exists():
        raise FacekdError(f"--default model not found: {model}")
    return Path(model)


def _num_points(cfg) -> int:
    from facekd.schemes import as_scheme

    return as_scheme(cfg.data.scheme).num_points


def write_candidates(out: Path, rows, marks, training: str | None, config: dict[str, Any], vals, faces, args,
                     why_no_dlib) -> dict[str, Path]:
    import os

    from facekd.engine import experiments as ex

    out.mkdir(parents=True, exist_ok=True)
    dlib_ms = marks.get("dlib", {}).get("int8_ms")
    trained = training is not None
    pts = [(r.extra["int8_ms"], r.val.get("nme", float("inf"))) for r in rows]
    front = set(ex.pareto_front(pts)) if trained else set()
    header = ["candidate", "model", "input", "heatmap", "params (M)", "GFLOPs", "per-face ms (min)",
              "median", "x dlib", "fully delegated"]
    if trained:
        header += ["mean val NME %", "train time (s)", "Pareto"]
    table = []
    for i, r in enumerate(rows):
        e = r.extra
        row = [r.group, e["model"] + (f" {e['overrides']}" if e["overrides"] else ""), e["input_size"],
               e["heatmap_size"], f"{e['params'] / 1e6:.3f}", f"{e['flops'] / 1e9:.3f}", f"{e['int8_ms']:.2f}",
               f"{e['int8_median_ms']:.2f}", f"{e['int8_ms'] / dlib_ms:.2f}" if dlib_ms else "–",
               "yes" if e["fully_delegated"] else "NO"]
        if trained:
            row += [ex.fmt([r.val.get("nme")]), f"{r.train_time_s:.0f}" if math.isfinite(r.train_time_s) else "–",
                    "yes" if i in front else ""]
        table.append(row)
    for k, m in marks.items():
        if "int8_ms" not in m:
            continue
        row = [f"*{k}*", m.get("model", "dlib ERT (shape_predictor_68_face_landmarks)"),
               m.get("input_size", "–"), m.get("heatmap_size", "–"),
               f"{m['params'] / 1e6:.3f}" if "params" in m else "–",
               f"{m['flops'] / 1e9:.3f}" if "flops" in m else "–", f"{m['int8_ms']:.2f}",
               f"{m['int8_median_ms']:.2f}", f"{m['int8_ms'] / dlib_ms:.2f}" if dlib_ms else "–",
               "yes" if m.get("fully_delegated") else ("–" if k == "dlib" else "NO")]
        if trained:
            row += [ex.fmt([m.get("val", {}).get("nme")]), "–", ""]
        table.append(row)
    load = os.getloadavg()
    text = (f"# Candidate students\n\nPer-face latency: crop + int8 ExecuTorch program (PT2E, XNNPACK, one "
            f"delegate call) + decode, one thread, the mean over {len(faces)} faces of `{(vals or [None])[0] and vals[0].path}` "
            f"per round, best (min) and median of {args.latency_rounds} rounds, all runners interleaved in one run; "
            f"dlib = its 68-point shape predictor on the same faces"
            f"{'' if not why_no_dlib else f' (not timed: {why_no_dlib})'}. Load average at the end "
            f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} CPUs.\n\n")
    if trained:
        text += training + "\n\n"
    text += ex.markdown_table(header, table)
    md = out / "candidates.md"
    md.write_text(text, encoding="utf-8")
    files = {"markdown": md, "json": ex.write_records(out / "candidates.json", rows,
                                                       {"config": config, "marks": marks,
                                                        "faces": len(faces), "rounds": args.latency_rounds,
                                                        "loadavg": list(load)})}
    if trained:
        files["plot"] = _plot(out / "pareto_int8.png", rows, front, marks)
    return files


def _plot(path: Path, rows, front: set[int], marks) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for i, r in enumerate(rows):
        x, y = r.extra["int8_ms"], 100 * r.val.get("nme", float("nan"))
        ax.scatter([x], [y], s=30, color="tab:red" if i in front else "tab:blue", zorder=3)
        ax.annotate(r.group, (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    fr = sorted(front, key=lambda i: rows[i].extra["int8_ms"])
    if fr:
        ax.plot([rows[i].extra["int8_ms"] for i in fr], [100 * rows[i].val["nme"] for i in fr], color="tab:red",
                lw=1, label="Pareto front")
    d = marks.get("default", {})
    if "int8_ms" in d and "val" in d:
        ax.scatter([d["int8_ms"]], [100 * d["val"]["nme"]], marker="*", s=140, color="black", zorder=4,
                   label=f"current default ({d.get('model', '')})")
    if "int8_ms" in marks.get("dlib", {}):
        ax.axvline(marks["dlib"]["int8_ms"], color="tab:green", ls="--", lw=1,
                   label=f"dlib shape predictor ({marks['dlib']['int8_ms']:.2f} ms)")
    ax.set_xlabel("per-face ms: crop + int8 ExecuTorch + decode, 1 thread (min of rounds)")
    ax.set_ylabel("mean val NME (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Candidate students: accuracy vs shipped latency")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
