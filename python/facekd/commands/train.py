"""`facekd train`: train a model from a YAML config (single process, or DDP under torchrun)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", help="YAML training config (optional with --resume: the "
                                          "checkpoint's config is used)")
    p.add_argument("--out", "-o", help="output directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.pt exactly where it stopped (mid-epoch too)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=1e-3 (repeatable)")
    p.add_argument("--threads", type=int, help="torch CPU threads (same as --set runtime.threads=N)")
    p.add_argument("--init", help="initial weights (.safetensors state dict), same as --set model.init=PATH")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")


def resolve_config(args: argparse.Namespace):
    """The run's TrainConfig (YAML or the checkpoint's, overrides applied) and output directory."""
    from facekd.config import load_config
    from facekd.errors import FacekdError

    overrides = list(args.overrides)
    if args.threads is not None:
        overrides.append(f"runtime.threads={args.threads}")
    if args.init:
        overrides.append(f"model.init={args.init}")
    if args.config:
        cfg = load_config(args.config, overrides)
    elif args.resume and args.out:
        from facekd.engine.checkpoint import load_checkpoint
        from facekd.engine.trainer import CHECKPOINT_NAME

        ckpt = Path(args.out) / CHECKPOINT_NAME
        if not ckpt.is_file():
            raise FacekdError(f"--resume without --config needs {ckpt}")
        cfg = load_config(None, overrides, base=load_checkpoint(ckpt)["config"])
    else:
        raise FacekdError("--config is required (or --resume --out DIR to continue a run)")
    out = Path(args.out) if args.out else Path("runs") / (cfg.name or "train")
    return cfg, out


def run(args: argparse.Namespace, task=None) -> int:
    from facekd.config import dump_config

    cfg, out = resolve_config(args)
    if args.print_config:
        print(dump_config(cfg), end="")
        return 0

    from facekd.engine.trainer import train

    if task is None and cfg.adversarial is not None:
        from facekd.robust.adversarial_training import AdversarialTask, AdversarialTrainingConfig

        task = lambda c: AdversarialTask(AdversarialTrainingConfig.from_dict(c.adversarial))  # noqa: E731
    result = train(cfg, out, resume=args.resume, task=task(cfg) if task else None)
    if int(os.environ.get("RANK", "0")) == 0:
        print(result.summary(), flush=True)
    return 0
