"""`facekd ablate`: the distillation ablation — the same student, data, seeds and schedule, one term per row.

Rows (each a ``distill:`` override of the base config; the first is plain training):

    gt            GT only (no teachers; unlabelled sources are dropped — set data.epoch_size so every row
                  takes the same number of steps)
    pseudo        GT + the teachers' consensus as hard pseudo-labels on the unlabelled faces (no KD; needs
                  distill.targets) — the baseline that shows what the soft targets add
    kd            + weighted multi-teacher heatmap KD (per sample and landmark)
    kd_uniform    + multi-teacher heatmap KD, uniform teacher average
    kd_multi      + weighted heatmap KD from every teacher of distill.teachers (whatever kd_teachers says)
    cwd           weighted KD + channel-wise distillation from distill.cd_teacher
    gt_cwd        GT + the CWD loss towards the labels' own heatmaps, no teacher (the gt row's data): the control
                  that tells what CWD's loss shape does from what the teacher's maps add (not in the defaults)
    adversarial   weighted KD + adversarial KD (one L_A per distill.akd_teachers)
    full          the config's distill: section as written (the full objective)

Teachers are named in the config (``distill.teachers``) or with ``--teacher NAME=PATH``; with a targets cache
(``--targets`` or distill.targets, from `facekd teach`) no teacher runs during the ablation.
Writes ``ablation.md`` (NME / FR / AUC on val and test, mean ± std over the seeds, training time),
``ablation.json`` (every run) and ``ablation.png`` into ``--out``. Runs go to ``--runs/<row>/seed<N>``;
rerunning the command reuses finished runs and resumes interrupted ones. Runs go seed by seed (every row of
the first seed, then the next seed), so a partial ablation compares all rows.
"""

from __future__ import annotations

import argparse
import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facekd.commands import csv_list
from facekd.errors import FacekdError


@dataclass(frozen=True)
class Row:
    name: str
    label: str
    distill: dict[str, Any] | None = field(default=None)  # None: plain training (no teachers)


_OFF = {"lambda_cd": 0.0, "lambda_akd": 0.0, "lambda_pl": 0.0}
ROWS: tuple[Row, ...] = (
    Row("gt", "GT only"),
    Row("pseudo", "GT + pseudo-labels (no KD)", {"alpha": 0.0, "lambda_pl": 1.0, "lambda_cd": 0.0, "lambda_akd": 0.0}),
    Row("kd", "+ weighted heatmap KD", {"teacher_weighting": "weighted", **_OFF}),
    Row("kd_uniform", "+ heatmap KD (uniform)", {"teacher_weighting": "uniform", **_OFF}),
    Row("kd_multi", "+ weighted heatmap KD, every teacher", {"teacher_weighting": "weighted", "kd_teachers": [],
                                                             **_OFF}),
    Row("cwd", "weighted KD + CWD", {"teacher_weighting": "weighted", "lambda_akd": 0.0, "lambda_pl": 0.0}),
    Row("gt_cwd", "GT + CWD on the labels (no teacher)", {"alpha": 0.0, "cd_target": "ground_truth", "lambda_akd": 0.0,
                                                         "lambda_pl": 0.0}),
    Row("adversarial", "weighted KD + adversarial", {"teacher_weighting": "weighted", "lambda_cd": 0.0,
                                                     "lambda_pl": 0.0}),
    Row("full", "full objective", {}),
)
DEFAULT_ROWS = ("gt", "pseudo", "kd", "cwd", "adversarial", "full")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from facekd.commands.distill import add_teacher_arguments

    p.add_argument("--config", "-c", required=True, help="distillation YAML (its distill: section is the 'full' row)")
    add_teacher_arguments(p)
    p.add_argument("--targets", help="teacher targets cache from `facekd teach` (default: distill.targets)")
    p.add_argument("--seeds", type=csv_list(int), default=(0, 1, 2), help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--rows", default=",".join(DEFAULT_ROWS),
                   help="comma-separated subset of: " + ", ".join(r.name for r in ROWS)
                        + f" (default {','.join(DEFAULT_ROWS)})")
    p.add_argument("--test", default=None, help="test data (default: the 'test' folder beside data.val)")
    p.add_argument("--runs", type=Path, default=Path("runs/ablate"), help="training runs folder")
    p.add_argument("--out", type=Path, default=Path("runs/ablate/report"), help="report folder")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every run, e.g. --set schedule.epochs=1 (repeatable)")
    p.add_argument("--threads", type=int, help="torch CPU threads")


