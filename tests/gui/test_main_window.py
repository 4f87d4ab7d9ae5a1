"""Open, look, decide, undo, export: the main window driven through its keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtTest import QTest

from gan_viewer.core.curation import Label
from gan_viewer.core.session import read_labels
from gan_viewer.io.star import read_star
from tests.gui.conftest import failing_loader, wait_complete

K = Qt.Key


def press(window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(window, key, modifier)


def test_open_real_relion31_star(make_window, qtbot, shared_data, tmp_path):
    for name in ("relion31.star", "relion31.mrcs"):  # a copy: the session file goes beside the STAR
        shutil.copy(shared_data / "particles" / "real_relion31" / name, tmp_path / name)
    star = tmp_path / "relion31.star"
    window = make_window(star)
    wait_complete(qtbot, window, 0)
    assert len(window.session) == 5
    assert window.session.journal.path.parent == tmp_path
    tri = window.triptych
    assert tri.image("raw").shape == (256, 256)
    assert tri.image("recovered") is not None  # the fake generator
    assert "no reference map" in tri.message("reference")
    columns = read_star(star).columns
    assert window.metadata.rowCount() == len(columns)
    assert window.metadata.item(0, 0).text() == columns[0]


def test_keys_change_labels_and_journal(make_window, qtbot, tiny_set):
    window = make_window(tiny_set)
    session = window.session
    press(window, K.Key_K)  # 0 keep -> cursor 1
    press(window, K.Key_R)  # 1 reject -> 2
    press(window, K.Key_X)  # 2 reject -> 3
    press(window, K.Key_Space)  # -> 4
    press(window, K.Key_Right)  # -> 5
    press(window, K.Key_Backspace)  # -> 4
    press(window, K.Key_Left)  # -> 3
    assert session.cursor == 3
    press(window, K.Key_K)  # 3 keep -> 4
    expected = np.array([1, 2, 2, 1, 0, 0, 0, 0, 0, 0], np.int8)
    np.testing.assert_array_equal(session.curation.labels, expected)
    np.testing.assert_array_equal(read_labels(session.journal.path), expected)  # on disk already
    press(window, K.Key_N)  # next undecided after 4 is 5
    assert session.cursor == 5
    assert "kept 2" in window.bar.counter.text() and "rejected 2" in window.bar.counter.text()
    assert window.bar.badge.text() == "undecided"
    window.go(0)
    assert window.bar.badge.text() == "KEEP"


def test_undo_redo_keys(make_window, tiny_set):
    window = make_window(tiny_set)
    session = window.session
    press(window, K.Key_K)
    press(window, K.Key_R)
    press(window, K.Key_U)  # undo the reject of 1, back on 1
    assert session.curation.labels[:2].tolist() == [Label.KEEP, Label.UNDECIDED]
    assert session.cursor == 1
    press(window, K.Key_U)
    assert session.curation.labels[:2].tolist() == [0, 0]
    press(window, K.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert session.curation.labels[:2].tolist() == [Label.KEEP, 0]
    np.testing.assert_array_equal(read_labels(session.journal.path), session.curation.labels)


def test_resume_where_left_off(make_window, tiny_set):
    window = make_window(tiny_set)
    for key in (K.Key_K, K.Key_K, K.Key_R):
        press(window, key)
    window.close_session()
    again = make_window(tiny_set)
    assert again.session.cursor == 3
    assert again.session.curation.labels[:4].tolist() == [1, 1, 2, 0]


def test_export_equals_labels(make_window, tiny_set, tmp_path):
    from gan_viewer.gui import files

    window = make_window(tiny_set)
    for key in (K.Key_K, K.Key_R, K.Key_Space, K.Key_K, K.Key_X):
        press(window, key)
    labels = window.session.curation.labels.copy()
    kept, rejected = tmp_path / "out_kept.star", tmp_path / "out_rejected.star"
    result = files.export_to(window.session, kept, rejected)
    assert (result.kept, result.rejected, result.undecided) == (2, 8, 6)
    names = read_star(tiny_set).particles["rlnImageName"].to_numpy()
    assert read_star(kept).particles["rlnImageName"].tolist() == names[labels == Label.KEEP].tolist()
    assert read_star(rejected).particles["rlnImageName"].tolist() == names[labels != Label.KEEP].tolist()
    before = kept.read_text()
    assert files.export_to(window.session, kept, rejected) is None  # exists: refused, not overwritten
    assert kept.read_text() == before
    assert files.export_to(window.session, kept, rejected, overwrite=True) is not None


def test_reference_panel_and_scores(make_window, qtbot, tiny_set, tiny_map):
    window = make_window(tiny_set, tiny_map)
    wait_complete(qtbot, window, 0)
    ref = window.triptych.image("reference")
    assert ref is not None and ref.shape == (16, 16) and ref.std() > 0
    assert np.isfinite(window.images.raw_scores[0]) and np.isfinite(window.images.scores[0])
    assert "recovered" in window.triptych.score_label.text()
    window.viewbar.ctf.setChecked(True)  # a new reference generation: recomputed with the CTF
    wait_complete(qtbot, window, 0)
    assert not np.allclose(window.triptych.image("reference"), ref)


def test_contrast_controls(make_window, qtbot, tiny_set):
    window = make_window(tiny_set)
    wait_complete(qtbot, window, 0)
    assert window.triptych.levels() == (-3.0, 3.0)
    window.viewbar.sigmas.setValue(2.0)
    assert window.triptych.levels() == (-2.0, 2.0)
    window.viewbar.mode.setCurrentIndex(1)
    lo, hi = window.triptych.levels()
    assert lo == pytest.approx(min(window.triptych.image(k).min() for k in ("raw", "recovered")))
    window.viewbar.invert.setChecked(True)
    assert window.triptych.items["raw"].levels[0] == pytest.approx(-hi)


def test_no_generator_says_so(make_window, qtbot, tiny_set):
    window = make_window(tiny_set, loader=failing_loader)
    wait_complete(qtbot, window, 0)
    assert window.triptych.image("recovered") is None
    assert window.triptych.message("recovered").startswith("no generator")


def test_bad_file_shows_dialog_not_crash(make_window, tmp_path):
    bad = tmp_path / "bad.star"
    bad.write_text("data_x\nnot a star file\n")
    window = make_window()
    assert not window.open_path(bad)
    assert window.session is None


def test_score_all_fills_scores(make_window, qtbot, tiny_set, tiny_map):
    window = make_window(tiny_set, tiny_map)
    window.score_all()
    qtbot.waitUntil(lambda: window.images._bulk is None and not window.progress.isVisible(), timeout=10000)
    assert np.isfinite(window.images.scores).all()
    assert np.isfinite(window.images.raw_scores).all()


def test_optics_groups_with_their_own_pixel_size(make_window, qtbot, tiny_set, tiny_map):
    """Particles of a 3 A/px group are projected from the map resampled to 3 A/px, and the generator
    is told 3 A/px for them (2 A/px for the others)."""
    from gan_viewer.io.star import write_star
    from gan_viewer.sim.project import Projector
    from gan_viewer.sim.reference import map_at

    table = read_star(tiny_set)
    table.particles["rlnOpticsGroup"] = [1] * 5 + [2] * 5
    optics = pd.concat([table.optics, table.optics], ignore_index=True)
    optics["rlnOpticsGroup"] = [1, 2]
    optics["rlnOpticsGroupName"] = ["opticsGroup1", "opticsGroup2"]
    optics["rlnImagePixelSize"] = [2.0, 3.0]
    table.blocks[table.optics_block] = optics
    star = write_star(table, tiny_set.parent / "two_groups.star")
    seen = []

    def loader(model, device):
        return (lambda images, apix=None: seen.append(apix) or -images), "fake"

    window = make_window(star, tiny_map, loader=loader, prefetch=0)
    reference = window.images.reference
    eulers, origins = reference.eulers, reference.origins
    for index, apix in ((1, 2.0), (7, 3.0)):
        expected = Projector(map_at(tiny_map, apix, 16, allow_pad=True)[0]).project(eulers[[index]], origins[[index]])
        np.testing.assert_allclose(reference(np.array([index])), expected, atol=1e-5)
        assert origins[index] == pytest.approx(table.particles[["rlnOriginXAngst", "rlnOriginYAngst"]]
                                               .to_numpy()[index] / apix)
    both = reference(np.array([7, 1]))  # one call, two pixel sizes, in the order asked
    np.testing.assert_allclose(both[1], reference(np.array([1]))[0], atol=1e-6)
    assert sorted(reference._projectors) == [2.0, 3.0]
    window.go(7)
    wait_complete(qtbot, window, 7)
    assert 3.0 in seen and 2.0 in seen

    from gan_viewer.core.particles import StarParticles
    from gan_viewer.sim.reference_maker import ReferenceMaker

    optics["rlnImagePixelSize"] = [2.0, 2.01]  # within 1 %: one projector serves both groups
    close = ReferenceMaker(StarParticles(table, tiny_set.parent), tiny_map)
    close(np.array([1, 7]))
    assert list(close._projectors) == [2.0]


def other_set(tiny_set, tmp_path_factory, missing: str):
    """A copy of ``tiny_set`` in a folder of its own (not below it), without its stack ``missing``."""
    folder = tmp_path_factory.mktemp(f"without_{missing}")
    (folder / "Extract").mkdir(parents=True)
    for name in ("a.mrcs", "b.mrcs"):
        if name != missing:
            shutil.copy(tiny_set.parent / "Extract" / name, folder / "Extract" / name)
    return Path(shutil.copy(tiny_set, folder / "particles.star"))


def test_failed_open_leaves_the_previous_set_untouched(make_window, qtbot, tiny_set, tmp_path_factory, monkeypatch):
    from gan_viewer.gui import files

    messages = []
    monkeypatch.setattr(files, "error_dialog", lambda parent, title, message: messages.append(message))
    window = make_window(tiny_set)
    press(window, K.Key_K)
    session, title, raw = window.session, window.windowTitle(), window.triptych.image("raw").copy()
    broken = other_set(tiny_set, tmp_path_factory, "a.mrcs")  # its first particle's stack is missing
    assert not window.open_path(broken)
    assert "a.mrcs" in messages[-1] and "not found" in messages[-1]
    assert window.session is session and window.windowTitle() == title
    np.testing.assert_array_equal(window.triptych.image("raw"), raw)
    press(window, K.Key_K)  # goes to the set on screen, not to the one that failed
    assert session.curation.labels[:2].tolist() == [Label.KEEP, Label.KEEP]
    assert not list(broken.parent.glob("*.sqlite"))
    bad_session = other_set(tiny_set, tmp_path_factory, "none")  # with a session file that is not gan-viewer's
    Path(f"{bad_session}.gan-viewer.sqlite").write_text("not a session" * 100)
    assert not window.open_path(bad_session)
    assert "not a gan-viewer session file" in messages[-1] and window.session is session


def test_a_particle_that_cannot_be_read_cannot_be_decided(make_window, qtbot, tiny_set, tmp_path_factory):
    window = make_window(other_set(tiny_set, tmp_path_factory, "b.mrcs"))  # particles 7-10 are in b.mrcs
    window.go(7)
    assert window.triptych.image("raw") is None
    assert window.triptych.message("raw").startswith("cannot show this particle") and "b.mrcs" in \
        window.triptych.message("raw")
    press(window, K.Key_K)
    assert window.session.curation.labels[7] == Label.UNDECIDED and window.session.cursor == 7
    assert "could not be shown" in window.statusBar().currentMessage()
    window.go(2)
    press(window, K.Key_K)
    assert window.session.curation.labels[2] == Label.KEEP


def test_worker_failures_stay_in_their_panel(make_window, qtbot, tiny_set, tiny_map, monkeypatch):
    from gan_viewer.gui import files

    dialogs = []
    monkeypatch.setattr(files, "error_dialog", lambda parent, title, message: dialogs.append((title, message)))

    def broken_loader(model, device):
        def denoise(images, apix=None):
            raise RuntimeError("CUDA out of memory")
        return denoise, "broken"

    window = make_window(tiny_set, tiny_map, loader=broken_loader, prefetch=0)
    qtbot.waitUntil(lambda: window.triptych.message("recovered").startswith("generator failed"), timeout=10000)
    assert window.triptych.message("recovered") == "generator failed: CUDA out of memory"
    qtbot.wait(200)
    window.refresh()  # still there later: not a status line that times out
    assert window.triptych.message("recovered") == "generator failed: CUDA out of memory"
    window.score_all()
    qtbot.waitUntil(lambda: bool(dialogs), timeout=10000)
    assert dialogs[0][0] == "Score all stopped" and "CUDA out of memory" in dialogs[0][1]
    assert not window.progress.isVisible()


def test_a_dock_that_cannot_be_imported_says_what_is_missing(make_window, qtbot, tiny_set, monkeypatch):
    from PyQt6.QtWidgets import QDockWidget, QLabel

    from gan_viewer.gui import docks

    real = docks.importlib.import_module

    def import_module(name, *args):
        if name == "gan_viewer.gui.gallery":
            raise ImportError("No module named 'superqt'")
        return real(name, *args)

    monkeypatch.setattr(docks.importlib, "import_module", import_module)
    window = make_window(tiny_set)
    dock = next(d for d in window.findChildren(QDockWidget) if d.windowTitle() == "Gallery")
    qtbot.waitUntil(dock.isVisible)
    assert isinstance(dock.widget(), QLabel)
    assert "gan_viewer.gui.gallery" in dock.widget().text() and "superqt" in dock.widget().text()
    press(window, K.Key_K)  # the rest works
    assert window.session.curation.labels[0] == Label.KEEP


def test_gui_and_cli_exports_agree(make_window, qtbot, tiny_set, tmp_path, capsys):
    from gan_viewer.cli import main
    from gan_viewer.gui import files
    from gan_viewer.gui.export_dialog import MEANING, ExportDialog

    window = make_window(tiny_set)
    for key in (K.Key_K, K.Key_R, K.Key_Space, K.Key_K):
        press(window, key)
    dialog = ExportDialog(window.session.curation.counts(), tmp_path / "x_kept.star", window)
    assert "labelled keep" in MEANING and "RELION" in MEANING and "every other" in MEANING
    assert dialog.choice() == (tmp_path / "x_kept.star", tmp_path / "x_rejected.star", Label.REJECT)
    dialog.kept.setChecked(True)
    dialog.write_rejected.setChecked(False)
    assert dialog.choice() == (tmp_path / "x_kept.star", None, Label.KEEP)
    gui = files.export_to(window.session, tmp_path / "gui_kept.star", tmp_path / "gui_rejected.star")
    window.session.flush_cursor()
    assert main(["export", str(tiny_set), "--session", str(window.session.journal.path), "--out",
                 str(tmp_path / "cli_kept.star"), "--rejected", str(tmp_path / "cli_rejected.star")]) == 0
    assert gui.kept == 2 and gui.rejected == 8
    for which in ("kept", "rejected"):
        ours, theirs = read_star(tmp_path / f"gui_{which}.star"), read_star(tmp_path / f"cli_{which}.star")
        assert ours.particles.equals(theirs.particles), which
