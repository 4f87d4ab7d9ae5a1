"""Generator figures: recovery against the oracle Gaussian low-pass, and inference throughput.

Subcommands (each prints its figures; all run on this machine's CPU unless --device says):

``default [--model PATH]``
    The bundled default generator on structures it never saw: GroEL/GroES (PDB 1AON, held out
    of its training) and fresh procedural phantoms (unseen seeds), at SNR 0.1 and 0.03, with and
    without CTF. Target: at least +1.5 dB over the oracle low-pass at SNR 0.1 and 0.03.
``general [--model PATH] [--n 24]``
    Any generator on structures it never saw, **at the data's own sampling**: GroEL/GroES (PDB
    1AON) and fresh procedural shapes (phantoms and, when available, assemblies of unseen seeds),
    at 1, 2 and 3 A/px in 256, 128 and 96 px boxes, SNR 0.05 and 0.02, with white noise (no CTF)
    and with real micrograph noise (``micrographs/ucsf_1142``, its clean region) plus RELION's CTF.
    Gain over the oracle Gaussian low-pass (sigma chosen with the truth); target >= +1.5 dB in
    every cell. Each cell has two figures: ``denoise``'s image (one pass, the command's default)
    and the inspector's panel (the mean of the 4 rotations and flips its spread is made of).
    Also, at each geometry: hallucination on pure white and micrograph noise (best CC of the
    outputs with views of several structures, minus that of matched low-passed noise, with its
    standard error; micrograph noise is half raw patches and half patches with random phases,
    each also reported; target <= 0.05), and the spread's calibration: the Spearman correlation
    of each particle's relative spread (rms spread / rms recovered image, in the particle circle)
    with the error of the image it comes with as the PSNR measures it (both images normalised:
    MSE = 2 (1 - CC)); target >= 0.5; pure noise must get a larger relative spread than
    particles. The correlation of the absolute spread with the absolute error (noise units) is
    printed beside it.
    ``--independent`` swaps the micrograph for the held-out ``fei-extended.mrc`` (mrcfile sdist),
    for a final check that nothing was tuned on. ``--single-scale`` measures one pass at the
    model's pixel size where the card asks for a second, finer one (the baseline of that choice);
    ``--no-whitening`` leaves the noise's colour as it is where the card asks to take some away
    (``input_whitening``; the baseline of that choice). ``--coarser-pass`` also recovers each
    particle at 4/3 of the model's pixel size and averages that in (:func:`with_coarser_pass`;
    not what the product does: a candidate, measured against the card's passes). Each recovery
    gets the noise spectrum of the set it belongs to (a cell's particles, a kind's noise
    fields), as the inspector and ``denoise`` measure it on the particle set.
``throughput [--n 1000] [--box 128] [--apix 3] [--spread] [--single-scale]``
    Wall time of the whole ``gan-viewer denoise`` command (start-up included) on n particles, by
    default at the model's pixel size (no resampling); ``--apix 2`` measures particles finer than
    the model, which the bundled default recovers at two samplings (``--single-scale``: one).
    Targets on the CPU at 128 px: at least 100 particles/s, and 25/s with ``--spread``.

Results are also written to ``benchmarks/results/*.json`` (named after ``--model``'s file when
one is given, so a candidate never replaces the bundled model's figures). A structure-specific
generator (trained for one map and one particle set) is measured by ``bench_specific.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gan_viewer.core.baselines import best_gaussian_lowpass, wiener_filter
from gan_viewer.core.metrics import circular_mask, correlation, psnr

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


def gan_viewer(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "gan_viewer", *map(str, args)], check=True)


def compare(noisy: np.ndarray, truth: np.ndarray, recovered: np.ndarray, panel: np.ndarray | None = None) -> dict:
    """Mean PSNR / CC of the noisy input, the oracle low-pass, Wiener and the generator; with
    ``panel`` (the inspector's recovered image: the mean over the spread's rotations and flips),
    that too, and its gain (``panel_gain_over_lowpass_db``)."""
    mask = circular_mask(truth.shape[-1])
    lowpass, sigma, _ = best_gaussian_lowpass(noisy, truth, mask=mask)
    methods = {"noisy": noisy, "lowpass_oracle": lowpass, "wiener": wiener_filter(noisy), "generator": recovered}
    if panel is not None:
        methods["panel"] = panel
    out = {name: {"psnr_db": float(np.nanmean(psnr(img, truth, mask))),
                  "cc": float(np.nanmean(correlation(img, truth, mask)))} for name, img in methods.items()}
    out["lowpass_sigma_px"] = sigma
    out["gain_over_lowpass_db"] = out["generator"]["psnr_db"] - out["lowpass_oracle"]["psnr_db"]
    if panel is not None:
        out["panel_gain_over_lowpass_db"] = out["panel"]["psnr_db"] - out["lowpass_oracle"]["psnr_db"]
    return out


def print_row(label: str, r: dict) -> None:
    print(f"{label:34s} noisy {r['noisy']['psnr_db']:6.2f}  low-pass {r['lowpass_oracle']['psnr_db']:6.2f} "
          f"(sigma {r['lowpass_sigma_px']:.2f})  Wiener {r['wiener']['psnr_db']:6.2f}  "
          f"generator {r['generator']['psnr_db']:6.2f}  gain {r['gain_over_lowpass_db']:+.2f} dB  "
          f"CC {r['generator']['cc']:.3f}"
          + (f"  panel {r['panel']['psnr_db']:6.2f} gain {r['panel_gain_over_lowpass_db']:+.2f} dB"
             if "panel" in r else ""))


def default(args: argparse.Namespace) -> dict:
    import torch

    from gan_viewer.ml.inference import Denoiser
    from gan_viewer.sim.pairs import add_noise, random_views, render
    from gan_viewer.sim.phantoms import phantom_map
    from gan_viewer.sim.project import Projector
    from gan_viewer.sim.reference import volume_from

    torch.set_grad_enabled(False)
    denoiser = Denoiser.load(args.model, args.device)
    apix, box = float(denoiser.card["pixel_size"]), int(denoiser.card["box"])
    rng = np.random.default_rng(2024)
    volumes = {"GroEL/GroES 1AON (held out)": volume_from(DATA / "structures" / "1aon.pdb.gz", apix, box,
                                                          allow_pad=True)[0]}
    volumes.update({f"phantom {k} (unseen seed)": phantom_map(rng, apix, box) for k in range(4)})
    results = {}
    for snr in (0.1, 0.03):
        for ctf in (False, True):
            noisy_all, truth_all = [], []
            for volume in volumes.values():
                views = random_views(50, rng, defocus_range=(10000, 25000) if ctf else None, astigmatism=500.0)
                truth, observed = render(Projector(volume), views, apix)
                noisy_all.append(add_noise(observed, snr, rng))
                truth_all.append(truth)
            noisy, truth = np.concatenate(noisy_all), np.concatenate(truth_all)
            label = f"unseen, SNR {snr:g}, {'CTF' if ctf else 'no CTF'}"
            results[label] = compare(noisy, truth, denoiser(noisy, apix))
            print_row(label, results[label])
    return {"model": denoiser.name, "sha256": denoiser.card.get("sha256"), "structures": list(volumes),
            "n_per_structure": 50, "results": results}


GEOMETRIES = ((1.0, 256), (2.0, 128), (3.0, 96))
SNRS = (0.05, 0.02)
#: the spread the inspector computes with each recovered image (Denoiser.recover's default samples):
#: its panel shows the mean of these samples
PANEL_METHOD = "tta"


def _unseen_bank(apix: float, box: int, seed: int, fill: float = 0.7):
    """GroEL/GroES and fresh procedural shapes at ``apix`` (the procedural ones ``fill`` of the
    box across), as one-entry banks (name -> bank)."""
    from gan_viewer.sim.phantoms import phantom_map
    from gan_viewer.sim.volume_bank import VolumeBank

    banks = {}
    bank = VolumeBank(apix)
    bank.add_file(DATA / "structures" / "1aon.pdb.gz")
    banks["GroEL/GroES 1AON"] = bank
    rng = np.random.default_rng([seed, 11])
    for k in range(2):
        bank = VolumeBank(apix)
        bank.add_volume(f"phantom {k}", phantom_map(rng, apix, box, fill=fill), apix, "phantom")
        banks[f"phantom {k} (unseen seed)"] = bank
    try:
        from gan_viewer.sim.assemblies import assembly_map
    except ImportError:
        return banks
    for kind in ("shell", "ring", "oligomer", "membrane"):
        bank = VolumeBank(apix)
        try:
            volume, info = assembly_map(rng, apix, box, kind=kind, fill=fill)
        except (TypeError, ValueError, KeyError):
            continue
        bank.add_volume(f"{kind} (unseen seed)", volume, apix, "assembly")
        banks[f"{info.get('kind', kind)} (unseen seed)"] = bank
    return banks


def _noise_bank(apix: float, independent: bool):
    from gan_viewer.io.mrc import MrcStack
    from gan_viewer.sim.scenes import NoiseBank

    noise = NoiseBank(apix)
    if independent:
        held_out = ROOT / "benchmarks" / "work" / "fei-extended.mrc"
        if not held_out.is_file():
            raise SystemExit(f"--independent needs {held_out} (from the mrcfile 1.5.4 sdist, tests/test_data)")
        noise.add_micrograph(held_out)
    else:  # ucsf_1142: downsampled, pixel size unknown; its region away from the ice blob, as it is
        with MrcStack(DATA / "micrographs" / "ucsf_1142" / "Ucsf_stack_1142_DW.mrc") as stack:
            image = stack.read([0])[0]
        noise.add_image(image[380:, :560], "ucsf_1142 (clean region, native grid)")
    return noise


def _scenes(bank, noise, apix: float, box: int, snr: float, real: bool, n: int, rng):
    from gan_viewer.sim.scenes import SceneRecipe, SceneSampler

    recipe = SceneRecipe(apix=apix, boxes=(box,), snr=(snr, snr), empty_probability=0.0, neighbour_probability=0.0,
                         shift_px=2.0 / apix, ctf_probability=1.0 if real else 0.0, gradient_probability=0.0,
                         invert_probability=0.0, noise_mix=(0, 0, 1) if real else (1, 0, 0), bfactor=(0, 50))
    return SceneSampler(bank, noise, recipe).sample(n, rng)


def cell_scenes(banks: dict, noise, apix: float, box: int, snr: float, real: bool, n: int,
                rng) -> tuple[np.ndarray, np.ndarray]:
    """(m, box, box) noisy images and their truths: ``n`` scenes of each bank, one cell's set."""
    noisy, truth = [], []
    for bank in banks.values():
        scenes = _scenes(bank, noise, apix, box, snr, real, n, rng)
        noisy.append(scenes.noisy)
        truth.append(scenes.target)
    return np.concatenate(noisy), np.concatenate(truth)


