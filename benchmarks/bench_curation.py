"""Curation scores on simulated particle sets with known bad particles.

Each set: ``--n`` particles of beta-galactosidase (``maps/betagal_relion_tutorial.mrc``) at
``--apix`` A/px in ``--box`` px boxes (the sampling of the real RELION 3.1 particles in
``shared/data``, cropped to 128 px), RELION's CTF (defocus 0.8-2.5 um, 300 kV; a B-factor of
60 A^2 in the images that the STAR does not know), origins within +-3 px, and a quarter of bad
particles in four equal classes:

* ``wrong_pose``: a good particle whose STAR pose is a random one;
* ``other``: another structure (RNA polymerase II, ``maps/rnapolII_emd1883.mrc``) at a random pose;
* ``empty``: noise only;
* ``off_centre``: a good particle at its pose, 15-30 px from where the STAR puts it.

Every image is at the set's SNR (var(clean image with CTF) / var(noise); off-centre particles get
the centred particle's scale), in white noise or in noise cut from the real 4k EPU micrograph
(``micrographs/fei_epu``; :meth:`gan_viewer.sim.scenes.NoiseBank.add_micrograph`).

``given``: the STAR holds the simulated poses. ``refined``: every particle's pose and origin, junk
included, comes from a search against the reference (an orientation grid at 15 A, the best shift
within +-8 px for the 4 best views, then a local search), as a 3D refinement would give them.

Reported per set and score: AUC (good vs bad) and precision at the bad fraction (the share of bad
among the lowest-scored quarter), with the baselines beside (``gvMatchedPlain``: the unwhitened
matched filter; ``gvAgreement``: GAN-recovered vs reference correlation, with ``--gan``); and, with
``--fsc``, the FSC between ``relion_reconstruct`` maps from the subset ``gvScore`` keeps and from
the true good set (and from all particles). With ``--oracle``, given poses also get the Bayes bound
(``bayesOracle``, :mod:`curation_oracle`): the ranking of an oracle that knows how the set was made,
under Gaussian noise, the most any per-particle score can do there. ``throughput``: particles/s of
the matched filter at 128 px, projection included.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_curation.py sets [--n 800] [--gan] [--fsc] [--out FILE]
    python benchmarks/bench_curation.py sets --poses given --noise micrograph --snr 0.005 --n 4000 --oracle \
        [--seed-offset 1] --out FILE
    python benchmarks/bench_curation.py throughput [--n 20000] [--resolution 10] [--interpolation nearest] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.noise import noise_power_spectrum
from gan_viewer.core.scores import precision_at_bad_fraction, ranking_auc
from gan_viewer.sim.ctf import apply_ctf
from gan_viewer.sim.project import Projector
from gan_viewer.sim.reference import map_at
from gan_viewer.sim.scenes import NoiseBank
from gan_viewer.sim.scoring import ParticleScorer, ScoreInputs, random_eulers

from curation_oracle import bayes_bound
from curation_poses import PoseSearch, angular_error, near_miss_eulers

log = logging.getLogger("bench_curation")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
BAD_CLASSES = ("wrong_pose", "other", "empty", "off_centre")
SIM_BFACTOR = 60.0
#: the pose error of the near-miss figure (degrees)
NEAR_MISS_DEG = 10.0


# -- simulation --------------------------------------------------------------------------------
class World:
    """The maps and noise sources of every set, built once."""

    def __init__(self, apix: float, box: int) -> None:
        self.apix, self.box = apix, box
        self.volume, _ = map_at(DATA / "maps" / "betagal_relion_tutorial.mrc", apix, box, allow_pad=True)
        self.other, _ = map_at(DATA / "maps" / "rnapolII_emd1883.mrc", apix, box, allow_pad=True)
        self.truth = Projector(self.volume)
        self.impostor = Projector(self.other)
        self.noise = NoiseBank(apix)
        self.noise.add_micrograph(DATA / "micrographs" / "fei_epu" / "epu2.9_example.mrc")


def simulate(world: World, n: int, snr: float, noise: str, seed: int) -> dict:
    """One set: images (n, box, box), STAR eulers/origins, CTF, the class of each particle."""
    rng = np.random.default_rng(seed)
    n_bad = n // 4
    kind = np.array(["good"] * (n - n_bad) + [BAD_CLASSES[i % 4] for i in range(n_bad)])
    rng.shuffle(kind)
    eulers = random_eulers(rng, n)
    origins = rng.uniform(-3, 3, (n, 2))
    defocus = rng.uniform(8000, 25000, n)
    ctf = CtfParams.uniform(n, defocus, defocus - rng.uniform(0, 800, n), rng.uniform(-180, 180, n))
    sim_ctf = CtfParams(**{**ctf.__dict__, "bfactor": np.full(n, SIM_BFACTOR)})
    shown = origins.copy()  # where the particle really is (RELION: the image is shifted by minus the origin)
    off = kind == "off_centre"
    angle = rng.uniform(0, 2 * np.pi, off.sum())
    shown[off] += rng.uniform(15, 30, off.sum())[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    clean = world.truth.project(eulers, shown)
    other = kind == "other"
    clean[other] = world.impostor.project(eulers[other], shown[other])
    centred = world.truth.project(eulers[off], origins[off])  # the scale an off-centre particle would have
    with torch.inference_mode():
        clean = apply_ctf(torch.from_numpy(clean), sim_ctf, world.apix).numpy()
        centred = apply_ctf(torch.from_numpy(centred), sim_ctf.take(off), world.apix).numpy()
    var = clean.var(axis=(1, 2))
    var[off] = centred.var(axis=(1, 2))
    scale = np.sqrt(snr / np.maximum(var, 1e-30))
    scale[kind == "empty"] = 0.0
    images = clean * scale[:, None, None] + world.noise.sample(noise, n, world.box, rng)
    star_eulers = eulers.copy()
    wrong = kind == "wrong_pose"
    star_eulers[wrong] = random_eulers(rng, wrong.sum())
    return {"images": images.astype(np.float32), "eulers": star_eulers, "origins": origins, "ctf": ctf,
            "kind": kind, "true_eulers": eulers}


# -- scores and figures ------------------------------------------------------------------------
def score_set(world: World, data: dict, resolution: float, gan=None) -> dict[str, np.ndarray]:
    """Every score of one set, given its STAR poses."""
    power = noise_power_spectrum(data["images"])
    scorer = ParticleScorer(world.volume, world.apix, power, resolution=resolution)
    out = scorer.score(ScoreInputs(data["images"], data["eulers"], data["origins"], data["ctf"]))
    if gan is not None:
        from gan_viewer.ml.scoring import gan_scores

        refs = world.truth.project(data["eulers"], data["origins"])
        out.update(gan_scores(gan, data["images"], refs, world.apix))
    return out


def near_miss_figures(world: World, data: dict, resolution: float, scores: dict[str, np.ndarray],
                      degrees: float = NEAR_MISS_DEG) -> dict:
    """AUC of each score telling the good particles at their poses from the same particles with their
    STAR poses ``degrees`` off (the issue's near-miss poses; a paired test, not one of the four bad classes)."""
    good = data["kind"] == "good"
    rng = np.random.default_rng(11)
    missed = {**data, "images": data["images"][good], "eulers": near_miss_eulers(data["eulers"][good], degrees, rng),
              "origins": data["origins"][good], "ctf": data["ctf"].take(np.flatnonzero(good))}
    power = noise_power_spectrum(data["images"])  # the set's spectrum, as the scores above had it
    off = ParticleScorer(world.volume, world.apix, power, resolution=resolution).score(
        ScoreInputs(missed["images"], missed["eulers"], missed["origins"], missed["ctf"]))
    labels = np.r_[np.ones(good.sum(), bool), np.zeros(good.sum(), bool)]
    return {name: ranking_auc(np.r_[scores[name][good], off[name]], labels) for name in off if name in scores}


def figures(scores: dict[str, np.ndarray], kind: np.ndarray) -> dict:
    good = kind == "good"
    out = {}
    for name, values in scores.items():
        row = {"auc": ranking_auc(values, good), "precision": precision_at_bad_fraction(values, good)}
        for bad in BAD_CLASSES:  # each class alone against the good particles
            keep = good | (kind == bad)
            if not (kind == bad).any():
                continue
            row[f"auc_{bad}"] = ranking_auc(values[keep], good[keep])
        out[name] = row
    return out


# -- FSC through relion_reconstruct ------------------------------------------------------------
def reconstruct(images: np.ndarray, eulers: np.ndarray, origins: np.ndarray, ctf: CtfParams, apix: float,
                folder: Path, name: str) -> np.ndarray:
    """relion_reconstruct --ctf of the given particles -> (box, box, box) map."""
    import mrcfile

    stack = folder / f"{name}.mrcs"
    with mrcfile.new(stack, images.astype(np.float32), overwrite=True) as f:
        f.voxel_size = apix
    lines = ["", "# version 30001", "", "data_optics", "", "loop_", "_rlnOpticsGroup #1", "_rlnOpticsGroupName #2",
             "_rlnAmplitudeContrast #3", "_rlnSphericalAberration #4", "_rlnVoltage #5", "_rlnImagePixelSize #6",
             "_rlnImageSize #7", "_rlnImageDimensionality #8",
             f"1 opticsGroup1 0.1 2.7 300 {apix} {images.shape[-1]} 2", "", "# version 30001", "", "data_particles", "",
             "loop_"]
    labels = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnOriginXAngst", "rlnOriginYAngst",
              "rlnDefocusU", "rlnDefocusV", "rlnDefocusAngle", "rlnOpticsGroup"]
    lines += [f"_{label} #{i + 1}" for i, label in enumerate(labels)]
    for i in range(len(images)):
        e, o = eulers[i], origins[i] * apix
        lines.append(f"{i + 1}@{stack.name} {e[0]:.4f} {e[1]:.4f} {e[2]:.4f} {o[0]:.4f} {o[1]:.4f} "
                     f"{ctf.defocus_u[i]:.2f} {ctf.defocus_v[i]:.2f} {ctf.defocus_angle[i]:.2f} 1")
    (folder / f"{name}.star").write_text("\n".join(lines) + "\n")
    out = folder / f"{name}_rec.mrc"
    subprocess.run(["relion_reconstruct", "--i", f"{name}.star", "--o", out.name, "--ctf", "--angpix", str(apix)],
                   cwd=folder, check=True, capture_output=True)
    with mrcfile.open(out, permissive=True) as f:
        return np.array(f.data, np.float64)


