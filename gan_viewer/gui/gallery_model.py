"""The gallery's Qt model, delegate and view: rows are a view (an index array) into the particles.

Nothing here is per-row Python state: :class:`ParticleListModel` holds one int64 array, the
delegate asks the :class:`~gan_viewer.gui.gallery_loader.ThumbnailLoader` for a picture while
painting (only visible rows are painted), and label badges read the curation's label array.
"""

from __future__ import annotations

import numpy as np
from PyQt6 import QtCore, QtGui, QtWidgets

from gan_viewer.core.curation import Label
from gan_viewer.gui.gallery_loader import ThumbnailLoader

ParticleRole = QtCore.Qt.ItemDataRole.UserRole + 1
LABEL_COLOURS = {Label.KEEP: QtGui.QColor(40, 200, 80), Label.REJECT: QtGui.QColor(230, 50, 50)}
_MARGIN = 4  # px between a thumbnail and its grid cell


class ParticleListModel(QtCore.QAbstractListModel):
    """A flat list model over ``rows`` (m,) int64 particle indices.

    Parameters
    ----------
    rows
        The particles to show, in display order.
    labels
        Returns the (n,) int8 label array (read on demand, so it is always current).
    """

    def __init__(self, rows: np.ndarray, labels, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._rows = np.asarray(rows, np.int64)
        self._labels = labels

    @property
    def rows(self) -> np.ndarray:
        """(m,) int64 particle index of each row."""
        return self._rows

    def set_rows(self, rows: np.ndarray) -> None:
        self.beginResetModel()
        self._rows = np.asarray(rows, np.int64)
        self.endResetModel()

    def remove_rows(self, keep: np.ndarray, max_runs: int = 100) -> bool:
        """Drop the rows where ``keep`` (m,) bool is False, run by run (views keep their scroll position).

        Returns False, changing nothing, when there are more than ``max_runs`` runs to remove
        (a reset is cheaper then).
        """
        edges = np.flatnonzero(np.diff(np.concatenate([[1], keep.astype(np.int8), [1]])))
        starts, stops = edges[0::2], edges[1::2]  # removed rows starts[i] .. stops[i] - 1
        if starts.size > max_runs:
            return False
        for start, stop in zip(starts[::-1].tolist(), stops[::-1].tolist()):
            self.beginRemoveRows(QtCore.QModelIndex(), start, stop - 1)
            self._rows = np.delete(self._rows, np.s_[start:stop])
            self.endRemoveRows()
        return True

    def rowCount(self, parent: QtCore.QModelIndex = QtCore.QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else int(self._rows.size)

    def data(self, index: QtCore.QModelIndex, role: int = QtCore.Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < self._rows.size:
            return None
        particle = int(self._rows[index.row()])
        if role == ParticleRole:
            return particle
        if role == QtCore.Qt.ItemDataRole.ToolTipRole:
            return f"particle {particle + 1} ({Label(int(self._labels()[particle])).name.lower()})"
        return None

    def flags(self, index: QtCore.QModelIndex) -> QtCore.Qt.ItemFlag:
        return QtCore.Qt.ItemFlag.ItemIsEnabled | QtCore.Qt.ItemFlag.ItemIsSelectable | \
            QtCore.Qt.ItemFlag.ItemNeverHasChildren


class ThumbnailDelegate(QtWidgets.QStyledItemDelegate):
    """Paints a thumbnail (or a placeholder), a label border and corner badge, and the selection."""

    def __init__(self, loader: ThumbnailLoader, labels, parent: QtCore.QObject | None = None,
                 predicted=lambda: None) -> None:
        super().__init__(parent)
        self.loader, self._labels, self._predicted = loader, labels, predicted

    def sizeHint(self, option, index) -> QtCore.QSize:  # noqa: N802
        side = self.loader.size + 2 * _MARGIN
        return QtCore.QSize(side, side)

    def paint(self, painter: QtGui.QPainter, option, index: QtCore.QModelIndex) -> None:
        particle = index.data(ParticleRole)
        if particle is None:
            return
        cell = QtCore.QRectF(option.rect).adjusted(_MARGIN, _MARGIN, -_MARGIN, -_MARGIN)
        image = self.loader.thumbnail(particle)
        painter.save()
        if image is None:
            painter.fillRect(cell, QtGui.QColor(45, 45, 50))
            painter.setPen(QtGui.QColor(150, 150, 160))
            painter.drawText(cell, QtCore.Qt.AlignmentFlag.AlignCenter, "!" if self.loader.failed(particle) else "…")
        else:
            target = QtCore.QRectF(QtCore.QPointF(0, 0), QtCore.QSizeF(image.size()))
            target.moveCenter(cell.center())
            painter.drawImage(target, image)
        label = int(self._labels()[particle])
        self._paint_label(painter, cell, label)
        if label == Label.UNDECIDED:
            self._paint_prediction(painter, cell, self._predicted(), particle)
        if option.state & QtWidgets.QStyle.StateFlag.State_Selected:
            painter.fillRect(cell, QtGui.QColor(60, 140, 255, 60))
            painter.setPen(QtGui.QPen(QtGui.QColor(120, 190, 255), 3))
            painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            painter.drawRect(cell.adjusted(-2.5, -2.5, 2.5, 2.5))
        self._paint_number(painter, cell, particle + 1)
        painter.restore()

    @staticmethod
    def _paint_number(painter: QtGui.QPainter, cell: QtCore.QRectF, number: int) -> None:
        """The 1-based particle number on a dark tab in the bottom-left corner."""
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.75))
        painter.setFont(font)
        text = str(number)
        metrics = QtGui.QFontMetricsF(font)
        tab = QtCore.QRectF(cell.left(), cell.bottom() - metrics.height(),
                            metrics.horizontalAdvance(text) + 6, metrics.height())
        painter.fillRect(tab, QtGui.QColor(0, 0, 0, 150))
        painter.setPen(QtGui.QColor(235, 235, 235))
        painter.drawText(tab, QtCore.Qt.AlignmentFlag.AlignCenter, text)

    @staticmethod
    def _paint_prediction(painter: QtGui.QPainter, cell: QtCore.QRectF, p_keep, particle: int) -> None:
        """A hollow top-right corner in the curator model's predicted colour (undecided particles)."""
        if p_keep is None or not np.isfinite(p_keep[particle]):
            return
        colour = LABEL_COLOURS[Label.KEEP if p_keep[particle] >= 0.5 else Label.REJECT]
        corner = min(cell.width(), cell.height()) * 0.25
        triangle = QtGui.QPolygonF([cell.topRight(), cell.topRight() - QtCore.QPointF(corner, 0),
                                    cell.topRight() + QtCore.QPointF(0, corner)])
        painter.setPen(QtGui.QPen(colour, 2))
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        painter.drawPolygon(triangle)

    @staticmethod
    def _paint_label(painter: QtGui.QPainter, cell: QtCore.QRectF, label: int) -> None:
        """A coloured border and a filled top-right corner triangle for keep / reject."""
        colour = LABEL_COLOURS.get(Label(label))
        if colour is None:
            return
        painter.setPen(QtGui.QPen(colour, 3))
        painter.drawRect(cell.adjusted(1.5, 1.5, -1.5, -1.5))
        corner = min(cell.width(), cell.height()) * 0.25
        triangle = QtGui.QPolygonF([cell.topRight(), cell.topRight() - QtCore.QPointF(corner, 0),
                                    cell.topRight() + QtCore.QPointF(0, corner)])
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.setBrush(colour)
        painter.drawPolygon(triangle)


class GridView(QtWidgets.QListView):
    """A wrapping, uniform-size QListView that lays 1,000,000 rows out in batches.

    ListMode with left-to-right wrapping looks like IconMode but uses Qt's lighter list layout
    (a flow position per row, no per-item structs); measured on 1,000,000 rows it is about twice
    as fast as IconMode, and batches of 20,000 keep each layout step under ~20 ms.
    Letter keys in :attr:`keys` reach :meth:`keyPressEvent` even when a window-wide shortcut
    uses the same letter (e.g. K / R in the triptych), so they act on the gallery's selection.
    """

    keyTyped = QtCore.pyqtSignal(int)  # a key in ``keys`` while the gallery has focus

    keys = (QtCore.Qt.Key.Key_K, QtCore.Qt.Key.Key_R, QtCore.Qt.Key.Key_X, QtCore.Qt.Key.Key_U)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFlow(QtWidgets.QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QtWidgets.QListView.LayoutMode.Batched)
        self.setBatchSize(20_000)
        self.setSpacing(0)
        self.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QtWidgets.QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setMouseTracking(False)
        palette = self.palette()
        palette.setColor(QtGui.QPalette.ColorRole.Base, QtGui.QColor(28, 28, 32))
        self.setPalette(palette)

        self._held_scroll: int | None = None
        self._hold_timer = QtCore.QTimer(self, singleShot=True, interval=2000)
        self._hold_timer.timeout.connect(self._release_scroll)
        self.verticalScrollBar().rangeChanged.connect(self._restore_scroll)
        self.verticalScrollBar().actionTriggered.connect(self._release_scroll)

    def hold_scroll(self) -> None:
        """Keep the current scroll offset through the next (batched) relayout.

        Qt lays out 20,000 rows per step and clamps the scroll bar to each partial layout, which
        would throw the user back towards the top; the offset is put back as the range grows.
        """
        self._held_scroll = self.verticalScrollBar().value()
        self._hold_timer.start()

    def _restore_scroll(self, _low: int, high: int) -> None:
        if self._held_scroll is not None and high >= self._held_scroll:
            self.verticalScrollBar().setValue(self._held_scroll)
            self._release_scroll()

    def _release_scroll(self, *_: object) -> None:
        self._held_scroll = None
        self._hold_timer.stop()

    def set_cell(self, side: int) -> None:
        self.setGridSize(QtCore.QSize(side, side))
        self.verticalScrollBar().setSingleStep(max(1, side // 4))

    def visible_rows(self) -> tuple[int, int]:
        """First and one-past-last row on screen (empty when first >= last)."""
        n = self.model().rowCount() if self.model() else 0
        grid = self.gridSize()
        if not n or grid.height() <= 0:
            return 0, 0
        columns = max(1, self.viewport().width() // grid.width())
        top = self.verticalScrollBar().value()
        first_line, last_line = top // grid.height(), (top + self.viewport().height() - 1) // grid.height()
        return min(first_line * columns, n), min((last_line + 1) * columns, n)

    def event(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and self._own_key(event):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:  # noqa: N802
        if self._own_key(event):
            self.keyTyped.emit(event.key())
            return
        super().keyPressEvent(event)

    def _own_key(self, event: QtGui.QKeyEvent) -> bool:
        plain = event.modifiers() in (QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.KeyboardModifier.ShiftModifier)
        return plain and event.key() in self.keys
