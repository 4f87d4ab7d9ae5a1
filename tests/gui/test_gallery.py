"""GalleryWidget: lazy background thumbnails, label badges, bulk decisions, sort and filter, 1,000,000 rows."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pytestqt")
from PyQt6 import QtCore, QtGui  # noqa: E402

from gan_viewer.core.curation import Label  # noqa: E402
from gan_viewer.core.session import Session  # noqa: E402
from gan_viewer.gui.gallery import GalleryWidget  # noqa: E402
from gan_viewer.core.scores import DEFAULT_SCORE  # noqa: E402
from gan_viewer.gui.gallery_filter import SCORE  # noqa: E402

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PNG = Path("/tmp/gan_viewer_gallery_relion31.png")


class FakeSource:
    """``n`` particles of ``box`` px (particle i filled with i) and a DataFrame of a few columns."""

    path = None
    pixel_size = None

    def __init__(self, n: int, box: int = 8) -> None:
        rng = np.random.default_rng(0)
        frame = pd.DataFrame({
            "rlnDefocusU": rng.uniform(5000, 30000, n),
            "rlnClassNumber": rng.integers(1, 6, n),
            "rlnMicrographName": pd.Series(rng.integers(0, 50, n)).map("mic{:03d}.mrc".format),
        })
        self.table = SimpleNamespace(particles=frame, particles_block=None)
        self.n, self.box = n, box

    def __len__(self) -> int:
        return self.n

    def images(self, indices, check_finite: bool = True) -> np.ndarray:
        idx = np.asarray(indices, np.int64)
        ramp = np.linspace(0, 1, self.box * self.box, dtype=np.float32).reshape(self.box, self.box)
        return idx[:, None, None].astype(np.float32) + ramp  # (k, box, box)

    def metadata(self, index: int) -> dict:
        return {}


class Recorder:
    """A fetch that records its calls and threads, optionally sleeping first."""

    def __init__(self, source, delay: float = 0.0) -> None:
        self.source, self.delay = source, delay
        self.calls: list[np.ndarray] = []
        self.threads: set[threading.Thread] = set()

    def __call__(self, indices: np.ndarray) -> np.ndarray:
        self.calls.append(np.array(indices))
        self.threads.add(threading.current_thread())
        time.sleep(self.delay)
        return self.source.images(indices)

    @property
    def fetched(self) -> np.ndarray:
        return np.concatenate(self.calls) if self.calls else np.zeros(0, np.int64)


def make(qtbot, tmp_path, n: int = 200, delay: float = 0.0, size=(640, 480), **kwargs):
    session = Session(FakeSource(n), journal_path=tmp_path / "s.sqlite")
    fetch = Recorder(session.source, delay)
    widget = GalleryWidget(session, fetch, **kwargs)
    qtbot.addWidget(widget)
    widget.resize(*size)
    widget.show()
    qtbot.waitExposed(widget)
    return widget, session, fetch


def wait_loaded(qtbot, widget, timeout: int = 5000) -> None:
    def loaded() -> bool:
        shown = widget._visible_particles()
        return shown.size > 0 and all(widget.loader.cached(int(i)) for i in shown)
    qtbot.waitUntil(loaded, timeout=timeout)


def select_rows(widget, first: int, last: int) -> None:
    flags = QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
    selection = QtCore.QItemSelection(widget.model.index(first), widget.model.index(last))
    widget.view.selectionModel().select(selection, flags)


def pixel_at(widget, row: int, dx: int = 6, dy: int = 40) -> QtGui.QColor:
    """Colour on the left border of ``row``'s cell (the label badge), as painted now."""
    rect = widget.view.visualRect(widget.model.index(row))
    return widget.view.viewport().grab().toImage().pixelColor(rect.left() + dx, rect.top() + dy)


def test_real_particles_load_off_the_ui_thread(qtbot, tmp_path) -> None:
    star = SHARED / "particles" / "real_relion31" / "relion31.star"
    if not star.is_file():
        pytest.skip("shared data not available")
    session = Session.open(star, journal_path=tmp_path / "s.sqlite")
    fetch = Recorder(session.source)
    widget = GalleryWidget(session, fetch)
    qtbot.addWidget(widget)
    widget.resize(720, 400)
    widget.show()
    wait_loaded(qtbot, widget)
    session.decide(Label.KEEP, [0, 2])
    session.decide(Label.REJECT, [4])
    select_rows(widget, 1, 1)
    qtbot.waitUntil(lambda: "kept 2" in widget.count_text())
    widget.grab().save(str(PNG))
    assert threading.main_thread() not in fetch.threads
    assert sorted(fetch.fetched.tolist()) == [0, 1, 2, 3, 4]
    assert widget.count_text().startswith("showing 5 of 5")


