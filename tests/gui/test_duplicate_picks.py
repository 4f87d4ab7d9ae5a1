"""Curate > "Reject duplicate picks…" (gui/duplicates.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from gan_viewer.core.curation import Label
from gan_viewer.gui import duplicates
from gan_viewer.io.star import table_from_dataframe, write_star
from tests.conftest import write_mrcs, write_topaz_picks


@pytest.fixture
def picked_set(tmp_path: Path) -> Path:
    """8 particles (16 px, 2 A/px) on two micrographs. Picks 0 and 1 are 8 A apart on mic a;
    2 is at 1's place but on mic b; 3, 4 and 5 are 8 A apart each on mic b; 6 and 7 stand alone.
    Extracted binned 2x: the micrographs are at 1 A/px, so RELION's assumption (2 A/px) doubles
    every distance."""
    write_mrcs(tmp_path / "p.mrcs", np.random.default_rng(0).normal(size=(8, 16, 16)).astype(np.float32), 2.0)
    x = [100, 108, 108, 500, 508, 516, 900, 1500]
    particles = pd.DataFrame({
        "rlnImageName": [f"{i + 1:06d}@p.mrcs" for i in range(8)],
        "rlnMicrographName": ["a.mrc", "a.mrc", "b.mrc", "b.mrc", "b.mrc", "b.mrc", "a.mrc", "b.mrc"],
        "rlnCoordinateX": np.array(x, float), "rlnCoordinateY": np.full(8, 100.0), "rlnOpticsGroup": 1})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["g"], "rlnImagePixelSize": [2.0],
                           "rlnImageSize": [16], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.1], "rlnImageDimensionality": [2]})
    return write_star(table_from_dataframe(particles, optics), tmp_path / "picked.star")


def test_duplicate_picks_are_rejected_in_one_step_keeping_what_the_curator_kept(make_window, qtbot, picked_set,
                                                                                  monkeypatch):
    window = make_window(picked_set)
    offered, asked = [], []
    monkeypatch.setattr(duplicates, "ask_settings", lambda w, d, apix: offered.append((d, apix)) or (20.0, None))
    window.confirm = lambda title, text: asked.append(text) or True
    window.session.decide(Label.KEEP, [3])  # kept: it stays, and 4 goes for it
    window.session.decide(Label.REJECT, [5])  # rejected: takes no part
    window.actions_["reject_duplicates"].trigger()
    assert duplicates.finding(window)  # in a thread: the window goes on
    qtbot.waitUntil(lambda: not duplicates.finding(window))
    assert offered == [(30.0, 2.0)]  # RELION's 30 A, and the file's pixel size
    labels = window.session.curation.labels
    # at 2 A/px and 20 A: 0 and 1 are 16 A apart (0 goes, 1 is later); 3 and 4 16 A (4 goes for kept 3)
    assert labels.tolist() == [Label.REJECT, 0, 0, Label.KEEP, Label.REJECT, Label.REJECT, 0, 0]
    assert "Reject 2 undecided picks" in asked[0] and "as RELION's duplicate removal" in asked[0]
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert window.session.curation.labels.tolist() == [0, 0, 0, Label.KEEP, 0, Label.REJECT, 0, 0]  # one step
    # the micrographs' own pixel size (1 A/px): 8 A apart, within 10 A again; the last distance is remembered
    monkeypatch.setattr(duplicates, "ask_settings", lambda w, d, apix: offered.append((d, apix)) or (10.0, 1.0))
    window.session.decide(Label.KEEP, [4])
    assert duplicates.reject_duplicates(window)
    qtbot.waitUntil(lambda: not duplicates.finding(window))
    assert offered[-1] == (20.0, 2.0)
    assert "at 1 Å/px on the micrographs" in asked[-1] and "1 kept particle lies within 10 Å" in asked[-1]
    assert window.session.curation.labels.tolist() == [Label.REJECT, 0, 0, Label.KEEP, Label.KEEP, Label.REJECT,
                                                      0, 0]


def test_of_two_topaz_picks_the_lower_scored_goes(make_window, qtbot, tmp_path, monkeypatch):
    picks = write_topaz_picks(tmp_path, {"mic": [(20, 30, 2.5), (50, 30, 1.2), (26, 30, 0.3)]}, pixel_size=1.0)
    window = make_window(tmp_path / "mic.mrc", coords=picks, box=16)
    asked = []
    monkeypatch.setattr(duplicates, "ask_settings", lambda w, d, apix: (10.0, None))
    window.confirm = lambda title, text: asked.append(text) or True
    window.actions_["reject_duplicates"].trigger()
    qtbot.waitUntil(lambda: not duplicates.finding(window))
    assert window.session.curation.labels.tolist() == [0, 0, Label.REJECT]  # 6 A from the better pick 0
    assert "Reject 1 undecided pick" in asked[0] and "the higher score (Topaz's)" in asked[0]


def test_saying_no_or_cancelling_changes_nothing_and_a_stack_says_why(make_window, qtbot, picked_set, tmp_path,
                                                                      monkeypatch):
    window = make_window(picked_set)
    window.confirm = lambda *a: False
    monkeypatch.setattr(duplicates, "ask_settings", lambda *a: (30.0, None))
    assert duplicates.reject_duplicates(window)
    qtbot.waitUntil(lambda: not duplicates.finding(window))
    monkeypatch.setattr(duplicates, "ask_settings", lambda *a: None)
    assert not duplicates.reject_duplicates(window)
    assert (window.session.curation.labels == 0).all()
    monkeypatch.setattr(duplicates, "ask_settings", lambda *a: (1.0, None))
    window.confirm = lambda *a: pytest.fail("nothing to ask about")
    assert duplicates.reject_duplicates(window)
    qtbot.waitUntil(lambda: not duplicates.finding(window))
    assert "no undecided pick lies within 1 Å" in window.statusBar().currentMessage()
    # the set closed while the search runs: its answer is dropped
    monkeypatch.setattr(duplicates, "ask_settings", lambda *a: (30.0, None))
    assert duplicates.reject_duplicates(window)
    window.close_session()
    qtbot.waitUntil(lambda: not duplicates.finding(window))
    assert window.open_path(tmp_path / "p.mrcs")
    assert not duplicates.reject_duplicates(window)
    assert "a stack alone does not say where its particles were picked" in window.statusBar().currentMessage()


def test_the_dialog_gives_the_distance_and_a_changed_pixel_size_only(qtbot) -> None:
    dialog = duplicates.DuplicateDialog(30.0, 2.0)
    qtbot.addWidget(dialog)
    assert dialog.values() == (30.0, None)  # left as the file says
    dialog.distance.setValue(45.0)
    dialog.apix.setValue(1.0)
    assert dialog.values() == (45.0, 1.0)