def _standard_error(values: np.ndarray) -> float:
    """Standard error of the mean of (n,) values."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values)))


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    ok = np.isfinite(a) & np.isfinite(b)
    return float(spearmanr(a[ok], b[ok]).statistic) if ok.sum() > 2 else float("nan")


def _threshold(pool: dict[str, list]) -> float:
    """The confidence (1 - relative spread) that best separates particles from pure noise
    (highest balanced accuracy)."""
    particles = 1 - np.concatenate(pool["particles"])
    noise = 1 - np.concatenate(pool["noise"])
    candidates = np.unique(np.clip(np.concatenate([particles, noise]), 0, 1))
    accuracy = [(np.mean(particles >= t) + np.mean(noise < t)) / 2 for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def _hallucination(denoiser, apix: float, fields: np.ndarray, references: np.ndarray,
                   noise_spread: dict[str, list]) -> dict:
    """Hallucination on (n, box, box) pure-noise ``fields``: of ``denoise``'s image (one pass) and of
    the inspector's panel (the mean of the spread's samples), each against its own control
    (the noise low-passed to its smoothness); appends the fields' relative spreads to
    ``noise_spread`` (per method)."""
    from gan_viewer.core.baselines import hallucination_report
    from gan_viewer.core.confidence import relative_spread
    from gan_viewer.ml.spread_samples import SPREAD_METHODS

    report = hallucination_report(lambda x: denoiser.recover(x, apix).images, references, noise=fields)
    for method in SPREAD_METHODS:
        sampled = denoiser.recover(fields, apix, spread=True, method=method)
        noise_spread[method].append(relative_spread(sampled.images, sampled.spread))
        if method == PANEL_METHOD:
            panel = hallucination_report(lambda x, images=sampled.images: images, references, noise=fields)
    excess = np.subtract(report["output"]["best_cc"], report["control"]["best_cc"])  # (n,)
    panel_excess = np.subtract(panel["output"]["best_cc"], panel["control"]["best_cc"])
    return {"excess_cc": report["excess_cc"], "excess_cc_se": _standard_error(excess),
            "fraction_above_control_p99": report["fraction_above_control_p99"],
            "control_sigma": report["control_sigma"], "output_cc": report["output"]["mean"],
            "control_cc": report["control"]["mean"], "variance_ratio": report["power"]["mean_variance_ratio"],
            "panel_excess_cc": panel["excess_cc"], "panel_excess_cc_se": _standard_error(panel_excess)}


def geometry_sets(apix: float, box: int, n: int, independent: bool) -> dict:
    """Everything ``general`` measures at one geometry, drawn in one fixed order from one seed.

    Returns
    -------
    dict with
        ``banks``: the unseen structures (name -> bank);
        ``cells``: list of (label, noisy, truth), (m, box, box) each: white noise at each SNR,
        then micrograph noise + CTF at each SNR;
        ``references``: (40 per structure, box, box) views for the hallucination score;
        ``noise``: pure-noise fields, RELION-normalised, (4 n, box, box) each: "white noise",
        then micrograph noise as raw patches and with random phases.
    """
    from gan_viewer.core.normalize import relion_normalize
    from gan_viewer.sim.scenes import paste_centred

    rng = np.random.default_rng([2025, int(apix * 10)])
    banks = _unseen_bank(apix, box, 2025)
    noise = _noise_bank(apix, independent)
    geometry = f"{apix:g} A/px, {box} px"
    cells = []
    for real in (False, True):
        for snr in SNRS:
            noisy, truth = cell_scenes(banks, noise, apix, box, snr, real, n, rng)
            cells.append((f"{geometry}, SNR {snr:g}, {'micrograph noise + CTF' if real else 'white noise'}",
                          noisy, truth))
    references = []
    for bank in banks.values():
        for _ in range(40):
            image = np.zeros((box, box), np.float32)
            paste_centred(image, bank.entries[0].view(rng, pool_size=40, refresh=1.0), np.array([box // 2] * 2))
            references.append(image)
    # micrograph noise: raw patches (the micrograph's texture: ice, carbon, maybe stray particles)
    # and the same spectrum with random phases (its colour only)
    fields = {f"{geometry}, white noise": noise.sample("white", n * 4, box, rng),
              f"{geometry}, micrograph noise, raw patches": noise.sample("micrograph", n * 4, box, rng,
                                                                         random_phases=0.0),
              f"{geometry}, micrograph noise, random phases": noise.sample("micrograph", n * 4, box, rng,
                                                                           random_phases=1.0)}
    return {"banks": banks, "cells": cells, "references": np.stack(references),
            "noise": {key: relion_normalize(f)[0] for key, f in fields.items()}}


#: the working pixel size of ``--coarser-pass``, as a multiple of the model's
COARSER = 4 / 3


def with_coarser_pass(denoiser) -> None:
    """Make ``denoiser`` also run at :data:`COARSER` times its pixel size and average that pass in
    (pooled like the card's passes, :func:`gan_viewer.ml.spread_samples.pool_passes`), for every
    particle whose box there is not far under the trained ones."""
    from gan_viewer.ml.inference import BOX_SLACK

    passes = denoiser.working_boxes

    def working_boxes(box: int, apix: float | None) -> list[int]:
        sizes = passes(box, apix)
        if apix is None:
            return sizes
        coarse = max(2, round(box * float(apix) / (COARSER * float(denoiser.pixel_size))))
        if coarse >= denoiser.trained_boxes[0] * BOX_SLACK[0] and coarse not in sizes:
            sizes.append(coarse)
        return sizes

    denoiser.working_boxes = working_boxes


def general(args: argparse.Namespace) -> dict:
    import torch

    from gan_viewer.core.confidence import particle_circle, relative_spread
    from gan_viewer.ml.inference import Denoiser
    from gan_viewer.ml.spread_samples import SPREAD_METHODS

    torch.set_grad_enabled(False)
    denoiser = Denoiser.load(args.model, args.device)
    if args.single_scale:
        denoiser.finer_scale = None
    if args.no_whitening:
        denoiser.input_whitening = None
    if args.coarser_pass:
        with_coarser_pass(denoiser)
    results, hallucination, calibration = {}, {}, {}
    calibration_pool: dict[str, list] = {"particles": [], "noise": []}  # tta relative spreads, all geometries
    for apix, box in GEOMETRIES:
        sets = geometry_sets(apix, box, args.n, args.independent)
        banks = sets["banks"]
        geometry = f"{apix:g} A/px, {box} px"
        mask = particle_circle(box)
        spread = {m: [] for m in SPREAD_METHODS}
        abs_spread = {m: [] for m in SPREAD_METHODS}
        rel_error = {m: [] for m in SPREAD_METHODS}
        abs_error = {m: [] for m in SPREAD_METHODS}
        for label, noisy, truth in sets["cells"]:
            rec = denoiser.recover(noisy, apix)
            panel = None
            for method in SPREAD_METHODS:
                sampled = denoiser.recover(noisy, apix, spread=True, method=method)
                panel = sampled.images if method == PANEL_METHOD else panel
                spread[method].append(relative_spread(sampled.images, sampled.spread))
                abs_spread[method].append(np.sqrt((sampled.spread[:, mask].astype(np.float64) ** 2).mean(axis=1)))
                # the error of the image the spread comes with (the mean of its samples)
                abs_error[method].append(np.sqrt(((sampled.images - truth)[:, mask].astype(np.float64) ** 2)
                                                 .mean(axis=1)))
                # the error as the PSNR measures it: both images normalised, MSE = 2 (1 - CC)
                rel_error[method].append(2 * (1 - correlation(sampled.images, truth, mask)))
            results[label] = compare(noisy, truth, rec.images, panel)
            print_row(label, results[label])
        noise_spread = {m: [] for m in SPREAD_METHODS}
        for kind in ("white", "micrograph"):
            # micrograph noise: each part against its own control; the figure is their mean
            key = f"{geometry}, {kind} noise"
            parts = [part for part in sets["noise"] if part.startswith(key)]
            for part in parts:
                hallucination[part] = _hallucination(denoiser, apix, sets["noise"][part], sets["references"],
                                                     noise_spread)
            if len(parts) > 1:
                entries = [hallucination[part] for part in parts]
                hallucination[key] = {k: float(np.mean([e[k] for e in entries])) for k in entries[0]}
                for k in ("excess_cc_se", "panel_excess_cc_se"):  # of the mean of independent parts
                    hallucination[key][k] = float(np.sqrt(sum(e[k] ** 2 for e in entries)) / len(entries))
            for part in ([key] if len(parts) == 1 else [key, *parts]):
                h = hallucination[part]
                print(f"{part:45s} hallucination: output CC {h['output_cc']:.3f}, control {h['control_cc']:.3f}, "
                      f"excess {h['excess_cc']:+.3f} +- {h['excess_cc_se']:.3f}; inspector panel "
                      f"{h['panel_excess_cc']:+.3f} +- {h['panel_excess_cc_se']:.3f} (target <= 0.05)")
        calibration[geometry] = {}
        calibration_pool["particles"].append(np.concatenate(spread["tta"]))
        calibration_pool["noise"].append(np.concatenate(noise_spread["tta"]))
        for method in SPREAD_METHODS:
            particles, pure = np.concatenate(spread[method]), np.concatenate(noise_spread[method])
            c = calibration[geometry][method] = {
                "spearman_spread_vs_error": _spearman(np.concatenate(abs_spread[method]),
                                                      np.concatenate(abs_error[method])),
                "spearman_relative_spread_vs_normalised_error": _spearman(particles, np.concatenate(rel_error[method])),
                "median_relative_spread_particles": float(np.median(particles)),
                "median_relative_spread_pure_noise": float(np.median(pure)),
                "fraction_noise_above_particle_p90": float(np.mean(pure > np.quantile(particles, 0.9))),
            }
            print(f"{geometry:20s} spread ({method:5s}): Spearman with the error {c['spearman_spread_vs_error']:+.2f}, "
                  f"relative with the normalised error {c['spearman_relative_spread_vs_normalised_error']:+.2f} (target >= 0.5); "
                  f"median relative spread: particles {c['median_relative_spread_particles']:.3f}, "
                  f"pure noise {c['median_relative_spread_pure_noise']:.3f}; noise above the particles' 90th "
                  f"percentile {c['fraction_noise_above_particle_p90']:.0%}")
    threshold = _threshold(calibration_pool)
    print(f"confidence threshold (tta; best separates pure noise from particles): {threshold:.3f}")
    for what, key in (("denoise (one pass)", "gain_over_lowpass_db"), ("inspector panel", "panel_gain_over_lowpass_db")):
        gains = [r[key] for r in results.values()]
        print(f"{what}: gain over the oracle low-pass: min {min(gains):+.2f} dB, mean {np.mean(gains):+.2f} dB over "
              f"{len(gains)} cells")
    return {"model": denoiser.name, "sha256": denoiser.card.get("sha256"), "n_per_structure": args.n,
            "finer_scale": denoiser.finer_scale, "input_whitening": denoiser.input_whitening,
            "coarser_pass": bool(args.coarser_pass),
            "structures": list(banks), "noise": "fei-extended.mrc (held out)" if args.independent else "ucsf_1142",
            "results": results, "hallucination": hallucination, "calibration": calibration,
            "confidence_threshold": threshold}


def throughput(args: argparse.Namespace) -> dict:
    from gan_viewer.io.mrc import write_stack

    work = Path(tempfile.mkdtemp(prefix="bench_throughput_"))
    images = np.random.default_rng(0).standard_normal((args.n, args.box, args.box)).astype(np.float32)
    write_stack(work / "in.mrcs", images, args.apix)
    extra = ["--spread", work / "spread.mrcs"] if args.spread else []
    extra += ["--single-scale"] if args.single_scale else []
    model = ["--model", args.model] if args.model else []
    runs = []  # a shared CPU swings by several per cent from run to run: the median of --repeat runs
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        gan_viewer("denoise", work / "in.mrcs", "--out", work / "out.mrcs", "--device", args.device, *model, *extra,
                   *(["--force"] if runs else []))
        runs.append(time.perf_counter() - t0)
        print(f"  run {len(runs)}: {runs[-1]:.1f} s = {args.n / runs[-1]:.0f} particles/s", flush=True)
    seconds = float(np.median(runs))
    import torch

    result = {"n": args.n, "box": args.box, "apix": args.apix, "spread": args.spread,
              "single_scale": args.single_scale, "seconds": seconds, "runs_seconds": runs,
              "particles_per_s": args.n / seconds, "device": args.device, "torch_threads": torch.get_num_threads()}
    print(f"denoise {args.n} x {args.box} px at {args.apix:g} A/px{' with --spread' if args.spread else ''}, "
          f"start-up included, median of {len(runs)}: {seconds:.1f} s = {args.n / seconds:.0f} particles/s "
          f"({args.device})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("default")
    p.add_argument("--model", default=None)
    p = sub.add_parser("general")
    p.add_argument("--model", default=None)
    p.add_argument("--n", type=int, default=24, help="particles per structure and cell")
    p.add_argument("--independent", action="store_true", help="held-out micrograph noise (fei-extended.mrc)")
    p.add_argument("--single-scale", action="store_true",
                   help="one pass at the model's pixel size, even where the card asks for a finer second pass")
    p.add_argument("--no-whitening", action="store_true",
                   help="the noise's colour left as it is, even where the card asks to take some away")
    p.add_argument("--coarser-pass", action="store_true",
                   help="also a pass at 4/3 of the model's pixel size, averaged in (a candidate, not the product's)")
    p = sub.add_parser("throughput")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--box", type=int, default=128)
    p.add_argument("--apix", type=float, default=3.0, help="pixel size of the test stack (the model's: no resampling)")
    p.add_argument("--spread", action="store_true", help="also write the spread (4 passes)")
    p.add_argument("--repeat", type=int, default=1, help="runs; the median is reported")
    p.add_argument("--single-scale", action="store_true", help="denoise --single-scale (one pass for finer data)")
    p.add_argument("--model", default=None)
    for p in sub.choices.values():
        p.add_argument("--device", default="cpu")
    args = parser.parse_args()
    result = {"default": default, "general": general, "throughput": throughput}[args.what](args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"{args.what}{'_independent' if getattr(args, 'independent', False) else ''}" \
           f"{'_single_scale' if getattr(args, 'single_scale', False) else ''}" \
           f"{'_no_whitening' if getattr(args, 'no_whitening', False) else ''}" \
           f"{'_coarser_pass' if getattr(args, 'coarser_pass', False) else ''}" \
           f"{'_spread' if getattr(args, 'spread', False) else ''}" \
           f"{f'_{args.apix:g}A' if args.what == 'throughput' and args.apix != 3.0 else ''}" \
           f"{f'_{Path(args.model).stem}' if getattr(args, 'model', None) else ''}_{args.device}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
