"""The session journal: saved before applied, checked before used, cursor without an fsync per move."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.core.curation import Label
from gan_viewer.core.journal import Journal, SaveError, decode_indices, read_labels
from gan_viewer.core.particles import open_particles
from gan_viewer.core.session import Session, fingerprint
from gan_viewer.errors import InputError

#: the schema of the first gan-viewer versions (one row per decided particle, events as JSON)
LEGACY = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS labels (idx INTEGER PRIMARY KEY, label INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL,
    label INTEGER NOT NULL, indices TEXT NOT NULL);
"""


def legacy_journal(path: Path, source, rows: list[tuple[int, int]], extra: str = "", cursor: int = 0) -> Path:
    """A schema-1 session file for ``source`` with label ``rows`` (idx, label) and ``extra`` SQL."""
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript(LEGACY)
    meta = {"n": str(len(source)), "fingerprint": fingerprint(source), "source": str(source.path),
            "cursor": str(cursor), "version": "0.1"}
    db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
    db.executemany("INSERT INTO labels VALUES (?, ?)", rows)
    db.executemany("INSERT INTO events (time, kind, label, indices) VALUES (0, 'set', ?, ?)",
                   [(lab, f"[{idx}]") for idx, lab in rows])
    if extra:
        db.executescript(extra)
    db.close()
    return path


@pytest.fixture
def session(tiny_set: Path):
    session = Session.open(tiny_set)
    yield session
    session.close()


def disk_full(monkeypatch) -> None:
    def commit(self):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(Journal, "_commit", commit)


def test_a_failed_commit_changes_nothing(session: Session, tiny_set: Path, monkeypatch) -> None:
    session.decide(Label.KEEP, [0])
    disk_full(monkeypatch)
    seen = []
    session.curation.changed.connect(lambda idx, lab: seen.append(idx))
    with pytest.raises(SaveError, match="particles.star.gan-viewer.sqlite.*database or disk is full"):
        session.decide(Label.REJECT, [1, 2])
    with pytest.raises(SaveError):
        session.undo()
    assert session.curation.labels.tolist()[:3] == [1, 0, 0] and not seen  # in memory: as saved
    assert session.curation.can_undo and not session.curation.can_redo
    with pytest.raises(SaveError):
        session.check_writable()
    monkeypatch.undo()
    session.check_writable()  # a retry succeeds: decisions work again
    assert session.decide(Label.REJECT, [1])
    session.close()
    assert read_labels(session.journal.path).tolist()[:3] == [1, 2, 0]


def test_a_bulk_decision_is_a_few_blocks_and_one_compact_event(session: Session) -> None:
    db = session.journal._db
    session.decide(Label.KEEP, np.arange(10))
    session.decide(Label.REJECT, [3])
    session.undo()  # 3 back to keep
    blocks = db.execute("SELECT block, labels FROM label_blocks").fetchall()
    assert [b for b, _ in blocks] == [0] and np.frombuffer(blocks[0][1], np.int8).tolist() == [1] * 10
    events = db.execute("SELECT kind, label, indices FROM events ORDER BY seq").fetchall()
    assert [(k, lab) for k, lab, _ in events] == [("set", 1), ("set", 2), ("undo", 1)]
    assert decode_indices(events[0][2]).tolist() == list(range(10)) and isinstance(events[0][2], bytes)


