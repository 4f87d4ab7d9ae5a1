from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gan_viewer.core.curation import Label
from gan_viewer.core.session import Session, default_journal_path, read_labels, saved_cursor
from gan_viewer.errors import InputError


def test_decisions_are_journaled_and_resumed(tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    assert session.journal.path == tiny_set.parent / "particles.star.gan-viewer.sqlite"
    session.move_to(3)
    session.decide(Label.KEEP)
    session.decide(Label.REJECT, [5, 6])
    session.undo()
    session.redo()
    session.decide(Label.UNDECIDED, [6])
    session.close()
    assert saved_cursor(tiny_set) == 3  # read without opening the particles
    again = Session.open(tiny_set)
    assert again.cursor == 3
    assert again.curation.labels.tolist() == [0, 0, 0, 1, 0, 2, 0, 0, 0, 0]
    assert read_labels(again.journal.path).tolist() == again.curation.labels.tolist()
    kinds = [k for (k,) in again.journal._db.execute("SELECT kind FROM events ORDER BY seq")]
    assert kinds == ["set", "set", "undo", "redo", "set"]


def test_saved_cursor_without_a_session(tiny_set: Path, tmp_path: Path) -> None:
    assert saved_cursor(tiny_set) == 0
    (tmp_path / "x.star.gan-viewer.sqlite").write_text("not a journal")
    assert saved_cursor(tmp_path / "x.star") == 0


def test_changed_particle_file_gets_a_new_session(tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.KEEP, [0])
    session.close()
    lines = tiny_set.read_text().rstrip().splitlines()
    tiny_set.write_text("\n".join(lines[:-1]) + "\n")  # drop the last particle
    fresh = Session.open(tiny_set)
    assert len(fresh) == 9 and fresh.curation.counts()[Label.KEEP] == 0
    assert fresh.journal.path != default_journal_path(tiny_set)


def test_read_only_folder_uses_user_data_dir(tiny_set: Path, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    path = default_journal_path(tiny_set)
    assert str(path).startswith(str(tmp_path / "xdg"))


def test_foreign_file_is_rejected(tiny_set: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database" * 100)
    with pytest.raises(InputError, match="not a gan-viewer session"):
        read_labels(junk)


CHILD = """
import sys, time
from gan_viewer.core.session import Session
from gan_viewer.core.curation import Label
session = Session.open(sys.argv[1])
for i in range(10):
    session.move_to(i)
    session.decide(Label.KEEP if i % 2 else Label.REJECT)
    print(i, flush=True)
    if i == 6:
        time.sleep(60)  # killed here, mid-session
"""


def test_sigkill_loses_no_decision(tiny_set: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_set)], stdout=subprocess.PIPE, text=True)
    try:
        for line in child.stdout:
            if line.strip() == "6":
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    resumed = Session.open(tiny_set)
    assert resumed.curation.labels[:7].tolist() == [2, 1, 2, 1, 2, 1, 2]
    assert resumed.curation.counts()[Label.UNDECIDED] == 3
    assert resumed.cursor == 6


def test_read_only_data_folder_keeps_no_session(shared_data: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    star = shared_data / "particles/real_relion31/relion31.star"  # a read-only folder (r-x), even for root
    path = default_journal_path(star)
    assert str(path).startswith(str(tmp_path / "xdg")) and not str(path).startswith(str(star.parent))


def test_empty_set_has_nothing_to_curate(tiny_set: Path) -> None:
    from gan_viewer.io.star import read_star, write_star

    table = read_star(tiny_set)
    table.blocks[table.particles_block] = table.particles.iloc[:0]
    empty = write_star(table, tiny_set.parent / "empty.star")
    with pytest.raises(InputError, match="empty.star: has no particles"):
        Session.open(empty)
