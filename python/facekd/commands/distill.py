"""`facekd distill`: multi-teacher distillation of a student (the trainer with the Distiller task).

Takes every `facekd train` option; the config's ``distill:`` section holds the teachers and loss weights, and
``--teacher1/--teacher2`` override the teacher paths. Resume, EMA, DDP and progress work as in training.
"""

from __future__ import annotations

import argparse

from facekd.commands import train as train_cmd


def add_arguments(p: argparse.ArgumentParser) -> None:
    train_cmd.add_arguments(p)
    p.add_argument("--teacher1", help="T1 (HRNet-W32) model: facekd model dir, .safetensors or checkpoint")
    p.add_argument("--teacher2", help="T2 (HRNetV2-W18) model")


def build_task(cfg, teacher1: str | None = None, teacher2: str | None = None):
    """The Distiller for ``cfg.distill`` with its teachers loaded and checked against the student's data."""
    from facekd.distill import DistillConfig, Distiller
    from facekd.errors import FacekdError
    from facekd.models import load_model

    d = cfg.distill or DistillConfig()
    d.teacher1 = teacher1 or d.teacher1
    d.teacher2 = teacher2 or d.teacher2
    cfg.distill = d
    teachers = {}
    for name in sorted(d.needed_teachers()):
        path = d.teacher1 if name == "t1" else d.teacher2
        if not path:
            raise FacekdError(f"the distillation needs {name}: pass --teacher{name[1]} or set distill.teacher{name[1]}")
        model, card = load_model(path)
        if card.input_size != cfg.data.input_size:
            raise FacekdError(f"teacher {name} ({path}) was trained at {card.input_size} px, the student config uses "
                              f"{cfg.data.input_size} px")
        teachers[name] = model
    return Distiller(d, teachers)


def run(args: argparse.Namespace) -> int:
    return train_cmd.run(args, task=lambda cfg: build_task(cfg, args.teacher1, args.teacher2))
