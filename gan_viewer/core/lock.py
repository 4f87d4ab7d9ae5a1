"""One writer per session file: an exclusive lock that the system drops when its holder dies.

The lock is ``flock`` (``msvcrt.locking`` on Windows) on ``<session>.lock``, taken without
waiting. A second window or process on the same session does not get it and opens the session
read-only. The operating system releases the lock when the holder's file is closed, including
when the process is killed, so a crash never leaves a session locked. The holder's process id
is written into the lock file, for the message the others show.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

log = logging.getLogger(__name__)


class SessionLock:
    """Try to become the only writer of ``journal_path``.

    Parameters
    ----------
    journal_path
        The session file; the lock is ``<journal_path>.lock`` beside it.

    Attributes
    ----------
    acquired : bool
        True when this object holds the lock (until :meth:`release`).
    why_not : str
        Why it was not acquired: "another gan-viewer (process 1234) has it open", or "the lock
        file cannot be created (...)"; empty when acquired.
    """

    def __init__(self, journal_path: str | os.PathLike) -> None:
        self.path = Path(f"{journal_path}.lock")
        self.acquired, self.why_not = False, ""
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # e.g. a read-only folder: the session cannot be written there either
            self.why_not = f"its lock file cannot be created ({exc.strerror or exc})"
            return
        if _try_lock(self._fd):
            self.acquired = True
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{os.getpid()}\n".encode())
        else:
            pid = _read_pid(self._fd) or "unknown"
            self.why_not = f"another gan-viewer window or process (process {pid}) has it open"
            os.close(self._fd)
            self._fd = None

    def release(self) -> None:
        """Give the lock up (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.acquired = False

    def __del__(self) -> None:
        self.release()


def _read_pid(fd: int) -> str:
    """The process id the holder wrote, or "" (Windows refuses reads of a locked byte)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        pid = os.read(fd, 32).decode(errors="replace").strip()
    except OSError:
        return ""
    return pid if pid.isdigit() else ""


def _try_lock(fd: int) -> bool:
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True
