"""Procedural assemblies: how long each family takes to generate and to render, and how close it
comes to the requested diameter.

Prints, per family and style and per requested diameter, over ``--seeds`` seeds: the generation
time (CPU seconds of this process, min / median / max, and the median wall-clock time), the
rendering time with ``atoms_to_map`` at 3 A/px in a box 1.2 times the diameter with a 6 A low-pass
(median CPU seconds), the atom count (median) and the range of model diameter / requested
diameter. CPU time is reported because the project's machine is shared: wall-clock times there
swing several-fold with the other work. BLAS is kept to one thread (set before numpy loads), as
the generators use only small matrix products.

Usage: ``python benchmarks/bench_assemblies.py [--sizes 150 250 400] [--seeds 5] [--no-render]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from gan_viewer.sim import assemblies as asm  # noqa: E402
from gan_viewer.sim.atomic import atoms_to_map  # noqa: E402
from gan_viewer.sim.membrane import STYLES as MEMBRANES  # noqa: E402
from gan_viewer.sim.membrane import membrane_protein  # noqa: E402

APIX = 3.0


def cases() -> dict[str, Callable]:
    table = {f"oligomer {g}": partial(asm.point_group_oligomer, group=g) for g in ("C2", "C7", "D4", "T", "O", "I")}
    table |= {f"shell {s}": partial(asm.shell, style=s) for s in asm.SHELLS}
    table |= {f"ring {s}": partial(asm.ring, style=s) for s in asm.RINGS}
    table |= {f"filament {s}": partial(asm.filament, style=s) for s in asm.FILAMENTS}
    table |= {f"small {s}": partial(asm.small_protein, style=s) for s in asm.SMALL}
    table |= {"flexible": asm.flexible}
    table |= {f"membrane {s}": partial(membrane_protein, style=s) for s in MEMBRANES}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[150.0, 250.0, 400.0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--no-render", action="store_true")
    args = parser.parse_args()
    print(f"{'family':22s} {'D (A)':>6s} {'make CPU min/median/max (s)':>28s} {'wall (s)':>8s} "
          f"{'render (s)':>10s} {'atoms':>8s} {'diameter / D':>14s}")
    for name, make in cases().items():
        for size in args.sizes:
            made, wall, rendered, atoms, ratio = [], [], [], [], []
            for seed in range(args.seeds):
                rng = np.random.default_rng(seed)
                start, clock = time.process_time(), time.perf_counter()
                model = make(rng, size)
                made.append(time.process_time() - start)
                wall.append(time.perf_counter() - clock)
                diameter = asm.model_diameter(model)
                atoms.append(len(model))
                ratio.append(diameter / (min(size, asm.SMALL_DIAMETER[1]) if name.startswith("small") else size))
                if not args.no_render:
                    box = 2 * int(np.ceil(diameter * 1.2 / APIX / 2)) + 4
                    start = time.process_time()
                    atoms_to_map(model, APIX, box, resolution=2 * APIX)
                    rendered.append(time.process_time() - start)
            render = f"{statistics.median(rendered):10.2f}" if rendered else f"{'-':>10s}"
            print(f"{name:22s} {size:6.0f} {min(made):12.2f} /{statistics.median(made):6.2f} /{max(made):6.2f} "
                  f"{statistics.median(wall):8.2f} {render} "
                  f"{statistics.median(atoms):8.0f} {min(ratio):6.2f}-{max(ratio):5.2f}", flush=True)


if __name__ == "__main__":
    main()
