"""A column chooser plus a small histogram with two draggable thresholds (pyqtgraph)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from gan_viewer.gui.gallery_filter import histogram

NO_FILTER = "no range filter"


class HistogramFilter(QtWidgets.QWidget):
    """Pick a numeric column, see its histogram, drag a region to keep a range of values.

    Signals
    -------
    rangeChanged(column, low, high)
        ``column`` is None when no filter is chosen; emitted at most every 60 ms while dragging.
    """

    rangeChanged = QtCore.pyqtSignal(object, float, float)

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
        layout.addWidget(self.plot, 1, 0, 1, 3)
        layout.setColumnStretch(2, 1)
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
        if name is None:
            self.readout.setText("")
            self.rangeChanged.emit(None, -np.inf, np.inf)
            return
        low, high = self.range()
        self.readout.setText(f"{low:.6g} … {high:.6g}")
        self.rangeChanged.emit(name, low, high)
