"""A micrograph's picks in the inspector: File > Open picks, Next / Previous micrograph of a
Topaz table, and their export as RELION coordinate files (one micrograph, or all of a table)."""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt

from gan_viewer.core.curation import Label
from gan_viewer.io.star import read_star
from tests.conftest import write_topaz_picks
from tests.gui.test_main_window import press


def test_a_micrographs_picks_export_as_a_relion_coordinate_file_named_after_it(make_window, tmp_path):
    """Topaz's picks (and .box ones) have no STAR table: the kept picks become MIC_kept.star, with
    the centres in micrograph pixels and Topaz's score as RELION's figure of merit."""
    import mrcfile

    from gan_viewer.gui import files

    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(np.zeros((64, 80), np.float32))
    (tmp_path / "topaz").mkdir()  # the table in a folder of its own
    picks = write_topaz_picks(tmp_path / "topaz", {"mic": [(20, 30, 2.5), (50, 20, 1.0)], "other": [(5, 5, 9)]},
                              micrographs=())
    window = make_window(tmp_path / "mic.mrc", coords=picks, box=16)
    kept, rejected = files.default_outputs(window.session.source)
    assert (kept, rejected) == (picks.parent / "mic_kept.star", picks.parent / "mic_rejected.star")
    window.session.decide(Label.KEEP, [1])
    assert files.export_to(window.session, kept, rejected) is not None
    table = read_star(kept)
    assert table.particles.columns.tolist() == ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]
    assert table.particles.to_numpy(float).tolist() == [[50.0, 20.0, 1.0]]
    assert read_star(rejected).particles.to_numpy(float).tolist() == [[20.0, 30.0, 2.5]]


def test_file_open_picks_boxes_the_micrograph_on_screen(make_window, tmp_path, monkeypatch):
    import mrcfile

    from gan_viewer.gui import files

    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(np.zeros((64, 80), np.float32))
    window = make_window()
    errors = []
    monkeypatch.setattr(files, "error_dialog", lambda parent, title, text: errors.append(text))
    assert not files.open_picks_dialog(window) and "Open a micrograph first" in errors[0]
    assert window.open_path(tmp_path / "mic.mrc") and window.session is None  # the micrograph alone
    (tmp_path / "mic.box").write_text("12 22 16 16\n42 12 16 16\n")
    (tmp_path / "picks.txt").write_text("image_name\tx_coord\ty_coord\tscore\nmic\t20\t30\t2.5\n")
    asked = []
    monkeypatch.setattr(files, "ask_picks", lambda w, mic, box, scale: asked.append((mic, box, scale)) or (tmp_path / "mic.box", 16, 1.0))
    window.actions_["open_picks"].trigger()
    assert asked == [(tmp_path / "mic.mrc", files.DEFAULT_PICK_BOX, 1.0)]
    assert len(window.session.source) == 2 and window.session.source.box == 16
    np.testing.assert_array_equal(window.session.source.coordinates, [[20, 30], [50, 20]])
    # with picks open: other picks for the same micrograph, the box offered is the open one
    monkeypatch.setattr(files, "ask_picks",
                        lambda w, mic, box, scale: asked.append((mic, box, scale)) or (tmp_path / "picks.txt", 24, 1.0))
    assert files.open_picks_dialog(window)
    assert asked[-1] == (tmp_path / "mic.mrc", 16, 1.0)
    assert len(window.session.source) == 1 and window.session.source.box == 24


def test_next_and_previous_micrograph_of_a_topaz_table_keep_each_ones_decisions(make_window, tmp_path):
    from gan_viewer.gui import files

    picks = write_topaz_picks(tmp_path, {"a": [(20, 30, 2.5)], "b": [(50, 20, 1.0)],
                                         "c": [(30, 30, 1.5), (60, 40, 0.5)]},
                              micrographs=("a", "c"))  # b is named in the table but not here
    window = make_window(tmp_path / "a.mrc", coords=picks, box=16)
    window.session.decide(Label.REJECT, [0])
    window.actions_["next_micrograph"].trigger()
    assert window.session.source.micrograph_path == tmp_path / "c.mrc" and len(window.session.source) == 2
    assert window.session.source.box == 16 and (window.session.curation.labels == 0).all()
    assert "1 named in predicted_particles_all.txt not found" in window.statusBar().currentMessage()
    assert not files.open_neighbour_micrograph(window, +1)
    assert "last micrograph" in window.statusBar().currentMessage()
    window.actions_["previous_micrograph"].trigger()
    assert window.session.source.micrograph_path == tmp_path / "a.mrc"
    assert window.session.curation.labels.tolist() == [Label.REJECT]  # its own session, as left


