"""Publishing artifacts atomically: write under a temporary name, check, then rename into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def temp_path(final: Path) -> Path:
    """A fresh, unused temporary path beside `final` (same file system, so renames are atomic),
    ending in `final`'s suffix (some writers insist on it)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.stem}.", suffix=f".tmp{final.suffix}", dir=final.parent))
    os.rmdir(tmp)  # only the unique name is wanted; the writer creates a file or a directory
    return tmp


def remove(path: Path) -> None:
    """Remove a file or directory tree if it exists."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def publish(tmp: Path, final: Path) -> None:
    """Move `tmp` (file or directory) to `final`, replacing what is there."""
    if tmp.is_dir():
        old = None
        if final.exists():
            old = temp_path(final)
            os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            if old is not None:
                os.replace(old, final)
            raise
        if old is not None:
            remove(old)
    else:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)


def write_text_atomic(path: Path, text: str) -> None:
    tmp = temp_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        publish(tmp, path)
    except BaseException:
        remove(tmp)
        raise
