"""Simulation figures: projector throughput, agreement with relion_project, a noise panel.

Prints
  * projections/s at 64, 128 and 256 px on this machine's CPU (target >= 1,000/s at 128 px),
    the median of three runs after a warm-up, and the one-time projector set-up;
  * seconds to turn beta-galactosidase (PDB 5A1A, 32,920 atoms) into a 128^3 map at 2 A
    (target < 10 s);
  * per-image correlation with ``relion_project`` images in
    ``../shared/data/particles/relion_projections_70S`` (min and mean per set), with the default
    centre (n // 2) and with ``relion_odd_centre`` for the odd boxes;
and saves ``benchmarks/figures/betagal_noise_panel.png``: beta-galactosidase (PDB 5A1A) clean and
at SNR 0.1, 0.03 and 0.01 with a CTF.

Usage: ``python benchmarks/bench_sim.py [--device cpu|cuda] [--no-figure]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import mrcfile
import numpy as np
import torch

from gan_viewer.io.star import read_star
from gan_viewer.sim.project import Projector
from gan_viewer.io.maps import load_map
from gan_viewer.sim.volume import resample_map

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FIGURES = Path(__file__).resolve().parent / "figures"
SETS = ("rln_proj_64_centered", "rln_proj_64_shifted", "rln_proj_65_centered", "rln_proj_65_shifted", "rln_proj_65")


def throughput(device: str) -> None:
    rng = np.random.default_rng(0)
    for box, n in ((64, 4000), (128, 1000), (256, 200)):
        volume = rng.standard_normal((box,) * 3).astype(np.float32)
        t0 = time.perf_counter()
        projector = Projector(volume, device=device)
        setup = time.perf_counter() - t0
        eulers = rng.uniform(-180, 180, (n, 3))
        projector.project(eulers[: n // 10])  # warm-up
        rates = []
        for _ in range(3):
            t0 = time.perf_counter()
            projector.project(eulers)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            rates.append(n / (time.perf_counter() - t0))
        print(f"{box:4d} px  {statistics.median(rates):8.0f} projections/s  (set-up {setup:.2f} s, {n} views)")


def model_map_time() -> None:
    from gan_viewer.sim.atomic import model_to_map

    path = DATA / "structures" / "5a1a.cif.gz"
    if not path.is_file():
        print(f"model to map: {path} is not available")
        return
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        model_to_map(path, 2.0, 128)
        times.append(time.perf_counter() - t0)
    print(f"model to map: 5A1A at 2 A in a 128 px box: {statistics.median(times):.2f} s (median of 3)   target < 10 s")


def relion_agreement() -> None:
    folder = DATA / "particles" / "relion_projections_70S"
    volume, _ = load_map(DATA / "maps" / "ribosome70S_65px.mrc")
    projectors = {65: Projector(volume), 64: Projector(resample_map(volume, 64 / 65, 1.0, 64))}
    print("set                    box  centre n//2 (min / mean)   relion odd centre (min / mean)")
    for name in SETS:
        table = read_star(folder / f"{name}.star")
        images = mrcfile.read(folder / f"{name}.mrcs")
        projector = projectors[images.shape[-1]]
        row = f"{name:22s} {images.shape[-1]:4d}"
        for odd in (False, True):
            ours = projector.project(table.eulers(), table.origins_px(default_apix=1.0), relion_odd_centre=odd)
            cc = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(ours, images)]
            row += f"   {min(cc):.6f} / {np.mean(cc):.6f}    "
        print(row)


def noise_panel(path: Path) -> None:
    from gan_viewer.core.figures import save_panel
    from gan_viewer.sim.atomic import model_to_map, suggested_box
    from gan_viewer.sim.pairs import add_noise, random_views, render

    model = DATA / "structures" / "5a1a.cif.gz"
    apix = 2.0
    volume = model_to_map(model, apix, suggested_box(model, apix), resolution=2 * apix)
    rng = np.random.default_rng(7)
    views = random_views(4, rng, defocus_range=(12000, 20000))
    truth, observed = render(Projector(volume), views, apix)
    snrs = (0.1, 0.03, 0.01)
    noisy = [add_noise(observed, snr, rng) for snr in snrs]
    rows = [[truth[i]] + [stack[i] for stack in noisy] for i in range(len(truth))]
    path.parent.mkdir(parents=True, exist_ok=True)
    save_panel(rows, path, column_titles=["clean (no CTF)"] + [f"SNR {s:g}, CTF" for s in snrs],
               title=f"beta-galactosidase (PDB 5A1A), {truth.shape[-1]} px at {apix:g} A/px")
    print(f"saved {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-figure", action="store_true")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    throughput(args.device)
    model_map_time()
    relion_agreement()
    if not args.no_figure:
        noise_panel(FIGURES / "betagal_noise_panel.png")


if __name__ == "__main__":
    main()
