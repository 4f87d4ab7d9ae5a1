"""The images of one session: caches, requests to the workers, prefetch, agreement scores.

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

from gan_viewer.core.journal import SaveError
from gan_viewer.core.learning import EMBED_DIM, reduce_embedding
from gan_viewer.core.metrics import circular_mask, correlation
from gan_viewer.core.particles import pixel_sizes
from gan_viewer.core.scores import DEFAULT_SCORE
from gan_viewer.core.session import Session
from gan_viewer.errors import InputError
from gan_viewer.sim.reference_maker import ReferenceMaker
from gan_viewer.gui.workers import InferenceEngine, LruCache, Request, Worker

log = logging.getLogger(__name__)

KINDS = ("recovered", "reference")
#: scores computed while browsing are saved this often
SAVE_MS = 2000
#: the names scores are saved under
AGREEMENT, RAW_AGREEMENT, CONFIDENCE = "agreement score", "raw agreement", "confidence"
EMBEDDING = tuple(f"embedding {k + 1}" for k in range(EMBED_DIM))
#: the matched-filter scores "Score all" computes against the map (gvScore first: the default ranking)
CORE = (DEFAULT_SCORE, "gvMatchedZ", "gvMatched", "gvMatchedPlain")
#: those the gallery offers (gvScore is a copy of gvMatched)
CORE_SHOWN = (DEFAULT_SCORE, "gvMatchedZ", "gvMatchedPlain")


class ParticleImages(QObject):
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
        self.spread = True  # compute the spread and confidence with each recovered image
        self.workers = {"recovered": inference, "reference": projection}
        self.prefetch = prefetch
        self.ctf = False
        self.source_lock = threading.Lock()
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
    def read(self, indices: np.ndarray) -> np.ndarray:
        """Raw images (k, box, box) float32; safe from any thread."""
        with self.source_lock:
            return self.session.source.images(np.asarray(indices, np.int64))

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
        reduced embedding (k, EMBED_DIM)) of particles ``idx``, run once per pixel size among them;
        in the inference thread only. Confidence, amplitude and embedding are NaN where the
        generator does not give them."""
        k = len(idx)
        images = np.empty(raw.shape, np.float32)
        spreads = np.empty(raw.shape, np.float32) if spread else None
        confidence, amplitude = np.full(k, np.nan, np.float32), np.full(k, np.nan, np.float32)
        embedding = np.full((k, EMBED_DIM), np.nan, np.float32)
        apix = np.full(k, np.nan) if self.apix is None else self.apix[idx]
        for value in np.unique(apix).tolist():
            where = np.flatnonzero(apix == value) if np.isfinite(value) else np.arange(k)
            out = self.engine.recover(raw[where], value if np.isfinite(value) else None, spread)
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

    # -- scores ------------------------------------------------------------------------------------
    def _score(self, index: int) -> None:
        ref = self.caches["reference"].get(index)
        if ref is None:
            return
        self.raw_scores[index] = correlation(self.raw(index), ref, self.mask)
        rec = self.caches["recovered"].get(index)
        if rec is not None:
            self.scores[index] = correlation(rec, ref, self.mask)
        self._mark_unsaved(index)

    def agreement(self) -> np.ndarray:
        """(n,) score for sorting: recovered vs reference, or raw vs reference without a generator."""
        return self.scores if self.engine.denoise is not None else self.raw_scores

    def score_columns(self) -> dict[str, np.ndarray]:
        """The gallery's score columns, (n,) each: gvScore, gvMatchedZ, gvMatchedPlain, agreement
        (:meth:`agreement`), the raw image's agreement and the confidence."""
        core = {name: self.core[name] for name in CORE_SHOWN}
        return {**core, AGREEMENT: self.agreement(), RAW_AGREEMENT: self.raw_scores, CONFIDENCE: self.confidence}

    def features(self) -> dict[str, np.ndarray]:
        """What the curator model learns from: the scores and the embedding's components, (n,) each."""
        features = {name: self.core[name] for name in CORE_SHOWN}
        features.update({AGREEMENT: self.scores, RAW_AGREEMENT: self.raw_scores, CONFIDENCE: self.confidence})
        features.update({name: self.embedding[:, k] for k, name in enumerate(EMBEDDING)})
        return features

    def saved_names(self) -> dict[str, np.ndarray]:
        """The scores by the names they are saved and exported under, (n,) each (not copies)."""
        return {**self.core, AGREEMENT: self.scores, RAW_AGREEMENT: self.raw_scores, CONFIDENCE: self.confidence}

    def core_available(self) -> bool:
        """Whether "Score all" computes the matched-filter scores (a map, angles, a STAR, no failure yet)."""
        return (self.reference.available and self.core_reason is None
                and getattr(self.session.source, "table", None) is not None)

    def unscored(self) -> np.ndarray:
        """(k,) particles "Score all" still has to compute (its agreement, its gvScore, or with the
        spread on, its confidence, is unknown)."""
        missing = ~np.isfinite(self.agreement())
        if self.engine.denoise is not None and self.spread and getattr(self.engine.denoise, "recover", None):
            missing |= ~np.isfinite(self.confidence)
        if self.core_available():
            missing |= ~np.isfinite(self.core[DEFAULT_SCORE])
        return np.flatnonzero(missing)

    def core_scores(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The matched-filter scores (:data:`CORE`) of particles ``idx`` (k,), name -> (k,) float32;
        NaN when they cannot be computed (:attr:`core_reason` then says why). In the worker
        thread only: the first call resamples the map and measures each optics group's noise."""
        nan = {name: np.full(len(idx), np.nan, np.float32) for name in CORE}
        if not self.core_available():
            return nan
        try:
            if self._table_scorer is None:
                from gan_viewer.sim.scoring import TableScorer

                self._table_scorer = TableScorer(self.session.source.table, self.read, self.reference.map_path,
                                                 device=self.reference.device)
            got = self._table_scorer.score(idx)
        except (InputError, ValueError, RuntimeError, OSError) as exc:
            self.core_reason = str(exc)
            log.warning("matched-filter scores (%s) cannot be computed: %s", DEFAULT_SCORE, exc)
            return nan
        return {name: np.asarray(got[name], np.float32) for name in CORE}

    def adopt_star_scores(self) -> int:
        """Take the gv score columns the STAR has (written by ``gan-viewer score``) where nothing is
        known yet; returns how many particles got one."""
        table = getattr(getattr(self.session.source, "table", None), "particles", None)
        offset = getattr(self.session, "offset", 0)  # a preview shows rows offset.. of the file
        adopted = 0
        for name in CORE:
            if table is None or name not in table.columns:
                continue
            import pandas as pd

            values = pd.to_numeric(table[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            values = values[offset:offset + len(self.session)]
            if len(values) != len(self.session):
                continue
            fill = ~np.isfinite(self.core[name]) & np.isfinite(values)
            self.core[name][fill] = values[fill]
            adopted = max(adopted, int(fill.sum()))
        if adopted:
            log.info("%d particles' %s read from the STAR's columns", adopted, DEFAULT_SCORE)
        return adopted

    def score_all(self, chunk: int = 64) -> int | None:
        """Score, in the background, every particle not scored yet (so a stopped run resumes where
        it stopped). Returns how many are queued (0: all are scored), None without a reference."""
        if not self.reference.available:
            return None
        todo = self.unscored()
        if not todo.size:
            return 0
        ctf, engine, reference, spread = self.ctf, self.engine, self.reference, self.spread
        mask = self.mask
        core_missing = ~np.isfinite(self.core[DEFAULT_SCORE])  # (n,) a snapshot: the STAR's are not recomputed

        def score(idx: np.ndarray) -> tuple[np.ndarray, ...]:
            need = idx[core_missing[idx]]
            core = (need, self.core_scores(need) if need.size else {})
            raw = self.read(idx)
            ref = reference(idx, ctf=ctf)
            nan = np.full(len(idx), np.nan, np.float32)
            if engine.denoise is None:
                return (nan, correlation(raw, ref, mask), nan, nan,
                        np.full((len(idx), EMBED_DIM), np.nan, np.float32), core)
            rec, _, confidence, amplitude, embedding = self.recover(raw, idx, spread)
            return correlation(rec, ref, mask), correlation(raw, ref, mask), confidence, amplitude, embedding, core

        self._bulk = Request("score", todo, score, chunk=chunk, generation=self._generation["reference"])
        self.workers["recovered"].start_bulk(self._bulk)
        return int(todo.size)

    # -- saved scores ------------------------------------------------------------------------------
    def contexts(self) -> dict[str, str]:
        """What each saved score depends on, name -> a line; the generator's scores only while
        one is loaded."""
        reference = f"map {self.reference.map_path}; CTF {'on' if self.ctf else 'off'}"
        contexts = {RAW_AGREEMENT: reference}
        if self.reference.available:  # the matched filter always takes the particle's CTF: the toggle is not its context
            contexts.update(dict.fromkeys(CORE, f"map {self.reference.map_path}; matched filter"))
        if self.engine.denoise is not None:
            generator = f"generator {getattr(self.engine.denoise, 'name', None) or self.engine.description}"
            contexts.update({AGREEMENT: f"{reference}; {generator}", CONFIDENCE: generator})
            contexts.update(dict.fromkeys(EMBEDDING, generator))
        return contexts

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {AGREEMENT: self.scores, RAW_AGREEMENT: self.raw_scores, CONFIDENCE: self.confidence, **self.core}
        arrays.update({name: self.embedding[:, k] for k, name in enumerate(EMBEDDING)})
        return arrays

    def restore_scores(self) -> int:
        """Take the saved scores of the current contexts where nothing newer is known; returns how
        many particles got one."""
        saved_scores = getattr(self.session, "scores", None)
        if saved_scores is None:  # a preview: nothing is saved
            return 0
        restored, arrays = 0, self._arrays()
        for name, values in saved_scores(self.contexts()).items():
            target = arrays[name]
            fill = ~np.isfinite(target) & np.isfinite(values)
            if name in EMBEDDING:
                self.embedding[fill, EMBEDDING.index(name)] = values[fill]
            else:
                target[fill] = values[fill]
            restored = max(restored, int(fill.sum()))
        if restored:
            log.info("%d particles' scores read back from the session", restored)
        return restored

    def save_scores(self, indices: np.ndarray | None = None) -> bool:
        """Save the scores of ``indices`` (default: those computed since the last save) with the
        session; False when they could not be (read-only session, disk full: said once in the log,
        and the window can show :attr:`save_failed`)."""
        self._save_timer.stop()
        if indices is None:
            indices = np.fromiter(self._unsaved, np.int64, len(self._unsaved))
            indices.sort()
        save = getattr(self.session, "save_scores", None)
        if save is None or not len(indices) or self.save_failed is not None:
            self._unsaved.clear()
            return save is not None and self.save_failed is None
        contexts, arrays = self.contexts(), self._arrays()
        values = {name: arrays[name][indices] for name in contexts}
        try:
            save(indices, values, contexts)
        except SaveError as exc:
            self.save_failed = exc.reason
            log.warning("scores are not saved with the session: %s", exc)
            return False
        finally:
            self._unsaved.difference_update(indices.tolist())
        return True

    def _mark_unsaved(self, index: int) -> None:
        self._unsaved.add(index)
        if not self._save_timer.isActive():
            self._save_timer.start()

    def cancel(self) -> None:
        self.workers["recovered"].cancel_bulk()

    def _on_scores(self, request: Request, indices: np.ndarray, result) -> None:
        if request is not self._bulk or request.cancelled:
            return
        self.scores[indices], self.raw_scores[indices], confidence, amplitude, embedding, (need, core) = result
        for name, values in core.items():
            self.core[name][need] = values
        known = np.isfinite(confidence)
        self.confidence[indices[known]] = confidence[known]
        self.amplitude[indices[np.isfinite(amplitude)]] = amplitude[np.isfinite(amplitude)]
        embedded = np.isfinite(embedding).all(axis=1)
        self.embedding[indices[embedded]] = embedding[embedded]
        self.save_scores(np.asarray(indices, np.int64))
        if self.current in set(indices.tolist()):
            self.updated.emit(self.current)

    def _on_progress(self, request: Request, done: int, total: int) -> None:
        if request is self._bulk:
            self.progress.emit(done, total)

    def _on_bulk_finished(self, request: Request) -> None:
        if request is self._bulk:
            self._bulk = None
            self.bulkFinished.emit()

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
