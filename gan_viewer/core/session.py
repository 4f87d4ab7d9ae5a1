"""A curation session: a particle set, its labels, and a journal that never loses a decision.

Every decision is committed to an SQLite journal (WAL, ``synchronous=FULL``) before the call
returns, so a process killed at any moment loses nothing; opening the same particle file again
resumes the labels and the cursor. The journal lives next to the data as
``<file>.gan-viewer.sqlite`` when that folder is writable, else in the user data folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import platformdirs

from gan_viewer import __version__
from gan_viewer.core.curation import Curation, Label
from gan_viewer.core.particles import ParticleSource, open_particles
from gan_viewer.errors import InputError

log = logging.getLogger(__name__)

SUFFIX = ".gan-viewer.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS labels (idx INTEGER PRIMARY KEY, label INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL,
    label INTEGER NOT NULL, indices TEXT NOT NULL);
"""


def fingerprint(source: ParticleSource) -> str:
    """A short hash that changes when the particle set changes (count and image names)."""
    digest = hashlib.sha1(str(len(source)).encode())
    table = getattr(source, "table", None)
    if table is not None and table.particles_block is not None:
        names = table.particles.get("rlnImageName", table.particles.iloc[:, 0])
        digest.update("\n".join(map(str, names.to_numpy(object))).encode())
    elif source.path is not None:
        digest.update(str(Path(source.path).stat().st_size).encode())
    return digest.hexdigest()[:16]


def default_journal_path(data_path: str | os.PathLike, set_id: str = "") -> Path:
    """Where the session of ``data_path`` lives: beside it if writable, else the user data dir."""
    data_path = Path(data_path).resolve()
    name = data_path.name + (f".{set_id[:8]}" if set_id else "") + SUFFIX
    if folder_is_writable(data_path.parent):
        return data_path.parent / name
    key = hashlib.sha1(str(data_path).encode()).hexdigest()[:12]
    folder = Path(platformdirs.user_data_dir("gan-viewer", appauthor=False)) / "sessions"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{key}-{name}"


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


class Journal:
    """The SQLite file behind a session: current labels, the cursor, and an event log.

    Parameters
    ----------
    path
        The ``.sqlite`` file; created when missing.
    n
        Number of particles.
    set_id
        Fingerprint of the particle set; a journal written for another set raises InputError.
    source_path
        The particle file, recorded for ``gan-viewer export --session``.
    """

    def __init__(self, path: str | os.PathLike, n: int, set_id: str, source_path: str | None = None) -> None:
        self.path = Path(path)
        self.n = n
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise InputError(f"not a gan-viewer session file ({exc})", self.path) from exc
        meta = self.meta()
        if not meta:
            self._set_meta(n=str(n), fingerprint=set_id, source=source_path or "", created=str(time.time()),
                           version=__version__, cursor="0")
        elif meta.get("fingerprint") != set_id or int(meta.get("n", -1)) != n:
            raise InputError(f"belongs to a different particle set ({meta.get('n')} particles, "
                             f"{meta.get('source')!s})", self.path)

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def labels(self) -> np.ndarray:
        """(n,) int8 labels as last written."""
        return read_labels(self._db, self.n)

    @property
    def cursor(self) -> int:
        return int(self.meta().get("cursor", 0))

    def record(self, kind: str, indices: np.ndarray, labels: np.ndarray) -> None:
        """Write a change in one transaction: the new labels and an event line."""
        idx = np.asarray(indices, np.int64)
        lab = np.asarray(labels, np.int64)
        with self._transaction():
            decided = lab != Label.UNDECIDED
            self._db.executemany("INSERT OR REPLACE INTO labels VALUES (?, ?)",
                                 zip(idx[decided].tolist(), lab[decided].tolist()))
            self._db.executemany("DELETE FROM labels WHERE idx = ?", ((i,) for i in idx[~decided].tolist()))
            for label in np.unique(lab):
                self._db.execute("INSERT INTO events (time, kind, label, indices) VALUES (?, ?, ?, ?)",
                                 (time.time(), kind, int(label), json.dumps(idx[lab == label].tolist())))

    def set_cursor(self, index: int) -> None:
        self._set_meta(cursor=str(int(index)))

    def close(self) -> None:
        self._db.close()

    def _set_meta(self, **values: str) -> None:
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def _transaction(self):
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def read_labels(db: sqlite3.Connection | str | os.PathLike, n: int | None = None) -> np.ndarray:
    """Labels from a journal (an open connection or a file), shape (n,) int8.

    With a path, ``n`` defaults to the particle count the journal records.
    """
    if not isinstance(db, sqlite3.Connection):
        path = Path(db)
        if not path.is_file():
            raise InputError("no such session file", path)
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            labels = read_labels(conn, int(meta["n"]) if n is None else n)
            conn.close()
        except (sqlite3.DatabaseError, KeyError) as exc:
            raise InputError(f"not a gan-viewer session file ({exc})", path) from exc
        return labels
    rows = np.array(db.execute("SELECT idx, label FROM labels").fetchall(), np.int64).reshape(-1, 2)
    labels = np.zeros(n, np.int8)
    inside = rows[:, 0] < n
    labels[rows[inside, 0]] = rows[inside, 1]
    return labels


