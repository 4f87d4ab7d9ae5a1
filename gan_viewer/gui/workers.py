"""Background work for the inspector: one QThread per resource, numpy in, numpy out.

A :class:`Worker` runs :class:`Request` objects in its own thread. Interactive requests are
replaced wholesale by each new submission (the latest request wins; what is already running
finishes and the receiver drops its result if it is stale). One bulk request (e.g. score all)
runs chunk by chunk in the gaps between interactive ones and can be cancelled. Tasks (load a
model, switch device) run first and are never dropped. Results and errors reach the UI thread
through queued Qt signals; nothing here touches a widget.

The inference worker owns the device: :class:`InferenceEngine` is only used from its thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import traceback
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

log = logging.getLogger(__name__)

_ids = itertools.count(1)

#: (images (n, h, w), pixel size in A or None) -> recovered (n, h, w)
Denoise = Callable[[np.ndarray, "float | None"], np.ndarray]
#: (model, device) -> (denoise, description); raises on failure
Loader = Callable[[Any, str], tuple[Denoise, str]]


@dataclass(eq=False)
class Request:
    """One unit of background work.

    Attributes
    ----------
    kind
        What it computes ("recovered", "reference", "score", "task", ...); for the receiver.
    indices
        (k,) particle indices.
    fn
        ``fn(indices) -> result``; run in the worker thread. For a bulk request it is called per chunk.
    chunk
        Bulk requests only: indices per call.
    id
        Unique and increasing; receivers compare it with the id they are waiting for.
    """

    kind: str
    indices: np.ndarray
    fn: Callable[[np.ndarray], Any]
    chunk: int = 0
    generation: int = 0
    id: int = field(default_factory=lambda: next(_ids))
    cancelled: bool = False


class Worker(QThread):
    """A thread that owns one resource and runs requests for it (see the module docstring).

    Signals
    -------
    resultReady(request, indices, result)
        After each interactive request, task, or bulk chunk (``indices`` is the chunk's).
    failed(request, message)
        When ``fn`` raised; the message is one line, the traceback goes to the log.
    progress(request, done, total)
        After each bulk chunk.
    bulkFinished(request)
        When a bulk request is done or cancelled.
    """

    resultReady = pyqtSignal(object, object, object)
    failed = pyqtSignal(object, str)
    progress = pyqtSignal(object, int, int)
    bulkFinished = pyqtSignal(object)

    def __init__(self, name: str, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self._cond = threading.Condition()
        self._tasks: deque[Request] = deque()
        self._pending: deque[Request] = deque()
        self._bulk: Request | None = None
        self._bulk_pos = 0
        self._running: Request | None = None
        self._recent: deque[int] = deque(maxlen=512)  # ids finished lately; not run twice
        self._stop = False

    # -- UI thread -----------------------------------------------------------------------------
    def replace(self, requests: list[Request]) -> None:
        """Make ``requests`` (in order) the whole interactive queue; earlier pending ones are dropped."""
        with self._cond:
            skip = set(self._recent) | ({self._running.id} if self._running else set())
            self._pending = deque(r for r in requests if r.id not in skip)
            self._cond.notify()

    def run_task(self, request: Request) -> None:
        """Queue a task ahead of everything else (never dropped)."""
        with self._cond:
            self._tasks.append(request)
            self._cond.notify()

    def start_bulk(self, request: Request) -> None:
        """Run ``request`` chunk by chunk, replacing (cancelling) any bulk request in progress."""
        with self._cond:
            if self._bulk is not None:
                self._bulk.cancelled = True
                self.bulkFinished.emit(self._bulk)
            self._bulk, self._bulk_pos = request, 0
            self._cond.notify()

    def cancel_bulk(self) -> None:
        with self._cond:
            if self._bulk is not None:
                self._bulk.cancelled = True

    def idle(self) -> bool:
        """True when nothing is queued or running (for tests and the screenshot)."""
        with self._cond:
            return not (self._tasks or self._pending or self._bulk or self._running)

    def stop(self, wait_ms: int = 5000) -> None:
        """Finish the running request, drop the rest and end the thread."""
        with self._cond:
            self._stop = True
            self._pending.clear()
            self._tasks.clear()
            if self._bulk is not None:
                self._bulk.cancelled = True
            self._cond.notify()
        if not self.wait(wait_ms):
            log.warning("worker %s did not stop within %d ms", self.objectName(), wait_ms)

    # -- worker thread -------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            with self._cond:
                while not (self._stop or self._tasks or self._pending or self._bulk):
                    self._cond.wait()
                if self._stop:
                    return
                job, indices = self._next_job()
                self._running = job
            try:
                self._execute(job, indices)
            finally:
                with self._cond:
                    self._running = None
                    self._recent.append(job.id)

    def _next_job(self) -> tuple[Request, np.ndarray]:
        if self._tasks:
            job = self._tasks.popleft()
        elif self._pending:
            job = self._pending.popleft()
        else:
            job = self._bulk
            lo = self._bulk_pos
            self._bulk_pos = min(lo + job.chunk, len(job.indices))
            return job, job.indices[lo:self._bulk_pos]
        return job, job.indices

    def _execute(self, job: Request, indices: np.ndarray) -> None:
        if job.cancelled:
            self._finish_bulk(job)
            return
        try:
            result = job.fn(indices)
        except Exception as exc:  # noqa: BLE001 - every error goes to the UI as a message
            log.debug("%s request %d failed:\n%s", job.kind, job.id, traceback.format_exc())
            self.failed.emit(job, f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
            if job.chunk:
                job.cancelled = True
                self._finish_bulk(job)
            return
        self.resultReady.emit(job, indices, result)
        if job.chunk:
            with self._cond:
                done = self._bulk_pos if self._bulk is job else len(job.indices)
            self.progress.emit(job, done, len(job.indices))
            if done >= len(job.indices):
                self._finish_bulk(job)

    def _finish_bulk(self, job: Request) -> None:
        with self._cond:
            if self._bulk is not job:
                return
            self._bulk = None
        self.bulkFinished.emit(job)


class InferenceEngine:
    """The generator, loaded and called in the inference worker's thread only.

    Parameters
    ----------
    loader
        ``loader(model, device) -> (denoise, description)``; :func:`load_denoiser` by default.
        Tests pass a fake (e.g. a deliberately slow one).
    """

    def __init__(self, loader: Loader | None = None) -> None:
        self.loader = loader or load_denoiser
        self.denoise: Denoise | None = None
        self.description = ""

    @property
    def format(self) -> int:
        """The model card format (2: outputs in noise units; 1: standardised outputs)."""
        return int(getattr(self.denoise, "format", 1))

    @property
    def whitens(self) -> bool:
        """Whether the generator takes its input's noise colour away, so needs the set's noise
        spectrum (:meth:`recover`'s ``noise_power``)."""
        return getattr(self.denoise, "input_whitening", None) is not None

    def recover(self, images: np.ndarray, apix: float | None, spread: bool = False,
                noise_power: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(recovered, spread, confidence, amplitude, embedding (k, C)) of (k, box, box) images;
        the last four are None for a generator that gives images only (spread and confidence also
        without ``spread``; the embedding for a generator without a bottleneck). ``noise_power``:
        the noise spectrum of their optics group, for a generator that :attr:`whitens`."""
        recover = getattr(self.denoise, "recover", None)
        if recover is None:
            return np.asarray(self.denoise(images, apix), np.float32), None, None, None, None
        extra = {"noise_power": noise_power} if self.whitens and noise_power is not None else {}
        result = recover(images, apix, spread=spread, **extra)
        return result.images, result.spread, result.confidence, result.amplitude, getattr(result, "embedding", None)

    def load(self, model: Any, device: str) -> str:
        """Load ``model`` on ``device``, falling back to the CPU; returns a one-line status."""
        self.denoise = None
        try:
            self.denoise, self.description = self.loader(model, device)
            return self.description
        except Exception as exc:  # noqa: BLE001
            if device in ("cpu", "auto"):
                raise
            log.warning("generator on %s failed (%s); falling back to the CPU", device, exc)
            self.denoise, self.description = self.loader(model, "cpu")
            return f"{self.description} ({device} unavailable: {exc}; using the CPU)"


def load_denoiser(model: Any, device: str) -> tuple[Denoise, str]:
    """The real generator (:class:`gan_viewer.ml.inference.Denoiser`) as ``(denoise, description)``.

    Raises
    ------
    RuntimeError
        "no generator: <reason>" when it cannot be imported or loaded.
    """
    from gan_viewer.errors import InputError

    try:
        from gan_viewer.ml.inference import Denoiser
    except ImportError as exc:
        raise RuntimeError(f"no generator: {exc}") from exc
    try:
        denoiser = Denoiser.load(model, device=device)
    except InputError as exc:
        raise RuntimeError(f"no generator: {exc}") from exc
    return denoiser, f"{getattr(denoiser, 'name', 'generator')} on {getattr(denoiser, 'device', device)}"


class LruCache:
    """Images by particle index, least recently used dropped beyond ``max_bytes``."""

    def __init__(self, max_bytes: int = 64 << 20) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0

    def __contains__(self, index: int) -> bool:
        return index in self._items

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[int]:
        return list(self._items)

    def get(self, index: int) -> np.ndarray | None:
        image = self._items.get(index)
        if image is not None:
            self._items.move_to_end(index)
        return image

    def put(self, index: int, image: np.ndarray) -> None:
        old = self._items.pop(index, None)
        self._bytes += image.nbytes - (0 if old is None else old.nbytes)
        self._items[index] = image
        while self._bytes > self.max_bytes and len(self._items) > 1:
            self._bytes -= self._items.popitem(last=False)[1].nbytes

    def clear(self) -> None:
        self._items.clear()
        self._bytes = 0
