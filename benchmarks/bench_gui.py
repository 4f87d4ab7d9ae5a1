"""Inspector responsiveness on a synthetic 1,000,000-particle STAR over memory-mapped stacks.

Prints: time to first triptych (target < 2 s), time until keep/reject are open, next-particle
latency p50/p95 with prefetch on the CPU generator at 96 px (target p95 < 50 ms once warm), and
peak RSS (target < 1 GB).

The first triptych is all three panels drawn: raw, GAN-recovered (the generator loaded on the CPU,
torch imported: nothing is imported or loaded before the clock starts) and the reference projection
of --map (default: the bundled beta-galactosidase map; --no-map leaves the panel with its message).
It is timed from the window's creation and from the process start (Python and Qt start-up
included). A file this large is read in the background: its first rows are shown meanwhile, and
keep/reject open once the whole file is read and its session journal is open. Last, the same file
is opened again in the running window (File > Open, generator warm; the session resumes).

The stacks are sparse files (100 x 10,000 images of 96 px, 3.7 GB apparent, a few MB on disk);
the first stack's first 2,000 images hold noise, the rest read as zeros. Built once under
--workdir. The generator is --model (default: the bundled one); when torch is missing a
stand-in (a 5x5 box filter in numpy) is timed instead and the output says so.

usage: QT_QPA_PLATFORM=offscreen python benchmarks/bench_gui.py [--n 1000000] [--model M] [--no-map]
"""

from __future__ import annotations

import time

PROCESS_START = time.perf_counter()

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
log = logging.getLogger("bench_gui")
BOX, PER_STACK, FILLED = 96, 10_000, 2_000


