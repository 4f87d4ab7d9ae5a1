"""Temporary files of atomic writes: one recognisable name, a registry, cleanup after kills and signals.

Every temporary file or folder is named ``.gan-viewer-tmp.NAME.HOST.PID.RANDOM.tmp`` (NAME: the
destination's name, HOST and PID: the writing process). Three things remove them:

* the writer itself, when it finishes or fails (:mod:`gan_viewer.io.atomic`);
* SIGTERM and SIGINT, once :func:`install_signal_cleanup` has run (the command line does): the
  handler removes this process's live temporaries, which a registry lists, before the process ends;
* the next atomic write into the same folder (:func:`remove_stale_temporaries`), for a run killed
  with SIGKILL: it removes the temporaries whose writer ran on this host and is gone. A live
  writer's file is never touched; those of other hosts (a shared network folder) are left alone.

A multi-file commit (:func:`signals_deferred`) holds SIGTERM and SIGINT back until its renames are
done, so a signal cannot leave one output renamed and the next not.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

#: every temporary's name starts with this
TMP_PREFIX = ".gan-viewer-tmp."

_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0])[:40] or "host"
_NAME = re.compile(re.escape(TMP_PREFIX) + r".*\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$")

_live: set[str] = set()
_live_lock = threading.RLock()  # re-entrant: the signal handler runs in the main thread, which may hold it
_deferred = 0
_pending: int | None = None
_label = "gan-viewer"
_terminating = False
_atexit_registered = False


def new_temporary(target: Path, *, directory: bool = False) -> Path:
    """Create (and register) an empty temporary file, or folder, beside ``target``."""
    for _ in range(100):
        name = f"{TMP_PREFIX}{target.name[:100]}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        tmp = target.parent / name
        _register(tmp)  # before it exists: a signal right after the creation still finds it
        try:
            if directory:
                os.mkdir(tmp, 0o700)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600))
            return tmp
        except FileExistsError:
            _unregister(tmp)
        except BaseException:
            _unregister(tmp)
            raise
    raise FileExistsError(f"no free temporary name beside {target}")


def discard_temporary(tmp: Path) -> None:
    """Remove ``tmp`` (file or folder; gone already is fine) and drop it from the registry."""
    _remove(tmp)
    _unregister(tmp)


def remove_stale_temporaries(folder: Path) -> int:
    """Remove the temporaries in ``folder`` left by writers that are gone; returns how many.

    Only temporaries written on this host by a process that no longer runs are removed; errors
    (a folder that cannot be listed, a file that another process removed first) are ignored.
    """
    removed = 0
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(TMP_PREFIX)]
    except OSError:
        return 0
    for entry in entries:
        match = _NAME.match(entry.name)
        if match is None or not _writer_is_gone(match["host"], int(match["pid"])):
            continue
        if _remove(Path(entry.path)):
            removed += 1
            log.info("removed %s, left by a gan-viewer run that was killed", entry.path)
    return removed


def remove_live_temporaries() -> None:
    """Remove every temporary this process has created and not yet renamed or removed."""
    with _live_lock:
        paths = list(_live)
    for path in paths:
        discard_temporary(Path(path))


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGTERM / SIGINT (as handled by :func:`install_signal_cleanup`) back until the block ends."""
    global _deferred, _pending
    with _live_lock:
        _deferred += 1
    try:
        yield
    finally:
        with _live_lock:
            _deferred -= 1
            signum = _pending if _deferred == 0 else None
            if signum is not None:
                _pending = None
        if signum is not None:
            signal.raise_signal(signum)  # handled now, in the main thread


def install_signal_cleanup(label: str) -> None:
    """SIGTERM and SIGINT remove this process's temporaries first; call once, from the main thread.

    SIGINT then raises KeyboardInterrupt as usual; SIGTERM writes ``LABEL: terminated ...`` to
    stderr and exits with status 143. A second SIGTERM exits at once.

    Parameters
    ----------
    label
        How the one-line message names the program, e.g. ``"gan-viewer denoise"``.
    """
    global _label, _atexit_registered
    if threading.current_thread() is not threading.main_thread():
        return
    _label = label
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    if not _atexit_registered:
        atexit.register(remove_live_temporaries)
        _atexit_registered = True


def _on_signal(signum: int, frame: object) -> None:
    global _pending, _terminating
    with _live_lock:
        if _deferred:
            _pending = signum
            return
    remove_live_temporaries()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    if _terminating:
        os._exit(143)
    _terminating = True
    try:
        os.write(2, f"{_label}: terminated (SIGTERM); temporary files removed\n".encode())
    except OSError:
        pass
    raise SystemExit(143)


def _register(tmp: Path) -> None:
    with _live_lock:
        _live.add(str(tmp))


def _unregister(tmp: Path) -> None:
    with _live_lock:
        _live.discard(str(tmp))


def _remove(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.debug("could not remove %s (%s)", path, exc)
        return False


def _writer_is_gone(host: str, pid: int) -> bool:
    """True only when the writer ran on this host and no process ``pid`` exists."""
    if host != _HOST or os.name != "posix" or pid == os.getpid():  # (os.kill on Windows would end it)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it runs, as another user
        return False
    return False