def fsc(a: np.ndarray, b: np.ndarray, apix: float) -> dict:
    """FSC of two maps: resolution at 0.143 (A) and the curve at 20, 15, 10 A."""
    fa, fb = np.fft.rfftn(a), np.fft.rfftn(b)
    d = a.shape[0]
    kz, ky = np.fft.fftfreq(d)[:, None, None], np.fft.fftfreq(d)[None, :, None]
    kx = np.fft.rfftfreq(d)[None, None, :]
    shell = np.rint(np.sqrt(kz ** 2 + ky ** 2 + kx ** 2) * d).astype(int).ravel()
    n = d // 2 + 1
    num = np.bincount(shell, (fa * np.conj(fb)).real.ravel(), n + d)[:n]
    den = np.sqrt(np.bincount(shell, (np.abs(fa) ** 2).ravel(), n + d)[:n]
                  * np.bincount(shell, (np.abs(fb) ** 2).ravel(), n + d)[:n])
    curve = num / np.maximum(den, 1e-30)
    res = d * apix / np.maximum(np.arange(n), 1e-9)
    below = np.flatnonzero(curve[1:] < 0.143)
    at = float(res[below[0]]) if len(below) else float(2 * apix)
    return {"resolution_0143": at, **{f"fsc_{r}A": float(np.interp(d * apix / r, np.arange(n), curve))
                                     for r in (20, 15, 10)}}


