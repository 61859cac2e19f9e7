"""`facekd sweep`: the student family over width x depth (plus the lightweight baselines), each trained with
the same data, schedule and codec: params, FLOPs, single-thread CPU latency, val and test NME.

Writes ``sweep.md``, ``sweep.json`` and ``pareto.png`` (val NME against latency and FLOPs, the Pareto front
marked) into ``--out``. Already-trained models (e.g. the distilled student) join the table with
``--extra LABEL=MODEL_DIR``. Runs go to ``--runs/<model>/seed<N>`` and are reused / resumed on a rerun.

``--configs A.yaml,B.yaml,...`` sweeps a list of candidate training configs instead (each its own model,
input and heatmap size; data, augmentation, optimiser and schedule must be the same in all, after
``--set``). Each is ranked by what ships: the per-face latency of crop + int8 ExecuTorch program
(PT2E, fully delegated to XNNPACK, asserted) + decode on one thread, timed interleaved with dlib's
shape predictor and the current default model on the same val faces; ``candidates.md``,
``candidates.json`` and ``pareto_int8.png`` (mean val NME against that latency, dlib's latency and the
default marked). ``--latency-only`` skips training: the table of params, FLOPs and latency alone.
``--models DIR,DIR --val A,B`` ranks students trained elsewhere (each with its own recipe) the same way.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

from facekd.commands import csv_list
from facekd.errors import FacekdError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="student training YAML (model.name is swept)")
    p.add_argument("--configs", type=csv_list(str), default=(),
                   help="candidate training YAMLs (comma-separated) to train with one schedule and rank by "
                        "int8 per-face latency and mean val NME (instead of --config)")
    p.add_argument("--models", type=csv_list(str), default=(),
                   help="already-trained model folders (comma-separated) to time and rank the same way as "
                        "--configs, without training (needs --val)")
    p.add_argument("--val", type=csv_list(str), default=(),
                   help="with --models: val data (comma-separated) for the mean val NME")
    p.add_argument("--latency-only", action="store_true",
                   help="with --configs: no training, only params / FLOPs / int8 latency")
    p.add_argument("--default", dest="default_model", default="default",
                   help="with --configs: the current default model to mark ('' for none)")
    p.add_argument("--no-dlib", action="store_true", help="with --configs: do not time dlib")
    p.add_argument("--latency-faces", type=int, default=32, help="with --configs: val faces timed per round")
    p.add_argument("--latency-rounds", type=int, default=20, help="with --configs: timed rounds (min reported)")
    p.add_argument("--widths", type=csv_list(int), default=(8, 12, 16), help="hrnet_slim widths (default 8,12,16)")
    p.add_argument("--depths", type=csv_list(int), default=(1, 2, 3), help="hrnet_slim depths (default 1,2,3)")
    p.add_argument("--baselines", type=csv_list(str), default=("mobilenetv2_heatmap", "pfld_regress"),
                   help="other model names trained the same way (default: mobilenetv2_heatmap,pfld_regress; "
                        "'' for none)")
    p.add_argument("--extra", action="append", default=[], metavar="LABEL=MODEL",
                   help="an already-trained model to add to the table (repeatable)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test", default=None, help="test data (default: the 'test' folder beside data.val)")
    p.add_argument("--runs", type=Path, default=Path("runs/sweep"), help="training runs folder")
    p.add_argument("--out", type=Path, default=Path("runs/sweep/report"), help="report folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every run (repeatable)")
    p.add_argument("--threads", type=int, help="torch CPU threads for training")
    p.add_argument("--latency-runs", type=int, default=20, help="timed forward passes per model")


def model_names(widths, depths, baselines) -> list[str]:
    from facekd.models.registry import MODELS, SLIM_DEPTHS, SLIM_WIDTHS

    names = [f"hrnet_slim_w{w}_d{d}" for d in depths for w in widths] + list(baselines)
    bad = [n for n in names if n not in MODELS]
    if bad:
        raise FacekdError(f"not in the model registry: {bad} (widths {', '.join(map(str, SLIM_WIDTHS))}; "
                          f"depths {', '.join(map(str, SLIM_DEPTHS))})")
    return names


def run(args: argparse.Namespace) -> int:
    if sum(map(bool, (args.config, args.configs, args.models))) != 1:
        raise FacekdError("give one of --config (the width x depth sweep), --configs (candidate configs) "
                          "or --models (trained model folders)")
    if args.models:
        from facekd.commands.candidates import run_trained

        return run_trained(args)
    if args.configs:
        from facekd.commands.candidates import run_candidates

        return run_candidates(args)
    if args.latency_only:
        raise FacekdError("--latency-only needs --configs")
    from facekd.config import load_config
    from facekd.data import load_dataset
    from facekd.engine import experiments as ex
    from facekd.models import load_model
    from facekd.models.report import count_flops, count_params, cpu_latency_ms

    overrides = list(args.overrides) + ([f"runtime.threads={args.threads}"] if args.threads else [])
    base = load_config(args.config, overrides)
    names = model_names(args.widths, args.depths, [b for b in args.baselines if b])
    extras = []
    for item in args.extra:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise FacekdError(f"--extra expects LABEL=MODEL, got {item!r}")
        if not Path(path).exists():
            raise FacekdError(f"--extra {label}: model not found: {path}")
        extras.append((label, path))
    test_spec = args.test or ex.default_test_data(base.data.val)
    test = load_dataset(test_spec, base.data.scheme) if test_spec else None
    # extras have no training history: score them on val here (loaded once)
    val_data = load_dataset(base.data.val, base.data.scheme) if extras and base.data.val else None

    records, t0 = [], time.perf_counter()
    todo = [(n, None) for n in names] + [(label, path) for label, path in extras]
    for i, (name, path) in enumerate(todo):
        print(f"[{i + 1}/{len(todo)}] {name}", flush=True)
        if path is None:
            cfg = copy.deepcopy(base)
            cfg.model.name, cfg.seed, cfg.distill = name, args.seed, None
            cfg.name = f"{base.name or 'sweep'}-{name}-seed{args.seed}"
            out = args.runs / name / f"seed{args.seed}"
            summary = ex.run_or_reuse(cfg, out, None)
            val, time_s, steps, model_path = (ex.best_val_metrics(summary), float(summary["train_time_s"]),
                                              int(summary["steps"]), out / "best")
        else:
            val, time_s, steps, model_path = None, float("nan"), 0, Path(path)
        module, card = load_model(model_path)
        flops, _ = count_flops(module, card.input_size)
        lat = cpu_latency_ms(module, card.input_size, runs=args.latency_runs)
        if val is None and val_data is not None:
            val = ex.score_model(model_path, val_data)
        rec = ex.RunRecord(name, args.seed, str(model_path), val or {},
                           ex.score_model(model_path, test) if test is not None else None, time_s, steps,
                           {"params": count_params(module), "flops": flops, "latency_ms": lat,
                            "model": card.model, "trained_here": path is None})
        records.append(rec)
    files = write_report(args.out, records, base, test_spec)
    print(files["markdown"].read_text())
    print(f"sweep: {len(records)} models in {time.perf_counter() - t0:.0f} s; report in {args.out}")
    return 0


def write_report(out: Path, records, base, test_spec: str | None) -> dict[str, Path]:
    from facekd.engine import experiments as ex

    out.mkdir(parents=True, exist_ok=True)
    pts = [(r.extra["latency_ms"], r.val.get("nme", float("inf"))) for r in records]
    front = set(ex.pareto_front(pts))
    header = ["model", "params (M)", "GFLOPs", "latency ms (1 thread)", "val NME %", "test NME %",
              "test FR@0.10 %", "test AUC@0.10", "train time (s)", "Pareto (val NME, latency)"]
    rows = []
    for i, r in enumerate(records):
        t = r.test or {}
        rows.append([r.group, f"{r.extra['params'] / 1e6:.3f}", f"{r.extra['flops'] / 1e9:.3f}",
                     f"{r.extra['latency_ms']:.2f}", ex.fmt([r.val.get('nme')]), ex.fmt([t.get('nme')]),
                     ex.fmt([t.get('fr')]), ex.fmt([t.get('auc')], 1.0, 3),
                     "–" if r.train_time_s != r.train_time_s else f"{r.train_time_s:.0f}",
                     "yes" if i in front else ""])
    s = base.schedule
    text = (f"# Student width x depth sweep\n\n{base.data.input_size} px, {s.epochs} epoch(s)"
            f"{f' (max {base.runtime.max_steps} steps)' if base.runtime.max_steps else ''}"
            f"{f' on the first {base.data.max_samples} training faces' if base.data.max_samples else ''}, "
            f"batch {base.data.batch_size}, seed {records[0].seed if records else '-'}, ground-truth heatmaps only "
            f"(models trained here) — val = `{base.data.val}`, test = `{test_spec}`. FLOPs from "
            f"torch.utils.flop_counter at batch 1; latency = median fp32 eager forward, batch 1, one thread.\n\n"
            + ex.markdown_table(header, rows))
    md = out / "sweep.md"
    md.write_text(text, encoding="utf-8")
    files = {"markdown": md, "json": ex.write_records(out / "sweep.json", records, {"config": base.to_dict(),
                                                                                     "test": test_spec}),
             "plot": _plot(out / "pareto.png", records, front)}
    return files


def _plot(path: Path, records, front: set[int]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    for ax, key, xlabel in ((axes[0], "latency_ms", "CPU latency, 1 thread (ms)"),
                            (axes[1], "flops", "GFLOPs")):
        scale = 1e-9 if key == "flops" else 1.0
        for i, r in enumerate(records):
            x, y = r.extra[key] * scale, 100 * r.val.get("nme", float("nan"))
            hr = r.group.startswith("hrnet_slim")
            ax.scatter([x], [y], s=30, marker="o" if hr else "s",
                       color="tab:red" if i in front else ("tab:blue" if hr else "tab:gray"), zorder=3)
            ax.annotate(r.group.replace("hrnet_slim_", ""), (x, y), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
        if key == "latency_ms":
            fr = sorted(front, key=lambda i: records[i].extra[key])
            ax.plot([records[i].extra[key] * scale for i in fr], [100 * records[i].val["nme"] for i in fr],
                    color="tab:red", lw=1, label="Pareto front")
            ax.legend(fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("val NME (%)")
        ax.grid(alpha=0.3)
    fig.suptitle("Students and baselines: accuracy vs cost (red = Pareto-optimal on val NME and latency)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
