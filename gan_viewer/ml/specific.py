"""A generator for one particle set and one map: the paper's per-map workflow, as a library call.

:func:`train_for_map` trains on pairs made to look like the particles themselves:

* **simulated** (default): views of the map at the particles' own pixel size and box (no
  resampling), each with the CTF of a random particle of the set (defocus U/V and angle,
  voltage, Cs, amplitude contrast, phase shift and B-factor of a STAR row), Gaussian noise with
  the particles' own noise spectrum (:func:`gan_viewer.core.noise.noise_power_spectrum` of their
  background ring), at SNRs around the particles' estimated SNR
  (:func:`gan_viewer.core.noise.estimate_snr`; 0.01-0.1 when nothing can be measured);
* **experimental**: the particles themselves, paired with the map's projections at their STAR
  angles (:class:`gan_viewer.ml.data.StarPairs`).

When it is done the model is checked on fresh simulated particles (PSNR of the generator beside
the noisy input and the oracle Gaussian low-pass) and on pure noise (how much it draws this map
where there is nothing: :func:`gan_viewer.core.baselines.hallucination_report`); both go into the
model card ("validation" -> "held_out_simulated", "hallucination"), with a "specific" entry
naming the map: such a generator draws the reference's shape, and the inspector says so.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from gan_viewer.core.baselines import best_gaussian_lowpass, hallucination_report
from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.metrics import circular_mask, psnr
from gan_viewer.core.noise import estimate_snr, noise_power_spectrum
from gan_viewer.core.normalize import relion_normalize
from gan_viewer.core.particles import ParticleSource, StarParticles
from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable, read_star
from gan_viewer.ml.checkpoint import output_file, output_stem, update_card
from gan_viewer.ml.data import PaddedPairs, ScenePairs, StarPairs
from gan_viewer.ml.train import RunSpec, TrainingProgress, check_run, finite_mean, train

log = logging.getLogger(__name__)

MODES = ("simulated", "experimental")
#: SNR range when the particles' own cannot be measured
DEFAULT_SNR = (0.01, 0.1)
#: the SNR range spans this factor either side of the estimate
SNR_SPREAD = 2.0


@dataclass(frozen=True)
class SpecificRecipe:
    """How to train a generator for one map and one particle set.

    Attributes
    ----------
    mode
        "simulated" (views of the map made to look like the particles) or "experimental" (the
        particles with projections at their STAR angles).
    snr
        (min, max) SNR of the simulated particles, or None: a factor of 2 either side of the
        particles' estimated SNR (:data:`DEFAULT_SNR` when it cannot be measured).
    n_estimate
        Particles read to estimate the noise spectrum and the SNR.
    empty_probability
        Simulated boxes with no particle (the generator learns that noise stays flat).
    shift_px
        Standard deviation of the simulated particles' offsets, or None: that of the STAR's
        origins (2 px when it has none).
    invert_probability
        Simulated particles with the opposite contrast. RELION particles are extracted with the
        protein bright, as the map projects (0); use 0.5 for data of unknown contrast.
    white_noise_fraction
        Simulated particles with white instead of the particles' coloured noise.
    depth, base_channels, batch_size
        U-Net depth and width, pairs per step.
    validate_every, n_validation
        Steps between validations (and checkpoints); held-out pairs used.
    n_check
        Fresh simulated particles for the final check against the oracle low-pass.
    n_hallucination, n_references
        Pure-noise images and reference views for the hallucination check.
    seed
        Seeds everything.
    """

    mode: str = "simulated"
    snr: tuple[float, float] | None = None
    n_estimate: int = 512
    empty_probability: float = 0.05
    shift_px: float | None = None
    invert_probability: float = 0.0
    white_noise_fraction: float = 0.1
    depth: int = 5
    base_channels: int = 32
    batch_size: int = 16
    validate_every: int = 200
    n_validation: int = 64
    n_check: int = 200
    n_hallucination: int = 64
    n_references: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        problems = {
            f"mode must be one of {MODES}, got {self.mode!r}": self.mode in MODES,
            f"SNR must be 0 < min <= max, got {self.snr}":
                self.snr is None or (len(self.snr) == 2 and 0 < self.snr[0] <= self.snr[1] < math.inf),
            "counts (n_estimate, batch_size, validate_every, n_validation, n_check, n_hallucination, "
            "n_references) must be positive":
                min(self.n_estimate, self.batch_size, self.validate_every, self.n_validation, self.n_check,
                    self.n_hallucination, self.n_references) >= 1,
            "probabilities (empty, invert, white noise) must lie in [0, 1]":
                all(0 <= p <= 1 for p in (self.empty_probability, self.invert_probability,
                                          self.white_noise_fraction)),
            f"depth must be 1-8, got {self.depth}": 1 <= self.depth <= 8,
            f"shift must be a non-negative number of pixels, got {self.shift_px}":
                self.shift_px is None or (self.shift_px >= 0 and math.isfinite(self.shift_px)),
        }
        bad = [message for message, ok in problems.items() if not ok]
        if bad:
            raise InputError("; ".join(bad))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class ParticleNoise:
    """What the particles' noise looks like (see :mod:`gan_viewer.core.noise`).

    Attributes
    ----------
    spectrum : (box // 2 + 1,) float64
        Radial power of the background noise, variance per pixel of the normalised particles.
    snr_estimate
        Mean SNR of the particles (NaN or <= 0 when nothing could be measured).
    snr
        The (min, max) SNR range the simulation uses.
    n
        Particles measured.
    """

    spectrum: np.ndarray
    snr_estimate: float
    snr: tuple[float, float]
    n: int

    def to_dict(self) -> dict:
        return {"spectrum": [round(float(v), 5) for v in self.spectrum], "snr_estimate": self.snr_estimate,
                "snr": list(self.snr), "n": self.n,
                "method": "background ring (outside 0.375 of the box, raised-cosine edge) of the RELION-normalised "
                          "particles; SNR from the circle's energy above the noise"}


def measure_noise(source: ParticleSource, n: int, rng: np.random.Generator,
                  snr: tuple[float, float] | None = None) -> ParticleNoise:
    """Noise spectrum and SNR of up to ``n`` random particles of ``source``; the SNR range is
    ``snr`` when given, else :data:`SNR_SPREAD` either side of the estimate."""
    idx = np.sort(rng.choice(len(source), min(n, len(source)), replace=False))
    images = source.images(idx)
    spectrum = noise_power_spectrum(images)
    estimate = estimate_snr(images)
    if snr is None:
        if math.isfinite(estimate) and estimate > 1e-4:
            snr = (estimate / SNR_SPREAD, estimate * SNR_SPREAD)
        else:
            log.warning("no signal measurable in the particles (SNR estimate %.3g): simulating SNR %g-%g",
                        estimate, *DEFAULT_SNR)
            snr = DEFAULT_SNR
    log.info("%d particles: SNR estimate %.3g, simulating SNR %.3g-%.3g", len(idx), estimate, *snr)
    return ParticleNoise(spectrum, estimate, (float(snr[0]), float(snr[1])), len(idx))


def simulated_pairs(source: ParticleSource, map_path: str | os.PathLike, recipe: SpecificRecipe,
                    noise: ParticleNoise) -> ScenePairs:
    """Scenes of the map at the particles' pixel size and box, with their CTFs and noise."""
    from gan_viewer.sim.scenes import NoiseBank, SceneRecipe, SceneSampler
    from gan_viewer.sim.volume_bank import VolumeBank

    apix, box = particle_sampling(source)
    bank = VolumeBank(apix)
    if bank.add_file(map_path, assumed_apix=apix) is None:
        raise InputError("holds no positive density", map_path)
    noise_bank = NoiseBank(apix)
    noise_bank.add_spectrum(noise.spectrum, f"spectrum of {noise.n} particles of {source.path}")
    ctf_pool = particle_ctfs(source)
    scene_recipe = SceneRecipe(
        apix=apix, boxes=(box,), fill=(0.3, 0.9), snr=noise.snr, empty_probability=recipe.empty_probability,
        neighbour_probability=0.0, shift_px=_shift(source, recipe), ctf_probability=0.0 if ctf_pool is None else 1.0,
        bfactor=(0.0, 0.0), noise_mix=(recipe.white_noise_fraction, 0.0, 0.0, 1 - recipe.white_noise_fraction),
        gradient_probability=0.0, invert_probability=recipe.invert_probability)
    return ScenePairs(SceneSampler(bank, noise_bank, scene_recipe, ctf_pool=ctf_pool))


def particle_ctfs(source: ParticleSource) -> CtfParams | None:
    """The particles' CTF parameters (from their STAR rows and optics groups), or None."""
    table = getattr(source, "table", None)
    try:
        return None if table is None else CtfParams.from_table(table)
    except InputError as exc:
        log.warning("simulating without a CTF: %s", exc)
        return None


def particle_sampling(source: ParticleSource) -> tuple[float, int]:
    """(pixel size in A, box in px) of the particles; InputError when the pixel size is unknown."""
    from gan_viewer.ml.inference import check_pixel_size

    return check_pixel_size(source.pixel_size), int(source.box)


def _shift(source: ParticleSource, recipe: SpecificRecipe) -> float:
    if recipe.shift_px is not None:
        return recipe.shift_px
    table = getattr(source, "table", None)
    try:
        origins = None if table is None else table.origins_px(default_apix=source.pixel_size)
    except InputError:
        origins = None
    return float(np.std(origins)) if origins is not None and len(origins) > 1 and np.std(origins) > 0 else 2.0


def train_for_map(particles: ParticleTable | ParticleSource | str | os.PathLike, map_path: str | os.PathLike,
                  out: str | os.PathLike, *, recipe: SpecificRecipe = SpecificRecipe(), minutes: float | None = None,
                  steps: int | None = None, progress: Callable[[TrainingProgress], None] | None = None,
                  should_stop: Callable[[], bool] | None = None, resume: bool = False, overwrite: bool = False,
                  device: str = "auto", project_dir: str | os.PathLike | None = None) -> dict:
    """Train a generator for the particles ``particles`` and the map ``map_path``.

    Parameters
    ----------
    particles
        A STAR file, its table, or an open particle set (a STAR's: CTF and angles come from its
        table; a bare stack trains without a CTF and only in "simulated" mode).
    map_path
        The reference map (or atomic model).
    out
        Output name: ``out.safetensors`` + ``out.json`` (model card), ``out.train.pt``, figures.
    recipe
        See :class:`SpecificRecipe`.
    minutes, steps
        How long: the first reached stops the run (one is needed). ``minutes`` is the whole
        training's budget: a resumed run gets what an earlier one left.
    progress
        Called with a :class:`~gan_viewer.ml.train.TrainingProgress` after every step, and once
        before the final checks (``phase`` "checking").
    should_stop
        Asked before every step: True ends the run after its checkpoint is written
        (:class:`~gan_viewer.ml.train.TrainingStopped`); ``resume=True`` continues it.
    resume, overwrite
        Continue from ``out.train.pt``; replace an existing model (else InputError).
    device
        "auto", "cpu", "cuda" or "mps".
    project_dir
        RELION project folder to find the stacks of a STAR file.

    Returns
    -------
    The model card, as written to ``out.json``.
    """
    from gan_viewer.ml.inference import pick_device
    from gan_viewer.ml.networks import DiscriminatorConfig, GeneratorConfig
    from gan_viewer.ml.pix2pix import TrainConfig

    source = open_source(particles, project_dir)
    apix, box = particle_sampling(source)
    out = output_stem(out)
    multiple = 2 ** recipe.depth
    train_box = -(-box // multiple) * multiple  # the denoiser pads the same way at inference
    specific = {"map": str(Path(map_path).resolve()), "mode": recipe.mode,
                "particles": None if source.path is None else str(Path(source.path).resolve()),
                "n_particles": len(source), "pixel_size": apix, "box": box, "recipe": recipe.to_dict()}
    run = RunSpec(steps=steps, minutes=minutes, validate_every=recipe.validate_every,
                  n_validation=recipe.n_validation, seed=recipe.seed, total_minutes=True,
                  extra_card={"name": out.name, "specific": specific})
    check_run(out, run, resume=resume, overwrite=overwrite)
    if not Path(map_path).is_file():
        raise InputError("no such map file", map_path)
    rng = np.random.default_rng([recipe.seed, 5])
    noise = measure_noise(source, recipe.n_estimate, rng, recipe.snr)
    specific["noise"] = noise.to_dict()
    simulated = simulated_pairs(source, map_path, recipe, noise)
    train_source, val_source = _pairs(source, map_path, recipe, simulated, project_dir)
    if train_box != box:
        log.info("the %d px box is padded to %d px (a multiple of 2**depth), as at inference", box, train_box)
        train_source, val_source = PaddedPairs(train_source, train_box), PaddedPairs(val_source, train_box)
    dev = pick_device(device)
    generator = GeneratorConfig(depth=recipe.depth, base_channels=recipe.base_channels)
    card = train(train_source, val_source, out, generator, DiscriminatorConfig(), TrainConfig(batch_size=recipe.batch_size),
                 run, device=dev, resume=resume, overwrite=overwrite, progress=progress, should_stop=should_stop)
    if progress is not None:
        progress(TrainingProgress(card["training"]["steps"], steps, float("nan"), None, {}, phase="checking"))
    denoiser = _denoiser(out, dev)
    card["validation"]["held_out_simulated"] = check_simulated(denoiser, map_path, simulated, recipe, apix)
    card["hallucination"] = check_hallucination(denoiser, map_path, simulated, recipe, apix, box)
    return update_card(output_file(out, ".safetensors"), {"validation": card["validation"],
                                                            "hallucination": card["hallucination"]})


def open_source(particles, project_dir=None) -> ParticleSource:
    """A particle set from a STAR path, a table or a set already open."""
    if isinstance(particles, (str, os.PathLike)):
        particles = read_star(particles)
    if isinstance(particles, ParticleTable):
        return StarParticles(particles, project_dir)
    return particles


def _pairs(source, map_path, recipe: SpecificRecipe, simulated: ScenePairs, project_dir):
    """(train, validation) pair sources of the recipe's mode."""
    if recipe.mode == "simulated":
        return simulated, simulated
    table = getattr(source, "table", None)
    if table is None or table.eulers() is None:
        raise InputError("the experimental mode needs particles from a STAR file with angles", source.path)
    return StarPairs.from_map(table, map_path, project_dir).split(recipe.n_validation, recipe.seed)


def _denoiser(out: Path, device):
    from gan_viewer.ml.inference import Denoiser

    return Denoiser.load(output_file(out, ".safetensors"), str(device))


def check_simulated(denoise, map_path, simulated: ScenePairs, recipe: SpecificRecipe, apix: float) -> dict:
    """PSNR of the generator, the noisy input and the oracle Gaussian low-pass on fresh simulated
    particles (the training's recipe, none empty, views of a new bank: orientations the training
    never drew), inside the particle box's circle."""
    from gan_viewer.sim.scenes import SceneSampler
    from gan_viewer.sim.volume_bank import VolumeBank

    s = simulated.sampler
    bank = VolumeBank(s.bank.apix)
    bank.add_file(map_path, assumed_apix=apix)
    sampler = SceneSampler(bank, s.noise, replace(s.recipe, empty_probability=0.0), ctf_pool=s.ctf_pool)
    scenes = sampler.sample(recipe.n_check, np.random.default_rng([recipe.seed, 31]))
    mask = circular_mask(scenes.noisy.shape[-1])
    recovered = denoise(scenes.noisy, apix)
    _, sigma, lowpass_psnr = best_gaussian_lowpass(scenes.noisy, scenes.target, mask=mask)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = {"generator": psnr(recovered, scenes.target, mask), "noisy": psnr(scenes.noisy, scenes.target, mask),
                  "lowpass": lowpass_psnr}
    mean = {k: finite_mean(v) for k, v in values.items()}
    return {"n": recipe.n_check, "psnr_db": mean["generator"], "input_psnr_db": mean["noisy"],
            "lowpass_psnr_db": mean["lowpass"], "lowpass_sigma_px": sigma,
            "gain_over_input_db": mean["generator"] - mean["noisy"],
            "gain_over_lowpass_db": mean["generator"] - mean["lowpass"],
            "data": "fresh simulated particles of the map (the training recipe, no empty boxes, views not drawn in "
                    "training); PSNR inside the box's circle after per-image normalisation; the low-pass is the "
                    "oracle Gaussian (sigma chosen with the truth)"}


def check_hallucination(denoise, map_path, simulated: ScenePairs, recipe: SpecificRecipe, apix: float,
                        box: int) -> dict:
    """How much the generator draws the map on RELION-normalised pure noise (white, and with the
    particles' spectrum): best CC of its outputs with the map's projections, minus that of
    low-passed noise of the same smoothness."""
    from gan_viewer.sim.pairs import random_views
    from gan_viewer.sim.project import Projector
    from gan_viewer.sim.reference import volume_from

    rng = np.random.default_rng([recipe.seed, 41])
    volume, _ = volume_from(map_path, apix, box, allow_pad=True)
    references = Projector(volume).project(random_views(recipe.n_references, rng).eulers)
    out = {"references": recipe.n_references, "box": box, "map": str(map_path),
           "metric": "best CC (inside the box's circle) of each output with any reference view, minus that of the "
                     "input low-passed to the output's smoothness (excess_cc; near 0 when nothing is drawn)"}
    for kind, label in (("white", "white"), ("spectrum", "particle_noise")):
        fields = relion_normalize(simulated.sampler.noise.sample(kind, recipe.n_hallucination, box, rng))[0]
        report = hallucination_report(lambda x: denoise(x, apix), references, box=box, rng=rng, noise=fields)
        out[label] = {"n": report["n"], "excess_cc": report["excess_cc"], "output_cc": report["output"]["mean"],
                      "control_cc": report["control"]["mean"], "control_sigma_px": report["control_sigma"],
                      "fraction_above_control_p99": report["fraction_above_control_p99"]}
        log.info("pure %s noise: best CC with %s %.3f (control %.3f), excess %+.3f", kind, Path(map_path).name,
                 report["output"]["mean"], report["control"]["mean"], report["excess_cc"])
    return out

