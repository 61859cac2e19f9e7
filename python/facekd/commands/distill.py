"""`facekd distill`: multi-teacher distillation of a student (the trainer with the Distiller task).

Takes every `facekd train` option; the config's ``distill:`` section holds the named teachers and loss weights.
``--teacher NAME=PATH`` (repeatable) adds or replaces a teacher, ``--targets DIR`` reads the teacher targets
cache made by `facekd teach` (then no teacher runs during training and unlabelled sources can join the data).
``--teacher1/--teacher2`` are the old spellings of ``--teacher t1=PATH`` / ``--teacher t2=PATH``. Resume, EMA,
DDP and progress work as in training.
"""

from __future__ import annotations

import argparse

from facekd.commands import train as train_cmd


def teacher_pair(text: str) -> tuple[str, str]:
    """argparse ``type=`` for ``NAME=PATH``."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=PATH (e.g. w32=runs/t_w32/best), got {text!r}")
    return name.strip(), path.strip()


def add_teacher_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", dest="teachers", action="append", default=[], type=teacher_pair,
                   metavar="NAME=PATH", help="a named teacher model (facekd model dir, .safetensors or checkpoint); "
                                             "repeatable; overrides distill.teachers[NAME]")
    p.add_argument("--teacher1", help="deprecated: same as --teacher t1=PATH")
    p.add_argument("--teacher2", help="deprecated: same as --teacher t2=PATH")


def cli_teachers(args: argparse.Namespace) -> dict[str, str]:
    """The ``--teacher`` / ``--teacher1`` / ``--teacher2`` arguments as a name -> path mapping."""
    out: dict[str, str] = {}
    for legacy, name in ((getattr(args, "teacher1", None), "t1"), (getattr(args, "teacher2", None), "t2")):
        if legacy:
            out[name] = legacy
    out.update(dict(getattr(args, "teachers", None) or []))
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    train_cmd.add_arguments(p)
    add_teacher_arguments(p)
    p.add_argument("--targets", help="teacher targets cache from `facekd teach` (same as --set distill.targets=DIR)")


def load_teachers(names, paths: dict[str, str], input_size: int | None = None):
    """Load the named teachers (frozen later by the Distiller); each must run at ``input_size`` if given."""
    from facekd.errors import FacekdError
    from facekd.models import load_model

    models, cards = {}, {}
    for name in names:
        path = paths.get(name)
        if not path:
            raise FacekdError(f"the distillation needs teacher {name!r}: pass --teacher {name}=PATH or set "
                              f"distill.teachers.{name}")
        model, card = load_model(path)
        if input_size is not None and card.input_size != input_size:
            raise FacekdError(f"teacher {name} ({path}) was trained at {card.input_size} px, the student config uses "
                              f"{input_size} px")
        models[name], cards[name] = model, card
    return models, cards


def build_task(cfg, teachers: dict[str, str] | None = None, targets: str | None = None):
    """The Distiller for ``cfg.distill`` with its teachers loaded (none with a targets cache) and checked
    against the student's data. ``teachers`` (name -> path) and ``targets`` override the config."""
    from facekd.distill import DistillConfig, Distiller
    from facekd.errors import FacekdError

    d = cfg.distill or DistillConfig()
    d.teachers = {**d.teachers, **(teachers or {})}
    if targets:
        d.targets = targets
    errs = d.run_errors()
    if errs:
        raise FacekdError("; ".join(errs))
    cfg.distill = d
    if d.targets:  # the student trains from the cache: no teacher runs
        return Distiller(d, {})
    models, _ = load_teachers(d.needed_teachers(), d.teachers, cfg.data.input_size)
    return Distiller(d, models)


def run(args: argparse.Namespace) -> int:
    teachers, targets = cli_teachers(args), args.targets
    return train_cmd.run(args, task=lambda cfg: build_task(cfg, teachers, targets))
