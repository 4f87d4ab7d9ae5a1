"""A column chooser plus a small histogram with two draggable thresholds (pyqtgraph), their live
counts, and the bulk actions they offer: reject every undecided particle below the lower
threshold, keep every undecided particle above the upper one."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from gan_viewer.gui.gallery_filter import histogram, threshold_counts

NO_FILTER = "no range filter"


class HistogramFilter(QtWidgets.QWidget):
    """Pick a numeric column, see its histogram, drag a region to keep a range of values.

    Signals
    -------
    rangeChanged(column, low, high)
        ``column`` is None when no filter is chosen; emitted at most every 60 ms while dragging.
    bulkRequested(action)
        "reject below" or "keep above": a button was clicked (the gallery confirms and acts).
    """

    rangeChanged = QtCore.pyqtSignal(object, float, float)
    bulkRequested = QtCore.pyqtSignal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QtWidgets.QComboBox(toolTip="Numeric column to filter on")
        self.plot = pg.PlotWidget(background=None)
        self.plot.setFixedHeight(70)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().hideAxis("left")
        self.plot.getPlotItem().setMenuEnabled(False)
        self.bars = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(100, 150, 220, 150),
                                    pen=pg.mkPen(100, 150, 220))
        self.plot.addItem(self.bars)
        self.region = pg.LinearRegionItem(brush=(255, 200, 60, 50))
        self.region.setZValue(10)
        self.plot.addItem(self.region)
        self.readout = QtWidgets.QLabel()
        self.counts = QtWidgets.QLabel(toolTip="Particles below the lower threshold, between the two, above the "
                                               "upper one, and not known yet")
        self.reject_below = QtWidgets.QPushButton("Reject all below", toolTip="Reject every undecided particle below "
                                                  "the lower threshold (asks first; one undo step)")
        self.keep_above = QtWidgets.QPushButton("Keep all above", toolTip="Keep every undecided particle above the "
                                                "upper threshold (asks first; one undo step)")
        self.reject_below.clicked.connect(lambda: self.bulkRequested.emit("reject below"))
        self.keep_above.clicked.connect(lambda: self.bulkRequested.emit("keep above"))
        self._edges = np.array([0.0, 1.0])
        self._emit_timer = QtCore.QTimer(self, singleShot=True, interval=60)
        self._emit_timer.timeout.connect(self._emit)
        self.region.sigRegionChanged.connect(self._emit_timer.start)
        self.region.sigRegionChangeFinished.connect(self._emit)
        self.combo.currentTextChanged.connect(self._on_column)

        layout = QtWidgets.QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QtWidgets.QLabel("Filter"), 0, 0)
        layout.addWidget(self.combo, 0, 1)
        layout.addWidget(self.readout, 0, 2)
        layout.addWidget(self.counts, 0, 3)
        layout.addWidget(self.reject_below, 0, 4)
        layout.addWidget(self.keep_above, 0, 5)
        layout.addWidget(self.plot, 1, 0, 1, 6)
        layout.setColumnStretch(3, 1)
        self._values = None
        self.set_columns([], None)

    def set_columns(self, names: list[str], values) -> None:
        """Offer ``names``; ``values(name) -> (n,) float`` gives a column's values."""
        self._values = values
        self.combo.blockSignals(True)
        current = self.combo.currentText()
        self.combo.clear()
        self.combo.addItems([NO_FILTER, *names])
        self.combo.setCurrentText(current if current in names else NO_FILTER)
        self.combo.blockSignals(False)
        self._on_column(self.combo.currentText())

    def column(self) -> str | None:
        text = self.combo.currentText()
        return None if text in ("", NO_FILTER) else text

    def set_column(self, name: str | None) -> None:
        self.combo.setCurrentText(NO_FILTER if name is None else name)

    def set_range(self, low: float, high: float) -> None:
        """Move the thresholds (emits :attr:`rangeChanged`)."""
        self.region.setRegion((low, high))
        self._emit()

    def range(self) -> tuple[float, float]:
        low, high = self.region.getRegion()
        return float(low), float(high)

    def refresh(self) -> None:
        """Recompute the histogram of the current column (e.g. new scores); keeps the thresholds."""
        name = self.column()
        if name is None or self._values is None:
            return
        counts, self._edges = histogram(self._values(name))
        self.bars.setData(self._edges, counts)
        self.plot.setXRange(self._edges[0], self._edges[-1], padding=0.02)
        self._show_counts()

    def count_values(self) -> tuple[int, int, int, int] | None:
        """(below, between, above, unknown) for the current column and thresholds, or None."""
        name = self.column()
        if name is None or self._values is None:
            return None
        return threshold_counts(self._values(name), *self.range())

    def _show_counts(self) -> None:
        counts = self.count_values()
        for widget in (self.counts, self.reject_below, self.keep_above):
            widget.setVisible(counts is not None)
        if counts is None:
            return
        below, inside, above, unknown = counts
        self.counts.setText(f"{below:,} below · {inside:,} between · {above:,} above"
                            + (f" · {unknown:,} not known" if unknown else ""))

    def _on_column(self, _text: str) -> None:
        name = self.column()
        self.plot.setVisible(name is not None)
        if name is not None:
            self.refresh()
            self.region.blockSignals(True)
            self.region.setRegion((self._edges[0], self._edges[-1]))
            self.region.blockSignals(False)
        self._emit()

    def _emit(self) -> None:
        self._emit_timer.stop()
        name = self.column()
        self._show_counts()
        if name is None:
            self.readout.setText("")
            self.rangeChanged.emit(None, -np.inf, np.inf)
            return
        low, high = self.range()
        self.readout.setText(f"{low:.6g} … {high:.6g}")
        self.rangeChanged.emit(name, low, high)