def select_rows(text: str) -> list[Row]:
    by_name = {r.name: r for r in ROWS}
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in by_name]
    if bad or not names:
        raise FacekdError(f"--rows: unknown row(s) {bad}; choose from {', '.join(by_name)}")
    return [by_name[n] for n in names]


def with_cli_teachers(d, teachers: dict[str, str] | None, targets: str | None):
    """``d`` (a DistillConfig, changed in place) with the command line's --teacher / --targets on top."""
    d.teachers = {**d.teachers, **(teachers or {})}
    if targets:
        d.targets = targets
    return d


def row_config(base, row: Row, seed: int, teachers: dict[str, str] | None = None, targets: str | None = None):
    """The TrainConfig of one ablation run."""
    from facekd.distill import DistillConfig

    cfg = copy.deepcopy(base)
    cfg.seed = seed
    cfg.name = f"{base.name or 'ablate'}-{row.name}-seed{seed}"
    if row.distill is None:
        cfg.distill = None
        cfg.data.description = ""  # the recipe's describes the distilled model: the card names the GT row's sources
        return _labelled_only(cfg)
    d = copy.deepcopy(base.distill) if base.distill is not None else DistillConfig()
    for k, v in row.distill.items():
        setattr(d, k, copy.deepcopy(v))
    with_cli_teachers(d, teachers, targets)
    if not d.needed_teachers():  # a row without a teacher (gt_cwd) trains on the gt row's data, from no cache
        d.targets = None
        cfg.data.description = ""
        _labelled_only(cfg)
    errs = d.run_errors()
    if errs:
        raise FacekdError(f"row {row.name}: " + "; ".join(errs))
    cfg.distill = d
    return cfg


def _labelled_only(cfg):
    """``cfg`` with its unlabelled training sources dropped (ground truth cannot use faces without landmarks)."""
    from facekd.config import as_sources

    srcs = as_sources(cfg.data.train)
    if any(not s.labelled for s in srcs):
        cfg.data.train = [s for s in srcs if s.labelled]
        if not cfg.data.train:
            raise FacekdError("a ground-truth row has no labelled training source left")
    return cfg


def run(args: argparse.Namespace) -> int:
    from facekd.commands.distill import build_task, cli_teachers
    from facekd.config import load_config
    from facekd.data import load_dataset
    from facekd.engine import experiments as ex

    overrides = list(args.overrides) + ([f"runtime.threads={args.threads}"] if args.threads else [])
    base = load_config(args.config, overrides)
    rows = select_rows(args.rows)
    if not args.seeds:
        raise FacekdError("--seeds: give at least one seed")
    test_spec = args.test or ex.default_test_data(base.data.val)
    test = load_dataset(test_spec, base.data.scheme) if test_spec else None
    teachers = cli_teachers(args)
    # seed-major: an ablation stopped part-way (a session's end) already has one seed of every row
    cfgs = [(row, seed, row_config(base, row, seed, teachers, args.targets)) for seed in args.seeds for row in rows]
    for row, _, cfg in cfgs:  # fail before hours of training, not after
        d = cfg.distill
        if d is None:
            continue
        if not d.teachers and not d.targets:
            raise FacekdError(f"row {row.name} needs teachers: pass --teacher NAME=PATH (or --targets DIR from "
                              "`facekd teach`), or set distill.teachers")
        if d.targets:
            from facekd.distill.targets import TeacherTargets

            held = TeacherTargets.load(d.targets).teacher_names
            missing = [n for n in d.needed_teachers() if n not in held]
            if missing:
                raise FacekdError(f"row {row.name} needs teacher(s) {missing}; the targets cache {d.targets} holds "
                                  f"{held}")
            continue
        for name in d.needed_teachers():
            path = d.teachers.get(name)
            if not path or not Path(path).exists():
                raise FacekdError(f"row {row.name} needs teacher {name}: pass --teacher {name}=PATH (got {path!r})")

    records: list[ex.RunRecord] = []
    t0 = time.perf_counter()
    for i, (row, seed, cfg) in enumerate(cfgs):
        print(f"[{i + 1}/{len(cfgs)}] {row.label}, seed {seed}", flush=True)
        out = args.runs / row.name / f"seed{seed}"
        task = build_task if cfg.distill is not None else None
        summary = ex.run_or_reuse(cfg, out, task)
        records.append(ex.RunRecord(row.name, seed, str(out), ex.best_val_metrics(summary),
                                    ex.score_model(out / "best", test) if test is not None else None,
                                    float(summary["train_time_s"]), int(summary["steps"])))
    # the report names the teachers and cache the runs used (config plus --teacher / --targets), not the config's
    shown = copy.deepcopy(base)
    if shown.distill is not None or teachers or args.targets:
        from facekd.distill import DistillConfig

        shown.distill = with_cli_teachers(shown.distill or DistillConfig(), teachers, args.targets)
    report = write_report(args.out, rows, records, shown, test_spec)
    print(report["markdown"].read_text())
    print(f"ablation: {len(records)} runs in {time.perf_counter() - t0:.0f} s; report in {args.out}")
    return 0