def test_visible_rows_match_the_layout(qtbot, tmp_path) -> None:
    widget, _, _ = make(qtbot, tmp_path, n=500)
    widget.view.verticalScrollBar().setValue(1000)
    qtbot.wait(20)
    first, last = widget.view.visible_rows()
    viewport = widget.view.viewport().rect()
    on_screen = [r for r in range(500) if widget.view.visualRect(widget.model.index(r)).intersects(viewport)]
    assert first == on_screen[0] and on_screen[-1] < last <= on_screen[-1] + 8


def test_badges_follow_curation_changed_from_any_thread(qtbot, tmp_path) -> None:
    widget, session, _ = make(qtbot, tmp_path)
    wait_loaded(qtbot, widget)
    assert pixel_at(widget, 3).green() < 200 or pixel_at(widget, 3).red() > 100  # no badge yet
    thread = threading.Thread(target=session.decide, args=(Label.KEEP, [3]))
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: "kept 1 " in widget.count_text())
    colour = pixel_at(widget, 3)
    assert colour.green() > 150 and colour.red() < 100  # green border
    session.decide(Label.REJECT, [3])
    qtbot.waitUntil(lambda: "rejected 1 " in widget.count_text())
    colour = pixel_at(widget, 3)
    assert colour.red() > 150 and colour.green() < 100


def test_bulk_keep_reject_on_selection_is_one_undo_step(qtbot, tmp_path) -> None:
    widget, session, _ = make(qtbot, tmp_path)
    widget.set_sort("rlnDefocusU", descending=True)
    select_rows(widget, 2, 6)
    chosen = widget.visible_indices()[2:7]
    widget.view.setFocus()
    qtbot.keyClick(widget.view, QtCore.Qt.Key.Key_K)
    assert (session.curation.labels[chosen] == Label.KEEP).all()
    assert session.curation.counts()[Label.KEEP] == 5
    widget.buttons[Label.REJECT].click()
    assert (session.curation.labels[chosen] == Label.REJECT).all()
    qtbot.keyClick(widget.view, QtCore.Qt.Key.Key_X)  # already rejected: nothing new
    assert session.undo()
    assert (session.curation.labels[chosen] == Label.KEEP).all()
    assert session.undo()
    assert not session.curation.labels.any()


def test_click_and_enter_emit_particle_activated(qtbot, tmp_path) -> None:
    widget, _, _ = make(qtbot, tmp_path)
    widget.set_sort("index", descending=True)
    qtbot.wait(20)
    centre = widget.view.visualRect(widget.model.index(2)).center()
    with qtbot.waitSignal(widget.particleActivated, timeout=1000) as blocker:
        qtbot.mouseClick(widget.view.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=centre)
    assert blocker.args == [197]
    with qtbot.waitSignal(widget.particleActivated, timeout=1000) as blocker:
        qtbot.keyClick(widget.view, QtCore.Qt.Key.Key_Return)
    assert blocker.args == [197]


def test_sort_by_columns_scores_and_text(qtbot, tmp_path) -> None:
    widget, session, _ = make(qtbot, tmp_path)
    defocus = session.source.table.particles["rlnDefocusU"].to_numpy()
    widget.sort_combo.setCurrentText("rlnDefocusU")
    assert (np.diff(defocus[widget.visible_indices()]) >= 0).all()
    widget.descending.setChecked(True)
    assert (np.diff(defocus[widget.visible_indices()]) <= 0).all()
    names = session.source.table.particles["rlnMicrographName"].to_numpy()
    widget.set_sort("rlnMicrographName")
    assert list(names[widget.visible_indices()]) == sorted(names)
    scores = np.full(200, np.nan)
    scores[:50] = np.linspace(1, 0, 50)
    widget.set_scores({DEFAULT_SCORE: scores, SCORE: -scores})
    widget.lowest_score.click()  # the default score: gvScore
    view = widget.visible_indices()
    assert widget.sort_combo.currentText() == DEFAULT_SCORE and not widget.descending.isChecked()
    assert view[0] == 49 and (np.diff(scores[view[:50]]) >= 0).all() and np.isnan(scores[view[50:]]).all()
    widget.descending.setChecked(True)
    assert widget.visible_indices()[0] == 0 and np.isnan(scores[widget.visible_indices()[50:]]).all()


