"""Sub-commands of `facekd` (see facekd.cli)."""

from __future__ import annotations

import argparse


def csv_list(kind):
    """argparse ``type=`` for a comma-separated list of ``kind`` values (empty items ignored)."""
    def parse(text: str):
        try:
            return tuple(kind(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None
    return parse
