"""`facekd curves`: learning curves of training runs (their ``val_log.csv``) on one plot, and a
summary line per run (best mean val NME and its epoch, the last epoch's)."""

from __future__ import annotations

import argparse
from pathlib import Path

from facekd.errors import FacekdError


def _named(kind: str):
    def parse(text: str) -> tuple[str, str]:
        name, sep, value = text.partition("=")
        if not sep or not name or not value:
            raise argparse.ArgumentTypeError(f"{kind} must be NAME={'PATH' if kind == '--run' else 'NME'}, got {text!r}")
        return name, value
    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", action="append", type=_named("--run"), required=True,
                   help="NAME=RUN_DIR (a `facekd train` / `distill` output folder with val_log.csv); repeat")
    p.add_argument("--ref", action="append", type=_named("--ref"), default=[],
                   help="LABEL=NME: a horizontal line at NME percent (e.g. 'target=4.33'); repeat")
    p.add_argument("--title", default="Validation NME by epoch")
    p.add_argument("--out", type=Path, required=True, help="output PNG")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from facekd.engine.plots import plot_learning_curves, read_val_log

    refs = {}
    for label, value in args.ref:
        try:
            refs[label] = float(value) / 100
        except ValueError:
            raise FacekdError(f"--ref {label}={value}: the NME must be a number (percent)") from None
    if args.out.suffix.lower() != ".png":
        raise FacekdError(f"--out must be a .png file, got {args.out}")
    runs = dict(args.run)
    for name, d in runs.items():
        log = read_val_log(d)
        if len(log.get("epoch", ())) == 0:
            raise FacekdError(f"{name}: {d} has no validation rows yet")
        b = int(np.nanargmin(log["val_nme"]))
        print(f"{name}: {len(log['epoch'])} epochs, best mean val NME {100 * log['val_nme'][b]:.3f}% "
              f"@ epoch {log['epoch'][b]:g}, last {100 * log['val_nme'][-1]:.3f}%")
    print(plot_learning_curves(runs, args.out, reference=refs, title=args.title))
    return 0