def test_a_micrographs_picks_sort_by_their_coordinate_files_columns(qtbot, tmp_path) -> None:
    """No STAR table: the gallery's keys are the coordinate file's columns, e.g. Topaz's score."""
    from gan_viewer.core.micrograph_particles import MicrographParticles
    from tests.conftest import write_topaz_picks

    scores = [-1.5, 3.1, 0.2, 2.4]
    picks = write_topaz_picks(tmp_path, {"mic": [(20 + 10 * k, 30, s) for k, s in enumerate(scores)]})
    source = MicrographParticles(tmp_path / "mic.mrc", picks, 16)
    session = Session(source, journal_path=tmp_path / "s.sqlite")
    widget = GalleryWidget(session, source.images)
    qtbot.addWidget(widget)
    assert "score" in [widget.sort_combo.itemText(i) for i in range(widget.sort_combo.count())]
    widget.set_sort("score")
    widget.descending.setChecked(True)
    assert widget.visible_indices().tolist() == [1, 3, 2, 0]


def test_filter_thresholds_and_labels_shrink_the_view(qtbot, tmp_path) -> None:
    widget, session, _ = make(qtbot, tmp_path)
    defocus = session.source.table.particles["rlnDefocusU"].to_numpy()
    widget.set_filter("rlnDefocusU", 10000, 20000)
    expected = np.flatnonzero((defocus >= 10000) & (defocus <= 20000))
    assert sorted(widget.visible_indices().tolist()) == expected.tolist()
    assert widget.filter.range() == pytest.approx((10000, 20000))
    session.decide(Label.KEEP, expected[:3])
    session.decide(Label.REJECT, [int(np.flatnonzero(defocus > 20000)[0]), int(expected[3])])
    qtbot.waitUntil(lambda: "kept 3 " in widget.count_text())
    assert widget.count_text().startswith(
        f"showing {expected.size:,} of 200 · kept 3 · rejected 1 · undecided {expected.size - 4:,}")
    widget.set_label_filter(Label.UNDECIDED)
    assert widget.visible_indices().size == expected.size - 4
    session.decide(Label.KEEP, widget.visible_indices()[:2])  # decided rows leave the undecided view
    qtbot.waitUntil(lambda: widget.visible_indices().size == expected.size - 6)
    widget.set_label_filter(None)
    widget.filter.region.setRegion((0, 1e9))  # drag the thresholds wide open
    qtbot.waitUntil(lambda: widget.visible_indices().size == 200)
    widget.set_filter(None)
    assert widget.count_text().startswith("showing 200 of 200 · kept 5 · rejected 2")


def test_decided_rows_leave_a_label_view_without_jumping(qtbot, tmp_path) -> None:
    widget, session, _ = make(qtbot, tmp_path, n=50_000)
    widget.set_label_filter(Label.UNDECIDED)
    qtbot.waitUntil(lambda: widget.view.verticalScrollBar().maximum() > 500_000)
    widget.view.verticalScrollBar().setValue(300_000)
    first, _ = widget.view.visible_rows()
    chosen = widget.visible_indices()[first:first + 5]
    after = widget.visible_indices()[first + 5]
    session.decide(Label.REJECT, chosen)
    qtbot.waitUntil(lambda: widget.visible_indices().size == 50_000 - 5)
    qtbot.wait(100)  # the batched relayout
    assert widget.view.verticalScrollBar().value() == 300_000
    assert widget.visible_indices()[widget.view.visible_rows()[0]] == after


def test_scrolled_away_requests_are_dropped(qtbot, tmp_path) -> None:
    widget, _, fetch = make(qtbot, tmp_path, n=5000, delay=0.3, batch_size=4)
    qtbot.waitUntil(lambda: len(fetch.calls) == 1)
    top = widget._visible_particles()
    assert top.size > 8
    widget.view.scrollToBottom()
    wait_loaded(qtbot, widget)
    bottom = widget._visible_particles()
    fetched = fetch.fetched
    assert set(fetch.calls[0].tolist()) <= set(top.tolist())
    assert set(fetched.tolist()) - set(fetch.calls[0].tolist()) <= set(bottom.tolist())
    assert widget.loader.dropped >= top.size - 8
    assert max(len(c) for c in fetch.calls) <= 4


