"""Output files of the CLI commands: checked before any work is done (never overwrite what the
user has unless ``--overwrite``; a path that cannot be written is one line naming it), then
written atomically (a crash leaves the old file or the complete new one)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Callable, Iterable

from facekd.errors import FacekdError
from facekd.fileio import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def add_overwrite_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")


def _first_existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def check_folder(folder: Path, flag: str, shown: Path | None = None) -> None:
    """``folder`` is, or can be created as, a folder this process may write in (errors name
    ``shown``, default ``folder``)."""
    shown = folder if shown is None else shown
    if folder.exists() and not folder.is_dir():
        raise FacekdError(f"{flag} {shown}: {folder} is a file, not a folder")
    anc = _first_existing(folder)
    if not anc.is_dir():
        raise FacekdError(f"{flag} {shown}: {anc} is a file, not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise FacekdError(f"{flag} {shown}: cannot write in {anc} (permission denied)")


def check_outputs(paths: Iterable[Path], *, overwrite: bool, flag: str = "-o") -> None:
    """FacekdError (one line naming the path) unless every path can be written: its folder can be
    created and written in, and the path is not a folder, nor an existing file without
    ``overwrite``."""
    seen: set[Path] = set()
    for path in paths:
        key = path.absolute()
        if key in seen:
            raise FacekdError(f"{flag} {path}: two outputs would be written to the same file")
        seen.add(key)
        if path.is_dir():
            raise FacekdError(f"{flag} {path}: is a folder, expected a file name")
        if path.exists() and not overwrite:
            raise FacekdError(f"{flag} {path}: file exists (pass --overwrite to replace it)")
        check_folder(path.parent, flag, path)


def write_output(path: Path, write: Callable[[str], None]) -> Path:
    """``write(tmp_path)`` then atomically move it to ``path`` (folders created); OSError becomes
    one FacekdError line naming the path."""
    try:
        return atomic_write(path, write)
    except OSError as e:
        raise FacekdError(f"cannot write {path}: {e.strerror or e}") from None


def save_image(im, path: Path) -> Path:
    """Save a Pillow image atomically, in the format of ``path``'s extension."""
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise FacekdError(f"{path}: unknown image extension (use .png or .jpg)")
    return write_output(path, lambda tmp: im.save(tmp, format=fmt))


def save_text(text: str, path: Path) -> Path:
    return write_output(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
