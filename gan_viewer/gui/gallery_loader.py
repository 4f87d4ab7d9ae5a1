"""Background thumbnail loading for the gallery: batches, stale-request dropping, an LRU cache.

The UI thread only ever touches the cache and a queue of wanted particle indices; ``fetch``
(which may read disk or run a model) and the contrast/scaling work run on a one-thread pool.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
from PyQt6 import QtCore, QtGui

from gan_viewer.core.normalize import display_limits

log = logging.getLogger(__name__)

Fetch = Callable[[np.ndarray], np.ndarray]


def to_thumbnail(image: np.ndarray, size: int, sigmas: float = 3.0) -> QtGui.QImage:
    """One (h, w) float image as a ``size`` px 8-bit QImage, contrast mean -/+ ``sigmas`` std.

    Safe off the UI thread (QImage, unlike QPixmap, is not tied to the GUI thread).
    """
    lo, hi = display_limits(image, sigmas)
    scaled = np.nan_to_num((np.asarray(image, np.float32) - lo) * (255.0 / (hi - lo)), nan=0.0)
    grey = np.ascontiguousarray(np.clip(scaled, 0, 255).astype(np.uint8))  # (h, w)
    h, w = grey.shape
    qimage = QtGui.QImage(grey.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8).copy()
    return qimage.scaled(size, size, QtCore.Qt.AspectRatioMode.KeepAspectRatio,
                         QtCore.Qt.TransformationMode.SmoothTransformation)


class _Signals(QtCore.QObject):
    # generation, indices (k,), list of k QImages or None, error text or ""
    done = QtCore.pyqtSignal(int, object, object, str)


class _Job(QtCore.QRunnable):
    """Calls ``fetch(indices)`` and makes thumbnails, on a pool thread."""

    def __init__(self, signals: _Signals, generation: int, fetch: Fetch, indices: np.ndarray, size: int) -> None:
        super().__init__()
        self.signals, self.generation, self.fetch = signals, generation, fetch
        self.indices, self.size = indices, size

    def run(self) -> None:
        images, error = None, ""
        try:
            stack = np.asarray(self.fetch(self.indices))  # (k, h, w)
            if stack.ndim != 3 or len(stack) != len(self.indices):
                raise ValueError(f"fetch returned shape {stack.shape} for {len(self.indices)} particles")
            images = [to_thumbnail(image, self.size) for image in stack]
        except Exception as exc:  # noqa: BLE001 - reported to the UI thread, never lost
            log.exception("thumbnail fetch failed for %d particles", len(self.indices))
            error = f"{type(exc).__name__}: {exc}"
        try:
            self.signals.done.emit(self.generation, self.indices, images, error)
        except RuntimeError:  # the loader was deleted while we ran
            pass


class ThumbnailLoader(QtCore.QObject):
    """Hands out cached thumbnails and fetches missing ones in the background.

    Parameters
    ----------
    fetch
        ``fetch(indices (k,) int64) -> (k, h, w) float32``; called only on the pool thread.
    visible
        Returns the particle indices currently on screen; requests outside it are dropped
        before they are fetched (the user scrolled away).
    size
        Thumbnail side in pixels.
    capacity
        How many thumbnails the LRU cache keeps.
    batch_size
        Most particles per ``fetch`` call.

    Signals
    -------
    loaded(indices)
        Thumbnails for ``indices`` (k,) arrived (or failed); repaint.
    """

    loaded = QtCore.pyqtSignal(object)

    def __init__(self, fetch: Fetch, visible: Callable[[], np.ndarray], size: int = 96,
                 capacity: int = 2000, batch_size: int = 64, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self._fetch, self._visible = fetch, visible
        self.size, self.capacity, self.batch_size = size, capacity, batch_size
        self._cache: OrderedDict[int, QtGui.QImage] = OrderedDict()
        self._wanted: dict[int, None] = {}  # insertion-ordered set of requested particle indices
        self._failed: set[int] = set()
        self._in_flight: set[int] = set()
        self._generation = 0
        self.dropped = 0  # requests dropped because their rows scrolled away (for tests and logs)
        self._pool = QtCore.QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._flush_timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self._flush_timer.timeout.connect(self._flush)

    # -- UI-thread API -------------------------------------------------------------------------
    def thumbnail(self, index: int) -> QtGui.QImage | None:
        """The cached thumbnail of particle ``index``, or None (and a background request)."""
        image = self._cache.get(index)
        if image is not None:
            self._cache.move_to_end(index)
            return image
        if index not in self._failed and index not in self._in_flight:
            self._wanted[index] = None
            self._flush_timer.start()
        return None

    def failed(self, index: int) -> bool:
        """Whether ``fetch`` raised for the batch holding ``index`` (shown as "!", not retried)."""
        return index in self._failed

    def cached(self, index: int) -> bool:
        """Whether a thumbnail of ``index`` is in the cache (does not request it)."""
        return index in self._cache

    @property
    def busy(self) -> bool:
        """Whether a fetch is running or requests are queued."""
        return bool(self._in_flight or self._wanted)

    def set_fetch(self, fetch: Fetch) -> None:
        """Use another image source; drops the cache and ignores results still in flight."""
        self._fetch = fetch
        self.clear()

    def set_size(self, size: int) -> None:
        self.size = int(size)
        self.clear()

    def clear(self) -> None:
        """Forget every thumbnail and request; results already in flight are ignored."""
        self._generation += 1
        self._cache.clear()
        self._wanted.clear()
        self._failed.clear()
        self._in_flight.clear()

    def wait(self, msecs: int = 5000) -> bool:
        """Block until the pool is idle (for shutdown and tests)."""
        return self._pool.waitForDone(msecs)

    # -- internals ---------------------------------------------------------------------------
    def _flush(self) -> None:
        """Start one batch of visible, wanted thumbnails if no fetch is running."""
        if self._in_flight or not self._wanted:
            return
        wanted = np.fromiter(self._wanted, np.int64, len(self._wanted))
        on_screen = wanted[np.isin(wanted, self._visible())]
        self.dropped += len(wanted) - len(on_screen)
        batch, rest = on_screen[:self.batch_size], on_screen[self.batch_size:]
        self._wanted = dict.fromkeys(rest.tolist())
        if not batch.size:
            return
        self._in_flight = set(batch.tolist())
        log.debug("fetching %d thumbnails (%d queued, %d dropped so far)", batch.size, rest.size, self.dropped)
        self._pool.start(_Job(self._signals, self._generation, self._fetch, batch, self.size))

    def _on_done(self, generation: int, indices: np.ndarray, images: list | None, error: str) -> None:
        if generation != self._generation:
            self._flush_timer.start()
            return
        self._in_flight.clear()
        if images is None:
            self._failed.update(indices.tolist())
            log.warning("no thumbnails for particles %s...: %s", indices[:5].tolist(), error)
        else:
            for index, image in zip(indices.tolist(), images):
                self._cache[index] = image
                self._cache.move_to_end(index)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        self.loaded.emit(indices)
        self._flush_timer.start()
