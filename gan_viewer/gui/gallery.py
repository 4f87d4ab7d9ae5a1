"""A virtualised grid of particle thumbnails: label badges, bulk keep/reject, sort and filter by any column.

:class:`GalleryWidget` is a thin Qt adapter over a :class:`~gan_viewer.core.session.Session`:
rows are an index array (see :mod:`gan_viewer.gui.gallery_filter`), thumbnails come from a
``fetch`` callable run off the UI thread (:mod:`gan_viewer.gui.gallery_loader`), and labels are
read from ``session.curation``, whose ``changed`` signal repaints the badges.

Sorting by a score that is not known for every particle says so above the grid (and offers to
compute it) instead of silently showing another order. The histogram's "Reject all below" and
"Keep all above" label the undecided particles beyond a threshold in one decision (one undo
step), after the user confirms. The curator model's prediction (:mod:`gan_viewer.core.learning`)
marks each undecided thumbnail with a hollow corner in the predicted colour; it is never applied
without a click.
"""

from __future__ import annotations

import logging

import numpy as np
from PyQt6 import QtCore, QtWidgets

from gan_viewer.core.curation import Label, unique_indices
from gan_viewer.core.journal import SaveError
from gan_viewer.core.scores import DEFAULT_SCORE, DEFAULT_SOURCE
from gan_viewer.gui.gallery_filter import INDEX, PREDICTED, Columns, ViewSpec, compute_view
from gan_viewer.gui.gallery_histogram import HistogramFilter
from gan_viewer.gui.gallery_loader import Fetch, ThumbnailLoader
from gan_viewer.gui.gallery_model import GridView, ParticleListModel, ParticleRole, ThumbnailDelegate

log = logging.getLogger(__name__)

Key = QtCore.Qt.Key
LABEL_FILTERS = {"all labels": None, "undecided": Label.UNDECIDED, "kept": Label.KEEP, "rejected": Label.REJECT}
KEY_LABELS = {Key.Key_K: Label.KEEP, Key.Key_R: Label.REJECT, Key.Key_X: Label.REJECT, Key.Key_U: Label.UNDECIDED}


def ask(parent: QtWidgets.QWidget, title: str, text: str) -> bool:
    """Yes / no, asked in a dialog (tests replace :attr:`GalleryWidget.confirm`)."""
    answer = QtWidgets.QMessageBox.question(parent, title, text)
    return answer == QtWidgets.QMessageBox.StandardButton.Yes