def make_dataset(folder: Path, n: int) -> Path:
    """A RELION 3.1 STAR of ``n`` particles (with angles and CTF) over sparse ``.mrcs`` stacks."""
    star = folder / f"particles_{n}.star"
    if star.exists():  # nothing imported: the timings below start from a bare process
        return star
    import mrcfile
    import pandas as pd

    from gan_viewer.io.star import table_from_dataframe, write_star
    folder.mkdir(parents=True, exist_ok=True)
    n_stacks = -(-n // PER_STACK)
    rng = np.random.default_rng(0)
    for s in range(n_stacks):
        path = folder / f"stack_{s:04d}.mrcs"
        if path.exists():
            continue
        count = min(PER_STACK, n - s * PER_STACK)
        with mrcfile.new_mmap(path, (count, BOX, BOX), mrc_mode=2, overwrite=True) as mrc:
            mrc.set_image_stack()
            mrc.voxel_size = 1.5
            if s == 0:
                mrc.data[:FILLED] = rng.standard_normal((min(FILLED, count), BOX, BOX), dtype=np.float32)
    idx = np.arange(n)
    names = pd.Series([f"{i % PER_STACK + 1:06d}@stack_{i // PER_STACK:04d}.mrcs" for i in idx])
    particles = pd.DataFrame({
        "rlnImageName": names, "rlnAngleRot": rng.uniform(-180, 180, n).round(3),
        "rlnAngleTilt": rng.uniform(0, 180, n).round(3), "rlnAnglePsi": rng.uniform(-180, 180, n).round(3),
        "rlnOriginXAngst": np.zeros(n), "rlnOriginYAngst": np.zeros(n),
        "rlnDefocusU": rng.uniform(1e4, 2.5e4, n).round(1), "rlnDefocusV": rng.uniform(1e4, 2.5e4, n).round(1),
        "rlnDefocusAngle": rng.uniform(-180, 180, n).round(2), "rlnOpticsGroup": np.ones(n, int)})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                           "rlnImagePixelSize": [1.5], "rlnImageSize": [BOX], "rlnImageDimensionality": [2],
                           "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1]})
    write_star(table_from_dataframe(particles, optics), star)
    return star


def stand_in(model, device):
    """A cheap numpy filter standing in for a generator that cannot be loaded."""
    def denoise(images: np.ndarray, apix: float | None = None) -> np.ndarray:
        out = np.zeros_like(images)
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                out += np.roll(images, (dy, dx), axis=(1, 2))
        return out / 25
    return denoise, "stand-in box filter (no generator could be loaded)"


def pick_loader():
    """The real generator when torch is installed (loaded by the window, not here), else the stand-in."""
    if importlib.util.find_spec("torch") is not None:
        return None
    print("generator: torch is not installed; timing the stand-in instead")
    return stand_in


def wait_until(app, predicate, timeout: float = 60.0, poll: float = 0.0005) -> float:
    """Process events until ``predicate()``, checking every ``poll`` s; returns the seconds it took."""
    from PyQt6.QtCore import QEvent

    start = time.perf_counter()
    while not predicate():
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # what the event loop does: a closed session goes
        if time.perf_counter() - start > timeout:
            raise TimeoutError("timed out")
        time.sleep(poll)
    return time.perf_counter() - start


def complete(window, index: int) -> bool:
    shown = window.shown()
    if shown is None or shown.cursor + getattr(shown, "offset", 0) != index:  # a preview counts from its offset
        return False
    window.refresh()
    return window.triptych.is_complete()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/gan-viewer-bench"))
    parser.add_argument("--model", help="generator checkpoint (default: the bundled one)")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--dwell", type=float, default=0.15, help="seconds the user looks at each particle")
    parser.add_argument("--prefetch", type=int, default=8)
    parser.add_argument("--no-map", action="store_true", help="no reference map (the third panel says so)")
    parser.add_argument("--resume-at", type=int, default=0, metavar="K",
                        help="open a session left at particle K (0-based) instead of a new one")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    t = time.perf_counter()
    star = make_dataset(args.workdir, args.n)
    dataset_s = time.perf_counter() - t
    print(f"dataset: {star} ({args.n:,} particles, {BOX} px) ready in {dataset_s:.1f} s")
    loader = pick_loader()
    map_path = None if args.no_map else Path(__file__).resolve().parents[1] / "resources/demo/betagal_5a1a.mrc"

    from gan_viewer.gui.app import create_app
    from gan_viewer.gui.main_window import MainWindow

    (args.workdir / f"{star.name}.gan-viewer.sqlite").unlink(missing_ok=True)
    setup = time.perf_counter()
    if args.resume_at:  # in another process: this one stays bare until the clock starts
        subprocess.run([sys.executable, "-c", "import sys; from gan_viewer.core.session import Session; "
                        "s = Session.open(sys.argv[1]); s.move_to(int(sys.argv[2])); s.close()",
                        str(star), str(args.resume_at)], check=True)
    setup = time.perf_counter() - setup
    app = create_app()
    t0 = time.perf_counter()
    window = MainWindow(loader=loader, model=args.model, device="cpu", prefetch=args.prefetch)
    window.resize(1500, 950)
    window.show()
    assert window.open_path(star, map_path)
    start = args.resume_at
    wait_until(app, lambda: complete(window, start), poll=0.005)  # not a busy loop: the workers need the GIL
    first = time.perf_counter() - t0
    from_start = time.perf_counter() - PROCESS_START - setup
    built = " (the dataset was built in this run: run again for a bare process)" if dataset_s > 1 else ""
    print(f"time to first triptych: {first:.2f} s from the window's creation, {from_start:.2f} s from the "
          f"process start{built}   target < 2 s")
    print(f"reference: {map_path.name if map_path else 'none (--no-map)'}")
    wait_until(app, lambda: window.session is not None and complete(window, start), poll=0.01)
    ready = time.perf_counter() - t0
    print(f"keep/reject open (all {len(window.session):,} particles read, session journal open): {ready:.2f} s")
    print(f"generator: {window.engine.description}")

    latencies = []
    for step in range(args.steps):
        index = window.session.cursor + 1
        t = time.perf_counter()
        window.next()
        latencies.append(wait_until(app, lambda: complete(window, index)))
        end = time.perf_counter() + args.dwell
        while time.perf_counter() < end:
            app.processEvents()
            time.sleep(0.002)
    warm = np.array(latencies[10:]) * 1e3
    p50, p95 = np.percentile(warm, [50, 95])
    print(f"next-particle latency (warm, {len(warm)} steps, dwell {args.dwell * 1e3:.0f} ms, prefetch "
          f"{args.prefetch}): p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {warm.max():.1f} ms   target p95 < 50 ms")
    # File > Open of the same 1,000,000-particle file in the running window (generator warm): the
    # session resumes where the steps above left it
    cursor = window.session.cursor
    t = time.perf_counter()
    assert window.open_path(star, map_path)
    wait_until(app, lambda: complete(window, cursor), poll=0.005)
    again = time.perf_counter() - t
    wait_until(app, lambda: window.session is not None and complete(window, cursor), poll=0.01)
    print(f"reopened in the running window (generator loaded, resuming at particle {cursor + 1}): first "
          f"triptych {again:.2f} s, keep/reject open {time.perf_counter() - t:.2f} s")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak RSS: {rss:.0f} MB   target < 1024 MB")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
