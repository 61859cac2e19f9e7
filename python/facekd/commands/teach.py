"""`facekd teach`: run the frozen teachers once over the training faces and store their targets.

Reads a distillation config: its ``data.train`` sources (labelled crops and ``labelled: false`` image folders)
and its ``distill.teachers`` (``--teacher NAME=PATH`` adds or replaces one). Writes ``targets.npz`` (teacher
points in canonical-crop pixels + per-point confidence, fp16; crop affines), ``targets.json`` (teachers'
cards, sources), ``summary.json`` and ``preview.png`` (a few crops per source with the teachers' consensus
coloured by point weight) into ``--out``; then train with ``facekd distill --targets OUT``.
Every 512 faces are written to ``OUT/parts`` as they finish; after an interruption ``--resume`` continues
from there (same config and teachers), and the parts are removed once the cache is written.
An existing cache is never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from facekd.commands.distill import add_teacher_arguments

    p.add_argument("--config", "-c", required=True, help="distillation YAML (data.train sources, distill.teachers)")
    p.add_argument("--out", "-o", required=True, type=Path, help="cache folder to write")
    add_teacher_arguments(p)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, e.g. --set data.workers=2 (repeatable)")
    p.add_argument("--batch-size", type=int, default=32, help="teacher batch size (default 32)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--max-faces", type=int, help="only this many faces per source, evenly spread (smoke runs)")
    p.add_argument("--force", action="store_true", help="replace an existing cache (or unfinished parts) in --out")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from the parts in --out")
    p.add_argument("--flip-test", action=argparse.BooleanOptionalAction, default=True,
                   help="average each teacher's heatmaps with its mirrored crop's (twice the teacher passes; "
                        "default on: HRNetV2-W18 mean val NME 4.31 -> 4.24 %%, docs/results)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from facekd.commands.distill import cli_teachers, load_teachers
    from facekd.config import as_sources, load_config
    from facekd.distill import DistillConfig
    from facekd.distill.targets import ARRAYS, WeightKnobs
    from facekd.distill.teach import PARTS, build_targets
    from facekd.errors import FacekdError
    from facekd.schemes import as_scheme

    if args.max_faces is not None and args.max_faces < 1:
        raise FacekdError(f"--max-faces must be >= 1, got {args.max_faces}")
    if args.batch_size < 1:
        raise FacekdError(f"--batch-size must be >= 1, got {args.batch_size}")
    if (args.out / ARRAYS).exists() and not args.force:
        raise FacekdError(f"{args.out} already holds a targets cache: pass --force to replace it, or choose another "
                          "--out")
    cfg = load_config(args.config, args.overrides)
    d = cfg.distill or DistillConfig()
    paths = {**d.teachers, **cli_teachers(args)}
    if not paths:
        raise FacekdError("facekd teach: no teacher: set distill.teachers or pass --teacher NAME=PATH")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    models, cards = load_teachers(list(paths), paths)
    teachers = {n: (models[n], cards[n]) for n in paths}
    args.out.mkdir(parents=True, exist_ok=True)
    parts = args.out / PARTS
    if args.force and parts.is_dir():
        shutil.rmtree(parts)
    targets, summary = build_targets(as_sources(cfg.data.train), as_scheme(cfg.data.scheme), teachers,
                                     batch_size=args.batch_size, workers=cfg.data.workers, device=device,
                                     progress=not args.no_progress, knobs=WeightKnobs.from_config(d),
                                     max_faces=args.max_faces, channels_last=cfg.runtime.channels_last,
                                     preview=str(args.out / "preview.png"), flip_test=args.flip_test,
                                     parts=parts, resume=args.resume,
                                     fingerprint={"teacher_paths": {n: str(v) for n, v in paths.items()}})
    for n in paths:
        targets.meta["teachers"][list(paths).index(n)]["path"] = paths[n]
    targets.save(args.out)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    shutil.rmtree(parts, ignore_errors=True)
    lines = [f"teacher targets: {summary['faces']} faces x {len(paths)} teacher(s) ({', '.join(paths)}"
             f"{', flip test' if args.flip_test else ''}) in "
             f"{summary['seconds']:.0f} s ({summary['faces_per_s']:.1f} faces/s"
             f"{', %d read back from parts' % summary['resumed_faces'] if summary['resumed_faces'] else ''})"
             f" -> {args.out}"]
    for name, s in summary["sources"].items():
        lines.append(f"  {name}: {s['faces']} faces{'' if s['labelled'] else ' (unlabelled)'}"
                     + (f", {s['skipped']} unreadable left out" if s["skipped"] else ""))
    for name, s in summary["teachers"].items():
        lines.append(f"  teacher {name}: mean confidence {s['mean_confidence']:.3f}")
    if "preview" in summary:
        lines.append(f"  preview: {summary['preview']}")
    lines.append(f"  median teacher spread {100 * summary['median_spread']:.2f} % of the crop side; points with "
                 f"weight < 0.5: {100 * summary['low_weight_share']:.1f} %"
                 + "".join(f", {k[len('low_weight_share_'):]} {100 * v:.1f} %" for k, v in summary.items()
                           if k.startswith("low_weight_share_")))
    print("\n".join(lines), flush=True)
    return 0