def fsc_figures(world: World, data: dict, eulers: np.ndarray, origins: np.ndarray, score: np.ndarray) -> dict:
    """FSC against the true good set's reconstruction of the subset gvScore keeps and of all particles."""
    good = data["kind"] == "good"
    keep = np.argsort(np.where(np.isfinite(score), score, -np.inf))[(~good).sum():]  # drop the lowest bad-fraction
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        maps = {}
        for name, rows in (("good", np.flatnonzero(good)), ("kept", np.sort(keep)), ("all", np.arange(len(good)))):
            maps[name] = reconstruct(data["images"][rows], eulers[rows], origins[rows], data["ctf"].take(rows),
                                     world.apix, folder, name)
    return {"kept_vs_good": fsc(maps["kept"], maps["good"], world.apix),
            "all_vs_good": fsc(maps["all"], maps["good"], world.apix),
            "kept_vs_truth": fsc(maps["kept"], world.volume, world.apix),
            "good_vs_truth": fsc(maps["good"], world.volume, world.apix),
            "all_vs_truth": fsc(maps["all"], world.volume, world.apix)}


# -- commands ----------------------------------------------------------------------------------
def run_sets(args: argparse.Namespace) -> dict:
    world = World(args.apix, args.box)
    gan = None
    if args.gan:
        from gan_viewer.ml.inference import Denoiser

        gan = Denoiser.load(None, device="cpu")
    search = None
    results = {"setup": {"n": args.n, "n_refined": args.n_refined, "apix": args.apix, "box": args.box, "resolution": args.resolution,
                         "bad_fraction": 0.25, "classes": BAD_CLASSES, "sim_bfactor": SIM_BFACTOR,
                         "machine": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
               "sets": []}
    for poses in args.poses:
        for noise in args.noise:
            for snr in args.snr:
                t0 = time.perf_counter()
                seed = int(snr * 1e5) + (7 if noise == "micrograph" else 0) + args.seed_offset
                data = simulate(world, args.n if poses == "given" else args.n_refined, snr, noise, seed)
                if poses == "refined":
                    if search is None:
                        search = PoseSearch(world)
                    data["eulers"], data["origins"] = search.refine(data["images"], data["ctf"])
                    data["kind"] = np.where(data["kind"] == "wrong_pose", "good", data["kind"])  # refined: real particles
                scores = score_set(world, data, args.resolution, gan if snr in args.gan_snr else None)
                if args.oracle and poses == "given":  # the bound beside the scores
                    scores.update(bayes_bound(world, data, snr, SIM_BFACTOR, k_local=args.oracle_local))
                row = {"poses": poses, "noise": noise, "snr": snr, "scores": figures(scores, data["kind"])}
                if poses == "given":
                    row["near_miss_auc"] = near_miss_figures(world, data, args.resolution, scores)
                if poses == "refined":
                    err = angular_error(data["eulers"], data["true_eulers"])[data["kind"] == "good"]
                    row["good_pose_error_deg_median"] = float(np.median(err))
                if args.fsc and snr in args.fsc_snr:
                    row["fsc"] = fsc_figures(world, data, data["eulers"], data["origins"], scores["gvScore"])
                row["seconds"] = time.perf_counter() - t0
                results["sets"].append(row)
                print(format_row(row), flush=True)
                if args.out:  # after every set: a long run leaves what it has
                    args.out.parent.mkdir(parents=True, exist_ok=True)
                    args.out.write_text(json.dumps(results, indent=1))
    return results


def format_row(row: dict) -> str:
    parts = [f"{row['poses']:7s} {row['noise']:10s} SNR {row['snr']:<6g}"]
    for name in ("gvScore", "gvMatched", "gvMatchedPlain", "gvAgreement", "gvConfidence", "bayesOracle"):
        if name in row["scores"]:
            s = row["scores"][name]
            parts.append(f"{name} {s['auc']:.3f}/{100 * s['precision']:.0f}%")
    if "near_miss_auc" in row:
        parts.append(f"{NEAR_MISS_DEG:g} deg near miss: gvScore AUC {row['near_miss_auc']['gvScore']:.3f}")
    if "fsc" in row:
        parts.append(f"FSC0.143 kept {row['fsc']['kept_vs_good']['resolution_0143']:.1f} A")
    return "  ".join(parts)


def run_throughput(args: argparse.Namespace) -> dict:
    """Particles/s of the matched filter (z-score included) at 128 px: rfft2, projection, CTF, bank;
    with freed memory reused, as ``gan-viewer score`` runs it (ml/allocator.py)."""
    from gan_viewer.ml.allocator import reuse_freed_memory

    reuse_freed_memory()
    world = World(args.apix, 128)
    data = simulate(world, 2000, 0.01, "white", 0)
    scorer = ParticleScorer(world.volume, world.apix, noise_power_spectrum(data["images"]), resolution=args.resolution,
                            interpolation=args.interpolation)
    reps = max(1, args.n // 2000)
    scorer.score(ScoreInputs(data["images"][:200], data["eulers"][:200], data["origins"][:200], data["ctf"].take(slice(0, 200))))
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(reps):
        scorer.score(ScoreInputs(data["images"], data["eulers"], data["origins"], data["ctf"]))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    n = reps * 2000
    out = {"box": 128, "particles": n, "resolution": args.resolution, "interpolation": args.interpolation, "threads": torch.get_num_threads(),
           "wall_s": wall, "cpu_s": cpu, "particles_per_s": n / wall, "cpu_s_per_1000": 1000 * cpu / n,
           "load_average": os.getloadavg()}
    print(json.dumps(out, indent=1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("sets", "throughput"))
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--n-refined", type=int, default=400, help="particles per refined-pose set (the search is slow)")
    parser.add_argument("--apix", type=float, default=2.806)
    parser.add_argument("--box", type=int, default=128)
    parser.add_argument("--snr", type=float, nargs="+", default=[0.05, 0.02, 0.01, 0.005])
    parser.add_argument("--noise", nargs="+", default=["white", "micrograph"])
    parser.add_argument("--poses", nargs="+", default=["given", "refined"])
    parser.add_argument("--resolution", type=float, default=None, help="matched filter's limit (A)")
    parser.add_argument("--interpolation", default="trilinear", choices=("trilinear", "nearest"))
    parser.add_argument("--gan", action="store_true", help="also the GAN agreement and confidence (slow)")
    parser.add_argument("--gan-snr", type=float, nargs="+", default=[0.02, 0.005], help="SNRs that get the GAN scores")
    parser.add_argument("--fsc", action="store_true", help="FSC of relion_reconstruct maps")
    parser.add_argument("--fsc-snr", type=float, nargs="+", default=[0.02, 0.005])
    parser.add_argument("--oracle", action="store_true",
                        help="given poses: also the Bayes bound (curation_oracle.py; slow: 44 min for 4,000 on 2 busy cores)")
    parser.add_argument("--oracle-local", type=int, default=128, help="the oracle's local poses per particle")
    parser.add_argument("--seed-offset", type=int, default=0, help="added to every set's seed (another draw)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from gan_viewer.sim.scoring import DEFAULT_RESOLUTION

    args.resolution = args.resolution or DEFAULT_RESOLUTION
    results = run_sets(args) if args.what == "sets" else run_throughput(args)
    if args.out and args.what == "throughput":  # several runs (settings) in one file
        previous = json.loads(args.out.read_text()) if args.out.is_file() else []
        results = (previous if isinstance(previous, list) else [previous]) + [results]
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
