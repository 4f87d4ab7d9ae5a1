"""The session file's schema, and the checks a session file passes before anything writes to it.

A session file found beside the data may come from anyone. Before gan-viewer writes to it (a
write is what fires a trigger) or reads a table (what runs a view), it is opened read-only and
its ``sqlite_master`` must hold exactly the tables below, created by exactly the statements
below: no trigger, view, extra index or extra table. Its labels must then be in range: indices
``0 <= idx < n`` and values in :class:`~gan_viewer.core.curation.Label`. Anything else is an
:class:`~gan_viewer.errors.InputError` naming the file and the first problem.

Schema 2 keeps the labels in blocks of :data:`BLOCK` particles, one byte each, so that a decision
on 1,000,000 particles writes 1 MB in under a thousand rows; schema 1 (the first versions) had one
row per decided particle. Schema 3 (this version) adds the per-particle scores, in the same
blocks: one row per (score name, block) of float32 values, NaN where a score is not computed.
Older files are converted on first write.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gan_viewer.core.curation import Label
from gan_viewer.errors import InputError

#: particles per row of ``label_blocks``
BLOCK = 1024

META = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
#: ``indices``: a zlib-compressed blob of little-endian int64 index deltas (schema 1: JSON text)
EVENTS = ("CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL, "
          "label INTEGER NOT NULL, indices TEXT NOT NULL)")
LABEL_BLOCKS = "CREATE TABLE label_blocks (block INTEGER PRIMARY KEY, labels BLOB NOT NULL)"
LEGACY_LABELS = "CREATE TABLE labels (idx INTEGER PRIMARY KEY, label INTEGER NOT NULL)"
#: ``score_values``: :data:`BLOCK` (fewer in the last block) little-endian float32, NaN: not computed
SCORE_BLOCKS = ("CREATE TABLE score_blocks (name TEXT NOT NULL, block INTEGER NOT NULL, score_values BLOB NOT NULL, "
                "PRIMARY KEY (name, block))")
#: the newest schema version, the one new files get
VERSION = 3

_COMMON = {
    ("table", "meta"): META,
    ("index", "sqlite_autoindex_meta_1"): None,
    ("table", "events"): EVENTS,
    ("table", "sqlite_sequence"): "CREATE TABLE sqlite_sequence(name,seq)",
}
#: schema version -> {(type, name): the statement that created it}
SCHEMAS = {
    3: {**_COMMON, ("table", "label_blocks"): LABEL_BLOCKS, ("table", "score_blocks"): SCORE_BLOCKS,
        ("index", "sqlite_autoindex_score_blocks_1"): None},
    2: {**_COMMON, ("table", "label_blocks"): LABEL_BLOCKS},
    1: {**_COMMON, ("table", "labels"): LEGACY_LABELS},
}
#: the statements that make a new session file
CREATE = (META, LABEL_BLOCKS, EVENTS, SCORE_BLOCKS)
#: longest score name a session file may hold
MAX_SCORE_NAME = 100


@dataclass(frozen=True)
class JournalInfo:
    """What a valid session file says about itself: its schema version and its meta table."""

    version: int
    meta: dict[str, str]

    @property
    def n(self) -> int:
        return int(self.meta["n"])


def connect_read_only(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to ``path`` that trusts nothing in its schema."""
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    db.execute("PRAGMA trusted_schema=OFF")
    return db