def test_export_all_micrographs_of_the_picks_asks_before_replacing(make_window, qtbot, tmp_path, monkeypatch):
    """In a thread (a table may name thousands of micrographs); the window asks before replacing."""
    import threading

    from gan_viewer.core import table_picks
    from gan_viewer.gui import files

    threads = []
    real_export = table_picks.export_table_picks
    monkeypatch.setattr(files, "export_table_picks",
                        lambda *a, **k: threads.append(threading.current_thread()) or real_export(*a, **k))

    picks = write_topaz_picks(tmp_path, {"a": [(20, 30, 2.5), (50, 20, 1.0)], "b": [(30, 30, 1.5)]})
    window = make_window(tmp_path / "b.mrc", coords=picks, box=16)
    window.session.decide(Label.KEEP, [0])
    window.actions_["previous_micrograph"].trigger()  # a, curated too
    window.session.decide(Label.KEEP, [1])
    out = tmp_path / "Picks"
    monkeypatch.setattr(files, "ask_folder", lambda w, start: out)
    window.actions_["export_table"].trigger()
    qtbot.waitUntil(lambda: not files.exporting_table(window))
    assert threads and threading.main_thread() not in threads
    assert read_star(out / "a_kept.star").particles.to_numpy(float).tolist() == [[50.0, 20.0, 1.0]]
    assert read_star(out / "b_kept.star").particles.to_numpy(float).tolist() == [[30.0, 30.0, 1.5]]
    assert "2 micrograph(s)" in window.statusBar().currentMessage()
    window.session.decide(Label.KEEP, [0])
    asked = []
    window.confirm = lambda title, text: asked.append(text) or False
    assert files.export_table_dialog(window)
    qtbot.waitUntil(lambda: not files.exporting_table(window))  # said no: nothing replaced
    assert "2 coordinate files exist already" in asked[0] and len(read_star(out / "a_kept.star").particles) == 1
    window.confirm = lambda title, text: True
    assert files.export_table_dialog(window)
    qtbot.waitUntil(lambda: not files.exporting_table(window) and len(read_star(out / "a_kept.star").particles) == 2)


def test_picks_made_at_bin_2_warn_in_the_banner_and_open_at_their_scale(make_window, tmp_path, monkeypatch):
    """Picks all in the micrograph's top-left half (a copy binned by 2): a warning in the banner naming
    --coords-scale 2, from the command line's options and from File > Open picks, which also asks
    whether to open them at x2; at scale 2 none, the picks in micrograph pixels, and the next
    micrograph of the table opens at that scale too."""
    from gan_viewer.gui import files
    from tests.conftest import BIN2_PICKS

    picks = write_topaz_picks(tmp_path, {"a": [(x, y, 1.0) for x, y in BIN2_PICKS],
                                         "b": [(x, y, 0.5) for x, y in BIN2_PICKS[::-1]]})
    window = make_window(tmp_path / "a.mrc", coords=picks, box=16)
    message = window.banner.text.text()  # the banner, where later status messages cannot hide it
    assert window.banner.isVisibleTo(window) and window.banner.kind == "note" and window.decisions_allowed()
    assert message.startswith("Warning: all 12 picks") and message.endswith("try --coords-scale 2.")
    window.session.decide(Label.REJECT, [0])  # a decision made at the wrong scale
    assert window.open_path(tmp_path / "a.mrc", coords=picks, box=16, coords_scale=2)
    assert "coords-scale 2." not in window.banner.text.text()  # the warning went with the picks it was about,
    assert window.banner.isVisibleTo(window) and window.banner.kind == "note"  # and the empty curation says why
    assert window.banner.text.text() == (
        "Decisions kept apart: predicted_particles_all.txt.a.gan-viewer.sqlite holds 1 decision on another particle "
        "set (predicted_particles_all.txt) and keeps it; this set (predicted_particles_all.txt at --coords-scale 2) "
        "has its own session.")
    assert window.session.curation.counts()[Label.REJECT] == 0 and window.decisions_allowed()
    window.banner.dismiss_button.click()
    assert not window.banner.isVisibleTo(window)
    np.testing.assert_array_equal(window.session.source.coordinates, 2 * np.array(BIN2_PICKS))
    window.actions_["next_micrograph"].trigger()
    assert window.session.source.micrograph_path == tmp_path / "b.mrc" and window.session.source.scale == 2
    entry = files.recent(window.settings)[0]  # File > Open recent opens it at its scale
    assert entry["coords_scale"] == 2 and files.describe(entry) == "b.mrc + predicted_particles_all.txt ×2"
    assert window.open_path(tmp_path / "a.mrc")  # the micrograph alone, then File > Open picks
    monkeypatch.setattr(files, "ask_picks", lambda w, mic, box, scale: (picks, 16, 1.0))
    asked = []
    window.confirm = lambda title, text: asked.append(text) or False  # "open them at x2?" no
    window.actions_["open_picks"].trigger()
    assert window.session.source.scale == 1 and "try --coords-scale 2" in window.banner.text.text()
    assert asked[0].startswith("All 12 picks of predicted_particles_all.txt lie in the top-left")
    assert "Open them at ×2" in asked[0]
    window.confirm = lambda title, text: True  # yes: the picks open at their scale, and no warning stays
    window.actions_["open_picks"].trigger()
    assert window.session.source.scale == 2 and "try --coords-scale" not in window.banner.text.text()
    np.testing.assert_array_equal(window.session.source.coordinates, 2 * np.array(BIN2_PICKS))
    window.confirm = lambda title, text: asked.append(text) or True  # picks spread over the micrograph: no question
    spread = write_topaz_picks(tmp_path, {"a": [(2 * x, 2 * y, 1.0) for x, y in BIN2_PICKS]}, micrographs=(),
                               name="spread.txt")  # a.mrc as it is (the window has it mapped)
    monkeypatch.setattr(files, "ask_picks", lambda w, mic, box, scale: (spread, 16, 1.0))
    window.actions_["open_picks"].trigger()
    assert len(asked) == 1 and window.session.source.path == spread and window.session.source.scale == 1


