"""The angular coverage dock: the particles left per view direction, updated at each decision.

A rot / tilt map (Lambert cylindrical equal-area: rows are equal steps of cos(tilt), so every
cell is the same share of the sphere) coloured by how many particles of each direction are left
(not rejected, or kept only). Cells whose every particle is rejected are red: rejecting has
emptied that view direction. The current particle's cell is outlined in yellow, and when it is
the last one left there, the line under the map says that rejecting it would empty the direction.
The counts follow the decisions incrementally (:class:`~gan_viewer.core.coverage.Coverage`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from gan_viewer.core.coverage import Coverage

#: what the map counts: combo text -> kept only
MODES = {"kept + undecided": False, "kept only": True}
_EMPTIED_LUT = np.array([[0, 0, 0, 0], [230, 40, 40, 220]], np.uint8)


def _tilt_y(tilt_deg: np.ndarray | float) -> np.ndarray:
    """The map's y of a tilt: 0 at tilt 0, 180 at tilt 180, linear in cos(tilt) (equal area)."""
    return (1.0 - np.cos(np.deg2rad(tilt_deg))) / 2.0 * 180.0


class CoverageView(QtWidgets.QWidget):
    """A view-direction map of ``coverage``, redrawn after decisions (coalesced per event loop turn)."""

    def __init__(self, coverage: Coverage, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.coverage = coverage
        self.current = -1
        self.mode = QtWidgets.QComboBox(toolTip="Count the particles not rejected, or the kept ones only")
        self.mode.addItems(list(MODES))
        self.plot = pg.PlotWidget(background=None)
        self.plot.setMinimumHeight(150)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        item = self.plot.getPlotItem()
        item.setMenuEnabled(False)
        item.invertY(True)
        item.setLabel("bottom", "rot (°)")
        item.setLabel("left", "tilt (°)")
        item.getAxis("left").setTicks([[(float(_tilt_y(t)), f"{t}") for t in (0, 45, 90, 135, 180)]])
        item.getAxis("bottom").setTicks([[(float(r), f"{r}") for r in (-180, -90, 0, 90, 180)]])
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setLookupTable(pg.colormap.get("viridis").getLookupTable(nPts=256))
        self.emptied = pg.ImageItem(axisOrder="row-major")
        self.emptied.setLookupTable(_EMPTIED_LUT)
        self.emptied.setZValue(5)
        self.marker = pg.PlotDataItem(pen=pg.mkPen(255, 220, 0, width=2))
        self.marker.setZValue(10)
        for part in (self.image, self.emptied, self.marker):
            self.plot.addItem(part)
        self.plot.setXRange(-180, 180, padding=0)
        self.plot.setYRange(0, 180, padding=0)
        self.status = QtWidgets.QLabel()
        self.status.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        top = QtWidgets.QHBoxLayout()
        top.addWidget(QtWidgets.QLabel("count"))
        top.addWidget(self.mode)
        top.addStretch(1)
        layout.addLayout(top)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.status)
        self._timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self._timer.timeout.connect(self.redraw)
        self.mode.currentTextChanged.connect(lambda _: self.redraw())
        self.redraw()

    # -- following the session -----------------------------------------------------------------
    def update_labels(self, indices: np.ndarray, labels: np.ndarray) -> None:
        """Particles ``indices`` (k,) now have ``labels`` (k,)."""
        self.coverage.update(indices, labels)
        self._timer.start()

    def set_current(self, index: int) -> None:
        self.current = int(index)
        self._timer.start()

    def kept_only(self) -> bool:
        return MODES[self.mode.currentText()]

    def warning(self, indices: np.ndarray) -> str:
        """What rejecting ``indices`` would cost in view directions ("" when nothing)."""
        cells = self.coverage.would_empty(indices)
        if not cells.size:
            return ""
        named = "; ".join(self.coverage.describe(c) for c in cells[:3]) + ("; …" if cells.size > 3 else "")
        return (f"Rejecting them empties {cells.size} view direction{'s' if cells.size > 1 else ''} "
                f"({named}): no particle would be left there.")

    def current_empties(self) -> bool:
        """True when rejecting the current particle would empty its view direction."""
        return self.current >= 0 and bool(self.coverage.would_empty(np.array([self.current])).size)

    # -- drawing --------------------------------------------------------------------------------
    def redraw(self) -> None:
        cov = self.coverage
        remaining = cov.grid(cov.remaining(self.kept_only())).astype(np.float32)
        rect = QtCore.QRectF(-180, 0, 360, 180)
        top = max(float(remaining.max()), 1.0)
        # rows are equal steps of cos(tilt), so the image's uniform rows are the map's y
        self.image.setImage(remaining, levels=(0, top), autoLevels=False)
        self.image.setRect(rect)
        emptied = cov.grid(cov.emptied()).astype(np.uint8)
        self.emptied.setImage(emptied, levels=(0, 1), autoLevels=False)
        self.emptied.setRect(rect)
        cell = cov.cell_of(self.current) if self.current >= 0 else -1
        if cell >= 0:
            row, column = divmod(cell, cov.rot_bins)
            x0, x1 = -180 + column * 360 / cov.rot_bins, -180 + (column + 1) * 360 / cov.rot_bins
            y0, y1 = row * 180 / cov.tilt_bins, (row + 1) * 180 / cov.tilt_bins
            self.marker.setData([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0])
        else:
            self.marker.setData([], [])
        with_particles = int((cov.total() > 0).sum())
        n_emptied = int(cov.emptied().sum())
        text = (f"{with_particles} of {cov.size} view directions have particles · most left in one: {int(top)}"
                + (f" · <span style='color:#c62828'><b>{n_emptied} emptied by rejections</b></span>" if n_emptied
                   else " · none emptied"))
        if self.current_empties():
            text += ("<br><span style='color:#c62828'><b>Rejecting this particle empties its view direction "
                     f"({cov.describe(cell)})</b></span>")
        self.status.setText(text)
