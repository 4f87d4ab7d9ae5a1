"""Duplicate picks at the scale of a large data set: how long finding them takes, and whether the
planted ones are found.

A million picks on 4,000 K3-sized micrographs (5760 x 4092 px at 0.83 A/px, 250 picks each,
refined shifts of a few Angstrom), of which 2 % are planted second picks 0-20 A from a first. The
inspector finds the pairs in a thread (``gui/duplicates.py``); then, with the decisions as they are,
ranks them on its own thread, which is the part the window waits for.

    python benchmarks/bench_duplicates.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def picked_table(n: int, rng: np.random.Generator):
    """A RELION 3.1 table of ``n`` picks, the last 2 % planted near earlier ones; and which."""
    from gan_viewer.io.star import table_from_dataframe

    apix, shape = 0.83, (5760, 4092)
    n_mics = max(1, n // 250)
    planted = n // 50
    mics = rng.integers(0, n_mics, n)
    xy = rng.uniform((0, 0), shape, (n, 2))
    first = rng.integers(0, n - planted, planted)
    mics[n - planted:] = mics[first]
    angle, radius = rng.uniform(0, 2 * np.pi, planted), rng.uniform(0, 20 / apix, planted)
    xy[n - planted:] = xy[first] + np.column_stack([np.cos(angle), np.sin(angle)]) * radius[:, None]
    parts = pd.DataFrame({"rlnMicrographName": [f"MotionCorr/job002/Movies/mic{k:05d}.mrc" for k in mics],
                          "rlnCoordinateX": xy[:, 0], "rlnCoordinateY": xy[:, 1],
                          "rlnOriginXAngst": np.zeros(n), "rlnOriginYAngst": np.zeros(n), "rlnOpticsGroup": 1})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [apix], "rlnImageSize": [256]})
    return table_from_dataframe(parts, optics), first


def main() -> None:
    from gan_viewer.core.duplicates import close_pairs, outranked_in, pick_positions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    args = parser.parse_args()
    table, first = picked_table(args.n, np.random.default_rng(0))
    n, planted = args.n, len(first)
    timings = {}
    start = time.perf_counter()
    positions = pick_positions(table)
    timings["positions_s"] = time.perf_counter() - start
    start = time.perf_counter()
    pairs = close_pairs(positions, 30.0)
    timings["pairs_s"] = time.perf_counter() - start
    labels = np.random.default_rng(1).choice([0, 1, 2], n, p=[0.8, 0.1, 0.1])  # some decided already
    start = time.perf_counter()
    outranked = outranked_in(pairs, n, rank=np.arange(n) + n * (labels == 1.0), present=labels != 2)
    timings["ranking_on_the_window_thread_s"] = time.perf_counter() - start
    plain = outranked_in(pairs, n)
    # every planted pick is a duplicate of its first (or the first of it): one of each pair goes
    found = np.mean((plain[first] >= 0) | (plain[n - planted:] >= 0))
    result = {"picks": n, "micrographs": int(positions.micrograph.max()) + 1, "planted": planted,
              "pairs_within_30A": int(len(pairs)), "planted_pairs_found": float(found),
              "duplicates_relions_rule": int((plain >= 0).sum()),
              "duplicates_with_decisions": int((outranked >= 0).sum()),
              **{k: round(v, 3) for k, v in timings.items()}}
    for key, value in result.items():
        print(f"{key:32s} {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "duplicates_cpu.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
