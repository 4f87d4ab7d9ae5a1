"""The SQLite file behind a session: labels, the cursor, and an event log.

Every decision is one transaction (WAL, ``synchronous=FULL``), committed before
:meth:`Journal.record` returns, so a process killed at any moment loses nothing. When it cannot
commit (disk full, I/O error, read-only), :meth:`Journal.record` raises :class:`SaveError` and
changes nothing. The cursor is not worth an fsync per arrow key: it is kept in memory, written
with the next decision, and flushed on :meth:`Journal.flush_cursor` (``synchronous=NORMAL``: no
fsync, yet a killed process still loses nothing, for the write is in the WAL) and on close.

Scores (per-particle numbers such as the agreement with the reference) are kept beside the
labels, each with a *context* (what they were computed against: the map, the CTF setting, the
generator). They can always be computed again, so they are written without an fsync of their
own (``synchronous=NORMAL``: a killed process loses nothing, a power cut may lose the last few);
values written under another context replace the old ones.

A session file that exists is checked (:mod:`gan_viewer.core.journal_schema`) through a
read-only connection before anything else is done with it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
import zlib
from pathlib import Path

import numpy as np

from gan_viewer import __version__
from gan_viewer.core.curation import present_labels
from gan_viewer.core.journal_schema import (BLOCK, CREATE, MAX_SCORE_NAME, VERSION, JournalInfo, block_rows,
                                            connect_read_only, inspect, read_checked_labels, read_checked_scores,
                                            score_rows, upgrade)
from gan_viewer.errors import InputError

log = logging.getLogger(__name__)

#: meta key prefix of a score's context
SCORE_KEY = "score:"


class SaveError(Exception):
    """A change could not be written to the session file, so it was not made.

    Attributes
    ----------
    path : str
        The session file.
    reason : str
        Why, in a few words ("database or disk is full").
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: could not save: {reason}")


class ReadOnlyError(SaveError):
    """The session is open read-only (another window or process writes it)."""