class Session:
    """The one object the GUI holds: particles + labels + journal + cursor.

    Parameters
    ----------
    source
        The particle set.
    journal_path
        Session file; by default :func:`default_journal_path` of the source's file.
    """

    def __init__(self, source: ParticleSource, journal_path: str | os.PathLike | None = None) -> None:
        if not len(source):
            raise InputError("has no particles to curate", source.path)
        self.source = source
        set_id = fingerprint(source)
        if journal_path is None:
            if source.path is None:
                raise ValueError("a source without a file needs an explicit journal_path")
            journal_path = default_journal_path(source.path)
            if journal_path.exists() and _journal_print(journal_path) not in (None, set_id):
                log.warning("%s was written for another version of %s; starting a new session",
                            journal_path, source.path)
                journal_path = default_journal_path(source.path, set_id)
        self.journal = Journal(journal_path, len(source), set_id, str(source.path or ""))
        self.curation = Curation(len(source), self.journal.labels())
        self._cursor = min(self.journal.cursor, max(len(source) - 1, 0))
        self.curation.changed.connect(self._on_changed)
        self._pending_kind = "set"
        resumed = int((self.curation.labels != Label.UNDECIDED).sum())
        log.info("session %s: %d particles, %d decided", self.journal.path, len(source), resumed)

    @classmethod
    def open(cls, path: str | os.PathLike, project_dir: str | os.PathLike | None = None,
             journal_path: str | os.PathLike | None = None) -> Session:
        return cls(open_particles(path, project_dir), journal_path)

    def __len__(self) -> int:
        return len(self.source)

    @property
    def cursor(self) -> int:
        return self._cursor

    def move_to(self, index: int) -> int:
        """Set the current particle (clamped to the set) and remember it."""
        self._cursor = int(np.clip(index, 0, max(len(self) - 1, 0)))
        self.journal.set_cursor(self._cursor)
        return self._cursor

    def decide(self, label: Label | int, indices: int | np.ndarray | list[int] | None = None) -> bool:
        """Label ``indices`` (default: the current particle); True if anything changed."""
        self._pending_kind = "set"
        return self.curation.set(self._cursor if indices is None else indices, label) is not None

    def undo(self) -> bool:
        self._pending_kind = "undo"
        return self.curation.undo() is not None

    def redo(self) -> bool:
        self._pending_kind = "redo"
        return self.curation.redo() is not None

    def close(self) -> None:
        self.curation.changed.disconnect(self._on_changed)
        self.journal.close()

    def _on_changed(self, indices: np.ndarray, labels: np.ndarray) -> None:
        self.journal.record(self._pending_kind, indices, labels)


def saved_cursor(data_path: str | os.PathLike) -> int:
    """Where the session of ``data_path`` was left (0 without one), read without opening the
    particles: the inspector shows that particle while a large file loads."""
    path = default_journal_path(data_path)
    value = _journal_meta(path, "cursor") if path.exists() else None
    return int(value) if value is not None and value.isdigit() else 0


def _journal_print(path: Path) -> str | None:
    return _journal_meta(path, "fingerprint")


def _journal_meta(path: Path, key: str) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        conn.close()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else row[0]
