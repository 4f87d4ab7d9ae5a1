"""Training batches drawn in the training process or by worker processes (ml/batches.py).

The worker cases run in a fresh interpreter: numba's threading layer is chosen once per process,
and this one may already have run the slice kernel on GNU OpenMP threads (another test), after
which forked workers are refused (the batches are then drawn in-process, as one case checks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.ml.batches import TrainingBatches

ROOT = Path(__file__).resolve().parents[2]


class Counting:
    """A pair source whose batches say which generator drew them (the noisy images: its first
    draw) and in which process (the target minus the noisy image: the pid)."""

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        noisy = np.full((n, 8, 8), rng.random(), np.float32)
        return noisy, noisy + np.float32(os.getpid())


class Slicing(Counting):
    """The same, after running numba's parallel slice kernel, as scene simulation does."""

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        from gan_viewer.sim.slice_kernel import trilinear_slices

        trilinear_slices(np.ones((10, 10, 6), np.complex64), np.eye(3, dtype=np.float32)[None],
                         np.zeros((4, 2), np.float32), 1.0, 4)
        return super().sample(n, rng)


class Prepared(Counting):
    """Draws only once prepared: the workers must get what the training process prepared."""

    prepared_in = None

    def prepare_for_workers(self) -> None:
        self.prepared_in = os.getpid()

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.prepared_in is None:
            raise RuntimeError("not prepared")
        return super().sample(n, rng)


class Failing:
    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        raise ValueError("no scenes here")


def draws(batches, k: int) -> list[tuple[float, int]]:
    """(first draw, pid of the process that drew it) of the next ``k`` batches."""
    out = []
    for _ in range(k):
        noisy, target = next(batches)
        assert noisy.shape == target.shape == (4, 8, 8) and noisy.dtype == np.float32
        out.append((float(noisy[0, 0, 0]), int(round(float(target[0, 0, 0] - noisy[0, 0, 0])))))
    return out


def in_a_fresh_process(body: str) -> dict:
    """Run ``body`` (Python that ends by printing one JSON line) in a new interpreter."""
    code = "import json, os\nfrom tests.ml.test_batches import *\n" + textwrap.dedent(body)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "stderr": done.stderr}


def test_without_workers_the_batches_are_those_of_one_generator_seeded_as_before():
    with TrainingBatches(Counting(), 4, [3, 7]) as batches:
        got = draws(batches, 3)
    rng = np.random.default_rng([3, 7])
    assert [value for value, _ in got] == pytest.approx([rng.random() for _ in range(3)])
    assert {pid for _, pid in got} == {os.getpid()}


def test_workers_draw_in_other_processes_in_turn_and_a_run_repeats():
    got = in_a_fresh_process("""
        runs = []
        for _ in range(2):
            with TrainingBatches(Counting(), 4, [3, 7], workers=2) as batches:
                runs.append(draws(batches, 6))
        print(json.dumps({"runs": runs, "pid": os.getpid()}))
    """)
    first, again = got["runs"]
    assert [value for value, _ in first] == [value for value, _ in again]  # reproducible for 2 workers
    processes = [pid for _, pid in first]
    assert got["pid"] not in processes and len(set(processes)) == 2
    assert processes[0::2] == [processes[0]] * 3 and processes[1::2] == [processes[1]] * 3  # worker 0, 1, 0, ...
    streams = [np.random.default_rng([3, 7, worker]) for worker in (0, 1)]
    assert [value for value, _ in first] == pytest.approx([streams[k % 2].random() for k in range(6)])


def test_workers_run_numbas_kernel_when_the_layer_is_chosen_first_else_the_batches_are_drawn_here():
    """As gan-viewer train --workers does: numba's fork-safe layer chosen before anything runs, the
    training process running the kernel too (its validation batch), then workers that run it.
    Without that choice, once GNU OpenMP threads ran here a forked child using them would be
    killed: the batches are drawn in the training process, with a warning."""
    chosen = in_a_fresh_process("""
        import numba
        from gan_viewer.ml.batches import prefer_fork_safe_threads
        assert prefer_fork_safe_threads()
        source = Slicing()
        source.sample(4, np.random.default_rng(0))  # this process runs the kernel before forking
        with TrainingBatches(source, 4, [0], workers=2) as batches:
            got = draws(batches, 4)
        print(json.dumps({"pids": [pid for _, pid in got], "pid": os.getpid(), "layer": numba.threading_layer()}))
    """)
    assert chosen["layer"] == "workqueue" and chosen["pid"] not in chosen["pids"] and len(set(chosen["pids"])) == 2
    unchosen = in_a_fresh_process("""
        import numba
        source = Slicing()
        source.sample(4, np.random.default_rng(0))  # the default layer (GNU OpenMP where there is one)
        with TrainingBatches(source, 4, [0], workers=2) as batches:
            got = draws(batches, 4)
        print(json.dumps({"pids": [pid for _, pid in got], "pid": os.getpid(), "layer": numba.threading_layer()}))
    """)
    if unchosen["layer"] == "omp":
        assert set(unchosen["pids"]) == {unchosen["pid"]} and "would be killed" in unchosen["stderr"]
    else:
        assert unchosen["pid"] not in unchosen["pids"]


def test_the_source_is_prepared_once_before_the_workers_fork():
    got = in_a_fresh_process("""
        source = Prepared()
        with TrainingBatches(source, 4, [0], workers=2) as batches:
            got = draws(batches, 2)
        print(json.dumps({"prepared_in": source.prepared_in, "pid": os.getpid(), "pids": [p for _, p in got]}))
    """)
    assert got["prepared_in"] == got["pid"] and got["pid"] not in got["pids"]


def test_scene_pairs_build_every_projector_for_the_workers_to_share():
    from gan_viewer.ml.sources import TrainingData, simulated_pairs

    pairs = simulated_pairs([], TrainingData(phantoms=3, snr=(0.1,), boxes=(32,), apix=3.0, scenes="realistic"))
    assert all(entry._projector is None for entry in pairs.sampler.bank.entries)  # built on first use
    pairs.prepare_for_workers()
    assert len(pairs.sampler.bank.entries) == 3
    assert all(entry._projector is not None for entry in pairs.sampler.bank.entries)


def test_a_closed_stream_ends_and_its_workers_are_gone():
    got = in_a_fresh_process("""
        batches = TrainingBatches(Counting(), 4, [0], workers=1)
        next(batches)
        workers = list(batches._loader._workers)
        batches.close()
        try:
            next(batches)
            ended = False
        except StopIteration:
            ended = True
        print(json.dumps({"alive": [w.is_alive() for w in workers], "ended": ended}))
    """)
    assert got["alive"] == [False] and got["ended"]


def test_a_workers_error_reaches_the_training_process():
    got = in_a_fresh_process("""
        try:
            with TrainingBatches(Failing(), 4, [0], workers=1) as batches:
                next(batches)
            error = None
        except ValueError as exc:
            error = str(exc)
        print(json.dumps({"error": error}))
    """)
    assert "no scenes here" in got["error"]


def test_workers_must_be_counted():
    with pytest.raises(ValueError, match="workers must be 0 or more"):
        TrainingBatches(Counting(), 4, [0], workers=-1)
