"""``gan-viewer gui FILE --from-selection backup_selection.star``: RELION's Select job as labels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gan_viewer.cli import main
from gan_viewer.core.session import Session
from gan_viewer.io.selection import selection_text

ROOT = Path(__file__).resolve().parents[2]


def test_gui_takes_the_labels_of_a_selection(tiny_set, tiny_map, tmp_path):
    selected = np.array([1, 0, 0, 2, 1, 0, 1, 1, 0, 0])
    sel = tmp_path / "backup_selection.star"
    sel.write_text(selection_text(selected))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    journal = tmp_path / "job" / "gan-viewer.sqlite"  # a session file of its own, as an External job keeps
    journal.parent.mkdir()
    run = subprocess.run([sys.executable, "-m", "gan_viewer", "gui", str(tiny_set), "--map", str(tiny_map),
                          "--device", "cpu", "--from-selection", str(sel), "--session", str(journal),
                          "--screenshot", str(tmp_path / "s.png")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert not list(tiny_set.parent.glob("*.sqlite"))  # nothing beside the data
    session = Session.open(tiny_set, journal_path=journal)
    np.testing.assert_array_equal(session.curation.labels, np.where(selected > 0, 1, 2))
    session.close()


def test_take_labels_is_two_decisions_that_undo(tiny_set):
    session = Session.open(tiny_set)
    session.decide(2, [9])
    assert session.take_labels(np.array([1, 2, 0, 0, 0, 0, 0, 0, 0, 1])) == (2, 1)
    assert session.curation.labels.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    assert session.undo() and session.undo()  # the reject, then the keep
    assert session.curation.labels.tolist() == [0] * 9 + [2]
    session.close()


def test_gui_refuses_a_selection_of_another_row_count(tiny_set, tmp_path, capsys):
    sel = tmp_path / "backup_selection.star"
    sel.write_text(selection_text(np.ones(12)))
    assert main(["gui", str(tiny_set), "--from-selection", str(sel)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(sel) in err and "has 12 rows but" in err
    assert not list(tiny_set.parent.glob("*.sqlite*"))  # no session file was started
