"""A structure-specific generator (the inspector's Tools > Train a generator for this map): how much
better than a low-pass it recovers its own particles, and how much it draws its map where there
is none.

1. Simulate a particle set: beta-galactosidase (``maps/betagal_relion_tutorial.mrc``, 3.54 A/px),
   96 px, SNR 0.03, RELION's CTF (defocus 1-2.5 um), 1,000 particles with their STAR file.
2. Train for it with :func:`gan_viewer.ml.specific.train_for_map` (simulated mode: the set's
   pixel size, box, CTF values and measured noise spectrum and SNR) for ``--minutes`` (15) on
   the CPU.
3. (a) 200 fresh particles at SNR 0.03 with CTF: PSNR of the generator beside the noisy input,
   the oracle Gaussian low-pass (sigma chosen with the truth) and the blind Wiener filter.
   Target: at least +3 dB over the low-pass.
   (b) Non-particles, each fed to the generator, RELION-normalised: pure white noise, pure
   micrograph noise (``micrographs/ucsf_1142``, its clean region) and junk (GroEL/GroES, PDB
   1AON, at the same pixel size, SNR and CTFs). For each, the best CC of the outputs with 200
   beta-gal projections against the control (the input low-passed to the output's smoothness;
   :func:`gan_viewer.core.baselines.hallucination_report`): the excess is how much it draws the
   reference. The fresh particles give the same figure for real particles, for scale.

Prints the figures and writes ``benchmarks/results/specific_<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_generator import DATA, RESULTS, _noise_bank, compare, print_row

MAP = DATA / "maps" / "betagal_relion_tutorial.mrc"
JUNK = DATA / "structures" / "1aon.pdb.gz"
APIX, BOX, SNR = 3.54, 96, 0.03


def simulate(folder: Path, n: int, seed: int) -> Path:
    from gan_viewer.cli import main

    assert main(["simulate", "--map", str(MAP), "--n", str(n), "--snr", str(SNR), "--box", str(BOX), "--ctf",
                 "--seed", str(seed), "--out", str(folder)]) == 0
    return folder


def hallucination(denoise, references: np.ndarray, images: np.ndarray) -> dict:
    from gan_viewer.core.baselines import hallucination_report
    from gan_viewer.core.normalize import relion_normalize

    report = hallucination_report(denoise, references, box=BOX, noise=relion_normalize(images)[0],
                                  rng=np.random.default_rng(0))
    return {"n": report["n"], "output_cc": report["output"]["mean"], "control_cc": report["control"]["mean"],
            "excess_cc": report["excess_cc"], "fraction_above_control_p99": report["fraction_above_control_p99"],
            "control_sigma_px": report["control_sigma"]}


def junk_particles(table, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, BOX, BOX) GroEL/GroES particles made like the set's: its CTFs, white noise at SNR 0.03."""
    from gan_viewer.core.ctf_params import CtfParams
    from gan_viewer.sim.scenes import NoiseBank, SceneRecipe, SceneSampler, VolumeBank

    bank = VolumeBank(APIX)
    bank.add_file(JUNK)
    recipe = SceneRecipe(apix=APIX, boxes=(BOX,), snr=(SNR, SNR), empty_probability=0.0, neighbour_probability=0.0,
                         shift_px=0.0, ctf_probability=1.0, gradient_probability=0.0, invert_probability=0.0,
                         noise_mix=(1, 0, 0), bfactor=(0, 0))
    return SceneSampler(bank, NoiseBank(APIX), recipe, ctf_pool=CtfParams.from_table(table)).sample(n, rng).noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, help="folder for the set and the model (default: a new temporary one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    import mrcfile
    import torch

    from gan_viewer.io.star import read_star
    from gan_viewer.ml.inference import Denoiser
    from gan_viewer.ml.specific import train_for_map
    from gan_viewer.sim.pairs import random_views
    from gan_viewer.sim.project import Projector
    from gan_viewer.sim.reference import volume_from

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_specific_"))
    star = simulate(work / "set", 1000, 0) / "particles.star"
    t0 = time.perf_counter()
    card = train_for_map(star, MAP, work / "betagal_specific", minutes=args.minutes, device=args.device)
    train_s = time.perf_counter() - t0
    torch.set_grad_enabled(False)
    denoiser = Denoiser.load(work / "betagal_specific.safetensors", args.device)
    denoise = lambda x: denoiser(x, APIX)  # noqa: E731

    test = simulate(work / "test", 200, 12345)
    noisy, truth = mrcfile.read(test / "particles.mrcs"), mrcfile.read(test / "clean.mrcs")
    recovery = compare(noisy, truth, denoise(noisy))
    print_row("beta-gal, 200 fresh, SNR 0.03, CTF", recovery)

    rng = np.random.default_rng(7)
    volume, _ = volume_from(MAP, APIX, BOX, allow_pad=True)
    references = Projector(volume).project(random_views(200, rng).eulers)
    micrograph = _noise_bank(APIX, independent=False)
    inputs = {"beta-gal particles (for scale)": noisy,
              "pure white noise": rng.standard_normal((200, BOX, BOX)).astype(np.float32),
              "pure micrograph noise (ucsf_1142)": micrograph.sample("micrograph", 200, BOX, rng),
              "junk: GroEL/GroES 1AON, SNR 0.03, CTF": junk_particles(read_star(star), 200, rng)}
    drawn = {}
    for label, images in inputs.items():
        drawn[label] = hallucination(denoise, references, images)
        d = drawn[label]
        print(f"{label:40s} best CC with beta-gal views: output {d['output_cc']:.3f}, control {d['control_cc']:.3f}, "
              f"excess {d['excess_cc']:+.3f}; outputs above the control's 99th percentile "
              f"{d['fraction_above_control_p99']:.0%}")
    result = {"map": str(MAP), "pixel_size": APIX, "box": BOX, "snr": SNR, "device": args.device,
              "minutes": args.minutes, "training_seconds": train_s, "steps": card["training"]["steps"],
              "torch_threads": torch.get_num_threads(), "model": str(work / "betagal_specific.safetensors"),
              "card_validation": card["validation"]["held_out_simulated"], "card_hallucination": card["hallucination"],
              "noise_estimate": {k: v for k, v in card["specific"]["noise"].items() if k != "spectrum"},
              "recovery": recovery, "draws_the_reference": drawn,
              "test": "200 fresh views, SNR 0.03, 96 px, CTF, seed 12345"}
    print(f"{card['training']['steps']} steps in {train_s / 60:.1f} min; gain over the oracle low-pass "
          f"{recovery['gain_over_lowpass_db']:+.2f} dB (target >= +3 dB)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"specific_{args.device}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(path)


if __name__ == "__main__":
    main()