class GalleryWidget(QtWidgets.QWidget):
    """Thumbnails of a session's particles in a scrolling grid.

    Parameters
    ----------
    session
        Has ``source`` (``len``, optional ``table.particles`` DataFrame), ``curation`` (``labels``
        (n,) int8, psygnal ``changed``) and ``decide(label, indices)``.
    fetch
        ``fetch(indices (k,) int64) -> (k, h, w) float32`` images; called on a worker thread only,
        with at most ``batch_size`` visible particles per call.
    thumb_size, cache_size, batch_size
        Thumbnail side (px), thumbnails kept in the LRU cache, most particles per ``fetch``.

    Signals
    -------
    particleActivated(int)
        A particle was clicked (no modifier), double-clicked or chosen with Enter.
    decisionFailed(SaveError)
        A bulk decision could not be saved, so it was not made.
    scoreAllRequested()
        The user asked to compute the score the view is sorted by.

    Attributes
    ----------
    confirm : callable
        ``confirm(parent, title, text) -> bool``, asked before a bulk action by threshold.
    rejection_warning : callable or None
        ``rejection_warning(indices) -> str``: what rejecting ``indices`` would cost (e.g. view
        directions it would empty), added to the question; "" when nothing.
    predicted : callable
        ``predicted() -> (n,) p_keep or None``, the curator model's prediction, for the thumbnails.
    """

    particleActivated = QtCore.pyqtSignal(int)
    decisionFailed = QtCore.pyqtSignal(object)
    scoreAllRequested = QtCore.pyqtSignal()
    _labelsChanged = QtCore.pyqtSignal()  # bridges psygnal (any thread) to the UI thread

    def __init__(self, session, fetch: Fetch, parent: QtWidgets.QWidget | None = None, *,
                 thumb_size: int = 96, cache_size: int = 2000, batch_size: int = 64) -> None:
        super().__init__(parent)
        self.session = session
        table = getattr(getattr(session.source, "table", None), "particles", None)
        if table is None:  # a micrograph's picks: the coordinate file's columns (Topaz's score, say)
            table = getattr(session.source, "rows", None)
        self.columns = Columns(len(session.source), table)
        self.spec = ViewSpec()
        self.decisions_enabled = True
        self.confirm = ask
        self.rejection_warning = None
        self.predicted = lambda: None
        self.view = GridView(self)
        self.loader = ThumbnailLoader(fetch, self._visible_particles, thumb_size, cache_size, batch_size, self)
        self.model = ParticleListModel(np.arange(len(session.source)), self._labels, self)
        self.view.setModel(self.model)
        self.view.setItemDelegate(ThumbnailDelegate(self.loader, self._labels, self.view,
                                                    predicted=lambda: self.predicted()))
        self.view.set_cell(thumb_size + 8)
        self.view.setMinimumHeight(thumb_size + 8 + 2 * self.view.frameWidth())  # a whole row, even on a laptop
        self._build_controls(thumb_size)
        self._counts_timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self._counts_timer.timeout.connect(self._on_labels_changed)
        self._connect()
        self._update_counts()

    # -- public API --------------------------------------------------------------------------
    def visible_indices(self) -> np.ndarray:
        """(m,) int64 particle indices of the current view, in display order (all rows, not just on screen)."""
        return self.model.rows

    def selected_indices(self) -> np.ndarray:
        """(k,) int64 particle indices of the selected rows, in display order."""
        ranges = self.view.selectionModel().selection()
        rows = [np.arange(r.top(), r.bottom() + 1) for r in ranges]
        rows = unique_indices(np.concatenate(rows)) if rows else np.zeros(0, np.int64)
        return self.model.rows[rows]

    def set_fetch(self, fetch: Fetch) -> None:
        """Take images from ``fetch`` from now on (e.g. denoised ones); reloads the thumbnails."""
        self.loader.set_fetch(fetch)
        self.view.viewport().update()

    def set_scores(self, scores: np.ndarray | dict[str, np.ndarray]) -> None:
        """Scores (name -> (n,) float with NaN where unknown; or the agreement scores alone);
        re-sorts and re-filters if they are used."""
        names = self.columns.set_scores(scores)
        if DEFAULT_SCORE in names and not self.sort_chosen and self.spec.sort == INDEX \
                and np.isfinite(self.columns.values(DEFAULT_SCORE)).all():
            self.set_sort(DEFAULT_SCORE)  # the default key, once known for every particle (lowest first)
            self.sort_chosen = False
        if self.filter.column() in names:
            self.filter.refresh()
        if self.spec.sort in names or self.spec.filter_column in names:
            self.refresh()

    def set_sort(self, column: str, descending: bool = False) -> None:
        """Sort the view by ``column`` ("index", "gvScore", "agreement score" or a STAR column)."""
        if column not in self.columns.names():
            raise KeyError(f"no column {column!r} to sort by")
        self.sort_chosen = True
        for widget, set_value in ((self.sort_combo, lambda: self.sort_combo.setCurrentText(column)),
                                  (self.descending, lambda: self.descending.setChecked(descending))):
            widget.blockSignals(True)
            set_value()
            widget.blockSignals(False)
        self._apply(sort=column, descending=descending)

    def set_filter(self, column: str | None, low: float = -np.inf, high: float = np.inf) -> None:
        """Show only particles with ``low <= column <= high`` (None: no range filter)."""
        self.filter.set_column(column)
        if column is not None:
            self.filter.set_range(max(low, -1e300), min(high, 1e300))

    def set_label_filter(self, label: Label | int | None) -> None:
        """Show only particles with ``label`` (None: all)."""
        name = next(k for k, v in LABEL_FILTERS.items() if v == (None if label is None else Label(label)))
        self.label_combo.setCurrentText(name)

    def refresh(self) -> None:
        """Recompute the view from the current sort and filters, and repaint."""
        self._apply()

    def decide_selected(self, label: Label | int) -> bool:
        """Label every selected particle (one undo step); True if anything changed.

        A decision that cannot be saved is not made: ``decisionFailed`` says why.
        """
        indices = self.selected_indices()
        if not indices.size or not self.decisions_enabled:
            return False
        log.info("gallery: %d particles -> %s", indices.size, Label(label).name.lower())
        try:
            return self.session.decide(Label(label), indices)
        except SaveError as exc:
            self.decisionFailed.emit(exc)
            return False

    def decide_beyond_threshold(self, action: str) -> bool:
        """"reject below": reject every undecided particle below the histogram's lower threshold;
        "keep above": keep every undecided one above the upper. Asks first (:attr:`confirm`);
        one decision, so one undo step. True if anything changed."""
        column = self.filter.column()
        if column is None or not self.decisions_enabled:
            return False
        values, (low, high) = self.columns.values(column), self.filter.range()
        undecided = self._labels() == Label.UNDECIDED
        with np.errstate(invalid="ignore"):
            beyond = values < low if action == "reject below" else values > high
        indices = np.flatnonzero(undecided & beyond)
        label, verb = (Label.REJECT, "Reject") if action == "reject below" else (Label.KEEP, "Keep")
        where = f"below {low:.4g}" if label == Label.REJECT else f"above {high:.4g}"
        if not indices.size:
            self.notice_text(f"no undecided particle has {column} {where}")
            return False
        decided = int((~undecided & beyond).sum())
        text = (f"{verb} the {indices.size:,} undecided particles whose {column} is {where}?"
                + (f" The {decided:,} decided ones there keep their labels." if decided else "")
                + " It is one step: Ctrl+Z undoes it.")
        warning = self.rejection_warning(indices) if label == Label.REJECT and self.rejection_warning else ""
        if warning:
            text += f"\n\n{warning}"
        if not self.confirm(self, f"{verb} by {column}", text):
            return False
        log.info("gallery: %d undecided particles with %s %s -> %s", indices.size, column, where, label.name.lower())
        try:
            return self.session.decide(label, indices)
        except SaveError as exc:
            self.decisionFailed.emit(exc)
            return False

    def notice_text(self, text: str, offer_scoring: bool = False) -> None:
        """A line above the grid ("" hides it), with a "Score all" button when ``offer_scoring``."""
        self.notice.setText(text)
        self.notice_button.setVisible(offer_scoring)
        self.notice_bar.setVisible(bool(text))

    def set_decisions_enabled(self, on: bool) -> None:
        """Bulk keep / reject / undecide on or off (off while the session cannot be saved)."""
        self.decisions_enabled = on
        for button in (*self.buttons.values(), self.filter.reject_below, self.filter.keep_above):
            button.setEnabled(on)

    def count_text(self) -> str:
        return self.counts.text()

    # -- building ----------------------------------------------------------------------------
    def _build_controls(self, thumb_size: int) -> None:
        self.sort_combo = QtWidgets.QComboBox(toolTip="Sort by")
        self.sort_combo.addItems(self.columns.names())
        default = self.sort_combo.findText(DEFAULT_SCORE)
        self.sort_combo.setItemData(default, f"{DEFAULT_SCORE}: the default score ({DEFAULT_SOURCE}, the whitened CTF "
                                    "matched filter; higher is better). Sorted by it once every particle has it",
                                    QtCore.Qt.ItemDataRole.ToolTipRole)
        self.sort_chosen = False  # the user picked a sort key (then gvScore does not take over)
        self.descending = QtWidgets.QToolButton(text="↓ descending", checkable=True)
        self.lowest_score = QtWidgets.QPushButton(f"Lowest {DEFAULT_SCORE} first", toolTip=f"Sort by {DEFAULT_SCORE}, the default "
                                                  "score (whitened CTF matched filter), ascending")
        self.label_combo = QtWidgets.QComboBox(toolTip="Show particles with this label")
        self.label_combo.addItems(list(LABEL_FILTERS))
        self.size_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal, minimum=48, maximum=256,
                                             value=thumb_size, toolTip="Thumbnail size")
        self.size_slider.setFixedWidth(100)
        self.filter = HistogramFilter(self)
        self.filter.set_columns(self.columns.numeric_names(), self.columns.values)
        self.counts = QtWidgets.QLabel()
        self.notice_bar = QtWidgets.QWidget()
        self.notice = QtWidgets.QLabel()
        self.notice.setWordWrap(True)
        self.notice.setStyleSheet("color: #8a5a00; font-weight: bold;")
        self.notice_button = QtWidgets.QPushButton("Score all", toolTip="Compute the scores of every particle "
                                                   "(Tools > Score all particles)")
        notice_row = QtWidgets.QHBoxLayout(self.notice_bar)
        notice_row.setContentsMargins(0, 0, 0, 0)
        notice_row.addWidget(self.notice, 1)
        notice_row.addWidget(self.notice_button)
        self.notice_bar.hide()
        self.buttons: dict[Label, QtWidgets.QPushButton] = {}
        for label, text in ((Label.KEEP, "Keep (K)"), (Label.REJECT, "Reject (R/X)"),
                            (Label.UNDECIDED, "Undecide (U)")):
            self.buttons[label] = QtWidgets.QPushButton(text, toolTip=f"{text.split()[0]} the selected particles")
            self.buttons[label].clicked.connect(lambda _=False, lab=label: self.decide_selected(lab))

        top = QtWidgets.QHBoxLayout()
        for widget in (QtWidgets.QLabel("Sort"), self.sort_combo, self.descending, self.lowest_score,
                       self.label_combo, QtWidgets.QLabel("Size"), self.size_slider):
            top.addWidget(widget)
        top.addStretch(1)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.counts, 1)
        for button in self.buttons.values():
            bottom.addWidget(button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(top)
        layout.addWidget(self.filter)
        layout.addWidget(self.notice_bar)
        layout.addWidget(self.view, 1)
        layout.addLayout(bottom)

    def _connect(self) -> None:
        self.sort_combo.currentTextChanged.connect(self._on_sort_picked)
        self.descending.toggled.connect(lambda on: self._apply(descending=on))
        self.lowest_score.clicked.connect(lambda: self.set_sort(DEFAULT_SCORE, descending=False))
        self.label_combo.currentTextChanged.connect(lambda name: self._apply(label=LABEL_FILTERS[name]))
        self.filter.rangeChanged.connect(lambda c, lo, hi: self._apply(filter_column=c, low=lo, high=hi))
        self.filter.bulkRequested.connect(self.decide_beyond_threshold)
        self.notice_button.clicked.connect(self.scoreAllRequested)
        self.size_slider.valueChanged.connect(self._set_thumb_size)
        self.loader.loaded.connect(lambda _: self.view.viewport().update())
        self.view.verticalScrollBar().valueChanged.connect(lambda _: self.view.viewport().update())
        self.view.clicked.connect(self._on_clicked)
        self.view.activated.connect(self._emit_activated)
        self.view.keyTyped.connect(lambda key: self.decide_selected(KEY_LABELS[Key(key)]))
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._update_counts())
        # psygnal calls back on the emitting thread; emitting a Qt signal from there is queued to the
        # UI thread by Qt's AutoConnection (and direct when emitted on the UI thread).
        self._labelsChanged.connect(self._counts_timer.start)
        self.session.curation.changed.connect(self._on_curation_changed)

    # -- reactions ---------------------------------------------------------------------------
    def _on_sort_picked(self, name: str) -> None:
        self.sort_chosen = True
        self._apply(sort=name)

    def _on_curation_changed(self, indices: np.ndarray, labels: np.ndarray) -> None:
        try:
            self._labelsChanged.emit()
        except RuntimeError:  # the Qt side is gone: stop listening
            self.session.curation.changed.disconnect(self._on_curation_changed)

    def _on_labels_changed(self) -> None:
        if self.spec.label is not None:
            self.refresh()  # decided particles leave an "undecided" view, and so on
        else:
            self._update_counts()
            self.view.viewport().update()

    def _on_clicked(self, index: QtCore.QModelIndex) -> None:
        if QtWidgets.QApplication.keyboardModifiers() == QtCore.Qt.KeyboardModifier.NoModifier:
            self._emit_activated(index)

    def _emit_activated(self, index: QtCore.QModelIndex) -> None:
        particle = index.data(ParticleRole)
        if particle is not None:
            self.particleActivated.emit(int(particle))

    def _set_thumb_size(self, size: int) -> None:
        self.loader.set_size(size)
        self.view.set_cell(size + 8)
        self.view.viewport().update()

    def _apply(self, **changes) -> None:
        """Update the view spec with ``changes`` and rebuild the rows, keeping the scroll position."""
        for key, value in changes.items():
            setattr(self.spec, key, value)
        rows, old = compute_view(self.columns, self.spec, self._labels()), self.model.rows
        if not np.array_equal(rows, old):
            keep = self._labels()[old] == self.spec.label if self.spec.label is not None else None
            # decisions that only take rows out of a label-filtered view: remove them in place, so
            # the grid does not jump back to the top; anything else resets the model
            if keep is None or not np.array_equal(old[keep], rows):
                self.model.set_rows(rows)
            else:
                self.view.hold_scroll()
                if not self.model.remove_rows(keep):
                    self.model.set_rows(rows)
        self._update_counts()
        self._update_notice()
        self.view.viewport().update()

    def _update_notice(self) -> None:
        """Say when the sort key is a score not known for every particle."""
        name = self.spec.sort
        if name not in self.columns.scores:
            self.notice_text("")
            return
        known = int(np.isfinite(self.columns.values(name)).sum())
        if known == self.columns.n:
            self.notice_text("")
        elif name == PREDICTED:
            self.notice_text(f"{name}: the curator model has not learnt yet (it needs a few dozen decisions, kept and "
                             "rejected); the order is the particles' index order" if not known else
                             f"{name} is known for {known:,} of {self.columns.n:,} particles; the others are last")
        elif not known:
            self.notice_text(f"{name} is not computed yet, so this order is the particles' index order: "
                             "score them to sort by it", offer_scoring=True)
        else:
            self.notice_text(f"{name} is known for {known:,} of {self.columns.n:,} particles; the others are "
                             "listed last, in index order", offer_scoring=True)

    def _update_counts(self) -> None:
        rows = self.model.rows
        counts = np.bincount(self._labels()[rows], minlength=3) if rows.size else np.zeros(3, int)
        selected = sum(r.height() for r in self.view.selectionModel().selection())
        self.counts.setText(
            f"showing {rows.size:,} of {self.columns.n:,} · kept {counts[Label.KEEP]:,} · "
            f"rejected {counts[Label.REJECT]:,} · undecided {counts[Label.UNDECIDED]:,} in view"
            + (f" · {selected:,} selected" if selected else ""))

    def _labels(self) -> np.ndarray:
        return self.session.curation.labels

    def _visible_particles(self) -> np.ndarray:
        first, last = self.view.visible_rows()
        return self.model.rows[first:last]
