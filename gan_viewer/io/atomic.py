"""Atomic file writes: write beside the destination under a temporary name, then rename.

A reader never sees a half-written file, and a failed write leaves nothing behind. Files get
the permissions a plain ``open(path, "w")`` would give (``0o666`` less the umask), not the
owner-only ``0o600`` of ``tempfile``. Temporaries are fsynced before the rename, so a deferred
write error (a full disk, a network file system) fails the write instead of the file.

Temporary names, their cleanup after kills and signals: :mod:`gan_viewer.io.temporaries`.

A full disk, an exceeded quota or an I/O error while writing is raised as an ``OSError`` that
names the destination (never the temporary) with a one-line message such as ``no space left on
device``; the command line turns it into ``gan-viewer CMD: error: PATH: no space left on device``
and exit status 2.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gan_viewer.errors import InputError
from gan_viewer.io.temporaries import discard_temporary, new_temporary, remove_stale_temporaries, signals_deferred

#: errors of the medium rather than of the program, and how the one-line message says them
DISK_ERRORS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system",
    errno.EIO: "input/output error (the disk or the network file system failed)",
}


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


def ensure_free_space(path: str | os.PathLike, nbytes: int) -> None:
    """OSError(ENOSPC) naming ``path`` when its file system has less than ``nbytes`` free.

    For large outputs, checked before any work so a run that cannot finish refuses at once.
    """
    path = Path(path)
    folder = path.absolute()
    while not folder.is_dir() and folder != folder.parent:  # the first folder that exists
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise OSError(errno.ENOSPC, f"no space left on device: needs {_size(nbytes)}, {_size(free)} free", str(path))


@contextmanager
def atomic_paths(paths: Sequence[str | os.PathLike], *, overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield one temporary path beside each of ``paths``; all become their destination, or none does.

    The temporaries are written in the block, fsynced after it, then renamed back to back (with
    SIGTERM / SIGINT held back meanwhile). Any error removes them all and leaves existing files
    as they were. The residual: a SIGKILL or a power cut in the microseconds between two renames
    can leave the first destination written and the next not.
    """
    targets = [check_writable(p, overwrite) for p in paths]
    if len({t.resolve() for t in targets}) != len(targets):
        raise ValueError(f"atomic_paths got the same destination twice: {[str(t) for t in targets]}")
    for folder in dict.fromkeys(t.parent for t in targets):
        remove_stale_temporaries(folder)
    temps: list[Path] = []
    try:
        for target in targets:
            temps.append(new_temporary(target))
        yield temps
        for tmp in temps:
            _fsync(tmp)
            os.chmod(tmp, _default_mode())
        _rename_all(temps, targets)
    except Exception as exc:
        located = located_error(exc, temps, targets)
        if located is exc:
            raise
        raise located from exc
    finally:
        for tmp in temps:
            discard_temporary(tmp)


@contextmanager
def atomic_path(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it becomes ``path``, on error it goes."""
    with atomic_paths([path], overwrite=overwrite) as temps:
        yield temps[0]


@contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path``.

    ``path`` may exist only if empty, or with ``overwrite``. The files written into the folder
    are expected to be written atomically themselves (so fsynced); the folder is renamed last.
    """
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise InputError("exists and is not empty; refusing to write into it (use --force)", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent)
    tmp = new_temporary(path, directory=True)
    try:
        yield tmp
        os.chmod(tmp, _default_mode(directory=True))
        with signals_deferred():
            if path.exists():
                shutil.rmtree(path)
            os.replace(tmp, path)
        _fsync_folder(path.parent)
    except Exception as exc:
        located = located_error(exc, [tmp], [path])
        if located is exc:
            raise
        raise located from exc
    finally:
        discard_temporary(tmp)


def write_bytes(tmp: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to the temporary ``tmp``; an OSError names the file."""
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
    except OSError as exc:
        raise _with_filename(exc, tmp) from exc


def write_text(tmp: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to the temporary ``tmp``; an OSError names the file."""
    write_bytes(tmp, text.encode("utf-8"))


def atomic_write_bytes(path: str | os.PathLike, data: bytes | memoryview, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        write_bytes(tmp, data)
    return Path(path)


def located_error(exc: BaseException, temps: Sequence[Path], targets: Sequence[Path]) -> BaseException:
    """``exc`` restated for the user: an OSError naming the destination instead of its temporary,
    with a one-line message for a full disk or an I/O error (found in ``exc``'s chain too, since
    some libraries wrap it). Other exceptions come back unchanged."""
    cause = _os_error_in_chain(exc)
    if cause is None:
        return exc
    filename = _destination(cause.filename, temps, targets)
    if cause.errno in DISK_ERRORS:
        if filename is None:  # a library wrote through its own file object: whose, cannot be told
            filename = str(targets[0]) if len(targets) == 1 else str(targets[0].parent)
        message = DISK_ERRORS[cause.errno]
        if str(cause.strerror or "").startswith(message):  # said for the user already (ensure_free_space)
            message = cause.strerror
        return OSError(cause.errno, message, filename)
    if cause is exc and filename is not None and filename != cause.filename:
        return OSError(cause.errno, cause.strerror, filename)
    return exc


def _os_error_in_chain(exc: BaseException) -> OSError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            if current is exc or current.errno in DISK_ERRORS:
                return current
        current = current.__cause__ or current.__context__
    return None


def _destination(filename: object, temps: Sequence[Path], targets: Sequence[Path]) -> str | None:
    """The destination a path inside (or equal to) one of ``temps`` stands for."""
    if filename is None:
        return None
    name = os.fsdecode(filename) if isinstance(filename, (str, bytes, os.PathLike)) else str(filename)
    for tmp, target in zip(temps, targets):
        if name == str(tmp):
            return str(target)
        if name.startswith(str(tmp) + os.sep):
            return str(target) + name[len(str(tmp)):]
    return name


def _with_filename(exc: OSError, path: Path) -> OSError:
    if exc.filename is not None or exc.errno is None:
        return exc
    return OSError(exc.errno, exc.strerror, str(path))


def _rename_all(temps: list[Path], targets: list[Path]) -> None:
    existed = [t.exists() for t in targets]
    done = 0
    with signals_deferred():
        try:
            for tmp, target in zip(temps, targets):
                os.replace(tmp, target)
                done += 1
        except BaseException:
            for target, was_there in zip(targets[:done], existed):
                if not was_there:  # undo what was new; a replaced file cannot come back
                    target.unlink(missing_ok=True)
            raise
    for folder in dict.fromkeys(t.parent for t in targets):
        _fsync_folder(folder)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        raise _with_filename(exc, path) from exc
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable; not possible (nor needed) on every platform."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _size(nbytes: int) -> str:
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if abs(nbytes) < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes} bytes"
