"""A structure-specific generator (the inspector's Tools > Train a generator for this map): how much
better than a low-pass it recovers its own particles, and how much it draws its map where there
is none, beside the bundled default generator.

1. A particle set of the RELION beta-galactosidase tutorial data (EMPIAR-10017) at its own
   sampling, 3.54 A/px and 100 px: ``--n`` (1,000) rows of the real particle STAR
   (``star/relion1_betagal/ap_s_c2d.star``: their defocus U/V and angle, voltage, Cs, amplitude
   contrast, origins and in-plane angles; its 2D classification gives no tilt, so the views are
   drawn uniformly) projected from the reconstruction of these data
   (``maps/betagal_relion_tutorial.mrc``) with their CTF (:func:`gan_viewer.sim.reference.project_table`),
   plus real micrograph noise (``micrographs/ucsf_1142``, its clean region) at SNR 0.03,
   RELION-normalised. The STAR's own stack is not shipped, so the images are made this way.
2. Train for it with :func:`gan_viewer.ml.specific.train_for_map` (simulated mode: the set's
   pixel size, box, CTF values and measured noise spectrum and SNR) for ``--minutes`` (15) on
   the CPU.
3. (a) 200 other rows of the STAR, made the same way: PSNR of the generator beside the noisy
   input, the oracle Gaussian low-pass (sigma chosen with the truth), the blind Wiener filter
   and the bundled default generator. Target: at least +3 dB over the low-pass.
   (b) Non-particles, each fed to both generators, RELION-normalised: pure white noise, pure
   micrograph noise and junk (GroEL/GroES, PDB 1AON, at the same pixel size and box, SNR and
   CTFs). For each, the best CC of the outputs with 200 beta-gal projections against the
   control (the input low-passed to the output's smoothness;
   :func:`gan_viewer.core.baselines.hallucination_report`): the excess is how much it draws the
   reference. The test particles give the same figure for real particles, for scale.

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
STAR = DATA / "star" / "relion1_betagal" / "ap_s_c2d.star"
JUNK = DATA / "structures" / "1aon.pdb.gz"
APIX, BOX, SNR = 3.54, 100, 0.03


def particle_set(folder: Path, rows: np.ndarray, noise, rng: np.random.Generator) -> Path:
    """Particles of ``rows`` of the real STAR, made as the module says; writes ``folder``/
    particles.star (RELION 3.1), particles.mrcs (noisy) and clean.mrcs (no CTF, no noise)."""
    import mrcfile
    import pandas as pd

    from gan_viewer.core.normalize import relion_normalize
    from gan_viewer.io.star import read_star, table_from_dataframe, write_star
    from gan_viewer.sim.reference import project_table

    folder.mkdir(parents=True)
    real = read_star(STAR).particles.iloc[rows].reset_index(drop=True)
    n = len(real)
    particles = pd.DataFrame({
        "rlnImageName": [f"{i + 1:06d}@particles.mrcs" for i in range(n)],
        "rlnMicrographName": real["rlnMicrographName"],
        "rlnAngleRot": rng.uniform(-180, 180, n), "rlnAngleTilt": np.degrees(np.arccos(rng.uniform(-1, 1, n))),
        "rlnAnglePsi": real["rlnAnglePsi"].astype(float),
        "rlnOriginXAngst": real["rlnOriginX"].astype(float) * APIX,
        "rlnOriginYAngst": real["rlnOriginY"].astype(float) * APIX,
        "rlnDefocusU": real["rlnDefocusU"].astype(float), "rlnDefocusV": real["rlnDefocusV"].astype(float),
        "rlnDefocusAngle": real["rlnDefocusAngle"].astype(float), "rlnOpticsGroup": 1})
    first = real.iloc[0]
    optics = pd.DataFrame({"rlnOpticsGroupName": ["opticsGroup1"], "rlnOpticsGroup": [1],
                           "rlnVoltage": [float(first["rlnVoltage"])],
                           "rlnSphericalAberration": [float(first["rlnSphericalAberration"])],
                           "rlnAmplitudeContrast": [float(first["rlnAmplitudeContrast"])],
                           "rlnImagePixelSize": [APIX], "rlnImageSize": [BOX], "rlnImageDimensionality": [2]})
    table = table_from_dataframe(particles, optics, version=30001)
    star = write_star(table, folder / "particles.star")
    project_table(MAP, table, folder / "observed.mrcs", ctf=True)
    project_table(MAP, table, folder / "clean.mrcs")
    observed = mrcfile.read(folder / "observed.mrcs").astype(np.float32)
    sigma = np.sqrt(observed.reshape(n, -1).var(axis=1) / SNR).astype(np.float32)
    noisy = relion_normalize(observed + noise.sample("micrograph", n, BOX, rng) * sigma[:, None, None])[0]
    with mrcfile.new(folder / "particles.mrcs") as mrc:
        mrc.set_data(noisy.astype(np.float32))
        mrc.voxel_size = APIX
    (folder / "observed.mrcs").unlink()
    return star


def hallucination(denoise, references: np.ndarray, images: np.ndarray) -> dict:
    from gan_viewer.core.baselines import hallucination_report
    from gan_viewer.core.normalize import relion_normalize

    report = hallucination_report(denoise, references, box=BOX, noise=relion_normalize(images)[0],
                                  rng=np.random.default_rng(0))
    return {"n": report["n"], "output_cc": report["output"]["mean"], "control_cc": report["control"]["mean"],
            "excess_cc": report["excess_cc"], "fraction_above_control_p99": report["fraction_above_control_p99"],
            "control_sigma_px": report["control_sigma"]}


def junk_particles(table, noise, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, BOX, BOX) GroEL/GroES particles made like the set's: its CTFs, micrograph noise at SNR 0.03."""
    from gan_viewer.core.ctf_params import CtfParams
    from gan_viewer.sim.scenes import SceneRecipe, SceneSampler
    from gan_viewer.sim.volume_bank import VolumeBank

    bank = VolumeBank(APIX)
    bank.add_file(JUNK)
    recipe = SceneRecipe(apix=APIX, boxes=(BOX,), snr=(SNR, SNR), empty_probability=0.0, neighbour_probability=0.0,
                         shift_px=0.0, ctf_probability=1.0, gradient_probability=0.0, invert_probability=0.0,
                         noise_mix=(0, 0, 1), bfactor=(0, 0))
    return SceneSampler(bank, noise, recipe, ctf_pool=CtfParams.from_table(table)).sample(n, rng).noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--n", type=int, default=1000, help="particles in the set trained for")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, help="folder for the sets and the model (default: a new temporary one)")
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
    noise = _noise_bank(APIX, independent=False)
    order = np.random.default_rng(0).permutation(len(read_star(STAR)))
    star = particle_set(work / "set", np.sort(order[:args.n]), noise, np.random.default_rng(1))
    test = particle_set(work / "test", np.sort(order[args.n:args.n + 200]), noise, np.random.default_rng(12345)).parent
    t0 = time.perf_counter()
    card = train_for_map(star, MAP, work / "betagal_specific", minutes=args.minutes, device=args.device)
    train_s = time.perf_counter() - t0
    torch.set_grad_enabled(False)
    generators = {"specific": Denoiser.load(work / "betagal_specific.safetensors", args.device),
                  "default": Denoiser.load(None, args.device)}

    noisy, truth = mrcfile.read(test / "particles.mrcs"), mrcfile.read(test / "clean.mrcs")
    recovery = {}
    for name, denoiser in generators.items():
        recovery[name] = compare(noisy, truth, denoiser(noisy, APIX))
        print_row(f"{name}: beta-gal test set", recovery[name])

    rng = np.random.default_rng(7)
    volume, _ = volume_from(MAP, APIX, BOX, allow_pad=True)
    references = Projector(volume).project(random_views(200, rng).eulers)
    inputs = {"beta-gal test particles (for scale)": noisy,
              "pure white noise": rng.standard_normal((200, BOX, BOX)).astype(np.float32),
              "pure micrograph noise (ucsf_1142)": noise.sample("micrograph", 200, BOX, rng),
              "junk: GroEL/GroES 1AON, SNR 0.03, CTF": junk_particles(read_star(star), noise, 200, rng)}
    drawn = {name: {} for name in generators}
    for label, images in inputs.items():
        for name, denoiser in generators.items():
            d = drawn[name][label] = hallucination(lambda x, g=denoiser: g(x, APIX), references, images)
            print(f"{name:8s} {label:40s} best CC with beta-gal views: output {d['output_cc']:.3f}, control "
                  f"{d['control_cc']:.3f}, excess {d['excess_cc']:+.3f}; outputs above the control's 99th "
                  f"percentile {d['fraction_above_control_p99']:.0%}")
    result = {"map": str(MAP.relative_to(DATA)), "star": str(STAR.relative_to(DATA)), "n_particles": args.n,
              "pixel_size": APIX, "box": BOX, "snr": SNR, "device": args.device, "minutes": args.minutes,
              "training_seconds": train_s, "steps": card["training"]["steps"],
              "torch_threads": torch.get_num_threads(), "default_model": generators["default"].card.get("name"),
              "card_validation": card["validation"]["held_out_simulated"], "card_hallucination": card["hallucination"],
              "noise_estimate": {k: v for k, v in card["specific"]["noise"].items() if k != "spectrum"},
              "recovery": recovery, "draws_the_reference": drawn,
              "test": "200 other rows of the STAR (real CTFs, origins, in-plane angles; uniform views), real "
                      "micrograph noise, SNR 0.03, 100 px at 3.54 A/px"}
    print(f"{card['training']['steps']} steps in {train_s / 60:.1f} min; gain over the oracle low-pass "
          f"{recovery['specific']['gain_over_lowpass_db']:+.2f} dB (default generator "
          f"{recovery['default']['gain_over_lowpass_db']:+.2f} dB; target >= +3 dB)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"specific_{args.device}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(path)


if __name__ == "__main__":
    main()