def test_file_open_picks_takes_a_coordinate_scale_and_offers_the_open_ones(make_window, tmp_path, monkeypatch):
    """A scale given in File > Open picks (picks made at bin 4 that reach beyond the micrograph's
    quarter, which no question would catch) opens them at it, without a question; the next
    File > Open picks offers the open picks' box and scale."""
    import mrcfile

    from gan_viewer.gui import files

    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(np.zeros((64, 80), np.float32))
    (tmp_path / "mic.box").write_text("2 2 4 4\n10 7 4 4\n")  # centres (4, 4) and (12, 9) at bin 4
    window = make_window(tmp_path / "mic.mrc")
    asked, questions = [], []
    window.confirm = lambda title, text: questions.append(text) or True
    monkeypatch.setattr(files, "ask_picks",
                        lambda w, mic, box, scale: asked.append((box, scale)) or (tmp_path / "mic.box", 16, 4.0))
    assert files.open_picks_dialog(window)
    assert window.session.source.scale == 4 and questions == []
    np.testing.assert_array_equal(window.session.source.coordinates, [[16, 16], [48, 36]])
    assert files.recent(window.settings)[0]["coords_scale"] == 4
    assert files.open_picks_dialog(window) and asked == [(files.DEFAULT_PICK_BOX, 1.0), (16, 4.0)]


def test_the_picks_options_dialog_gives_the_box_and_scale_entered(qtbot):
    from gan_viewer.gui.picks_dialog import PicksOptions

    dialog = PicksOptions("picks.star", 128)
    qtbot.addWidget(dialog)
    assert dialog.values() == (128, 1.0) and "picks.star" in dialog.windowTitle()
    dialog.box.setValue(200)
    dialog.scale.setValue(2.5)
    assert dialog.values() == (200, 2.5)
    dialog.scale.setValue(0)  # below the range: the smallest scale it takes, never 0
    assert dialog.values()[1] == 0.01
    assert PicksOptions("p.box", 64, 2.0).values() == (64, 2.0)


def test_a_micrograph_cut_short_while_its_picks_are_open_fails_in_the_panel(make_window, tmp_path, monkeypatch):
    """Another program rewrites the micrograph while the inspector shows its picks: a particle
    whose rows are gone says so in its panel and cannot be decided (the window stays up; it used
    to die of SIGBUS); the particles still readable are decided as before."""
    import os

    import mrcfile

    with mrcfile.new(tmp_path / "mic.mrc") as mrc:
        mrc.set_data(np.random.default_rng(0).standard_normal((64, 80)).astype(np.float32))
    (tmp_path / "mic.box").write_text("12 2 16 16\n42 40 16 16\n")  # centres (20, 10) and (50, 48)
    window = make_window(tmp_path / "mic.mrc", coords=tmp_path / "mic.box", box=16, prefetch=0)
    os.truncate(tmp_path / "mic.mrc", 1024 + 80 * 4 * 30)  # rows 30-63 gone
    window.go(1)
    assert window.triptych.image("raw") is None
    assert "could not be read" in window.triptych.message("raw") and "mic.mrc" in window.triptych.message("raw")
    press(window, Qt.Key.Key_K)
    assert window.session.curation.labels[1] == Label.UNDECIDED
    window.go(0)
    press(window, Qt.Key.Key_K)
    assert window.session.curation.labels[0] == Label.KEEP
