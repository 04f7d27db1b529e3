"""Publish files together: a reader, or a run killed at any moment, sees all the old ones or all
the new ones, never a mix.

`out` is a symbolic link to a version folder beside it (`.NAME.<ns>`). A run writes its files
into `.NAME.partial/`, syncs each file and the folder to disk, renames the folder to a new
version, and then renames a fresh link over `out`: that one rename (atomic on POSIX) is the
moment the new files appear. Until then `out` still points at the old version; after it, at
the new one. The parent folder is synced after each rename, and older versions (and a version
a killed run left behind) are removed once the new one is published.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from features.errors import LeadscoreError


def publish(out: Path, write: Callable[[Path], None]) -> Path:
    """Call `write(folder)` to fill a private folder, then make it `out` in one rename."""
    parent = out.parent
    if out.exists() and not out.is_symlink():
        raise LeadscoreError(
            f"--out {out} exists and is not a rescore output (a link to its latest version): "
            "choose a new path"
        )
    try:
        parent.mkdir(parents=True, exist_ok=True)
        partial = parent / f".{out.name}.partial"
        partial.mkdir(exist_ok=True)  # a killed run's files of the same names are overwritten
        write(partial)
        for path in partial.iterdir():
            _sync(path)
        _sync(partial)
        version = parent / f".{out.name}.{time.time_ns()}"
        partial.rename(version)
        link = parent / f".{out.name}.link"
        link.unlink(missing_ok=True)
        link.symlink_to(version.name)
        _sync(parent)
        link.replace(out)  # the commit point
        _sync(parent)
    except OSError as exc:
        raise LeadscoreError(f"--out {out}: cannot write ({exc.strerror})") from None
    for old in parent.glob(f".{out.name}.[0-9]*"):
        if old != version:
            shutil.rmtree(old, ignore_errors=True)
    return out


def clear(folder: Path) -> None:
    """Empty the folder `publish` hands a writer whose file names vary from run to run (a
    partition count): a killed run's extra files must not be published with this run's."""
    for leftover in folder.iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover)
        else:
            leftover.unlink()


def _sync(path: Path) -> None:
    """fsync a file or a folder: its bytes, or its entries, are on disk when this returns."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
