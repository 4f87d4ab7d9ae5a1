"""Field of view: run the generator on the whole box, or also on a centre crop as wide as the
largest box it was trained on?

The bundled generator learned on 64-128 px boxes at 3 A/px, particles filling 30-90 % of them.
Real boxes are often larger (the RELION 3.1 sample: 256 px at 2.8 A/px, 239 px at 3 A/px). Ways
to feed it such a box:

``whole box`` (what :class:`gan_viewer.ml.inference.Denoiser` does)
    resample the whole box to the model's pixel size and run the (fully convolutional) generator
    on it;
``centre set in``
    the same, then recover the centre that is the model's largest trained box (128 px at 3 A/px,
    384 A) on its own and put that in place of the whole box's centre;
``centre, zeros around``
    the centre's recovery alone, in an empty box (for reference: the benchmark's particles are
    centred, smaller than the crop and have no neighbours, so this one also gains from knowing
    the support);
``sliding windows``
    3 x 3 windows as wide as that centre (one of them centred), each recovered on its own and
    blended with Gaussian weights (sigma 1/8 of the window, as MONAI's sliding-window inference).

Unseen structures (bench_generator's GroEL/GroES, 150 A across, and fresh procedural shapes half
as wide as the box) in 192 px boxes at 3 A/px and 288 px boxes at 2 A/px (576 A across, so both
are 192 px at the model's pixel size), white noise and real micrograph noise + CTF, SNR 0.05 and
0.02. Gain over the oracle Gaussian low-pass (sigma chosen with the truth), at the data's own
sampling, over the whole box.

Neither is the default: on real particles the centre's and the whole box's recoveries can
disagree, and the centre then shows as a square in the recovered image (blended with a round
seam: a ring); the sliding windows lose at white-noise SNR 0.02.

Usage: ``python benchmarks/bench_fov.py [--n 6] [--model PATH]``; results in
``benchmarks/results/fov_cpu.json``.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from bench_generator import RESULTS, _noise_bank, _unseen_bank, cell_scenes, compare

GEOMETRIES = ((3.0, 192), (2.0, 288))
SNRS = (0.05, 0.02)


def recover_crop(denoiser, noisy: np.ndarray, apix: float, around: np.ndarray | None = None) -> np.ndarray:
    """Recover the centre crop that is as wide as the model's largest trained box; around it,
    ``around`` (the whole box's recovery) or zeros."""
    box = noisy.shape[-1]
    crop = min(box, 2 * int(denoiser.trained_boxes[1] * denoiser.pixel_size / apix / 2))
    lo = (box - crop) // 2
    out = np.zeros_like(noisy) if around is None else around.copy()
    out[:, lo:lo + crop, lo:lo + crop] = denoiser.recover(noisy[:, lo:lo + crop, lo:lo + crop], apix).images
    return out


def recover_windows(denoiser, noisy: np.ndarray, apix: float, sigma: float = 0.125) -> np.ndarray:
    """Sliding windows as wide as the model's largest trained box, 3 x 3 of them (one centred),
    each recovered on its own and blended with Gaussian weights (``sigma`` x the window)."""
    box = noisy.shape[-1]
    win = min(box, 2 * int(denoiser.trained_boxes[1] * denoiser.pixel_size / apix / 2))
    k = 2 * int(np.ceil((box - win) / win)) + 1
    starts = np.unique(np.round(np.linspace(0, box - win, k)).astype(int))
    axis = np.arange(win) - (win - 1) / 2
    weight = np.exp(-(axis[:, None] ** 2 + axis[None, :] ** 2) / (2 * (sigma * win) ** 2))
    total = np.zeros((box, box))
    out = np.zeros(noisy.shape, np.float64)
    for y in starts:
        for x in starts:
            part = denoiser.recover(np.ascontiguousarray(noisy[:, y:y + win, x:x + win]), apix).images
            out[:, y:y + win, x:x + win] += weight * part
            total[y:y + win, x:x + win] += weight
    return (out / total).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6, help="particles per structure and cell")
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    import torch

    from gan_viewer.ml.inference import Denoiser

    torch.set_grad_enabled(False)
    denoiser = Denoiser.load(args.model, "cpu")
    results = {}
    for apix, box in GEOMETRIES:
        rng = np.random.default_rng([2026, int(apix * 10)])
        banks = _unseen_bank(apix, box, 2026, fill=0.5)
        noise = _noise_bank(apix, independent=False)
        for real in (False, True):
            for snr in SNRS:
                noisy, truth = cell_scenes(banks, noise, apix, box, snr, real, args.n, rng)
                label = f"{apix:g} A/px, {box} px, SNR {snr:g}, {'micrograph noise + CTF' if real else 'white noise'}"
                recovered = denoiser.recover(noisy, apix).images
                whole = compare(noisy, truth, recovered)
                inset = compare(noisy, truth, recover_crop(denoiser, noisy, apix, around=recovered))
                alone = compare(noisy, truth, recover_crop(denoiser, noisy, apix))
                windows = compare(noisy, truth, recover_windows(denoiser, noisy, apix))
                results[label] = {"whole_box_db": whole["gain_over_lowpass_db"],
                                  "centre_set_in_db": inset["gain_over_lowpass_db"],
                                  "centre_zeros_around_db": alone["gain_over_lowpass_db"],
                                  "sliding_windows_db": windows["gain_over_lowpass_db"],
                                  "lowpass_oracle_psnr_db": whole["lowpass_oracle"]["psnr_db"]}
                print(f"{label:50s} gain over the oracle low-pass: whole box {whole['gain_over_lowpass_db']:+.2f} dB, "
                      f"centre set in {inset['gain_over_lowpass_db']:+.2f} dB, centre with zeros around "
                      f"{alone['gain_over_lowpass_db']:+.2f} dB, "
                      f"sliding windows {windows['gain_over_lowpass_db']:+.2f} dB", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fov_cpu.json").write_text(json.dumps({"model": denoiser.name, "n_per_structure": args.n,
                                                      "structures": list(banks), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
