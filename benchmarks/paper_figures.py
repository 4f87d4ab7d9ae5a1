"""Reproduce Figures 2, 3 and 5 of the paper (bioRxiv 10.1101/256792) with gan-viewer's own tools.

* Figure 2: beta-galactosidase (PDB 5A1A): noisy | GAN-recovered | truth for several views, from
  a generator trained on simulated 5A1A particles.
* Figure 3: the noise panel: the same views at SNR 0.1, 0.03 and 0.01, noisy and recovered.
* Figure 5: a generator trained on RNA polymerase II (PDB 1WCM) applied to particles of RNA Pol
  II *with an added density* (an extra globular domain it never saw): does the recovered image
  show the new density, or the structure the generator was trained on? Correlations of the
  recovered images with the truth with and without the added density answer it.

The generators are trained with ``gan-viewer train`` (``--minutes`` each) unless ``--reuse``
finds them in ``--work``. PNGs go to ``benchmarks/figures/``; numbers to
``benchmarks/results/paper_figures.json``.

Usage: ``python benchmarks/paper_figures.py [--minutes 10] [--work DIR] [--reuse] [--device cpu]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from gan_viewer.core.figures import save_panel
from gan_viewer.core.metrics import circular_mask, correlation, psnr

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
FIGURES = ROOT / "benchmarks" / "figures"
APIX, BOX = 3.0, 96


def train(name: str, model_file: Path, work: Path, args: argparse.Namespace) -> Path:
    out = work / name
    if args.reuse and out.with_suffix(".safetensors").exists():
        return out.with_suffix(".safetensors")
    subprocess.run([sys.executable, "-m", "gan_viewer", "train", "--model", str(model_file), "--snr", "0.01", "0.1",
                    "--box", str(BOX), "--apix", str(APIX), "--minutes", str(args.minutes), "--device", args.device,
                    "--seed", "5", "--out", str(out), "--force"], check=True)
    return out.with_suffix(".safetensors")


def views_of(volume: np.ndarray, n: int, seed: int):
    from gan_viewer.sim.pairs import random_views, render
    from gan_viewer.sim.project import Projector

    views = random_views(n, np.random.default_rng(seed))
    return render(Projector(volume), views, APIX)[0], views


def figures_2_and_3(denoiser, out: dict) -> None:
    from gan_viewer.sim.pairs import add_noise
    from gan_viewer.sim.reference import volume_from

    volume, _ = volume_from(DATA / "structures" / "5a1a.cif.gz", APIX, BOX, allow_pad=True)
    truth, _ = views_of(volume, 5, seed=202)
    rng = np.random.default_rng(3)
    mask = circular_mask(BOX)
    noisy = {snr: add_noise(truth, snr, rng) for snr in (0.1, 0.03, 0.01)}
    recovered = {snr: denoiser(img, APIX) for snr, img in noisy.items()}
    rows = [[noisy[0.03][i], recovered[0.03][i], truth[i]] for i in range(4)]
    save_panel(rows, FIGURES / "figure2_betagal.png", column_titles=["noisy (SNR 0.03)", "GAN-recovered", "truth"],
               title="Figure 2: beta-galactosidase (PDB 5A1A)")
    rows = [[noisy[s][i] for s in noisy] + [recovered[s][i] for s in noisy] + [truth[i]] for i in range(3)]
    titles = [f"noisy {s:g}" for s in noisy] + [f"recovered {s:g}" for s in noisy] + ["truth"]
    save_panel(rows, FIGURES / "figure3_noise_panel.png", column_titles=titles,
               title="Figure 3: the same views at SNR 0.1, 0.03, 0.01")
    out["figure3"] = {f"snr {s:g}": {"psnr_noisy_db": float(np.mean(psnr(noisy[s], truth, mask))),
                                     "psnr_recovered_db": float(np.mean(psnr(recovered[s], truth, mask))),
                                     "cc_recovered": float(np.mean(correlation(recovered[s], truth, mask)))}
                      for s in noisy}


def added_density(volume: np.ndarray, radius_px: float = 7.0) -> np.ndarray:
    """``volume`` with a globular domain of ``radius_px`` attached to its surface along +x."""
    from scipy.ndimage import gaussian_filter

    d = volume.shape[0]
    occupied = volume > 0.2 * volume.max()
    xs = np.flatnonzero(occupied.any(axis=(0, 1)))
    centre = np.array([d // 2, d // 2, min(d - radius_px - 2, xs.max() + radius_px * 0.2)])  # z, y, x
    z, y, x = np.ogrid[:d, :d, :d]
    ball = ((z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2) <= radius_px**2
    level = float(np.percentile(volume[occupied], 90))
    return volume + gaussian_filter(ball.astype(np.float32) * level, 1.0)


def figure_5(denoiser, out: dict) -> None:
    from gan_viewer.sim.pairs import add_noise
    from gan_viewer.sim.reference import volume_from

    plain, _ = volume_from(DATA / "structures" / "1WCM.pdb", APIX, BOX, allow_pad=True)
    extra = added_density(plain)
    truth_extra, views = views_of(extra, 6, seed=505)
    from gan_viewer.sim.project import Projector

    truth_plain = Projector(plain).project(views.eulers, views.origins_px)
    mask = circular_mask(BOX)
    noisy = add_noise(truth_extra, 0.05, np.random.default_rng(4))
    recovered = denoiser(noisy, APIX)
    cc_extra = correlation(recovered, truth_extra, mask)
    cc_plain = correlation(recovered, truth_plain, mask)
    difference = truth_extra - truth_plain
    # how much of the added density's projection the recovered image carries, per view
    shown = correlation(recovered - truth_plain * np.sum(recovered * truth_plain, axis=(1, 2), keepdims=True)
                        / np.sum(truth_plain**2, axis=(1, 2), keepdims=True), difference, mask)
    rows = [[noisy[i], recovered[i], truth_extra[i], truth_plain[i]] for i in range(4)]
    save_panel(rows, FIGURES / "figure5_added_density.png",
               column_titles=["noisy (SNR 0.05)", "recovered", "truth with added density", "training structure"],
               title="Figure 5: generator trained on RNA Pol II (1WCM), tested with an added density")
    out["figure5"] = {"cc_with_added_density": float(np.mean(cc_extra)),
                      "cc_without_added_density": float(np.mean(cc_plain)),
                      "cc_residual_vs_added_density": float(np.mean(shown))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=ROOT / "benchmarks" / "work")
    parser.add_argument("--reuse", action="store_true", help="reuse generators already in --work")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    from gan_viewer.ml.inference import Denoiser

    args.work.mkdir(parents=True, exist_ok=True)
    FIGURES.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    betagal = Denoiser.load(train("betagal_5a1a", DATA / "structures" / "5a1a.cif.gz", args.work, args), args.device)
    figures_2_and_3(betagal, results)
    polii = Denoiser.load(train("rnapolii_1wcm", DATA / "structures" / "1WCM.pdb", args.work, args), args.device)
    figure_5(polii, results)
    print(json.dumps(results, indent=2))
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "paper_figures.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
