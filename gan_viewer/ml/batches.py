"""Training batches, drawn in the training process or by worker processes in parallel.

Simulating a batch of realistic scenes (:class:`~gan_viewer.ml.data.ScenePairs`: projection,
CTF, neighbours, noise, normalisation) takes far longer than a training step on a GPU, so a GPU
waits for one CPU core unless the scenes are drawn in parallel. :class:`TrainingBatches` hands
out batches of a pair source:

* ``workers=0`` (the default): drawn in the training process, one after the other, with one
  random generator (``default_rng(seed_words)``): the same batches as every earlier version;
* ``workers=N``: drawn by N forked processes (:class:`torch.utils.data.DataLoader` over an
  endless stream), each with its own generator (``default_rng([*seed_words, worker])``), handed
  out in turn (worker 0, 1, ..., N-1, 0, ...), so a run is reproducible for a given N. The
  workers are forked after the source is built, and after its ``prepare_for_workers()`` (scenes:
  every structure's projector), so its volume and noise banks and projectors are shared with
  them, not copied or rebuilt; each worker runs torch on one thread.

Forking is what makes the workers cheap; where the platform has no ``fork`` start method the
batches are drawn in the training process, with a warning. So they are when the process has
already run numba's parallel slice kernel (:mod:`gan_viewer.sim.slice_kernel`) on GNU OpenMP,
which kills a forked child that uses it: :func:`prefer_fork_safe_threads`, called before anything
is simulated, makes numba use its own fork-safe "workqueue" layer instead. Each worker runs
torch and numba on one thread: the workers are the parallelism.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

log = logging.getLogger(__name__)

#: batches each worker keeps ready
PREFETCH = 2


def prefer_fork_safe_threads() -> bool:
    """Make numba's parallel kernels safe to fork from: its "workqueue" threading layer, unless a
    layer is running already. True when forked workers may simulate scenes (no numba, or a layer
    other than GNU OpenMP's)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - a dependency
        return True
    try:
        layer = numba.threading_layer()
    except ValueError:  # none launched yet: choose the one a forked child can use
        numba.config.THREADING_LAYER = "workqueue"
        return True
    return layer != "omp"


def _one_thread(_worker: int) -> None:
    """In each worker: numba on one thread (torch already is: DataLoader sets it)."""
    try:
        import numba
    except ImportError:  # pragma: no cover
        return
    numba.set_num_threads(1)


class _Stream(IterableDataset):
    """An endless stream of (noisy, target) batches of ``source``, one random generator per worker."""

    def __init__(self, source, batch_size: int, seed_words: Sequence[int]) -> None:
        super().__init__()
        self.source, self.batch_size, self.seed_words = source, batch_size, list(seed_words)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        info = get_worker_info()
        rng = np.random.default_rng([*self.seed_words, 0 if info is None else info.id])
        while True:
            noisy, target = self.source.sample(self.batch_size, rng)
            yield torch.from_numpy(np.ascontiguousarray(noisy)), torch.from_numpy(np.ascontiguousarray(target))


class TrainingBatches:
    """(noisy, target) batches of a pair source, each (batch_size, box, box) float32.

    Parameters
    ----------
    source
        A pair source (:mod:`gan_viewer.ml.data`): ``sample(n, rng) -> (noisy, target)``.
    batch_size
        Pairs per batch.
    seed_words
        Seeds the random generator(s) (a resumed run passes its step too).
    workers
        Processes that draw batches in parallel; 0 draws them here.

    Use as an iterator, and :meth:`close` (or a ``with`` block) to stop the workers.
    """

    def __init__(self, source, batch_size: int, seed_words: Sequence[int], workers: int = 0) -> None:
        if workers < 0:
            raise ValueError(f"workers must be 0 or more, got {workers}")
        if workers and "fork" not in multiprocessing.get_all_start_methods():
            log.warning("this platform cannot fork: training scenes are drawn in the training process")
            workers = 0
        if workers and not prefer_fork_safe_threads():
            log.warning("numba's GNU OpenMP threads already ran in this process, and a forked worker using them "
                        "would be killed: training scenes are drawn in the training process")
            workers = 0
        self.workers = workers
        self._rng = np.random.default_rng(list(seed_words))
        self._source, self._batch_size = source, batch_size
        self._closed = False
        if workers:
            prepare = getattr(source, "prepare_for_workers", None)
            if prepare is not None:  # what the workers share, made once, before they fork
                prepare()
            log.info("training scenes drawn by %d worker process%s", workers, "" if workers == 1 else "es")
        self._loader = None if not workers else iter(DataLoader(
            _Stream(source, batch_size, seed_words), batch_size=None, num_workers=workers,
            prefetch_factor=PREFETCH, multiprocessing_context="fork", worker_init_fn=_one_thread))

    def __iter__(self) -> TrainingBatches:
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray]:
        if self._closed:
            raise StopIteration
        if self._loader is None:
            return self._source.sample(self._batch_size, self._rng)
        noisy, target = next(self._loader)
        return noisy.numpy(), target.numpy()

    def close(self) -> None:
        """Stop the workers; the stream then ends."""
        self._closed = True
        loader, self._loader = self._loader, None
        if loader is not None:
            loader._shutdown_workers()  # what the iterator's __del__ does, at once rather than when collected

    def __enter__(self) -> TrainingBatches:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