def test_ui_thread_runs_while_fetch_is_slow(qtbot, tmp_path) -> None:
    gate = threading.Event()
    widget, session, _ = make(qtbot, tmp_path, n=50)
    widget.set_fetch(lambda idx: (gate.wait(10), session.source.images(idx))[1])
    qtbot.waitUntil(lambda: widget.loader.busy)
    fired = []
    QtCore.QTimer.singleShot(50, lambda: fired.append(widget.loader.busy))
    qtbot.waitUntil(lambda: bool(fired), timeout=10000)
    assert fired == [True]  # the timer ran while the fetch was still held
    gate.set()
    wait_loaded(qtbot, widget)


def test_fetch_errors_and_set_fetch(qtbot, tmp_path, caplog) -> None:
    widget, session, _ = make(qtbot, tmp_path, n=20)

    def broken(indices):
        raise OSError("disk gone")

    widget.set_fetch(broken)
    qtbot.waitUntil(lambda: widget.loader.failed(0))
    assert "disk gone" in caplog.text
    widget.set_fetch(Recorder(session.source))
    wait_loaded(qtbot, widget)


def test_one_million_rows(qtbot, tmp_path) -> None:
    """Sort, filter and label filter over 1,000,000 rows fetch only what is on screen (how fast:
    ``benchmarks/bench_session.py``)."""
    n = 1_000_000
    session = Session(FakeSource(n), journal_path=tmp_path / "s.sqlite")
    fetch = Recorder(session.source)
    widget = GalleryWidget(session, lambda i: fetch(i))
    qtbot.addWidget(widget)
    widget.resize(900, 700)
    widget.show()
    wait_loaded(qtbot, widget)
    widget.set_sort("rlnDefocusU")
    widget.set_sort("rlnMicrographName", descending=True)
    widget.set_filter("rlnDefocusU", 10000, 12000)
    widget.set_label_filter(Label.UNDECIDED)
    for _ in range(200):  # the batched layout of the remaining rows
        QtCore.QCoreApplication.processEvents()
    defocus = session.source.table.particles["rlnDefocusU"].to_numpy()
    expected = int(((defocus >= 10000) & (defocus <= 12000)).sum())
    size = widget.visible_indices().size
    assert size == expected and widget.count_text().startswith(f"showing {size:,} of 1,000,000")
    wait_loaded(qtbot, widget)
    assert max(len(c) for c in fetch.calls) <= 64
    assert fetch.fetched.size < 1000


def test_gvscore_becomes_the_sort_key_once_known_unless_the_user_chose_one(qtbot, tmp_path) -> None:
    widget, session, _ = make(qtbot, tmp_path)
    assert widget.columns.names()[1] == DEFAULT_SCORE
    tip = widget.sort_combo.itemData(widget.sort_combo.findText(DEFAULT_SCORE), QtCore.Qt.ItemDataRole.ToolTipRole)
    assert "default score" in tip and DEFAULT_SCORE in widget.lowest_score.text()
    scores = np.linspace(1, 0, 200)
    partial = scores.copy()
    partial[5] = np.nan
    widget.set_scores({DEFAULT_SCORE: partial})  # not known for every particle yet: index order stays
    assert widget.spec.sort == "index"
    widget.set_scores({DEFAULT_SCORE: scores})
    assert widget.sort_combo.currentText() == DEFAULT_SCORE and widget.visible_indices()[0] == 199
    widget.sort_combo.setCurrentText("index")  # the user's choice holds from now on
    widget.set_scores({DEFAULT_SCORE: scores * 2})
    assert widget.spec.sort == "index" and widget.visible_indices()[0] == 0


def test_gv_columns_of_the_star_are_the_scores_listed_once(qtbot, tmp_path) -> None:
    source = FakeSource(20)
    source.table.particles["gvScore"] = np.arange(20.0)[::-1]
    session = Session(source, journal_path=tmp_path / "t.sqlite")
    gallery = GalleryWidget(session, Recorder(source))
    qtbot.addWidget(gallery)
    assert gallery.columns.names().count(DEFAULT_SCORE) == 1
    assert gallery.columns.numeric_names().count(DEFAULT_SCORE) == 1
    np.testing.assert_array_equal(gallery.columns.values(DEFAULT_SCORE), np.arange(20.0)[::-1])
