"""Scores saved with the session: reloaded on reopen, replaced under another context, checked."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.core.curation import Label
from gan_viewer.core.journal_schema import BLOCK
from gan_viewer.core.session import ReadOnlyError, Session
from gan_viewer.errors import InputError

CONTEXT = {"agreement score": "map a.mrc, ctf off", "confidence": "model m"}


def test_scores_are_saved_and_reloaded_by_context(tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    assert session.scores() == {}
    session.save_scores(np.array([2, 5]), {"agreement score": np.array([0.5, -0.25]),
                                           "confidence": np.array([0.9, np.nan])}, CONTEXT)
    session.save_scores(np.array([7]), {"agreement score": np.array([0.125])}, CONTEXT)
    session.decide(Label.KEEP, [1])
    session.close()
    again = Session.open(tiny_set)
    scores = again.scores(CONTEXT)
    expected = np.full(10, np.nan, np.float32)
    expected[[2, 5, 7]] = [0.5, -0.25, 0.125]
    np.testing.assert_array_equal(scores["agreement score"], expected)
    assert np.isnan(scores["confidence"]).sum() == 9 and scores["confidence"][2] == np.float32(0.9)
    # asked with another context, a name is not given back
    assert again.scores({"agreement score": "map b.mrc, ctf off"}) == {}
    assert again.curation.labels[1] == Label.KEEP


def test_scores_under_a_new_context_replace_the_old(tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    session.save_scores(np.arange(10), {"agreement score": np.arange(10.0)}, CONTEXT)
    session.save_scores(np.array([3]), {"agreement score": np.array([7.0])}, {"agreement score": "ctf on"})
    values = session.scores()["agreement score"]
    assert values[3] == 7 and np.isnan(values[np.arange(10) != 3]).all()
    assert session.journal.score_context("agreement score") == "ctf on"
    session.close()
    assert np.isfinite(Session.open(tiny_set).scores({"agreement score": "ctf on"})["agreement score"]).sum() == 1


def test_scores_of_a_large_set_write_only_the_blocks_they_touch(tmp_path: Path, tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    session.journal.n = 3 * BLOCK  # the blocks of a set of 3,072 particles (the labels are not used here)
    session.journal._scores.clear()
    session.save_scores(np.array([5, BLOCK * 2 + 1]), {"s": np.array([1.0, 2.0])}, {"s": "x"})
    rows = session.journal._db.execute("SELECT block, length(score_values) FROM score_blocks ORDER BY block").fetchall()
    assert rows == [(0, 4 * BLOCK), (2, 4 * BLOCK)]
    session.close()


def test_read_only_session_refuses_to_save_scores(tiny_set: Path) -> None:
    first = Session.open(tiny_set)
    second = Session.open(tiny_set)
    try:
        assert second.read_only
        with pytest.raises(ReadOnlyError):
            second.save_scores(np.array([0]), {"s": np.array([1.0])}, {"s": "x"})
    finally:
        second.close()
        first.close()


def test_scores_survive_a_killed_process(tiny_set: Path) -> None:
    code = (f"import os, numpy as np\nfrom gan_viewer.core.session import Session\n"
            f"s = Session.open({str(tiny_set)!r})\n"
            "s.save_scores(np.arange(4), {'agreement score': np.array([1., 2., 3., 4.])}, {'agreement score': 'c'})\n"
            "os._exit(9)\n")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    values = Session.open(tiny_set).scores({"agreement score": "c"})["agreement score"]
    assert values[:4].tolist() == [1, 2, 3, 4] and np.isnan(values[4:]).all()


def test_a_schema_2_file_gets_the_score_table_on_first_write(tiny_set: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.REJECT, [4])
    path = session.journal.path
    session.close()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TABLE score_blocks")  # what a session file of the previous version holds
    db.close()
    again = Session.open(tiny_set)
    assert again.curation.labels[4] == Label.REJECT and again.scores() == {}
    again.save_scores(np.array([0]), {"s": np.array([1.5])}, {"s": "x"})
    again.close()
    assert Session.open(tiny_set).scores()["s"][0] == np.float32(1.5)


@pytest.mark.parametrize("row, match", [
    ("('s', 5, x'00000000')", "score block 5"),
    ("('s', 0, x'0000')", "score block 0"),
    ("('', 0, x'00')", "score name"),
])
def test_a_bad_score_block_is_refused(tiny_set: Path, row: str, match: str) -> None:
    session = Session.open(tiny_set)
    session.close()
    db = sqlite3.connect(session.journal.path, isolation_level=None)
    db.execute(f"INSERT INTO score_blocks VALUES {row}")
    db.close()
    with pytest.raises(InputError, match=match):
        Session.open(tiny_set)
