from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.curation import Curation, Label


def test_set_undo_redo_and_signals() -> None:
    cur = Curation(5)
    seen: list[tuple[list[int], list[int]]] = []
    cur.changed.connect(lambda i, lab: seen.append((i.tolist(), lab.tolist())))
    cur.set(1, Label.KEEP)
    cur.set([1, 2, 3], Label.REJECT)
    assert cur.labels.tolist() == [0, 2, 2, 2, 0]
    assert cur.counts() == {Label.UNDECIDED: 2, Label.KEEP: 0, Label.REJECT: 3}
    cur.undo()
    assert cur.labels.tolist() == [0, 1, 0, 0, 0]
    cur.undo()
    assert cur.labels.tolist() == [0] * 5
    assert cur.undo() is None
    cur.redo()
    cur.redo()
    assert cur.labels.tolist() == [0, 2, 2, 2, 0]
    assert cur.redo() is None
    assert seen[0] == ([1], [1])


def test_new_decision_clears_redo() -> None:
    cur = Curation(3)
    cur.set(0, Label.KEEP)
    cur.undo()
    cur.set(1, Label.REJECT)
    assert not cur.can_redo


def test_no_op_is_not_an_undo_step() -> None:
    cur = Curation(3)
    cur.set(0, Label.KEEP)
    assert cur.set(0, Label.KEEP) is None
    cur.undo()
    assert cur.labels.tolist() == [0, 0, 0]


def test_next_undecided_wraps() -> None:
    cur = Curation(4)
    cur.set([0, 2], Label.KEEP)
    assert cur.next_undecided(1) == 3
    assert cur.next_undecided(3) == 1
    cur.set([1, 3], Label.REJECT)
    assert cur.next_undecided(0) is None


def test_labels_are_read_only_and_validated() -> None:
    cur = Curation(2)
    with pytest.raises(ValueError):
        cur.labels[0] = 1
    with pytest.raises(IndexError):
        cur.set(2, Label.KEEP)
    with pytest.raises(ValueError):
        Curation(3, np.zeros(2))
