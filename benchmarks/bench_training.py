"""Training throughput: how fast are realistic scenes simulated, and how fast does a run step?

The bundled generator's recipe (``packaging/train_default_model.sh``) simulates every batch
afresh: projection, CTF, neighbours, white, coloured or micrograph noise, RELION's
normalisation, half-whitening. This measures, for the same kind of scenes (phantoms and
procedural assemblies at 3 A/px, boxes 64-128 px, the Falcon micrograph's noise, batches of 16):

* simulation alone: seconds per batch on one process;
* a model step alone (generator and discriminator, forward and backward) on ``--device``;
* whole steps (a batch drawn, then a step), with the batches drawn in the training process
  (``--workers 0``, the default) and by N worker processes (``gan-viewer train --workers N``,
  :mod:`gan_viewer.ml.batches`): steps per second after a warm-up.

On a GPU the step takes milliseconds and the simulation dominates, so the steps per second
there follow the workers. Usage: ``python benchmarks/bench_training.py [--device cpu]
[--workers 0 1 2] [--steps 40]``; results in ``benchmarks/results/training_{device}.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench_generator import DATA, RESULTS

BATCH = 16


def source():
    """Realistic scenes as the recipe draws them, of a few procedural structures (no corpus)."""
    from gan_viewer.ml.sources import TrainingData, simulated_pairs

    data = TrainingData(phantoms=6, assemblies=6, snr=(0.003, 0.6), boxes=(64, 96, 128), apix=3.0,
                        scenes="realistic", ctf=0.8, defocus=(5000.0, 35000.0), shift=3.0, empty=0.15,
                        micrographs=[DATA / "micrographs" / "fei_epu" / "epu2.9_example.mrc"], input_whitening=0.5)
    return simulated_pairs([], data, seed=1)


def timed(function, repeats: int) -> float:
    """Mean seconds of ``function()`` over ``repeats`` calls, after one warm-up call."""
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    import torch

    from gan_viewer.ml.batches import TrainingBatches, prefer_fork_safe_threads
    from gan_viewer.ml.inference import pick_device
    from gan_viewer.ml.networks import DiscriminatorConfig, GeneratorConfig
    from gan_viewer.ml.pix2pix import Pix2Pix, TrainConfig

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=40, help="timed steps per setting")
    args = parser.parse_args()
    device = pick_device(args.device)
    prefer_fork_safe_threads()  # as gan-viewer train --workers does, before anything is simulated
    start = time.perf_counter()
    pairs = source()
    built = time.perf_counter() - start
    rng = np.random.default_rng(0)
    simulate = timed(lambda: pairs.sample(BATCH, rng), max(4, args.steps // 4))
    model = Pix2Pix(GeneratorConfig(), DiscriminatorConfig(), TrainConfig(batch_size=BATCH), device)
    fixed = [torch.from_numpy(a)[:, None].to(device) for a in pairs.sample(BATCH, rng, 96)]

    def step() -> None:
        model.step(*fixed)
        if device.type == "cuda":
            torch.cuda.synchronize()

    step_alone = timed(step, max(4, args.steps // 4))
    print(f"source of {len(pairs.sampler.bank)} structures built in {built:.1f} s; simulation "
          f"{simulate:.3f} s per batch of {BATCH} (one process); a step alone (96 px) {step_alone * 1e3:.0f} ms "
          f"on {device}")
    runs = {}
    for workers in args.workers:
        with TrainingBatches(pairs, BATCH, [1, 7], workers) as batches:
            for _ in range(max(2, workers)):  # warm-up: the workers' first batches
                model.step(*[torch.from_numpy(a)[:, None].to(device) for a in next(batches)])
            begin = time.perf_counter()
            for _ in range(args.steps):
                model.step(*[torch.from_numpy(a)[:, None].to(device) for a in next(batches)])
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - begin
        runs[str(workers)] = {"steps_per_s": args.steps / seconds, "seconds": seconds}
        print(f"--workers {workers}: {args.steps / seconds:.2f} steps/s ({args.steps} steps, {seconds:.1f} s)",
              flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"training_{device.type}.json").write_text(json.dumps(
        {"device": str(device), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
         "batch": BATCH, "structures": len(pairs.sampler.bank), "source_build_s": built,
         "simulation_s_per_batch": simulate, "step_alone_s": step_alone, "steps": args.steps, "runs": runs,
         "script": Path(__file__).name}, indent=2) + "\n")


if __name__ == "__main__":
    main()