def write_report(out: Path, rows: list[Row], records, base, test_spec: str | None) -> dict[str, Path]:
    from facekd.config import as_sources
    from facekd.engine import experiments as ex

    out.mkdir(parents=True, exist_ok=True)
    header = ["row", "seeds", "val NME %", "val FR@0.10 %", "val AUC@0.10", "test NME %", "test FR@0.10 %",
              "test AUC@0.10", "train time / run (s)"]
    table = []
    for row in rows:
        rs = [r for r in records if r.group == row.name]
        tests = [r.test for r in rs if r.test is not None]
        table.append([row.label, len(rs),
                      ex.fmt([r.val["nme"] for r in rs]), ex.fmt([r.val["fr"] for r in rs]),
                      ex.fmt([r.val["auc"] for r in rs], 1.0, 3),
                      ex.fmt([t["nme"] for t in tests]), ex.fmt([t["fr"] for t in tests]),
                      ex.fmt([t["auc"] for t in tests], 1.0, 3),
                      ex.fmt([r.train_time_s for r in rs], 1.0, 0)])
    s = base.schedule
    meta = {"config": base.to_dict(), "test": test_spec}
    text = (f"# Distillation ablation\n\nStudent `{base.model.name}`, {base.data.input_size} px, "
            f"{s.epochs} epoch(s){f' (max {base.runtime.max_steps} steps)' if base.runtime.max_steps else ''}"
            f"{f' on the first {base.data.max_samples} training faces' if base.data.max_samples else ''}, "
            f"batch {base.data.batch_size}"
            f"{f', {base.data.epoch_size} faces per epoch' if base.data.epoch_size else ''}; train = "
            + ", ".join(f"`{src.label}`" + ("" if src.labelled else " (unlabelled)") + f" (weight {src.weight:g})"
                        for src in as_sources(base.data.train))
            + f"; val = " + ", ".join(f"`{src.label}`" for src in as_sources(base.data.val))
            + f" (model selection: mean NME), test = `{test_spec}`; teachers: "
            + (", ".join(f"{k} = `{v}`" for k, v in (base.distill.teachers if base.distill else {}).items()) or "-")
            + (f"; targets cache `{base.distill.targets}`" if base.distill and base.distill.targets else "") + ". "
            f"Mean ± sample std over seeds; NME is inter-ocular, in %.\n\n" + ex.markdown_table(header, table))
    md = out / "ablation.md"
    md.write_text(text, encoding="utf-8")
    files = {"markdown": md, "json": ex.write_records(out / "ablation.json", records, meta)}
    files["plot"] = _plot(out / "ablation.png", rows, records)
    return files


def _plot(path: Path, rows: list[Row], records) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=120)
    x = np.arange(len(rows))
    for off, split, color in ((-0.18, "val", "tab:blue"), (0.18, "test", "tab:orange")):
        means, stds = [], []
        for row in rows:
            vals = [100 * (getattr(r, split) or {}).get("nme", np.nan) for r in records if r.group == row.name]
            vals = [v for v in vals if np.isfinite(v)]
            means.append(np.mean(vals) if vals else np.nan)
            stds.append(np.std(vals, ddof=1) if len(vals) > 1 else 0.0)
        ax.bar(x + off, means, 0.36, yerr=stds, capsize=3, label=split, color=color)
        for xi, seeds in zip(x, rows):
            pts = [100 * (getattr(r, split) or {}).get("nme", np.nan) for r in records if r.group == seeds.name]
            ax.scatter([xi + off] * len(pts), pts, s=8, color="k", zorder=3)
    ax.set_xticks(x, [r.label for r in rows], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("NME (%)")
    finite = [100 * (getattr(r, s) or {}).get("nme", np.nan) for r in records for s in ("val", "test")]
    finite = [v for v in finite if np.isfinite(v)]
    if finite:
        ax.set_ylim(min(finite) * 0.95, max(finite) * 1.03)
    ax.set_title("Distillation ablation (mean ± std over seeds, dots = runs)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
