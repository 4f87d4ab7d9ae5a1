"""The images of one session: caches, requests to the workers, prefetch (scores: gui/particle_scores.py).

:class:`ParticleImages` lives in the UI thread. ``show(i)`` makes particle ``i`` current: the raw
image is read at once (one particle), the recovered and reference images come from the cache or
are requested from the workers together with the next ``prefetch`` particles. Each request
carries an id; a result is accepted only while its id is still the one waited for (the cursor
has not left the window and the model, device or CTF setting has not changed since) and is
dropped otherwise. ``updated(index)`` tells the window when something for ``index`` arrived.

Scores are saved with the session (:meth:`~gan_viewer.core.session.Session.save_scores`), each
under the context it was computed against (:meth:`ParticleImages.contexts`: the map, the CTF
setting, the generator), and read back when the same context comes again (reopening the file,
the generator loaded, CTF toggled back). Score-all chunks are saved as they arrive, scores
computed while browsing every :data:`SAVE_MS`; "Score all" computes only what is missing, so it
resumes where it stopped.

"Score all" also computes the matched-filter scores of :mod:`gan_viewer.core.scores` (gvScore, the
default ranking, gvMatchedZ, gvMatched, gvMatchedPlain) with a
:class:`~gan_viewer.sim.scoring.TableScorer` on the open map, in the same worker thread (the noise
spectrum of each optics group measured as ``gan-viewer score`` does, so both give the same numbers).
A STAR that already has these columns (written by ``gan-viewer score``) brings them: they are
used as they are, not computed again.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from gan_viewer.core.learning import EMBED_DIM, reduce_embedding
from gan_viewer.core.metrics import circular_mask
from gan_viewer.core.noise import noise_power_spectrum, spectrum_rows
from gan_viewer.core.particles import noise_groups, pixel_sizes
from gan_viewer.core.session import Session
from gan_viewer.errors import InputError
from gan_viewer.sim.reference_maker import ReferenceMaker
from gan_viewer.gui.particle_scores import (AGREEMENT, CONFIDENCE, CORE, CORE_SHOWN, EMBEDDING,  # noqa: F401
                                            RAW_AGREEMENT, SAVE_MS, ParticleScores)
from gan_viewer.gui.workers import InferenceEngine, LruCache, Request, Worker

log = logging.getLogger(__name__)

KINDS = ("recovered", "reference")


class ParticleImages(ParticleScores, QObject):
    """Raw, recovered and reference images of a session, computed in the background.

    Parameters
    ----------
    session
        The open session.
    engine, inference
        The generator and the worker thread that owns it (shared across sessions).
    projection
        The worker thread for reference projections.
    reference
        Makes reference images (may be unavailable; see ``reference.reason``).
    prefetch
        How many particles after the cursor to compute ahead.

    Signals
    -------
    updated(index)
        New images or scores for particle ``index``.
    failed(kind, message)
        A worker failed on a ``kind`` request.
    progress(done, total), bulkFinished()
        Score-all progress.
    """

    updated = pyqtSignal(int)
    failed = pyqtSignal(str, str)
    progress = pyqtSignal(int, int)
    bulkFinished = pyqtSignal()

    def __init__(self, session: Session, engine: InferenceEngine, inference: Worker, projection: Worker,
                 reference: ReferenceMaker, prefetch: int = 8, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session, self.engine, self.reference = session, engine, reference
        self.apix = _pixel_sizes(session)  # (n,) or None: the generator resamples to its own pixel size
        self.noise_groups = noise_groups(session.source, self.apix)  # (n,) one noise spectrum per label
        self.spread = True  # compute the spread and confidence with each recovered image
        self.workers = {"recovered": inference, "reference": projection}
        self.prefetch = prefetch
        self.ctf = False
        self.source_lock = threading.Lock()
        self._noise_power: dict[int, np.ndarray] = {}  # noise group -> noise spectrum
        self.caches = {k: LruCache(32 << 20) for k in ("raw", "spread") + KINDS}
        self._live: dict[str, dict[int, Request]] = {k: {} for k in KINDS}
        self._generation = {k: 0 for k in KINDS}
        self.errors: dict[str, dict[int, str]] = {k: {} for k in KINDS}  # why a particle's image failed
        n = len(session)
        self.scores = np.full(n, np.nan, np.float32)  # (n,) recovered vs reference
        self.raw_scores = np.full(n, np.nan, np.float32)  # (n,) raw vs reference
        self.confidence = np.full(n, np.nan, np.float32)  # (n,) share of the recovered image that is stable
        self.amplitude = np.full(n, np.nan, np.float32)  # (n,) rms of the recovered image (noise units)
        self.embedding = np.full((n, EMBED_DIM), np.nan, np.float32)  # (n, EMBED_DIM) reduced bottleneck
        self.core = {name: np.full(n, np.nan, np.float32) for name in CORE}  # (n,) each: matched-filter scores
        self.core_reason: str | None = None  # why the matched-filter scores cannot be computed (set on failure)
        self._table_scorer = None  # the TableScorer, made in the worker thread on first use
        self._unsaved: set[int] = set()  # particles whose scores are not saved yet
        self.save_failed: str | None = None  # why scores could not be saved (once: then no more tries)
        self._save_timer = QTimer(self, singleShot=True, interval=SAVE_MS)
        self._save_timer.timeout.connect(self.save_scores)
        self.mask = circular_mask(session.source.box)
        self.stats = {"dropped": 0, "accepted": 0}
        self._bulk: Request | None = None
        self.current = -1
        for worker in self.workers.values():
            worker.resultReady.connect(self._on_result)
            worker.failed.connect(self._on_failed)
        inference.progress.connect(self._on_progress)
        inference.bulkFinished.connect(self._on_bulk_finished)
        self.restore_scores()
        self.adopt_star_scores()

    # -- reading -----------------------------------------------------------------------------------
    def read(self, indices: np.ndarray, check_finite: bool = True) -> np.ndarray:
        """Raw images (k, box, box) float32; safe from any thread."""
        with self.source_lock:
            return self.session.source.images(np.asarray(indices, np.int64), check_finite=check_finite)

    def get(self, kind: str, index: int) -> np.ndarray | None:
        """The cached ``kind`` ("raw", "recovered", "reference") image of ``index``, or None."""
        return self.caches[kind].get(index)

    def raw(self, index: int) -> np.ndarray:
        image = self.caches["raw"].get(index)
        if image is None:
            image = self.read([index])[0]
            self.caches["raw"].put(index, image)
        return image

    # -- requests ----------------------------------------------------------------------------------
    def show(self, index: int) -> None:
        """Make ``index`` current: request what is missing for it and the particles after it."""
        self.current = index
        window = np.arange(index, min(index + self.prefetch + 1, len(self.session)))
        window = np.concatenate([window, [index - 1] if index > 0 else []]).astype(np.int64)
        for kind in KINDS:
            if self._can(kind):
                self._submit(kind, window)

    def _can(self, kind: str) -> bool:
        if kind == "reference":
            return self.reference.available
        return self.engine.denoise is not None

    def _submit(self, kind: str, window: np.ndarray) -> None:
        live, cache = self._live[kind], self.caches[kind]
        new_live, requests = {}, []
        for i in window.tolist():
            if i in cache:
                continue
            request = live.get(i) or Request(kind, np.array([i]), self._job(kind), generation=self._generation[kind])
            new_live[i] = request
            requests.append(request)
        self._live[kind] = new_live
        self.workers[kind].replace(requests)

    def _job(self, kind: str):
        if kind == "reference":
            ctf = self.ctf
            return lambda idx: self.reference(idx, ctf=ctf)
        spread = self.spread

        def recover(idx: np.ndarray) -> tuple[np.ndarray, tuple]:
            raw = self.read(idx)
            return raw, self.recover(raw, idx, spread)
        return recover

    def denoise(self, raw: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """The generator's output for particles ``idx`` (k,) whose images are ``raw`` (k, box, box);
        in the inference thread only."""
        return self.recover(raw, idx, False)[0]

    def recover(self, raw: np.ndarray, idx: np.ndarray, spread: bool
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
        """(recovered (k, box, box), spread (k, box, box) or None, confidence (k,), amplitude (k,),
        reduced embedding (k, EMBED_DIM)) of particles ``idx``, run once per optics group and
        pixel size among them (:attr:`noise_groups`); in the inference thread only. Confidence,
        amplitude and embedding are NaN where the generator does not give them."""
        k = len(idx)
        images = np.empty(raw.shape, np.float32)
        spreads = np.empty(raw.shape, np.float32) if spread else None
        confidence, amplitude = np.full(k, np.nan, np.float32), np.full(k, np.nan, np.float32)
        embedding = np.full((k, EMBED_DIM), np.nan, np.float32)
        apix = np.full(k, np.nan) if self.apix is None else self.apix[idx]
        groups = self.noise_groups[idx]
        for group in np.unique(groups).tolist():
            where = np.flatnonzero(groups == group)
            value = float(apix[where[0]])
            out = self.engine.recover(raw[where], value if np.isfinite(value) else None, spread,
                                      self.noise_power(group) if self.engine.whitens else None)
            images[where] = out[0]
            if out[1] is None:
                spreads = None
            elif spreads is not None:
                spreads[where] = out[1]
            if out[2] is not None:
                confidence[where] = out[2]
            if out[3] is not None:
                amplitude[where] = out[3]
            if out[4] is not None:
                embedding[where] = reduce_embedding(out[4])
        return images, spreads, confidence, amplitude, embedding

    def noise_power(self, group: int) -> np.ndarray:
        """The noise spectrum of the particles of noise group ``group`` (an optics group at one
        pixel size, :func:`~gan_viewer.core.particles.noise_groups`), measured once on a sample of
        them (:func:`~gan_viewer.core.noise.spectrum_rows`, the rows ``gan-viewer score`` and
        ``denoise`` take); in the inference thread only. Every particle is recovered with its
        group's spectrum, never with its own."""
        if group not in self._noise_power:
            rows = spectrum_rows(self.noise_groups, len(self.session), group)
            self._noise_power[group] = noise_power_spectrum(self.read(rows, check_finite=False))
        return self._noise_power[group]

    def set_spread(self, on: bool) -> None:
        """Compute the spread (and confidence) with each recovered image, or not."""
        if on != self.spread:
            self.spread = on
            self.reset("recovered")
            if self.current >= 0:
                self.show(self.current)

    def recovered_scale(self) -> float | None:
        """The typical amplitude of the recovered images seen so far (median; noise units), by
        which format-2 images are divided for display: an empty box then looks empty instead of
        being stretched to full contrast. None before the first one, or for format-1 models."""
        if self.engine.format < 2:
            return None
        seen = self.amplitude[np.isfinite(self.amplitude)]
        return float(np.median(seen)) if seen.size and np.median(seen) > 0 else None

    def adopt(self, other: ParticleImages) -> None:
        """Take over the images ``other``, a preview of some of this set's rows, has computed (a
        preview's row ``i`` is row ``offset + i`` here). What it still waits for is asked again:
        a result on its way to ``other`` is not redirected."""
        offset = getattr(other.session, "offset", 0)
        kinds = ["raw", "recovered", "spread"] + (
            ["reference"] if other.ctf == self.ctf and self.reference.available else [])
        for kind in kinds:
            for index in other.caches[kind].keys():
                self.caches[kind].put(index + offset, other.caches[kind].get(index))
        for name in ("confidence", "amplitude", "embedding"):
            values = getattr(other, name)
            known = np.flatnonzero(np.isfinite(values).reshape(len(values), -1).all(axis=1))
            getattr(self, name)[known + offset] = values[known]
            self._unsaved.update((known + offset).tolist())
        for index in self.caches["reference"].keys():
            self._score(index)
        self.reference.adopt(other.reference)

    def reset(self, kind: str) -> None:
        """Forget ``kind`` images and drop every result still on its way (model, device or CTF changed).
        Scores computed so far are saved first; the saved ones of the new context come back."""
        self.save_scores()
        self._generation[kind] += 1
        self._live[kind] = {}
        self.caches[kind].clear()
        self.errors[kind].clear()
        self.workers[kind].replace([])
        self.scores[:] = np.nan
        if kind == "reference":
            self.raw_scores[:] = np.nan
        else:
            self.caches["spread"].clear()
            self.confidence[:] = np.nan
            self.amplitude[:] = np.nan
            self.embedding[:] = np.nan
        self.restore_scores()

    def set_ctf(self, on: bool) -> None:
        if on != self.ctf:
            self.save_scores()  # under the setting they were computed with
            self.ctf = on
            self.reset("reference")
            if self.current >= 0:
                self.show(self.current)

    def _on_result(self, request: Request, indices: np.ndarray, result) -> None:
        if request.kind == "score":
            return self._on_scores(request, indices, result)
        if request.kind not in KINDS:
            return
        index = int(indices[0])
        if self._live[request.kind].get(index) is not request:
            self.stats["dropped"] += 1
            log.debug("dropped stale %s result for particle %d (request %d)", request.kind, index, request.id)
            return
        del self._live[request.kind][index]
        self.stats["accepted"] += 1
        if request.kind == "recovered":
            raw, (result, spread, confidence, amplitude, embedding) = result
            self.caches["raw"].put(index, raw[0])
            if spread is not None:
                self.caches["spread"].put(index, spread[0])
            self.confidence[index], self.amplitude[index] = confidence[0], amplitude[0]
            self.embedding[index] = embedding[0]
            self._mark_unsaved(index)
        self.caches[request.kind].put(index, result[0])
        self.errors[request.kind].pop(index, None)
        self._score(index)
        self.updated.emit(index)

    def error(self, kind: str, index: int) -> str | None:
        """Why the ``kind`` image of ``index`` failed (until it is computed again), or None."""
        return self.errors[kind].get(index)

    def _on_failed(self, request: Request, message: str) -> None:
        if request.kind in KINDS:
            if request.generation != self._generation[request.kind]:
                return
            for index in request.indices.tolist():
                if self._live[request.kind].get(index) is request:
                    del self._live[request.kind][index]
                self.errors[request.kind][index] = message
        elif request is not self._bulk:
            return
        self.failed.emit(request.kind, message)
        if self.current >= 0:
            self.updated.emit(self.current)

    def close(self) -> None:
        """Save the scores not saved yet, stop listening to the workers and drop their queues (the
        workers live on)."""
        self.save_scores()
        self.cancel()
        for worker in self.workers.values():
            worker.replace([])
            worker.resultReady.disconnect(self._on_result)
            worker.failed.disconnect(self._on_failed)
        self.workers["recovered"].progress.disconnect(self._on_progress)
        self.workers["recovered"].bulkFinished.disconnect(self._on_bulk_finished)


def _pixel_sizes(session: Session) -> np.ndarray | None:
    """(n,) pixel size of each particle in Angstrom, or None when unknown or unusable."""
    try:
        return pixel_sizes(session.source)
    except InputError:
        return None
