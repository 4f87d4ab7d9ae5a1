"""I/O figures: STAR parsing, lazy stack opening, random-access particle reads.

Prints
  * time to read a 1,000,000-row RELION 3.1 particle STAR (made here);
  * time to open a 100,000-particle 128 px set (STAR + one stack, and the bare stack) and the
    peak RSS of a fresh process that does only that (target < 300 MB: nothing is read until asked);
  * random-access read rate at 128 px (target >= 5,000 particles/s), warm page cache, and cold
    when the page cache can be dropped (root on Linux).

Usage: ``python benchmarks/bench_io.py [--workdir DIR] [--keep]``; needs about 7 GB of disk.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

N_STAR = 1_000_000
N_STACK = 100_000
BOX = 128


def make_star(path: Path, n: int, stack: str, n_in_stack: int) -> None:
    from gan_viewer.io.star import table_from_dataframe, write_star

    rng = np.random.default_rng(0)
    particles = pd.DataFrame({
        "rlnImageName": [f"{i % n_in_stack + 1:06d}@{stack}" for i in range(n)],
        "rlnMicrographName": [f"Micrographs/mic_{i // 500:05d}.mrc" for i in range(n)],
        "rlnCoordinateX": rng.uniform(0, 4000, n), "rlnCoordinateY": rng.uniform(0, 4000, n),
        "rlnAngleRot": rng.uniform(-180, 180, n), "rlnAngleTilt": rng.uniform(0, 180, n),
        "rlnAnglePsi": rng.uniform(-180, 180, n),
        "rlnOriginXAngst": rng.normal(0, 3, n), "rlnOriginYAngst": rng.normal(0, 3, n),
        "rlnDefocusU": rng.uniform(8000, 25000, n), "rlnDefocusV": rng.uniform(8000, 25000, n),
        "rlnDefocusAngle": rng.uniform(-180, 180, n),
    }).round(6)  # six decimals, as RELION writes
    particles["rlnOpticsGroup"] = 1
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                           "rlnImagePixelSize": [1.1], "rlnImageSize": [BOX], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    write_star(table_from_dataframe(particles, optics), path, overwrite=True)


def make_stack(path: Path, n: int, chunk: int = 5000) -> None:
    """A real (not sparse) float32 stack of noise, written in chunks."""
    rng = np.random.default_rng(1)
    with mrcfile.new_mmap(path, shape=(n, BOX, BOX), mrc_mode=2, overwrite=True) as mrc:
        mrc.set_image_stack()
        for start in range(0, n, chunk):
            stop = min(n, start + chunk)
            mrc.data[start:stop] = rng.standard_normal((stop - start, BOX, BOX), dtype=np.float32)


def child(args: list[str]) -> dict:
    """Measurements that need a fresh process (peak RSS)."""
    kind, path = args[0], Path(args[1])
    t0 = time.perf_counter()
    if kind == "read_star":
        from gan_viewer.io.star import read_star

        n = len(read_star(path))
    elif kind == "open":
        from gan_viewer.core.particles import open_particles

        n = len(open_particles(path))
    elif kind == "random":
        from gan_viewer.core.particles import open_particles

        source = open_particles(path)
        rng = np.random.default_rng(int(time.time()))
        n, batch = int(args[2]), int(args[3])
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            source.images(rng.integers(0, len(source), batch))
    else:
        raise SystemExit(f"unknown child {kind}")
    seconds = time.perf_counter() - t0
    status = Path("/proc/self/status").read_text()  # VmHWM, unlike ru_maxrss, resets at exec
    peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
    return {"n": n, "seconds": seconds, "peak_rss_mb": peak_mb}


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, help="where to make the data (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    work = Path(tempfile.mkdtemp(prefix="bench_io_", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        make_star(work / "million.star", N_STAR, "stack.mrcs", N_STACK)
        make_stack(work / "stack.mrcs", N_STACK)
        make_star(work / "particles.star", N_STACK, "stack.mrcs", N_STACK)
        print(f"made the data in {time.perf_counter() - t0:.0f} s under {work}")

        r = run_child("read_star", str(work / "million.star"))
        print(f"read 1,000,000-row STAR        {r['seconds']:6.2f} s   peak RSS {r['peak_rss_mb']:6.0f} MB")
        for name in ("particles.star", "stack.mrcs"):
            r = run_child("open", str(work / name))
            print(f"open 100,000 x 128 px ({name:14s}) {r['seconds']:6.2f} s   peak RSS {r['peak_rss_mb']:6.0f} MB")
        for batch in (1, 64):
            r = run_child("random", str(work / "particles.star"), "20000", str(batch))
            print(f"random reads, warm cache, batches of {batch:2d}  {r['n'] / r['seconds']:8.0f} particles/s")
            if drop_page_cache():
                r = run_child("random", str(work / "particles.star"), "5000", str(batch))
                print(f"random reads, cold cache, batches of {batch:2d}  {r['n'] / r['seconds']:8.0f} particles/s")
            else:
                print("random reads, cold cache: skipped (cannot drop the page cache)")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