def test_legacy_session_file_is_read_and_converted(tiny_set: Path) -> None:
    source = open_particles(tiny_set)
    path = tiny_set.parent / "particles.star.gan-viewer.sqlite"
    legacy_journal(path, source, [(1, 1), (4, 2)], cursor=4)
    assert read_labels(path).tolist() == [0, 1, 0, 0, 2, 0, 0, 0, 0, 0]
    session = Session.open(tiny_set)
    assert session.curation.labels.tolist() == [0, 1, 0, 0, 2, 0, 0, 0, 0, 0] and session.cursor == 4
    tables = {name for (name,) in session.journal._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "label_blocks" in tables and "labels" not in tables
    events = session.journal._db.execute("SELECT indices FROM events").fetchall()
    assert [decode_indices(v).tolist() for (v,) in events] == [[1], [4]]
    session.decide(Label.KEEP, [9])
    session.close()
    assert read_labels(path).tolist() == [0, 1, 0, 0, 2, 0, 0, 0, 0, 1]


HOSTILE = {
    "trigger": ("CREATE TRIGGER flip AFTER INSERT ON labels BEGIN UPDATE labels SET label = 2 WHERE label = 1; END;",
                "trigger 'flip'"),
    "view": ("CREATE VIEW everything AS SELECT * FROM labels;", "view 'everything'"),
    "index": ("CREATE INDEX by_label ON labels (label);", "index 'by_label'"),
    "negative index": ("INSERT INTO labels VALUES (-3, 1);", "particle index -3"),
    "index past the end": ("INSERT INTO labels VALUES (10, 1);", "particle index 10"),
    "label 7": ("INSERT INTO labels VALUES (2, 7);", "label 7"),
    "text label": ("INSERT INTO labels VALUES (2, 'keep');", "label 'keep'"),
}


@pytest.mark.parametrize("what", list(HOSTILE))
def test_a_hostile_session_file_is_refused_and_never_run(tiny_set: Path, tmp_path: Path, what: str) -> None:
    source = open_particles(tiny_set)
    path = tiny_set.parent / "particles.star.gan-viewer.sqlite"
    legacy_journal(path, source, [(0, 1), (1, 1)], HOSTILE[what][0])
    before = path.read_bytes()
    with pytest.raises(InputError, match=f"particles.star.gan-viewer.sqlite: .*{HOSTILE[what][1]}") as info:
        Session.open(tiny_set)
    assert "\n" not in str(info.value)
    with pytest.raises(InputError, match=HOSTILE[what][1]):
        read_labels(path)
    assert path.read_bytes() == before  # nothing was written: no trigger could fire


def test_hostile_file_with_everything_at_once(tiny_set: Path) -> None:
    path = tiny_set.parent / "particles.star.gan-viewer.sqlite"
    legacy_journal(path, open_particles(tiny_set), [(0, 1), (1, 1), (-3, 1), (2, 7)],
                   HOSTILE["trigger"][0] + HOSTILE["view"][0])
    before = path.read_bytes()
    with pytest.raises(InputError, match="not a valid gan-viewer session file"):
        Session.open(tiny_set)
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()  # not even opened for writing


def test_hostile_file_with_the_current_schema(tiny_set: Path) -> None:
    """A file in the current layout with a trigger, a view, a negative block and label 7."""
    good = Session.open(tiny_set)
    good.decide(Label.KEEP, [0, 1])
    good.close()
    path = good.journal.path
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("""
        CREATE TRIGGER flip AFTER UPDATE ON label_blocks BEGIN DELETE FROM label_blocks; END;
        CREATE VIEW v AS SELECT * FROM meta;
        INSERT INTO label_blocks VALUES (-1, x'07');""")
    db.close()
    before = path.read_bytes()
    with pytest.raises(InputError, match="trigger 'flip'"):
        Session.open(tiny_set)
    assert path.read_bytes() == before
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("DROP TRIGGER flip; DROP VIEW v;")
    db.close()
    with pytest.raises(InputError, match="label block -1"):
        Session.open(tiny_set)
    db = sqlite3.connect(path, isolation_level=None)
    db.executescript("DELETE FROM label_blocks WHERE block = -1; "
                     "UPDATE label_blocks SET labels = x'07010101010101010101';")
    db.close()
    with pytest.raises(InputError, match="label 7"):
        Session.open(tiny_set)


def test_cursor_moves_cost_no_transaction_until_a_decision_or_flush(session: Session, tiny_set: Path) -> None:
    statements: list[str] = []
    session.journal._db.set_trace_callback(statements.append)
    for index in (1, 2, 3, 4, 5, 4, 3):
        session.move_to(index)
    assert statements == []  # no write, no fsync per arrow key
    session.decide(Label.KEEP)  # the decision commits the cursor with it
    assert any("COMMIT" in s for s in statements)
    other = sqlite3.connect(session.journal.path)  # committed: another connection sees it at once
    assert dict(other.execute("SELECT key, value FROM meta").fetchall())["cursor"] == "3"
    session.move_to(7)
    statements.clear()
    assert session.flush_cursor()
    assert "PRAGMA synchronous=NORMAL" in statements and any("COMMIT" in s for s in statements)
    assert dict(other.execute("SELECT key, value FROM meta").fetchall())["cursor"] == "7"
    other.close()


def test_event_indices_round_trip() -> None:
    from gan_viewer.core.journal import encode_indices

    for indices in (np.arange(1_000_000), np.array([5, 2, 2**40, 0]), np.zeros(0, np.int64), np.array([7])):
        assert decode_indices(encode_indices(indices)).tolist() == indices.tolist()
    assert len(encode_indices(np.arange(1_000_000))) < 50_000  # JSON: 6.9 MB
