"""The window's docks: metadata, gallery and micrograph, rebuilt for each session.

The gallery (:mod:`gan_viewer.gui.gallery`) and the micrograph view
(:mod:`gan_viewer.gui.micrograph_view`) are optional parts: when one cannot be imported, its dock
is still there and says what is missing.
"""

from __future__ import annotations

import importlib
import logging

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget, QLabel, QMainWindow, QWidget

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
    """Owns the docks of ``window`` (a MainWindow) and keeps them in step with the cursor and labels."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.gallery: QWidget | None = None
        self.micrograph: QWidget | None = None
        self.metadata_dock = self._dock("Metadata", window.metadata, Qt.DockWidgetArea.RightDockWidgetArea)
        self._session_docks: list[QDockWidget] = []

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self.window)
        dock.setObjectName(title.lower())
        dock.setWidget(widget)
        self.window.addDockWidget(area, dock)
        self.window.view_menu.addAction(dock.toggleViewAction())
        return dock

    def attach(self, session, images) -> None:
        """Create the gallery and (for a micrograph) the micrograph view for ``session``."""
        module = "gan_viewer.gui.gallery"
        gallery_cls, why = _optional(module, "GalleryWidget")
        if gallery_cls is not None:
            self.gallery = gallery_cls(session, images.read)
            self.gallery.particleActivated.connect(self.window.go)
            self.gallery.decisionFailed.connect(self.window.save_failed)
        widget = self.gallery if gallery_cls is not None else unavailable("Gallery", module, why)
        dock = self._dock("Gallery", widget, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.window.resizeDocks([dock], [230], Qt.Orientation.Vertical)  # the triptych gets the room
        self._session_docks.append(dock)
        source = session.source
        if not hasattr(source, "micrograph_path"):
            return
        module = "gan_viewer.gui.micrograph_view"
        view_cls, why = _optional(module, "MicrographView")
        if view_cls is None:
            self._session_docks.append(self._dock("Micrograph", unavailable("Micrograph view", module, why),
                                                  Qt.DockWidgetArea.RightDockWidgetArea))
        else:
            self.micrograph = view_cls()
            self.micrograph.set_micrograph(micrograph_image(source), np.asarray(source.coordinates), source.box,
                                           session.curation.labels.copy())
            self.micrograph.particleClicked.connect(self.window.go)
            self._session_docks.append(self._dock("Micrograph", self.micrograph,
                                                  Qt.DockWidgetArea.RightDockWidgetArea))

    def detach(self) -> None:
        for dock in self._session_docks:
            self.window.view_menu.removeAction(dock.toggleViewAction())
            self.window.removeDockWidget(dock)
            dock.deleteLater()
        self._session_docks.clear()
        self.gallery = self.micrograph = None

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

    def set_labels(self, labels: np.ndarray) -> None:
        if self.micrograph is not None:
            self.micrograph.set_labels(labels.copy())

    def set_scores(self, scores: np.ndarray) -> None:
        if self.gallery is not None:
            self.gallery.set_scores(scores.copy())


def micrograph_image(source) -> np.ndarray:
    """The whole micrograph of a :class:`~gan_viewer.io.micrograph.MicrographParticles`, (H, W) float32."""
    from gan_viewer.io.mrc import MrcStack

    with MrcStack(source.micrograph_path) as stack:
        return np.asarray(stack.read(np.array([0]))[0], np.float32)