def inspect(db: sqlite3.Connection, path: str | Path) -> JournalInfo:
    """Check the schema of an open session file (read-only) and read its meta table.

    Raises
    ------
    InputError
        When the file is not a session file, or holds anything a session file does not.
    """
    try:
        found = {(kind, name): (table, sql) for kind, name, table, sql in
                 db.execute("SELECT type, name, tbl_name, sql FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise InputError(f"not a gan-viewer session file ({exc})", path) from exc
    version = 1 if ("table", "labels") in found else 3 if ("table", "score_blocks") in found else 2
    for (kind, name), (_, sql) in sorted(found.items()):
        expected = SCHEMAS[version].get((kind, name), "missing")
        if expected == "missing":
            raise InputError(f"not a valid gan-viewer session file: it has a {kind} {name!r} that gan-viewer "
                             "never creates (refusing to use it)", path)
        if _normal(sql) != _normal(expected):
            raise InputError(f"not a valid gan-viewer session file: its {kind} {name!r} is not gan-viewer's "
                             f"({_normal(sql)!r}); refusing to use it", path)
    missing = sorted(name for (kind, name) in SCHEMAS[version] if (kind, name) not in found)
    if missing:
        raise InputError(f"not a gan-viewer session file (no {', '.join(missing)})", path)
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if not str(meta.get("n", "")).isdigit():
        raise InputError(f"not a valid gan-viewer session file: particle count {meta.get('n')!r}", path)
    return JournalInfo(version, {str(k): str(v) for k, v in meta.items()})


def read_checked_labels(db: sqlite3.Connection, info: JournalInfo, path: str | Path) -> np.ndarray:
    """The labels (n,) int8 of a checked session file, after checking every index and value."""
    n = info.n
    if info.version == 1:
        bad = db.execute("SELECT idx, label FROM labels WHERE idx < 0 OR idx >= ? OR typeof(label) != 'integer' "
                         "OR label NOT IN (0, 1, 2) LIMIT 1", (n,)).fetchone()
        if bad is not None:
            raise InputError(f"not a valid gan-viewer session file: particle index {bad[0]!r} with label {bad[1]!r} "
                             f"(indices must be 0..{n - 1}, labels 0, 1 or 2)", path)
        rows = np.array(db.execute("SELECT idx, label FROM labels").fetchall(), np.int64).reshape(-1, 2)
        labels = np.zeros(n, np.int8)
        labels[rows[:, 0]] = rows[:, 1]
        return labels
    labels = np.zeros(n, np.int8)
    for block, data in db.execute("SELECT block, labels FROM label_blocks"):
        start = block * BLOCK if isinstance(block, int) else -1
        size = min(BLOCK, n - start)
        if not 0 <= start < n or not isinstance(data, bytes) or len(data) != size:
            raise InputError(f"not a valid gan-viewer session file: label block {block!r} does not fit "
                             f"{n} particles", path)
        values = np.frombuffer(data, np.int8)
        if values.min() < 0 or values.max() > max(Label):
            raise InputError(f"not a valid gan-viewer session file: label {int(values[(values < 0) | (values > 2)][0])}"
                             f" in block {block} (labels are 0, 1 or 2)", path)
        labels[start:start + size] = values
    return labels


def read_checked_scores(db: sqlite3.Connection, info: JournalInfo, path: str | Path) -> dict[str, np.ndarray]:
    """The scores of a checked session file, name -> (n,) float32 (NaN: not computed), after
    checking every block; {} for files older than schema 3."""
    if info.version < 3:
        return {}
    n, scores = info.n, {}
    for name, block, data in db.execute("SELECT name, block, score_values FROM score_blocks"):
        start = block * BLOCK if isinstance(block, int) else -1
        size = min(BLOCK, n - start)
        if not isinstance(name, str) or not 0 < len(name) <= MAX_SCORE_NAME:
            raise InputError(f"not a valid gan-viewer session file: score name {str(name)[:40]!r}", path)
        if not 0 <= start < n or not isinstance(data, bytes) or len(data) != 4 * size:
            raise InputError(f"not a valid gan-viewer session file: score block {block!r} of {name!r} does not fit "
                             f"{n} particles", path)
        values = scores.setdefault(name, np.full(n, np.nan, np.float32))
        values[start:start + size] = np.frombuffer(data, "<f4")
    return scores


def upgrade(db: sqlite3.Connection, labels: np.ndarray, version: int) -> None:
    """Turn a checked schema-1 or -2 file into schema 3 (inside the caller's transaction)."""
    if version == 1:
        db.execute(LABEL_BLOCKS)
        db.executemany("INSERT INTO label_blocks VALUES (?, ?)", block_rows(labels, np.arange(0, len(labels), BLOCK)))
        db.execute("DROP TABLE labels")
    db.execute(SCORE_BLOCKS)


def score_rows(name: str, values: np.ndarray, starts: np.ndarray) -> list[tuple[str, int, bytes]]:
    """(name, block, bytes) rows of the blocks that start at ``starts`` (k,) of ``values`` (n,) float32."""
    values = np.asarray(values, "<f4")
    return [(name, start // BLOCK, values[start:start + BLOCK].tobytes()) for start in starts.tolist()]


def block_rows(labels: np.ndarray, starts: np.ndarray) -> list[tuple[int, bytes]]:
    """(block, bytes) rows of the blocks that start at ``starts`` (k,) of ``labels`` (n,) int8."""
    return [(start // BLOCK, labels[start:start + BLOCK].tobytes()) for start in starts.tolist()]


def _normal(sql: str | None) -> str | None:
    """``sql`` with its white space normalised, as the statements above are written."""
    return None if sql is None else " ".join(sql.split()).replace("( ", "(").replace(" )", ")")
