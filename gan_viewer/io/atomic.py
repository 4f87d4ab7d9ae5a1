"""Atomic file writes: write beside the destination under a temporary name, then rename.

A reader never sees a half-written file, and a failed write leaves nothing behind. Files get
the permissions a plain ``open(path, "w")`` would give (``0o666`` less the umask), not the
owner-only ``0o600`` of ``tempfile``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gan_viewer.errors import InputError


def _default_mode(directory: bool = False) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def check_writable(path: str | os.PathLike, overwrite: bool) -> Path:
    """``path`` as a Path, or InputError if it exists (without ``overwrite``) or its folder does not."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError("exists already; refusing to overwrite it (use --force)", path)
    if not path.parent.resolve().is_dir():
        raise InputError("folder does not exist", path.parent)
    return path


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path``, on error it goes."""
    path = check_writable(path, overwrite)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, _default_mode())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    ``path`` may exist only if empty, or with ``overwrite``.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise InputError("exists and is not empty; refusing to write into it (use --force)", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, _default_mode(directory=True))
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
