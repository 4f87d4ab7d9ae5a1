"""Curating by score: saved scores, threshold bulk actions, the curator model, angular coverage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from gan_viewer.core.curation import Label
from gan_viewer.core.learning import MIN_DECISIONS
from gan_viewer.io.star import read_star, table_from_dataframe, write_star
from tests.conftest import write_mrcs


@pytest.fixture
def scored_set(tmp_path: Path) -> Path:
    """60 particles (16 px) with angles and a gvScore column: the first 15 are bad (low score)."""
    rng = np.random.default_rng(0)
    n = 60
    write_mrcs(tmp_path / "p.mrcs", rng.normal(size=(n, 16, 16)).astype(np.float32), 2.0)
    score = np.where(np.arange(n) < 15, rng.normal(-2, 0.5, n), rng.normal(2, 0.5, n))
    tilt = np.full(n, 90.0)
    tilt[7] = 5.0  # alone near the north pole
    particles = pd.DataFrame({
        "rlnImageName": [f"{i + 1:06d}@p.mrcs" for i in range(n)],
        "rlnAngleRot": rng.uniform(-170, 170, n), "rlnAngleTilt": tilt, "rlnAnglePsi": np.zeros(n),
        "rlnOpticsGroup": [1] * n, "gvScore": score,
    })
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["g"], "rlnImagePixelSize": [2.0],
                           "rlnImageSize": [16], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.1], "rlnImageDimensionality": [2]})
    return write_star(table_from_dataframe(particles, optics), tmp_path / "scored.star")


def test_scores_are_saved_reloaded_and_score_all_resumes(make_window, qtbot, tiny_set, tiny_map, tmp_path):
    window = make_window(tiny_set, tiny_map)
    window.score_all()
    qtbot.waitUntil(lambda: window.images._bulk is None and not window.progress.isVisible(), timeout=30000)
    scores = window.images.scores.copy()
    assert np.isfinite(scores).all()
    window.close_session()
    assert window.open_path(tiny_set, tiny_map)
    np.testing.assert_array_equal(window.images.scores, scores)  # read back, not recomputed
    assert np.isfinite(window.docks.gallery.columns.values("agreement score")).all()
    window.images.scores[[3, 4]] = np.nan  # as if Score all had stopped before them
    assert window.images.unscored().tolist() == [3, 4]
    window.score_all()
    assert window.progress.value() == 8
    qtbot.waitUntil(lambda: window.images._bulk is None and not window.progress.isVisible(), timeout=30000)
    np.testing.assert_allclose(window.images.scores, scores, rtol=1e-5)
    window.score_all()
    assert "scored already" in window.statusBar().currentMessage()
    # CTF on: other scores (not the saved ones); off again: the saved ones come back
    window.viewbar.ctf.setChecked(True)
    assert np.isnan(window.images.scores).all()
    window.viewbar.ctf.setChecked(False)
    np.testing.assert_allclose(window.images.scores, scores, rtol=1e-5)
    # the export dialog's choice, through the same path the dialog takes
    from gan_viewer.gui import files

    result = files.export_to(window.session, tmp_path / "k.star", None, undecided=Label.KEEP,
                             scores=window.exportable_scores())
    kept = read_star(result.kept_path)
    np.testing.assert_allclose(kept.particles["gvAgreement"].to_numpy(float), scores, rtol=1e-5)
    assert "gvRawAgreement" in kept.columns


def test_the_export_dialog_offers_the_scores(make_window, qtbot, tiny_set, tmp_path):
    from gan_viewer.gui.export_dialog import ExportDialog

    window = make_window(tiny_set)
    dialog = ExportDialog(window.session.curation.counts(), tmp_path / "x_kept.star", window, ["agreement score"])
    assert "gvAgreement" in dialog.scores.text() and not dialog.scores.isChecked()
    plain = ExportDialog(window.session.curation.counts(), tmp_path / "x_kept.star", window)
    assert not plain.scores.isVisibleTo(plain)


def test_threshold_counts_and_bulk_actions_are_one_undo_step(make_window, qtbot, scored_set):
    window = make_window(scored_set)
    gallery = window.docks.gallery
    asked = []
    gallery.confirm = lambda parent, title, text: asked.append(text) or True
    window.session.decide(Label.KEEP, [0])  # a decision the bulk action leaves alone
    gallery.set_filter("gvScore", 0.0, 1.5)
    score = read_star(scored_set).particles["gvScore"].to_numpy()
    below, above = int((score < 0).sum()), int((score > 1.5).sum())
    assert gallery.filter.counts.text().startswith(f"{below} below · {60 - below - above} between · {above} above")
    gallery.filter.reject_below.click()
    labels = window.session.curation.labels
    assert labels[0] == Label.KEEP and (labels[1:15] == Label.REJECT).all() and (labels[15:] == 0).all()
    assert "14 undecided particles" in asked[0] and "1 decided" in asked[0]
    assert "view directions" in asked[0] and "tilt 0° to 34°" in asked[0]  # particle 7 is alone near tilt 0
    QTest.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert (window.session.curation.labels[1:] == 0).all()  # undone in one step
    gallery.filter.keep_above.click()
    assert int((window.session.curation.labels == Label.KEEP).sum()) == 1 + above
    gallery.confirm = lambda *a: False  # says no: nothing changes
    before = window.session.curation.labels.copy()
    gallery.filter.reject_below.click()
    np.testing.assert_array_equal(window.session.curation.labels, before)


def test_sorting_by_a_score_not_computed_says_so_and_offers_to_compute(make_window, qtbot, tiny_set, tiny_map):
    window = make_window(tiny_set, tiny_map)
    gallery = window.docks.gallery
    window.images.scores[:] = np.nan
    window.images.raw_scores[:] = np.nan
    window.docks.set_scores(window.images.score_columns())
    gallery.set_sort("agreement score")
    assert gallery.notice_bar.isVisibleTo(gallery) and "not computed yet" in gallery.notice.text()
    assert gallery.notice_button.isVisibleTo(gallery)
    gallery.notice_button.click()  # Score all
    qtbot.waitUntil(lambda: not gallery.notice_bar.isVisibleTo(gallery), timeout=30000)
    assert np.isfinite(window.images.agreement()).all()
    gallery.set_sort("predicted keep")
    assert "has not learnt yet" in gallery.notice.text() and not gallery.notice_button.isVisibleTo(gallery)
    gallery.set_sort("index")
    assert not gallery.notice_bar.isVisibleTo(gallery)


def test_the_curator_model_learns_suggests_and_never_decides_alone(make_window, qtbot, scored_set):
    window = make_window(scored_set)
    curator = window.curator
    qtbot.waitUntil(lambda: "learns after" in curator.prediction.reason, timeout=10000)
    window.next_uncertain()
    assert "learns after" in window.statusBar().currentMessage()
    score = read_star(scored_set).particles["gvScore"].to_numpy()
    asked = np.r_[0:8, 15:15 + MIN_DECISIONS]  # 8 bad, 20 good
    window.session.decide(Label.REJECT, asked[:8])
    window.session.decide(Label.KEEP, asked[8:])
    qtbot.waitUntil(lambda: curator.p_keep() is not None, timeout=20000)
    p = curator.p_keep()
    assert ((p >= 0.5) == (score > 0)).all()
    assert "learnt from 28 decisions" in window.model_status.text()
    labels = window.session.curation.labels.copy()
    assert (labels[np.setdiff1d(np.arange(60), asked)] == 0).all()  # predicted, not applied
    window.next_uncertain()
    undecided = np.flatnonzero(labels == 0)
    expected = undecided[np.argmin(np.abs(p[undecided] - 0.5))]
    assert window.session.cursor == expected
    window.refresh()
    assert "model: " in window.triptych.score_label.text()
    assert np.isfinite(window.docks.gallery.columns.values("predicted keep")).all()
    window.confirm = lambda title, text: False
    assert not window.apply_predictions()
    np.testing.assert_array_equal(window.session.curation.labels, labels)
    questions = []
    window.confirm = lambda title, text: questions.append(text) or True
    assert window.apply_predictions(sure=0.5)
    assert "Reject 7 and keep 25" in questions[0]
    assert (window.session.curation.labels == np.where(score > 0, Label.KEEP, Label.REJECT)).all()
    window.undo()
    window.undo()
    np.testing.assert_array_equal(window.session.curation.labels, labels)


def test_angular_coverage_follows_decisions_and_flags_an_emptied_direction(make_window, qtbot, scored_set):
    window = make_window(scored_set)
    coverage = window.docks.coverage
    assert coverage is not None
    qtbot.waitUntil(coverage.isVisible, timeout=5000)
    cell = coverage.coverage.cell_of(7)
    assert coverage.coverage.remaining()[cell] == 1
    window.go(7)
    qtbot.waitUntil(lambda: "Rejecting this particle empties" in coverage.status.text(), timeout=5000)
    window.refresh()
    assert "rejecting it empties its view direction" in window.triptych.score_label.text()
    window.session.decide(Label.REJECT, [7])
    qtbot.waitUntil(lambda: "1 emptied by rejections" in coverage.status.text(), timeout=5000)
    assert coverage.coverage.emptied()[cell] and coverage.emptied.image[cell // 24, cell % 24] == 1
    window.session.decide(Label.KEEP, [1, 2])
    coverage.mode.setCurrentText("kept only")
    assert coverage.image.image.sum() == 2
    window.undo()
    window.undo()
    qtbot.waitUntil(lambda: "none emptied" in coverage.status.text(), timeout=5000)


def test_score_all_computes_gvscore_in_the_worker_as_the_score_command_does(make_window, qtbot, tiny_set, tiny_map,
                                                                            tmp_path):
    import threading

    from gan_viewer.core.scores import DEFAULT_SCORE
    from gan_viewer.sim.scoring import score_star

    window = make_window(tiny_set, tiny_map)
    images, threads = window.images, []
    compute = images.core_scores
    images.core_scores = lambda idx: threads.append(threading.current_thread()) or compute(idx)
    window.score_all()
    qtbot.waitUntil(lambda: images._bulk is None and not window.progress.isVisible(), timeout=60000)
    assert threads and threading.main_thread() not in threads  # never in the UI thread
    gv = images.core[DEFAULT_SCORE].copy()
    assert np.isfinite(gv).all() and np.isfinite(images.core["gvMatchedZ"]).all()
    score_star(tiny_set, tiny_map, tmp_path / "cli.star")  # the same numbers as gan-viewer score
    np.testing.assert_allclose(gv, read_star(tmp_path / "cli.star").particles[DEFAULT_SCORE].to_numpy(float),
                               rtol=1e-4, atol=1e-5)
    gallery = window.docks.gallery
    assert gallery.spec.sort == DEFAULT_SCORE  # the default key, now that it is known
    np.testing.assert_array_equal(gallery.columns.values("gvMatchedPlain"), images.core["gvMatchedPlain"])
    window.go(3)
    assert f"{DEFAULT_SCORE} {gv[3]:.2f}" in window.triptych.score_label.text()
    assert DEFAULT_SCORE in window.exportable_scores()
    window.close_session()
    assert window.open_path(tiny_set, tiny_map)  # saved with the session, read back
    np.testing.assert_array_equal(window.images.core[DEFAULT_SCORE], gv)
    window.images.core[DEFAULT_SCORE][[2, 6]] = np.nan  # as if Score all had stopped before them
    assert window.images.unscored().tolist() == [2, 6]
    window.score_all()
    qtbot.waitUntil(lambda: window.images._bulk is None and not window.progress.isVisible(), timeout=60000)
    np.testing.assert_allclose(window.images.core[DEFAULT_SCORE], gv, rtol=1e-5)


def test_a_star_with_gv_columns_opens_with_its_scores(make_window, qtbot, tiny_set, tiny_map):
    from gan_viewer.core.scores import DEFAULT_SCORE
    from gan_viewer.sim.scoring import score_star

    scored = tiny_set.parent / "scored.star"  # beside the stacks its image names point to
    score_star(tiny_set, tiny_map, scored)
    given = read_star(scored).particles[DEFAULT_SCORE].to_numpy(float)
    window = make_window(scored)  # no map: the scores are there all the same
    gallery = window.docks.gallery
    np.testing.assert_allclose(gallery.columns.values(DEFAULT_SCORE), given)
    assert gallery.spec.sort == DEFAULT_SCORE and gallery.columns.names().count(DEFAULT_SCORE) == 1
    assert f"{DEFAULT_SCORE} {given[window.session.cursor]:.2f}" in window.triptych.score_label.text()
    window.close_session()
    window = make_window(scored, tiny_map)
    window.score_all()  # the agreement only: gvScore is not computed again
    qtbot.waitUntil(lambda: window.images._bulk is None and not window.progress.isVisible(), timeout=60000)
    assert window.images._table_scorer is None
    np.testing.assert_allclose(window.images.core[DEFAULT_SCORE], given, rtol=1e-6)


def test_score_line_says_gvscore_needs_a_map(make_window, qtbot, tiny_set, tiny_map):
    window = make_window(tiny_set)  # no map: Score all cannot compute gvScore
    window.go(1)
    assert "gvScore needs a map and poses" in window.triptych.score_label.text()
    window.close_session()
    assert window.open_path(tiny_set, tiny_map)
    window.go(1)
    assert "gvScore not computed (Score all)" in window.triptych.score_label.text()
