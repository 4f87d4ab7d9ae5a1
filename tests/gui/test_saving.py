"""The window never shows a decision it has not saved, and one session has one writer."""

from __future__ import annotations

import sqlite3

import numpy as np
from PyQt6.QtCore import QItemSelection, QItemSelectionModel, Qt
from PyQt6.QtTest import QTest
from PyQt6.QtWidgets import QMessageBox

from gan_viewer.core.curation import Label
from gan_viewer.core.journal import Journal
from gan_viewer.core.session import read_labels

K = Qt.Key
SCREENSHOTS = "/tmp/gan_viewer_{}.png"


def disk_full(monkeypatch) -> None:
    def commit(self):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(Journal, "_commit", commit)


def test_a_decision_that_cannot_be_saved_is_not_shown(make_window, qtbot, tiny_set, monkeypatch):
    window = make_window(tiny_set)
    session = window.session
    QTest.keyClick(window, K.Key_K)  # saved: particle 0 kept, on to 1
    disk_full(monkeypatch)
    QTest.keyClick(window, K.Key_R)  # not saved
    assert session.curation.labels.tolist()[:2] == [Label.KEEP, Label.UNDECIDED]
    assert session.cursor == 1 and window.bar.badge.text() == "undecided"
    assert "kept 1" in window.bar.counter.text() and "rejected 0" in window.bar.counter.text()
    dialog = window.save_dialog
    assert dialog is not None and dialog.isVisible() and dialog.isModal()
    text = dialog.text()
    assert str(session.journal.path) in text and "database or disk is full" in text and text.count(". ") == 0
    for name in ("keep", "reject", "undo", "redo"):
        assert not window.actions_[name].isEnabled(), name
    assert not window.bar.keep_button.isEnabled() and not window.bar.reject_button.isEnabled()
    assert window.banner.isVisible() and "could not save" in window.banner.text.text()
    assert window.banner.retry_button.isVisible()
    QTest.keyClick(window, K.Key_X)  # blocked: nothing happens, no second attempt
    window.decide(Label.REJECT)
    assert session.curation.labels[1] == Label.UNDECIDED and session.cursor == 1
    qtbot.wait(300)  # the docks' layout, for the screenshots
    window.grab().save(SCREENSHOTS.format("could_not_save"))
    dialog.grab().save(SCREENSHOTS.format("could_not_save_dialog"))

    dialog.button(QMessageBox.StandardButton.Retry).click()  # still full: stays paused, says so again
    assert window.save_error is not None and not window.actions_["keep"].isEnabled()
    assert window.save_dialog is not dialog and "still cannot be written" in window.save_dialog.text()
    monkeypatch.undo()
    window.banner.retry_button.click()  # space freed: decisions are back
    assert window.save_error is None and not window.banner.isVisible()
    assert window.actions_["keep"].isEnabled() and window.bar.keep_button.isEnabled()
    assert not window.save_dialog  # the stale dialog went too
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    QTest.keyClick(window, K.Key_R)
    assert session.curation.labels.tolist()[:2] == [Label.KEEP, Label.REJECT]
    window.close_session()
    assert read_labels(session.journal.path).tolist()[:3] == [1, 2, 0]


def test_gallery_bulk_decision_and_undo_that_cannot_be_saved(make_window, qtbot, tiny_set, monkeypatch):
    window = make_window(tiny_set)
    gallery = window.docks.gallery
    QTest.keyClick(window, K.Key_K)
    disk_full(monkeypatch)
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
    gallery.view.selectionModel().select(QItemSelection(gallery.model.index(3), gallery.model.index(6)), flags)
    gallery.buttons[Label.REJECT].click()
    assert window.session.curation.labels.tolist()[:7] == [1, 0, 0, 0, 0, 0, 0]
    assert window.save_error is not None and not gallery.buttons[Label.KEEP].isEnabled()
    assert "rejected 0" in gallery.count_text()
    monkeypatch.undo()
    assert window.retry_saving()
    disk_full(monkeypatch)
    window.undo()  # an undo that cannot be saved is not made either
    assert window.session.curation.labels[0] == Label.KEEP and window.save_error is not None


def test_a_second_window_on_the_same_session_is_read_only(make_window, qtbot, tiny_set):
    first = make_window(tiny_set)
    QTest.keyClick(first, K.Key_K)
    second = make_window(tiny_set)
    assert second.session.read_only and not first.session.read_only
    assert second.banner.isVisible() and second.banner.text.text().startswith("Read-only:")
    assert "another gan-viewer window or process (process" in second.banner.text.text()
    assert not second.banner.retry_button.isVisible()
    assert "read-only" in second.statusBar().currentMessage()
    assert not second.actions_["keep"].isEnabled() and not second.bar.keep_button.isEnabled()
    assert not second.docks.gallery.buttons[Label.KEEP].isEnabled()
    assert second.session.curation.labels[0] == Label.KEEP  # it shows what the writer saved
    qtbot.wait(300)
    second.grab().save(SCREENSHOTS.format("read_only"))
    QTest.keyClick(second, K.Key_R)  # nothing: the first window's decisions are never overwritten
    second.decide(Label.REJECT)
    first.decide(Label.REJECT)
    path = first.session.journal.path
    second.close_session()
    first.close_session()
    assert read_labels(path).tolist()[:2] == [Label.KEEP, Label.REJECT]
    third = make_window(tiny_set)  # the writer has gone: this one writes
    assert not third.session.read_only and not third.banner.isVisible()


def test_ctrl_z_in_the_gallery_undoes_the_last_action(make_window, qtbot, tiny_set):
    window = make_window(tiny_set)
    gallery = window.docks.gallery
    flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
    gallery.view.selectionModel().select(QItemSelection(gallery.model.index(3), gallery.model.index(5)), flags)
    gallery.buttons[Label.KEEP].click()  # bulk keep 3..5
    window.go(0)
    QTest.keyClick(window, K.Key_R)  # the last action: reject 0
    gallery.view.setFocus()
    qtbot.waitUntil(gallery.view.hasFocus)
    QTest.keyClick(gallery.view, K.Key_Z, Qt.KeyboardModifier.ControlModifier)
    labels = window.session.curation.labels
    assert labels[0] == Label.UNDECIDED  # the reject is undone ...
    assert labels[3:6].tolist() == [Label.KEEP] * 3  # ... and the selection keeps its labels
    np.testing.assert_array_equal(read_labels(window.session.journal.path), labels)
