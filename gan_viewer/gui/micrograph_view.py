"""A whole micrograph with its particle boxes coloured by label; click a box to go to that particle.

Orientation: the micrograph array is indexed ``data[y, x]`` (row = y), shown with row 0 at the
top and x to the right, like an image viewer, ``relion_display``/``relion_manualpick`` and
ImageJ show micrographs. pyqtgraph's ViewBox puts y upwards by default, which would flip the
micrograph upside down relative to RELION, so the view box is created with ``invertY=True``.
Picks are drawn in the same frame: a coordinate ``(x, y)`` is the centre of pixel
``data[round(y), round(x)]``, which pyqtgraph draws over ``[x, x + 1) x [y, y + 1)``, so box
centres sit at ``(x + 0.5, y + 0.5)`` in view coordinates.

Display: the micrograph is read, low-passed and binned (:mod:`gan_viewer.core.display_filters`)
in background threads, its FFT once; the UI thread only receives an 8-bit image. Measured with
``benchmarks/bench_display.py``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from gan_viewer.core.curation import Label
from gan_viewer.core.display_filters import DisplayFilter, DisplayImage, Spectrum
from gan_viewer.io.micrograph import micrograph_header, read_micrograph

log = logging.getLogger(__name__)

LABEL_PENS = {Label.UNDECIDED: pg.mkPen(120, 200, 255, 220, width=1.5),
              Label.KEEP: pg.mkPen(60, 230, 90, width=2),
              Label.REJECT: pg.mkPen(255, 60, 60, width=2)}
CURRENT_PEN = pg.mkPen(255, 210, 0, width=3)
MAX_DISPLAY_SIDE = 2048  # larger micrographs are binned further for display (boxes stay in full-size pixels)


def display_binning(shape: tuple[int, int]) -> int:
    """The least binning that brings a (h, w) micrograph to at most ``MAX_DISPLAY_SIDE`` pixels a side."""
    return max(1, math.ceil(max(shape) / MAX_DISPLAY_SIDE))


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


class DisplayMaker(QtCore.QObject):
    """Reads a micrograph and filters it for display in background threads.

    The micrograph's FFT is computed once (:class:`~gan_viewer.core.display_filters.Spectrum`);
    each display setting then costs a multiply, a crop and a small inverse FFT. Only the latest
    request's image is sent; older requests stop at their next check.

    Signals
    -------
    ready(ticket, DisplayImage, grey)
        The display image of request ``ticket``, and the same as (h', w') uint8 with the contrast
        of :func:`robust_limits` (made here too: on the UI thread a 2048 px image's contrast and
        float-to-colour conversion take 0.2 s).
    failed(ticket, message)
    """

    ready = QtCore.pyqtSignal(int, object, object)
    failed = QtCore.pyqtSignal(int, str)

    def __init__(self, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.ticket = 0
        self.timings: dict[str, float] = {}  # seconds of the last read + FFT and the last filtering
        self._lock = threading.Lock()
        self._key: int | None = None
        self._spectrum: Spectrum | None = None

    def request(self, key: int, source: np.ndarray | Path, apix: float | None, display: DisplayFilter) -> int:
        """Make the display image of micrograph ``key`` (an array or an MRC path) with ``display``."""
        self.ticket += 1
        threading.Thread(target=self._run, args=(self.ticket, key, source, apix, display), daemon=True,
                         name=f"micrograph-display-{self.ticket}").start()
        return self.ticket

    def _run(self, ticket: int, key: int, source, apix: float | None, display: DisplayFilter) -> None:
        try:
            with self._lock:
                if ticket != self.ticket:
                    return
                if key != self._key:
                    self._key, self._spectrum = None, None  # the previous one's memory first
                    start = time.perf_counter()
                    image = read_micrograph(source) if isinstance(source, (str, Path)) else source
                    self._spectrum, self._key = Spectrum(image, apix), key
                    self.timings["spectrum"] = time.perf_counter() - start
                spectrum = self._spectrum
            if ticket != self.ticket:
                return
            start = time.perf_counter()
            shown = spectrum.image(display, display_binning(spectrum.shape))
            lo, hi = robust_limits(shown.image)
            grey = np.clip((shown.image - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
            self.timings["filter"] = time.perf_counter() - start
            log.debug("micrograph %s shown at bin %d (%s): %s", spectrum.shape, shown.binning, display, self.timings)
            self._send("ready", ticket, shown, grey)
        except Exception as exc:  # noqa: BLE001 - told to the view, never lost with the thread
            log.exception("micrograph display failed")
            self._send("failed", ticket, f"{type(exc).__name__}: {exc}")

    def _send(self, signal: str, *args) -> None:
        """Emit ``signal`` (its name: looking up a signal of a deleted object raises too)."""
        try:
            getattr(self, signal).emit(*args)
        except RuntimeError:  # the view was deleted meanwhile
            pass


class MicrographView(QtWidgets.QWidget):
    """A micrograph (pan/zoom) with one square per particle, coloured by its label.

    The display image (low-passed and binned as :meth:`set_display_filter` says, and binned
    further to at most :data:`MAX_DISPLAY_SIDE` pixels a side) is made off the UI thread; boxes
    and clicks work meanwhile. A micrograph opened without coordinates has no boxes.

    Parameters
    ----------
    display
        The display filter to start with.

    Signals
    -------
    particleClicked(int)
        The user clicked inside a particle's box (the nearest centre wins where boxes overlap).
    displayChanged(str)
        A new display image is on screen; the text says what was applied ("low-pass 20 Å, bin 2").
    """

    particleClicked = QtCore.pyqtSignal(int)
    displayChanged = QtCore.pyqtSignal(str)

    def __init__(self, parent: QtWidgets.QWidget | None = None, display: DisplayFilter = DisplayFilter()) -> None:
        super().__init__(parent)
        self.display = display
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
        self.status = QtWidgets.QLabel(self.graphics)  # over the image's top left corner: the view never moves
        self.status.setStyleSheet("color: #eeeeee; background: rgba(40, 40, 40, 200); padding: 2px 6px;")
        self.status.move(4, 4)
        self.status.hide()
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.graphics)
        self.maker = DisplayMaker(self)
        self.maker.ready.connect(self._on_ready)
        self.maker.failed.connect(self._on_failed)
        self.coords = np.zeros((0, 2))
        self.box = 0
        self.labels = np.zeros(0, np.int8)
        self.current: int | None = None
        self.shape: tuple[int, int] = (0, 0)  # micrograph (height, width) in pixels
        self.binning = 1  # of the image on screen
        self.display_image: DisplayImage | None = None  # what is on screen, before its contrast
        self.shown = False  # whether the image of the current micrograph and setting is on screen
        self._source: tuple[int, np.ndarray | Path, float | None] | None = None  # key, image or path, apix
        self._keys = 0
        self._ticket = 0

    def set_micrograph(self, image: np.ndarray | str | Path, coords: np.ndarray, box: int, labels: np.ndarray,
                       apix: float | None = None) -> None:
        """Show a micrograph with boxes of side ``box`` px at ``coords`` (n, 2) x, y; ``labels`` (n,) int8.

        ``image`` is the (H, W) array, or the path of its MRC file (read in the background);
        ``apix`` its pixel size in Angstrom (None: no low-pass possible).
        """
        if isinstance(image, (str, Path)):
            source, (shape, _) = Path(image), micrograph_header(image)
        else:
            source = np.asarray(image, np.float32)
            if source.ndim != 2:
                raise ValueError(f"micrograph must be 2D (H, W), got shape {source.shape}")
            shape = source.shape
        self._keys += 1
        self._source, self.shape = (self._keys, source, apix), tuple(shape)
        self.image_item.setImage(np.zeros((1, 1), np.float32), levels=(0, 1), autoLevels=False)  # black until ready
        self.image_item.setRect(QtCore.QRectF(0, 0, shape[1], shape[0]))
        coords = np.asarray(coords, np.float64).reshape(-1, 2)
        self.coords, self.box, self.current = coords, int(box), None
        self.boxes.setData(pos=coords + 0.5, size=self.box)
        self.current_box.clear()
        self.set_labels(labels)
        self.viewbox.autoRange(padding=0.01)
        self._request("reading the micrograph…")
        log.debug("micrograph %s with %d boxes of %d px", shape, len(coords), box)

    def set_display_filter(self, display: DisplayFilter) -> None:
        """Low-pass and bin the micrograph for display (in the background)."""
        if display != self.display:
            self.display = display
            if self._source is not None:
                self._request(f"filtering ({display.describe() or 'no filter'})…")

    def description(self) -> str:
        """What the image on screen has had applied ("" when nothing, or nothing yet)."""
        if not self.shown or self._source is None:
            return ""
        return self.display.describe(binning=self.binning, apix_known=self._source[2] is not None)

    def _request(self, status: str) -> None:
        self.shown = False
        self._show_status(status)
        key, source, apix = self._source
        self._ticket = self.maker.request(key, source, apix, self.display)

    def _on_ready(self, ticket: int, shown: DisplayImage, grey: np.ndarray) -> None:
        if ticket != self._ticket:
            return
        self.display_image = shown
        self.image_item.setImage(grey, levels=(0, 255), autoLevels=False)
        height, width = shown.extent  # the micrograph's size, to within one binned pixel
        self.image_item.setRect(QtCore.QRectF(0, 0, width, height))
        self.binning, self.shown = shown.binning, True
        self.status.hide()
        self.displayChanged.emit(self.description())

    def _on_failed(self, ticket: int, message: str) -> None:
        if ticket == self._ticket:
            self._show_status(f"cannot show the micrograph: {message}")

    def _show_status(self, text: str) -> None:
        self.status.setText(text)
        self.status.adjustSize()
        self.status.show()
        self.status.raise_()

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
