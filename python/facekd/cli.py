"""`facekd …` command line.

Each sub-command lives in its own module exposing ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their command runs, so ``facekd --help`` stays fast (no torch import).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import Sequence

from facekd.errors import FacekdError

# (command, module, one-line help). The module path is data for a lazy import, not a registry
# looked up by user strings: the command name is what argparse parses.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("detect", "facekd.commands.detect", "landmarks on image(s): annotated image + JSON"),
    ("demo", "facekd.commands.demo", "run the bundled model on the bundled sample image"),
    ("video", "facekd.commands.video", "track landmarks through a video"),
    ("eval", "facekd.commands.eval", "evaluate a model on a dataset (NME / FR / AUC, CED, worst faces)"),
    ("train", "facekd.commands.train", "train a model from a YAML config"),
    ("teach", "facekd.commands.teach", "run the frozen teachers once over the training faces (targets cache)"),
    ("distill", "facekd.commands.distill", "multi-teacher distillation of a student"),
    ("ablate", "facekd.commands.ablate", "run the distillation ablation"),
    ("curves", "facekd.commands.curves", "learning curves (val NME by epoch) of training runs"),
    ("sweep", "facekd.commands.sweep", "student width x depth sweep"),
    ("models", "facekd.commands.models", "list model configs with params / FLOPs / latency"),
    ("export", "facekd.commands.export", "export to ExecuTorch (.pte), CoreML or ONNX"),
    ("robust", "facekd.commands.robust", "corruption and adversarial robustness evaluation"),
    ("bench", "facekd.commands.bench", "benchmarks against peers"),
)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage block is one ``--help`` away); the parsers of
    sub-commands (``add_subparsers``) are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def build_parser() -> argparse.ArgumentParser:
    from facekd import __version__

    parser = _Parser(prog="facekd", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"facekd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        if not _available(module):
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # First pass: find the command; then let its module add its own arguments.
    ns, _ = parser.parse_known_args(argv[:1] if argv and not argv[0].startswith("-") else argv)
    if getattr(ns, "command", None) is None:
        parser.print_help()
        return 0 if not argv else 2
    mod = importlib.import_module(ns._module)
    sub = _Parser(prog=f"facekd {ns.command}",
                  description=dict((c, h) for c, _, h in COMMANDS)[ns.command])
    mod.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    try:
        return int(mod.run(args) or 0)
    except FacekdError as e:
        print(f"facekd {ns.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a file the command reads or writes: the OS message names it
        print(f"facekd {ns.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
