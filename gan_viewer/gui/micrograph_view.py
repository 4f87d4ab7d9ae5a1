"""A whole micrograph with its particle boxes coloured by label; click a box to go to that particle.

Orientation: the micrograph array is indexed ``data[y, x]`` (row = y), shown with row 0 at the
top and x to the right, like an image viewer, ``relion_display``/``relion_manualpick`` and
ImageJ show micrographs. pyqtgraph's ViewBox puts y upwards by default, which would flip the
micrograph upside down relative to RELION, so the view box is created with ``invertY=True``.
Picks are drawn in the same frame: a coordinate ``(x, y)`` is the centre of pixel
``data[round(y), round(x)]``, which pyqtgraph draws over ``[x, x + 1) x [y, y + 1)``, so box
centres sit at ``(x + 0.5, y + 0.5)`` in view coordinates.
"""

from __future__ import annotations

import logging

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from gan_viewer.core.curation import Label

log = logging.getLogger(__name__)

LABEL_PENS = {Label.UNDECIDED: pg.mkPen(120, 200, 255, 220, width=1.5),
              Label.KEEP: pg.mkPen(60, 230, 90, width=2),
              Label.REJECT: pg.mkPen(255, 60, 60, width=2)}
CURRENT_PEN = pg.mkPen(255, 210, 0, width=3)
MAX_DISPLAY_SIDE = 2048  # larger micrographs are binned for display (boxes stay in full-size pixels)


def display_image(image: np.ndarray, lowpass_sigma: float = 1.0) -> tuple[np.ndarray, int]:
    """A (h, w) float32 micrograph ready to show: binned to at most ``MAX_DISPLAY_SIDE`` and low-passed.

    Returns
    -------
    shown : (h // b, w // b) float32 array
    b : int
        Binning factor (1 when the micrograph is small enough).
    """
    image = np.asarray(image, np.float32)
    b = int(np.ceil(max(image.shape) / MAX_DISPLAY_SIDE))
    if b > 1:
        h, w = (image.shape[0] // b) * b, (image.shape[1] // b) * b
        image = image[:h, :w].reshape(h // b, b, w // b, b).mean(axis=(1, 3))
    if lowpass_sigma > 0:
        from scipy import ndimage  # here, not at the top: 0.1 s of every window's start-up otherwise

        image = ndimage.gaussian_filter(np.nan_to_num(image), lowpass_sigma / b if b > 1 else lowpass_sigma)
    return image.astype(np.float32, copy=False), b


def robust_limits(image: np.ndarray, sigmas: float = 3.0) -> tuple[float, float]:
    """Contrast limits median -/+ ``sigmas`` robust standard deviations (1.4826 MAD) of a (h, w) image.

    Unlike mean -/+ std, ice blobs and carbon edges (a few very dark pixels) do not wash out the
    particles. Estimated on at most ~250,000 pixels.
    """
    values = image[:: max(1, image.shape[0] // 500), :: max(1, image.shape[1] // 500)]
    values = values[np.isfinite(values)]
    if not values.size:
        return 0.0, 1.0
    median = float(np.median(values))
    sigma = 1.4826 * float(np.median(np.abs(values - median))) or float(values.std()) or 0.5
    return median - sigmas * sigma, median + sigmas * sigma


class MicrographView(QtWidgets.QWidget):
    """A micrograph (pan/zoom) with one square per particle, coloured by its label.

    Parameters
    ----------
    lowpass_sigma
        Gaussian blur (micrograph pixels) applied for display only; 0 shows the raw pixels.

    Signals
    -------
    particleClicked(int)
        The user clicked inside a particle's box (the nearest centre wins where boxes overlap).
    """

    particleClicked = QtCore.pyqtSignal(int)

    def __init__(self, parent: QtWidgets.QWidget | None = None, lowpass_sigma: float = 1.0) -> None:
        super().__init__(parent)
        self.lowpass_sigma = lowpass_sigma
        self.graphics = pg.GraphicsView(background="k")
        self.viewbox = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.graphics.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.boxes = pg.ScatterPlotItem(pxMode=False, symbol="s", brush=None, antialias=False)
        self.current_box = pg.ScatterPlotItem(pxMode=False, symbol="s", brush=None, pen=CURRENT_PEN)
        for z, item in enumerate((self.image_item, self.boxes, self.current_box)):
            item.setZValue(z)
            self.viewbox.addItem(item)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.coords = np.zeros((0, 2))
        self.box = 0
        self.labels = np.zeros(0, np.int8)
        self.current: int | None = None

    def set_micrograph(self, image: np.ndarray, coords: np.ndarray, box: int, labels: np.ndarray) -> None:
        """Show ``image`` (H, W) with boxes of side ``box`` px at ``coords`` (n, 2) x, y; ``labels`` (n,) int8."""
        image = np.asarray(image, np.float32)
        if image.ndim != 2:
            raise ValueError(f"micrograph must be 2D (H, W), got shape {image.shape}")
        coords = np.asarray(coords, np.float64).reshape(-1, 2)
        shown, binning = display_image(image, self.lowpass_sigma)
        self.image_item.setImage(shown, levels=robust_limits(shown), autoLevels=False)
        self.image_item.setRect(QtCore.QRectF(0, 0, shown.shape[1] * binning, shown.shape[0] * binning))
        self.coords, self.box, self.current = coords, int(box), None
        self.boxes.setData(pos=coords + 0.5, size=self.box)
        self.current_box.clear()
        self.set_labels(labels)
        self.viewbox.autoRange(padding=0.01)
        log.debug("micrograph %s (binned %d) with %d boxes of %d px", image.shape, binning, len(coords), box)

    def set_labels(self, labels: np.ndarray) -> None:
        """Recolour the boxes: (n,) int8 labels (undecided / keep / reject)."""
        labels = np.asarray(labels, np.int8)
        if labels.shape != (len(self.coords),):
            raise ValueError(f"labels have shape {labels.shape}, expected ({len(self.coords)},)")
        self.labels = labels.copy()
        pens = np.empty(len(labels), object)
        for label, pen in LABEL_PENS.items():
            pens[labels == label] = pen
        self.boxes.setPen(pens)

    def set_current(self, index: int | None) -> None:
        """Highlight particle ``index`` (None or -1: no highlight)."""
        if index is None or index < 0 or index >= len(self.coords):
            self.current = None
            self.current_box.clear()
            return
        self.current = int(index)
        self.current_box.setData(pos=self.coords[[index]] + 0.5, size=self.box + 4)

    def particle_at(self, x: float, y: float) -> int | None:
        """Index of the particle whose box holds view point ``(x, y)``, nearest centre first; None if none."""
        if not len(self.coords):
            return None
        offset = np.abs(self.coords + 0.5 - (x, y))  # (n, 2)
        inside = np.flatnonzero((offset <= self.box / 2).all(axis=1))
        if not inside.size:
            return None
        return int(inside[np.argmin((offset[inside] ** 2).sum(axis=1))])

    def _on_click(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        point = self.viewbox.mapSceneToView(event.scenePos())
        index = self.particle_at(point.x(), point.y())
        if index is not None:
            event.accept()
            self.particleClicked.emit(index)

    def sizeHint(self) -> QtCore.QSize:  # noqa: N802
        return QtCore.QSize(480, 480)
