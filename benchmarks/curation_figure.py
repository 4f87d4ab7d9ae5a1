"""A screenshot of the inspector curating by score: threshold counts and bulk actions, the curator
model's predictions, the angular coverage dock.

Simulates 300 particles (25 % bad: a wrong pose in the STAR, another structure, an empty box, 12 px
off-centre; beta-gal at 3 A/px, 64 px, SNR 0.01, CTF), writes them with
their map under ``benchmarks/work/curation_figure/``, opens them with the bundled generator and
"CTF on reference", scores them all, lets a simulated curator decide the 15 lowest- and 15
highest-scored ones, and saves the window once the curator model has learnt.

usage: QT_QPA_PLATFORM=offscreen OMP_NUM_THREADS=1 python benchmarks/curation_figure.py [--out PNG]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

import torch

from gan_viewer.io.star import table_from_dataframe, write_star
from gan_viewer.resources import resource_path
from gan_viewer.sim.ctf import CtfParams, apply_ctf
from gan_viewer.sim.phantoms import phantom_map
from gan_viewer.sim.project import Projector
from gan_viewer.sim.reference import map_at

APIX, BOX = 3.0, 64


def random_eulers(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) uniformly distributed RELION angles (rot, tilt, psi) in degrees."""
    return np.stack([rng.uniform(-180, 180, n), np.rad2deg(np.arccos(rng.uniform(-1, 1, n))),
                     rng.uniform(-180, 180, n)], axis=1)


def simulate(n: int, snr: float, rng: np.random.Generator) -> dict:
    """Raw images, the STAR's poses, CTF, the reference at those poses and the truth."""
    volume, _ = map_at(resource_path("demo/betagal_5a1a.mrc"), APIX, BOX, allow_pad=True)
    projector = Projector(volume)
    other = Projector(phantom_map(rng, APIX, BOX))
    kind = np.zeros(n, np.int64)
    bad = rng.permutation(n)[: n // 4]
    kind[bad] = 1 + np.arange(bad.size) % 4
    star = random_eulers(rng, n)  # the poses the STAR gives
    true = star.copy()
    true[kind == 1] = random_eulers(rng, int((kind == 1).sum()))
    shifts = np.zeros((n, 2))
    angle = rng.uniform(0, 2 * np.pi, n)
    shifts[kind == 4] = 12.0 * np.stack([np.cos(angle), np.sin(angle)], 1)[kind == 4]
    clean = projector.project(true, shifts)
    clean[kind == 2] = other.project(true[kind == 2])
    ctf = _ctf(rng, n)
    modulated = apply_ctf(torch.from_numpy(clean), ctf, APIX).numpy()
    signal = modulated[kind != 3]
    sigma = np.sqrt(signal.reshape(len(signal), -1).var(axis=1).mean() / snr)
    raw = (modulated * (kind != 3)[:, None, None] + rng.normal(0, sigma, modulated.shape)).astype(np.float32)
    reference = projector.project(star)
    return {"raw": raw, "reference": reference, "reference_ctf": apply_ctf(torch.from_numpy(reference), ctf,
                                                                           APIX).numpy(),
            "kind": kind, "good": kind == 0, "ctf": ctf, "eulers": star}


def _ctf(rng: np.random.Generator, n: int) -> CtfParams:
    defocus = rng.uniform(10000, 25000, n)
    return CtfParams(defocus, defocus * rng.uniform(0.97, 1.0, n), rng.uniform(0, 180, n), np.full(n, 300.0),
                     np.full(n, 2.7), np.full(n, 0.1), np.zeros(n), np.zeros(n), np.ones(n))


def write_set(folder: Path, n: int = 300) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(1)
    data = simulate(n, 0.01, rng)
    folder.mkdir(parents=True, exist_ok=True)
    with mrcfile.new(folder / "particles.mrcs", overwrite=True) as mrc:
        mrc.set_data(data["raw"])
        mrc.voxel_size = APIX
    volume, _ = map_at(resource_path("demo/betagal_5a1a.mrc"), APIX, BOX, allow_pad=True)
    with mrcfile.new(folder / "map.mrc", overwrite=True) as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = APIX
    ctf, eulers = data["ctf"], data["eulers"]
    particles = pd.DataFrame({
        "rlnImageName": [f"{i + 1:06d}@particles.mrcs" for i in range(n)],
        "rlnAngleRot": eulers[:, 0], "rlnAngleTilt": eulers[:, 1], "rlnAnglePsi": eulers[:, 2],
        "rlnDefocusU": ctf.defocus_u, "rlnDefocusV": ctf.defocus_v, "rlnDefocusAngle": ctf.defocus_angle,
        "rlnOpticsGroup": np.ones(n, int)})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["g"], "rlnImagePixelSize": [APIX],
                           "rlnImageSize": [BOX], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.1], "rlnImageDimensionality": [2]})
    star = folder / "particles.star"
    for old in folder.glob("particles.star.gan-viewer.sqlite*"):
        old.unlink()
    write_star(table_from_dataframe(particles, optics), star, overwrite=True)
    return star, folder / "map.mrc", data["good"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "figures" / "curation.png")
    args = parser.parse_args(argv)
    star, map_path, good = write_set(Path(__file__).parent / "work" / "curation_figure")

    from PyQt6.QtWidgets import QApplication

    from gan_viewer.core.curation import Label
    from gan_viewer.gui.app import create_app
    from gan_viewer.gui.main_window import MainWindow

    app = create_app()
    window = MainWindow(device="cpu")
    window.resize(1600, 1000)
    window.show()

    def wait(condition, seconds: float) -> None:
        end = time.time() + seconds
        while not condition() and time.time() < end:
            app.processEvents()
            time.sleep(0.02)

    window.viewbar.ctf.setChecked(True)
    window.open_path(star, map_path)
    wait(lambda: window.engine.denoise is not None, 120)
    window.score_all()
    wait(lambda: window.images._bulk is None and not window.progress.isVisible(), 600)
    score = window.images.raw_scores.copy()  # with the CTF on: the matched filter
    order = np.argsort(score)
    for index in np.concatenate([order[:15], order[-15:]]):
        window.session.decide(Label.KEEP if good[index] else Label.REJECT, [int(index)])
    wait(lambda: window.curator.p_keep() is not None, 60)
    gallery = window.docks.gallery
    gallery.set_sort("predicted keep")
    gallery.set_filter("raw agreement", float(np.percentile(score, 20)), float(np.percentile(score, 60)))
    window.next_uncertain()
    wait(lambda: window.triptych.is_complete(), 60)
    for _ in range(50):
        app.processEvents()
        time.sleep(0.02)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(f"wrote {args.out}")
    window.close()
    QApplication.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
