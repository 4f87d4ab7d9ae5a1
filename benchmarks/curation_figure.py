"""A screenshot of the inspector curating by score: threshold counts and bulk actions, the curator
model's predictions, the angular coverage dock.

Simulates 300 particles as ``bench_learning.py`` does (25 % bad, SNR 0.01, CTF), writes them with
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_learning import APIX, BOX, simulate  # noqa: E402

from gan_viewer.io.star import table_from_dataframe, write_star  # noqa: E402
from gan_viewer.resources import resource_path  # noqa: E402
from gan_viewer.sim.reference import map_at  # noqa: E402


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
