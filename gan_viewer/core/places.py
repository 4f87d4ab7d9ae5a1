"""Where a session file goes: beside the data, or in the user data folder.

A session journal is an SQLite file in WAL mode, which needs shared memory and POSIX locks that
network filesystems do not provide reliably (SQLite's own documentation says not to use WAL
there). So the journal goes beside the data only when that folder is local and writable;
otherwise it goes to ``platformdirs.user_data_dir("gan-viewer")/sessions``. The filesystem type
comes from the mount table (``/proc/mounts`` on Linux), which callers and tests can pass in.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

SUFFIX = ".gan-viewer.sqlite"
MOUNTS = Path("/proc/mounts")

#: filesystem types (as in the mount table) on which an SQLite WAL journal must not live
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb", "smb3", "smbfs", "ncpfs", "afs", "9p", "ceph", "fuse.ceph", "glusterfs",
    "fuse.glusterfs", "lustre", "gpfs", "beegfs", "fuse.sshfs", "sshfs", "fuse.s3fs", "fuse.rclone", "davfs",
    "fuse.davfs", "panfs", "orangefs", "pvfs2", "ocfs2", "gfs2", "cvfs", "wekafs", "fuse.weka", "fuse.juicefs",
})


def read_mounts() -> str:
    """The mount table's text ("" where there is none, e.g. not on Linux)."""
    try:
        return MOUNTS.read_text()
    except OSError:
        return ""


def filesystem_type(path: str | os.PathLike, mounts: str | None = None) -> str | None:
    """The type of the filesystem holding ``path`` ("ext4", "nfs4", ...), or None when unknown.

    Parameters
    ----------
    path
        A file or folder (it need not exist; its nearest existing parent decides).
    mounts
        The mount table in ``/proc/mounts`` format (device, mount point, type, ...); read from
        the system when None.
    """
    target = os.path.realpath(path)
    best, kind = "", None
    for line in (read_mounts() if mounts is None else mounts).splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):  # the last of equal mount points is the one in force
            best, kind = point, fields[2]
    return kind


def is_network_filesystem(path: str | os.PathLike, mounts: str | None = None) -> bool:
    """True when ``path`` lies on a network or cluster filesystem (see :data:`NETWORK_FILESYSTEMS`)."""
    kind = filesystem_type(path, mounts)
    return kind is not None and (kind in NETWORK_FILESYSTEMS or kind.split(".")[-1] in NETWORK_FILESYSTEMS)


def folder_is_writable(folder: Path) -> bool:
    """True when a file can be created in ``folder`` and its mode allows writing.

    The mode check matters for root, who can write into a read-only (``r-x``) folder: shared,
    read-only data folders must not collect session files.
    """
    try:
        if not os.access(folder, os.W_OK) or not folder.stat().st_mode & 0o222:
            return False
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def beside_path(data_path: str | os.PathLike, set_id: str = "") -> Path:
    """``<file>[.<set>].gan-viewer.sqlite`` in the data file's own folder."""
    data_path = Path(data_path).resolve()
    return data_path.parent / (data_path.name + (f".{set_id[:8]}" if set_id else "") + SUFFIX)


def local_path(data_path: str | os.PathLike, set_id: str = "") -> Path:
    """The session file of ``data_path`` in the user data folder (created when missing)."""
    data_path = Path(data_path).resolve()
    key = hashlib.sha1(str(data_path).encode()).hexdigest()[:12]
    folder = Path(platformdirs.user_data_dir("gan-viewer", appauthor=False)) / "sessions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}-{beside_path(data_path, set_id).name}"


def default_journal_path(data_path: str | os.PathLike, set_id: str = "", mounts: str | None = None) -> Path:
    """Where the session of ``data_path`` lives: beside it when its folder is local and writable,
    else in the user data folder (``mounts`` as for :func:`filesystem_type`)."""
    folder = Path(data_path).resolve().parent
    if is_network_filesystem(folder, mounts):
        log.debug("%s is on a network filesystem: its session goes to the user data folder", folder)
        return local_path(data_path, set_id)
    if not folder_is_writable(folder):
        return local_path(data_path, set_id)
    return beside_path(data_path, set_id)


def _unescape(field: str) -> str:
    """A mount table field with its octal escapes (``\\040`` for a space) decoded."""
    if "\\" not in field:
        return field
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")
