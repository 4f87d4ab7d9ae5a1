"""Working samplings for particles finer than the model: which passes should be averaged?

The bundled generator works at 3 A/px. A particle sampled finer is recovered at 3 A/px and, as
the card's ``finer_scale`` asks, once more at 2 A/px (or its own pixel size, if coarser), and
the two recoveries are averaged (:meth:`gan_viewer.ml.inference.Denoiser.working_boxes`). On the
unseen-structure benchmark (``bench_generator.py general``) the white-noise cells at 1 A/px
still miss +1.5 dB. Binned to 3 A/px, white noise loses 8/9 of its power, so the model sees a
particle at nine times the data's SNR, where the oracle low-pass is strong too. Would finer
working samplings help, and at what cost to realistic images?

This script recovers the same particles at each working sampling (by default 1, 2/3 and 1/2 of
the model's pixel size, never finer than the data; ``--fractions`` for others, coarser ones too)
and scores every single pass and every average of two or three
(in the units of the model's pixel size, as :func:`gan_viewer.ml.spread_samples.pool_passes`
pools them), under five kinds of image formation that separate the two things a finer sampling
changes:

* ``white``: white noise, no CTF (the benchmark's white cells);
* ``white + CTF``: white noise and RELION's CTF at 0.5-3.5 um, the training range;
* ``white + CTF 0.5-0.9 um``: the same at low defocus only. At working sampling w the CTF's
  rings fall where a CTF of (3 A / w)^2 times the defocus would put them at 3 A/px: four times
  at 1.5 A/px, so only low defocus stays inside what the model was trained on;
* ``micrograph``: real micrograph noise (``ucsf_1142``), no CTF: a coloured spectrum, which a
  finer sampling shows the model over a wider band;
* ``micrograph + CTF``: the benchmark's realistic cells.

Structures: GroEL/GroES and fresh procedural shapes from ``bench_generator._unseen_bank``, drawn
with seed 8, not the benchmark's 2025, so the benchmark stays a test. Gain over the oracle
Gaussian low-pass (sigma chosen with the truth) at the data's own sampling, PSNR in the particle
circle.

Usage: ``python benchmarks/bench_samplings.py [--apix 1] [--box 256] [--fractions 1 0.6667 0.5]
[--n 12] [--seed 8]``; results in ``benchmarks/results/samplings_{APIX}A_{BOX}px_cpu.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time

import numpy as np

from bench_generator import RESULTS, _noise_bank, _unseen_bank
from gan_viewer.core.baselines import best_gaussian_lowpass
from gan_viewer.core.metrics import circular_mask, psnr

#: working pixel sizes as fractions of the model's (the default)
FRACTIONS = (1.0, 2 / 3, 1 / 2)
#: name -> (CTF probability, defocus range in um, micrograph noise)
FORMATIONS = {
    "white": (0.0, (0.5, 3.5), False),
    "white + CTF": (1.0, (0.5, 3.5), False),
    "white + CTF 0.5-0.9 um": (1.0, (0.5, 0.9), False),
    "micrograph": (0.0, (0.5, 3.5), True),
    "micrograph + CTF": (1.0, (0.5, 3.5), True),
}
SNRS = (0.05, 0.02)


def scenes(banks: dict, noise, apix: float, box: int, snr: float, formation: str, n: int,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(m, box, box) noisy images and their truths, ``n`` per structure, as
    ``bench_generator.cell_scenes`` draws them but with ``formation``'s CTF and noise."""
    from gan_viewer.sim.scenes import SceneRecipe, SceneSampler

    ctf, defocus, micrograph = FORMATIONS[formation]
    recipe = SceneRecipe(apix=apix, boxes=(box,), snr=(snr, snr), empty_probability=0.0, neighbour_probability=0.0,
                         shift_px=2.0 / apix, ctf_probability=ctf, defocus_um=defocus, gradient_probability=0.0,
                         invert_probability=0.0, noise_mix=(0, 0, 1) if micrograph else (1, 0, 0), bfactor=(0, 50))
    drawn = [SceneSampler(bank, noise, recipe).sample(n, rng) for bank in banks.values()]
    return np.concatenate([s.noisy for s in drawn]), np.concatenate([s.target for s in drawn])


def passes(denoiser, images: np.ndarray, apix: float, works: list[float]) -> dict[float, np.ndarray]:
    """Working pixel size -> (m, box, box) recovery at it, in the units of the first one's
    background noise (the first of ``--fractions``: by default the model's pixel size), each
    with the set's noise spectrum."""
    from gan_viewer.ml.whitening import half_plane_filters

    box = images.shape[-1]
    power = denoiser.noise_power(images)
    out, reference = {}, None
    for work in works:
        size = round(box * apix / work)
        filters = None if power is None else half_plane_filters(power, size, denoiser.input_whitening)
        mean, _, _, noise_std = denoiser._batch(images, size, 1, whitening=filters)
        reference = noise_std if reference is None else reference
        out[work] = mean * (noise_std / reference).astype(np.float32)[:, None, None]
    return out


def main() -> None:
    import torch

    from gan_viewer.ml.inference import Denoiser

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--apix", type=float, default=1.0)
    parser.add_argument("--box", type=int, default=256)
    parser.add_argument("--n", type=int, default=12, help="particles per structure and cell")
    parser.add_argument("--fractions", type=float, nargs="+", default=FRACTIONS,
                        help="working pixel sizes as fractions of the model's (each at least the data's)")
    parser.add_argument("--seed", type=int, default=8, help="structures and scenes (the benchmark's is 2025)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    denoiser = Denoiser.load(args.model, args.device)
    model_apix = float(denoiser.card["pixel_size"])
    works = list(dict.fromkeys(round(max(args.apix, f * model_apix), 3) for f in args.fractions))
    subsets = [c for r in (1, 2, 3) for c in itertools.combinations(works, r)]
    banks = _unseen_bank(args.apix, args.box, args.seed)
    noise = _noise_bank(args.apix, False)
    rng = np.random.default_rng([args.seed, 9])
    mask = circular_mask(args.box)
    results = {}
    print(f"{args.apix:g} A/px, {args.box} px; working samplings {', '.join(f'{w:g}' for w in works)} A/px; "
          f"gain over the oracle low-pass (dB) of each pass and of each average of two or three")
    for formation in FORMATIONS:
        for snr in SNRS:
            start = time.time()
            noisy, truth = scenes(banks, noise, args.apix, args.box, snr, formation, args.n, rng)
            lowpass, _, _ = best_gaussian_lowpass(noisy, truth, mask=mask)
            base = float(np.nanmean(psnr(lowpass, truth, mask)))
            recovered = passes(denoiser, noisy, args.apix, works)
            gains = {" + ".join(f"{w:g} A" for w in subset):
                     round(float(np.nanmean(psnr(np.mean([recovered[w] for w in subset], axis=0), truth, mask)))
                           - base, 2) for subset in subsets}
            label = f"{formation}, SNR {snr:g}"
            results[label] = {"lowpass_oracle_psnr_db": round(base, 2), "gain_over_lowpass_db": gains}
            print(f"{label:34s} low-pass {base:6.2f} dB  " + "  ".join(f"{k}: {v:+.2f}" for k, v in gains.items())
                  + f"  ({time.time() - start:.0f} s)", flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"samplings_{args.apix:g}A_{args.box}px_cpu.json").write_text(json.dumps(
        {"model": denoiser.name, "sha256": denoiser.card.get("sha256"), "apix": args.apix, "box": args.box,
         "n_per_structure": args.n, "seed": args.seed, "structures": list(banks),
         "working_samplings_apix": works, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
