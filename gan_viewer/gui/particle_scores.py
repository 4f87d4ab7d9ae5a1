"""The scores of one session's particles, as :class:`~gan_viewer.gui.pipeline.ParticleImages`
keeps them (this mixin holds that part of it): the agreement of the recovered and raw images with
the reference, the recovered image's confidence and embedding, the matched-filter scores of
:mod:`gan_viewer.core.scores` computed by "Score all" in the worker thread, the STAR's own score
columns, and their saving with the session and restoring (see the pipeline module's docstring).
"""

from __future__ import annotations

import logging

import numpy as np

from gan_viewer.core.journal import SaveError
from gan_viewer.core.learning import EMBED_DIM
from gan_viewer.core.metrics import correlation
from gan_viewer.core.scores import DEFAULT_SCORE
from gan_viewer.errors import InputError
from gan_viewer.gui.workers import Request

log = logging.getLogger(__name__)

#: scores computed while browsing are saved this often
SAVE_MS = 2000
#: the names scores are saved under
AGREEMENT, RAW_AGREEMENT, CONFIDENCE = "agreement score", "raw agreement", "confidence"
EMBEDDING = tuple(f"embedding {k + 1}" for k in range(EMBED_DIM))
#: the matched-filter scores "Score all" computes against the map (gvScore first: the default ranking)
CORE = (DEFAULT_SCORE, "gvMatchedZ", "gvMatched", "gvMatchedPlain")
#: those the gallery offers (gvScore is a copy of gvMatched)
CORE_SHOWN = (DEFAULT_SCORE, "gvMatchedZ", "gvMatchedPlain")


class ParticleScores:
    """Scores, score-all and saved scores of :class:`~gan_viewer.gui.pipeline.ParticleImages` (a
    mixin: it uses that class's session, caches, workers and signals)."""

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