class Journal:
    """The session file of a particle set.

    Parameters
    ----------
    path
        The ``.sqlite`` file; created when missing.
    n
        Number of particles.
    set_id
        Fingerprint of the particle set; a file written for another set raises InputError.
    source_path
        The particle file, recorded for ``gan-viewer export --session`` and for messages.
    read_only
        Open without writing anything (another process holds the session).
    """

    def __init__(self, path: str | os.PathLike, n: int, set_id: str, source_path: str | None = None,
                 read_only: bool = False) -> None:
        self.path, self.n, self.read_only = Path(path), n, read_only
        self._labels = np.zeros(n, np.int8)
        self._scores: dict[str, np.ndarray] = {}  # name -> (n,) float32
        self._contexts: dict[str, str] = {}  # name -> what the scores were computed against
        self._cursor, self._cursor_pending = 0, None
        self._db: sqlite3.Connection | None = None
        existing = self.path.is_file() and self.path.stat().st_size > 0
        self.created = not existing and not read_only  # a new, empty session file
        try:
            if existing:
                self._open_existing(n, set_id, source_path)
            elif not read_only:
                self._create(n, set_id, source_path)
        except BaseException:
            self.close()
            raise

    # -- opening ----------------------------------------------------------------------------------
    def _open_existing(self, n: int, set_id: str, source_path: str | None) -> None:
        checked = connect_read_only(self.path)
        try:
            info = inspect(checked, self.path)
            check_same_set(info, self.path, n, set_id, source_path)
            self._labels = read_checked_labels(checked, info, self.path)
            self._scores = read_checked_scores(checked, info, self.path)
        except sqlite3.DatabaseError as exc:
            checked.close()
            raise InputError(f"not a gan-viewer session file ({exc})", self.path) from exc
        except BaseException:
            checked.close()
            raise
        cursor = info.meta.get("cursor", "0")
        self._cursor = int(cursor) if cursor.isdigit() else 0
        self._contexts = {key[len(SCORE_KEY):]: value for key, value in info.meta.items() if key.startswith(SCORE_KEY)}
        self._scores = {name: values for name, values in self._scores.items() if name in self._contexts}
        if self.read_only:
            self._db = checked
            return
        checked.close()
        self._db = self._connect()
        if info.version < VERSION:
            self._transaction(lambda db: upgrade(db, self._labels, info.version))
            log.info("%s: converted to the current session format", self.path)

    def _create(self, n: int, set_id: str, source_path: str | None) -> None:
        meta = {"n": str(n), "fingerprint": set_id, "source": source_path or "", "created": str(time.time()),
                "version": __version__, "cursor": "0"}

        def create(db: sqlite3.Connection) -> None:  # schema and meta at once: never a file without meta
            for statement in CREATE:
                db.execute(statement)
            db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
        self._db = self._connect()
        try:
            self._transaction(create)
        except sqlite3.Error as exc:
            raise InputError(f"cannot create the session file ({exc})", self.path) from exc

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA trusted_schema=OFF")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as exc:
            raise InputError(f"cannot open the session file ({exc})", self.path) from exc
        return db

    # -- reading ----------------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        if self._db is None:
            return {}
        return dict(self._db.execute("SELECT key, value FROM meta").fetchall())

    def labels(self) -> np.ndarray:
        """(n,) int8 labels as last written."""
        return self._labels.copy()

    def scores(self) -> dict[str, np.ndarray]:
        """Saved scores, name -> (n,) float32 copies (NaN: not computed)."""
        return {name: values.copy() for name, values in self._scores.items()}

    def score_context(self, name: str) -> str | None:
        """What the saved ``name`` scores were computed against (as given to :meth:`record_scores`)."""
        return self._contexts.get(name)

    @property
    def cursor(self) -> int:
        """The cursor as this journal knows it (saved or about to be)."""
        return self._cursor if self._cursor_pending is None else self._cursor_pending

    # -- writing ----------------------------------------------------------------------------------
    def record(self, kind: str, indices: np.ndarray, labels: np.ndarray) -> None:
        """Write a change in one transaction: the new labels (and the cursor, if it moved) and an
        event line per label. Committed to disk when this returns.

        Parameters
        ----------
        kind
            "set", "undo", "redo", ...
        indices, labels
            (k,) particle indices and their new labels.

        Raises
        ------
        SaveError
            Nothing was written (and nothing changed).
        """
        idx = np.asarray(indices, np.int64)
        lab = np.asarray(labels, np.int8)
        after = self._labels.copy()
        after[idx] = lab
        rows = block_rows(after, np.flatnonzero(np.bincount(idx // BLOCK)) * BLOCK)
        now = time.time()
        events = [(now, kind, label, encode_indices(idx[lab == label])) for label in present_labels(lab)]

        def write(db: sqlite3.Connection) -> None:
            db.executemany("INSERT OR REPLACE INTO label_blocks VALUES (?, ?)", rows)
            db.executemany("INSERT INTO events (time, kind, label, indices) VALUES (?, ?, ?, ?)", events)

        self._save(write)
        self._labels = after

    def record_scores(self, indices: np.ndarray, values: dict[str, np.ndarray], contexts: dict[str, str]) -> None:
        """Save scores of particles ``indices`` (k,) in one transaction (no fsync: see the module
        docstring).

        Parameters
        ----------
        indices
            (k,) particle indices.
        values
            name -> (k,) float scores of those particles (NaN: not computed).
        contexts
            name -> what they were computed against; a name saved under another context loses
            its old values first.

        Raises
        ------
        SaveError
            Nothing was written.
        """
        idx = np.asarray(indices, np.int64)
        after = {}
        for name, new in values.items():
            if not 0 < len(name) <= MAX_SCORE_NAME:
                raise ValueError(f"score name {name!r} must have 1 to {MAX_SCORE_NAME} characters")
            same = self._contexts.get(name) == contexts[name]
            column = self._scores[name].copy() if same and name in self._scores else np.full(self.n, np.nan, np.float32)
            column[idx] = np.asarray(new, np.float32)
            after[name] = (column, same)
        starts = np.flatnonzero(np.bincount(idx // BLOCK)) * BLOCK if idx.size else np.zeros(0, np.int64)

        def write(db: sqlite3.Connection) -> None:
            for name, (column, same) in after.items():
                if not same:
                    db.execute("DELETE FROM score_blocks WHERE name = ?", (name,))
                    db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (SCORE_KEY + name, contexts[name]))
                db.executemany("INSERT OR REPLACE INTO score_blocks VALUES (?, ?, ?)", score_rows(name, column, starts))

        self._save_unsynced(write)
        for name, (column, _) in after.items():
            self._scores[name], self._contexts[name] = column, contexts[name]

    def set_cursor(self, index: int) -> None:
        """Remember the cursor; it is written with the next decision or :meth:`flush_cursor`."""
        index = int(index)
        self._cursor_pending = None if index == self._cursor else index

    def flush_cursor(self) -> bool:
        """Write a moved cursor without waiting for the disk; False when it could not be written."""
        if self._cursor_pending is None or self.read_only or self._db is None:
            return True
        try:
            self._save_unsynced(lambda db: None)
        except (SaveError, sqlite3.Error) as exc:
            log.warning("%s: the cursor was not saved: %s", self.path, exc)
            return False
        return True

    def check_writable(self) -> None:
        """Write and commit a test line; raises SaveError when that fails."""
        self._save(lambda db: db.execute("INSERT OR REPLACE INTO meta VALUES ('checked', ?)", (str(time.time()),)))

    def close(self) -> None:
        if self._db is not None:
            self.flush_cursor()
            self._db.close()
            self._db = None

    # -- transactions -----------------------------------------------------------------------------
    def _save_unsynced(self, write) -> None:
        """:meth:`_save` without waiting for the disk (``synchronous=NORMAL`` for this transaction)."""
        if self.read_only or self._db is None:
            raise ReadOnlyError(self.path, "the session is open read-only")
        try:
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            raise SaveError(self.path, str(exc)) from exc
        try:
            self._save(write)
        finally:
            try:
                self._db.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                log.warning("%s: could not restore synchronous=FULL: %s", self.path, exc)

    def _save(self, write) -> None:
        """Run ``write(db)`` and the pending cursor in one committed transaction, or raise SaveError."""
        if self.read_only or self._db is None:
            raise ReadOnlyError(self.path, "the session is open read-only")
        cursor = self._cursor_pending

        def body(db: sqlite3.Connection) -> None:
            write(db)
            if cursor is not None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('cursor', ?)", (str(cursor),))
        try:
            self._transaction(body)
        except sqlite3.Error as exc:
            raise SaveError(self.path, str(exc)) from exc
        if cursor is not None:
            self._cursor = cursor
            if self._cursor_pending == cursor:
                self._cursor_pending = None

    def _transaction(self, body) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            body(self._db)
            self._commit()
        except BaseException:
            self._rollback()
            raise

    def _commit(self) -> None:
        self._db.execute("COMMIT")

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error as exc:  # the connection is unusable; the transaction is void either way
            log.warning("%s: rollback failed: %s", self.path, exc)


def check_same_set(info: JournalInfo, path: Path, n: int, set_id: str, source_path: str | None) -> None:
    """InputError unless the session file ``info`` was written for this particle set."""
    if info.meta.get("fingerprint") != set_id or info.n != n:
        raise InputError(f"was written for another particle set: {info.meta.get('source') or '?'} ({info.n:,} "
                         f"particles, set {info.meta.get('fingerprint')}), not {source_path or 'this one'} "
                         f"({n:,} particles, set {set_id})", path)


def read_session(path: str | os.PathLike) -> tuple[JournalInfo, np.ndarray]:
    """The meta table and the labels (n,) int8 of a session file, checked, without writing to it."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such session file", path)
    try:
        db = connect_read_only(path)
        try:
            info = inspect(db, path)
            return info, read_checked_labels(db, info, path)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"not a gan-viewer session file ({exc})", path) from exc


def read_session_scores(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The scores of a session file, name -> (n,) float32, checked, without writing to it."""
    path = Path(path)
    try:
        db = connect_read_only(path)
        try:
            info = inspect(db, path)
            scores = read_checked_scores(db, info, path)
            return {name: values for name, values in scores.items() if SCORE_KEY + name in info.meta}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"not a gan-viewer session file ({exc})", path) from exc


def read_session_meta(path: str | os.PathLike) -> dict[str, str]:
    """The meta table of a session file (fingerprint, n, source, cursor), after checking its schema."""
    path = Path(path)
    try:
        db = connect_read_only(path)
        try:
            return inspect(db, path).meta
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise InputError(f"not a gan-viewer session file ({exc})", path) from exc


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Labels (n,) int8 from a session file, checked; ``n`` is the count the file records."""
    return read_session(path)[1]


def encode_indices(indices: np.ndarray) -> bytes:
    """(k,) int64 indices as a compact blob: one byte giving the width (4 or 8), then zlib of their
    little-endian differences (a run of consecutive indices compresses to almost nothing)."""
    deltas = np.diff(np.asarray(indices, np.int64), prepend=0)
    width = 4 if not deltas.size or np.abs(deltas).max() < 2**31 else 8
    return bytes([width]) + zlib.compress(deltas.astype(f"<i{width}").tobytes(), 1)


def decode_indices(value: bytes | str) -> np.ndarray:
    """An event's indices (k,) int64, from :func:`encode_indices` or a schema-1 JSON list."""
    if isinstance(value, str):
        return np.asarray(json.loads(value), np.int64)
    return np.cumsum(np.frombuffer(zlib.decompress(value[1:]), f"<i{value[0]}"), dtype=np.int64)
