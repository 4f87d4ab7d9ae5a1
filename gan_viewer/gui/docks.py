"""The window's docks: metadata, gallery, angular coverage and micrograph, rebuilt for each session
(the micrograph view alone for a micrograph opened without coordinates; the coverage for
particles with angles).

The gallery (:mod:`gan_viewer.gui.gallery`) and the micrograph view
(:mod:`gan_viewer.gui.micrograph_view`) are optional parts: when one cannot be imported, its dock
is still there and says what is missing.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMenu, QWidget

from gan_viewer.core.display_filters import DisplayFilter
from gan_viewer.gui.display import described, filtered_fetch, titled

log = logging.getLogger(__name__)


def _optional(module: str, name: str):
    """``(module.name, None)``, or ``(None, why)`` when the module cannot be imported."""
    try:
        return getattr(importlib.import_module(module), name), None
    except ImportError as exc:
        log.warning("%s cannot be imported: %s", module, exc)
        return None, f"{type(exc).__name__}: {exc}"


def unavailable(title: str, module: str, reason: str) -> QLabel:
    """The widget of a dock whose part could not be imported: what is missing, and why."""
    label = QLabel(f"The {title.lower()} is not available: {module} could not be imported ({reason}).")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("color: #b71c1c; padding: 12px;")
    return label


class Docks:
    """Owns the docks of a main window and keeps them in step with the cursor, the labels and the
    display filter.

    Parameters
    ----------
    host
        The QMainWindow the docks are added to.
    view_menu
        The menu that gets each dock's show/hide action.
    metadata
        The metadata panel, docked for the window's lifetime.
    go
        ``go(index)``: make particle ``index`` current (a gallery or micrograph click).
    decision_failed
        ``decision_failed(error)``: a decision made in the gallery could not be saved (a SaveError).
    micrograph_shown
        Called when the micrograph view has its image on screen.
    score_all
        ``score_all()``: compute the scores of every particle (the gallery asks when sorting by a
        score that is not computed yet).
    """

    def __init__(self, host: QMainWindow, view_menu: QMenu, metadata: QWidget, go: Callable[[int], None],
                 decision_failed: Callable[[Exception], None], micrograph_shown: Callable[[], None],
                 score_all: Callable[[], object]) -> None:
        self.host, self.view_menu = host, view_menu
        self._go, self._decision_failed, self._micrograph_shown = go, decision_failed, micrograph_shown
        self._score_all = score_all
        self.gallery: QWidget | None = None
        self.micrograph: QWidget | None = None
        self.coverage = None  # CoverageView, for particles with angles
        self.metadata_dock = self._dock("Metadata", metadata, Qt.DockWidgetArea.RightDockWidgetArea)
        self._session_docks: list[QDockWidget] = []
        self._gallery_dock: QDockWidget | None = None
        self._micrograph_dock: QDockWidget | None = None
        self._read = None  # the session's raw reader, for the gallery's fetch
        self._apix: np.ndarray | None = None  # (n,) pixel sizes of the session's particles
        self.display = DisplayFilter()
        self._widened = False  # the right docks were widened for a micrograph shown alone

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self.host)
        dock.setObjectName(title.lower())
        dock.setWidget(widget)
        self.host.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def attach(self, session, images, apix: np.ndarray | None = None) -> None:
        """Create the gallery and (for a micrograph) the micrograph view for ``session``, whose
        particles have pixel sizes ``apix`` (n,) (None: unknown)."""
        module = "gan_viewer.gui.gallery"
        gallery_cls, why = _optional(module, "GalleryWidget")
        self._read, self._apix = images.read, apix
        if self._widened:  # back from a micrograph alone: the room to the particle panels
            self.host.resizeDocks([self.metadata_dock], [340], Qt.Orientation.Horizontal)
            self._widened = False
        if gallery_cls is not None:
            self.gallery = gallery_cls(session, filtered_fetch(images.read, self.display, apix))
            self.gallery.particleActivated.connect(self._go)
            self.gallery.decisionFailed.connect(self._decision_failed)
            self.gallery.scoreAllRequested.connect(self._score_all)
        widget = self.gallery if gallery_cls is not None else unavailable("Gallery", module, why)
        dock = self._dock("Gallery", widget, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.host.resizeDocks([dock], [230], Qt.Orientation.Vertical)  # the triptych gets the room
        self._session_docks.append(dock)
        self._gallery_dock = dock
        self._title_gallery()
        self._add_coverage(session)
        source = session.source
        if hasattr(source, "micrograph_path"):
            self._add_micrograph(source.micrograph_path, np.asarray(source.coordinates), source.box,
                                 session.curation.labels.copy(), source.pixel_size)

    def _add_coverage(self, session) -> None:
        """The angular coverage dock, for particles with view angles (rot and tilt)."""
        table = getattr(session.source, "table", None)
        eulers = None if table is None else table.eulers()
        if eulers is None or "rlnAngleTilt" not in table.particles.columns:
            return
        from gan_viewer.core.coverage import Coverage
        from gan_viewer.gui.coverage_view import CoverageView

        self.coverage = CoverageView(Coverage(eulers, session.curation.labels))
        dock = self._dock("Angular coverage", self.coverage, Qt.DockWidgetArea.RightDockWidgetArea)
        self._session_docks.append(dock)
        if self.gallery is not None:
            self.gallery.rejection_warning = self.coverage.warning

    def show_micrograph(self, path, apix: float | None) -> None:
        """A micrograph opened without coordinates: the micrograph view alone, with no boxes, given
        the room the particle panels do not need (until particles are opened)."""
        self._add_micrograph(path, np.zeros((0, 2)), 0, np.zeros(0, np.int8), apix)
        self._widened = True
        QTimer.singleShot(0, self._widen)  # once the new dock is laid out

    def _widen(self) -> None:
        window, dock = self.host, self._micrograph_dock
        if not self._widened or dock is None:
            return
        window.resizeDocks([dock], [window.width()], Qt.Orientation.Horizontal)  # as wide as the panels allow
        window.resizeDocks([self.metadata_dock, dock], [100, window.height()], Qt.Orientation.Vertical)

    def _add_micrograph(self, path, coords: np.ndarray, box: int, labels: np.ndarray, apix: float | None) -> None:
        module = "gan_viewer.gui.micrograph_view"
        view_cls, why = _optional(module, "MicrographView")
        if view_cls is None:
            self._session_docks.append(self._dock("Micrograph", unavailable("Micrograph view", module, why),
                                                  Qt.DockWidgetArea.RightDockWidgetArea))
            return
        self.micrograph = view_cls(display=self.display)
        self.micrograph.particleClicked.connect(self._go)
        self.micrograph.displayChanged.connect(self._on_micrograph_shown)
        self._micrograph_dock = self._dock("Micrograph", self.micrograph, Qt.DockWidgetArea.RightDockWidgetArea)
        self._session_docks.append(self._micrograph_dock)
        self.micrograph.set_micrograph(path, coords, box, labels, apix)

    def _on_micrograph_shown(self, description: str) -> None:
        if self._micrograph_dock is not None:
            self._micrograph_dock.setWindowTitle(titled("Micrograph", description))
        self._micrograph_shown()

    def set_display_filter(self, display: DisplayFilter) -> None:
        """Low-pass and bin the gallery's thumbnails and the micrograph view as ``display`` says."""
        self.display = display
        if self.gallery is not None:
            self.gallery.set_fetch(filtered_fetch(self._read, display, self._apix))
            self._title_gallery()
        if self.micrograph is not None:
            self.micrograph.set_display_filter(display)

    def _title_gallery(self) -> None:
        if self._gallery_dock is not None:
            self._gallery_dock.setWindowTitle(titled("Gallery", described(self.display, self._apix)))

    def detach(self) -> None:
        for dock in self._session_docks:
            self.view_menu.removeAction(dock.toggleViewAction())
            self.host.removeDockWidget(dock)
            dock.deleteLater()
        self._session_docks.clear()
        self.gallery = self.micrograph = self._gallery_dock = self._micrograph_dock = self.coverage = None
        self._read = self._apix = None

    def decide_selection(self, label: int) -> bool:
        """While the gallery has the focus and a selection, K and R act on that selection instead."""
        gallery = self.gallery
        if gallery is None or not gallery.view.hasFocus() or not len(gallery.selected_indices()):
            return False
        return bool(gallery.decide_selected(label)) or True

    def set_decisions_enabled(self, on: bool) -> None:
        if self.gallery is not None:
            self.gallery.set_decisions_enabled(on)

    def set_current(self, index: int) -> None:
        if self.micrograph is not None:
            self.micrograph.set_current(index)
        if self.coverage is not None:
            self.coverage.set_current(index)

    def labels_changed(self, indices: np.ndarray, labels: np.ndarray) -> None:
        """Particles ``indices`` (k,) now have ``labels`` (k,) (the coverage follows incrementally)."""
        if self.coverage is not None:
            self.coverage.update_labels(indices, labels)

    def set_predictor(self, p_keep) -> None:
        """``p_keep() -> (n,) or None``: the curator model's prediction, marked on the thumbnails."""
        if self.gallery is not None:
            self.gallery.predicted = p_keep
            self.gallery.view.viewport().update()

    def set_labels(self, labels: np.ndarray) -> None:
        if self.micrograph is not None:
            self.micrograph.set_labels(labels.copy())

    def set_scores(self, scores: dict[str, np.ndarray]) -> None:
        """Per-particle scores by name (gallery_filter.SCORES), (n,) each."""
        if self.gallery is not None:
            self.gallery.set_scores({name: values.copy() for name, values in scores.items()})
