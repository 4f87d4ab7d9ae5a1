"""gan-viewer from Python: the verbs a notebook or a plugin needs.

Every verb here is what a ``gan-viewer`` command does, without the command line: it takes paths
or arrays and returns arrays or the paths it wrote. Images are ``(n, box, box)`` float32 arrays
indexed ``[particle, y, x]``; pixel sizes are in Angstrom. Bad input raises
:class:`~gan_viewer.errors.InputError` (``exc.path`` names the file), before anything is written.

=====================  ====================================================================
:func:`open_particles`  a STAR file, ``.mrcs`` stack or cryoSPARC ``.cs`` as a particle set
:func:`project`         reference projections of a map at the particles' STAR poses (and CTF)
:func:`score`           curation scores of every particle against a map (gvScore: higher is better)
:func:`denoise`         the generator's recovery of particles, with per-pixel spread and confidence
:func:`simulate`        noisy and clean particles of a map or model, with their STAR file
:func:`train`           train a generator from a typed :class:`TrainingConfig`
:func:`evaluate`        score denoised particles against the truth, beside classical baselines
:func:`export`          write the kept (and the other) particles of a STAR file
=====================  ====================================================================

Importing this module is cheap; torch loads on the first verb that needs it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gan_viewer.core.curation import Label
from gan_viewer.core.evaluation import Evaluation, evaluate_images, evaluate_stacks, report_paths
from gan_viewer.core.export import ExportResult, export_curated
from gan_viewer.core.micrograph_particles import curation_table
from gan_viewer.core.particles import ParticleSource, pixel_sizes
from gan_viewer.core.particles import open_particles as _open_particles
from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable, read_star

if TYPE_CHECKING:
    from gan_viewer.ml.inference import Denoiser, Recovery
    from gan_viewer.ml.sources import TrainingData
    from gan_viewer.ml.training_config import TrainingConfig

__all__ = [
    "open_particles", "project", "score", "denoise", "simulate", "train", "evaluate", "export",
    "ParticleSource", "ParticleTable", "Label", "Recovery", "Denoiser", "TrainingConfig", "TrainingData",
    "Evaluation", "ExportResult", "InputError",
]

PathLike = str | os.PathLike
#: names imported from torch-dependent modules on first use (``from gan_viewer.api import TrainingConfig``)
_LAZY = {"Recovery": "gan_viewer.ml.inference", "Denoiser": "gan_viewer.ml.inference",
         "TrainingData": "gan_viewer.ml.sources", "TrainingConfig": "gan_viewer.ml.training_config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_particles(path: PathLike, project_dir: PathLike | None = None, *, coords: PathLike | None = None,
                   box: int | None = None) -> ParticleSource:
    """Open a particle set; its images are read lazily, as they are asked for.

    Parameters
    ----------
    path
        A RELION STAR file (``N@stack.mrcs`` names), a bare stack (``.mrcs``/``.mrc``), a cryoSPARC
        ``.cs`` file, or a micrograph (with ``coords``).
    project_dir
        The RELION project folder a STAR's stack names are relative to (default: the STAR's
        folder and its parents).
    coords, box
        A coordinate file (RELION ``.star``, EMAN ``.box`` or Topaz's picks table) of the
        micrograph ``path``, and the box in pixels to cut around each centre.

    Returns
    -------
    ParticleSource
        ``len(source)`` particles; ``source.images(indices)`` gives (k, box, box) float32 in the
        order asked; ``source.box``, ``source.pixel_size`` (A, or None), ``source.metadata(i)``
        (the row's columns) and ``source.table`` (the STAR table, None for a bare stack).
    """
    return _open_particles(path, project_dir, coords=coords, box=box)


def project(map_path: PathLike, particles: PathLike | ParticleTable | ParticleSource, *, ctf: bool = False,
            indices: np.ndarray | list[int] | None = None, out: PathLike | None = None, overwrite: bool = False,
            project_dir: PathLike | None = None, relion_odd_centre: bool = False,
            device: str = "cpu") -> np.ndarray | Path:
    """Reference projections of a map at every particle's angles and origin, as RELION makes them.

    Each particle is projected at its optics group's pixel size and box (the map is resampled to
    them), shifted by minus its origin, and with ``ctf`` multiplied by its CTF.

    Parameters
    ----------
    map_path
        3D map (``.mrc``/``.map``) or atomic model.
    particles
        A STAR (or ``.cs``) file, its :class:`ParticleTable`, or a particle set opened from one.
    ctf
        Multiply by each particle's CTF.
    indices
        0-based particles to project (default: all); only without ``out``.
    out
        Write the projections of all particles to this ``.mrcs`` stack instead of returning them.
    overwrite
        Replace an existing ``out``.
    project_dir
        RELION project folder, to read box and pixel size from the stacks when the STAR lacks them.
    relion_odd_centre
        For odd boxes, centre images at n//2 + 1 like ``relion_project`` (default n//2).
    device
        Torch device of the projector ("cpu", "cuda", ...).

    Returns
    -------
    (k, box, box) float32 array
        The projections of ``indices`` in that order (all particles by default), or the path
        ``out`` when one is given.
    """
    from gan_viewer.sim.reference import iter_projections, project_table

    table = _table(particles)
    if out is not None:
        if indices is not None:
            raise ValueError("indices and out cannot be combined: a stack written holds every particle")
        project_table(map_path, table, out, ctf=ctf, device=device, overwrite=overwrite, project_dir=project_dir,
                      relion_odd_centre=relion_odd_centre)
        return Path(out)
    rows = np.arange(len(table)) if indices is None else np.asarray(indices, np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    images = None
    for part, chunk in iter_projections(map_path, table, ctf=ctf, device=device, project_dir=project_dir,
                                        relion_odd_centre=relion_odd_centre, rows=unique):
        if images is None:
            images = np.empty((len(unique),) + chunk.shape[1:], np.float32)
        images[np.searchsorted(unique, part)] = chunk
    return np.empty((0, 0, 0), np.float32) if images is None else images[inverse]


def score(map_path: PathLike, particles: PathLike | ParticleTable | ParticleSource, *,
          indices: np.ndarray | list[int] | None = None, out: PathLike | None = None, overwrite: bool = False,
          resolution: float | None = None, interpolation: str = "trilinear", gan: bool = False,
          model: PathLike | Denoiser | None = None, chunk: int = 2048, project_dir: PathLike | None = None,
          device: str = "cpu") -> dict[str, np.ndarray] | Path:
    """Curation scores of particles against a reference map at their STAR poses, as ``gan-viewer score``.

    ``gvScore`` is the default ranking (higher is better; a copy of the whitened CTF matched
    filter ``gvMatched``, the winner of ``benchmarks/bench_curation.py``); beside it ``gvMatchedZ``
    (the same against random poses), ``gvMatchedPlain`` (unwhitened) and, with ``gan``,
    ``gvAgreement`` and ``gvConfidence``. The noise spectrum is measured per optics group on the
    particles' background. One line per score: :data:`gan_viewer.core.scores.DESCRIPTIONS`.

    Parameters
    ----------
    map_path
        The reference map (``.mrc``), covering the particles' box at their pixel size.
    particles
        A STAR (or ``.cs``) file, its :class:`ParticleTable`, or a particle set opened from one.
    indices
        (k,) 0-based particles to score (default: all); only without ``out``.
    out
        Write the input STAR with the score columns added to this file instead of returning
        the scores (``particles`` must then be a STAR file's path).
    overwrite
        Replace an existing ``out``.
    resolution
        Highest resolution the matched filter uses, in Angstrom (default 10).
    interpolation
        How the reference is sampled: "trilinear" (RELION's) or "nearest" (no faster on the CPU,
        where trilinear is compiled; about four times faster on a GPU).
    gan
        Also the generator's scores gvAgreement and gvConfidence (slow: a forward pass per particle).
    model
        The generator for ``gan`` (a path, a loaded :class:`Denoiser`, or None for the bundled one).
    chunk
        Particles read and scored at a time (memory is bounded by it).
    project_dir
        The RELION project folder the stack names are relative to.
    device
        Torch device ("cpu", "cuda", ...).

    Returns
    -------
    dict name -> (k,) float64, or Path
        The scores of ``indices`` in that order (all particles by default; NaN where a score
        cannot be computed: no angles, or a STAR without what it needs), or the path ``out``.
    """
    from gan_viewer.core.particles import StarParticles
    from gan_viewer.sim.scoring import DEFAULT_RESOLUTION, collect_scores, score_star

    resolution = DEFAULT_RESOLUTION if resolution is None else float(resolution)
    extra = None
    if gan:
        from gan_viewer.ml.inference import Denoiser
        from gan_viewer.ml.scoring import gan_scores

        denoiser = model if isinstance(model, Denoiser) else Denoiser.load(model, device=device)
        extra = lambda images, refs, apix, noise: gan_scores(denoiser, images, refs, apix, noise)  # noqa: E731
    if out is not None:
        if indices is not None:
            raise ValueError("indices and out cannot be combined: the file written holds every particle")
        if not isinstance(particles, (str, os.PathLike)):
            raise ValueError("out needs particles as a STAR file's path (the file the scores are added to)")
        score_star(particles, map_path, out, chunk=chunk, resolution=resolution, project_dir=project_dir,
                   device=device, extra=extra, interpolation=interpolation, overwrite=overwrite)
        return Path(out)
    table = _table(particles)
    source = particles if getattr(particles, "table", None) is table else StarParticles(table, project_dir)
    rows = np.arange(len(table)) if indices is None else np.asarray(indices, np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    scores = collect_scores(table, source, map_path, unique, chunk=chunk, resolution=resolution, device=device,
                            extra=extra, interpolation=interpolation)
    return {name: values[inverse] for name, values in scores.items()}


def denoise(particles: np.ndarray | PathLike | ParticleSource, apix: float | None = None, *,
            model: PathLike | Denoiser | None = None, spread: bool = False, samples: int = 4,
            indices: np.ndarray | list[int] | None = None, device: str = "auto", batch_size: int = 32,
            project_dir: PathLike | None = None, noise_power: np.ndarray | None = None) -> Recovery:
    """The generator's recovery of particles, optionally with its spread and confidence.

    Parameters
    ----------
    particles
        (n, box, box) images, a particle file (STAR, ``.mrcs``, ``.cs``), or an open particle set.
    apix
        Pixel size in Angstrom of an array (format-2 models, like the bundled default, need it;
        format-1 models run at the input's sampling without it); for a file or set it overrides
        the optics groups' and the stack header's.
    model
        A model file, a bundled model's name, a :class:`Denoiser` already loaded (cheapest when
        called repeatedly), or None for the bundled default.
    spread
        Also compute the per-pixel spread over ``samples`` rotations and flips (2 to 8) and a
        confidence per particle; costs ``samples`` forward passes per working sampling
        (:meth:`Denoiser.working_boxes`: particles finer than the model also run at a finer one
        when its card has ``finer_scale``; set ``Denoiser.finer_scale = None`` for one pass).
    indices
        0-based particles of a file or set to recover (default: all); not with an array.
    device, batch_size
        Where the generator runs ("auto", "cpu", "cuda", "mps") and images per forward pass
        (both ignored when ``model`` is a loaded :class:`Denoiser`).
    project_dir
        RELION project folder of a STAR's stacks.
    noise_power
        For an array, when the generator takes the noise's colour away (the bundled default
        does: ``Denoiser.input_whitening``): the noise spectrum of the set the images belong to
        (``Denoiser.noise_power(some_of_its_particles)``); by default the array is its own set.
        A file or set is measured on a sample of its particles per optics group and pixel size.

    Returns
    -------
    Recovery
        ``images`` (k, box, box) float32, in the input's box and pixel size, in the units
        ``Denoiser.units`` names (format-2 models: standard deviations of the input's background
        noise, so an empty box comes out near 0; format 1: standardised per particle);
        ``spread`` (k, box, box) or None; ``amplitude`` (k,) rms inside the particle circle;
        ``confidence`` (k,) in [0, 1] or None (below ``Denoiser.confidence_threshold`` a
        particle looks like noise to the generator).
    """
    from gan_viewer.ml.inference import Denoiser, Recovery
    from gan_viewer.ml.stream import check_source_sampling, iter_recovered

    denoiser = model if isinstance(model, Denoiser) else Denoiser.load(model, device, batch_size)
    if isinstance(particles, np.ndarray):
        if indices is not None:
            raise ValueError("indices select particles of a file or set; slice the array instead")
        return denoiser.recover(particles, apix, spread=spread, samples=samples, noise_power=noise_power)
    source = _open_particles(particles, project_dir) if isinstance(particles, (str, os.PathLike)) else particles
    sizes = pixel_sizes(source, apix)
    check_source_sampling(denoiser, source.box, sizes)
    rows = np.arange(len(source)) if indices is None else np.asarray(indices, np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)  # read in file order, handed back as asked
    k, box = len(unique), source.box
    images = np.empty((k, box, box), np.float32)
    spreads = np.empty((k, box, box), np.float32) if spread else None
    amplitude, confidence = np.empty(k), (np.empty(k) if spread else None)
    for part, recovery in iter_recovered(denoiser, source, sizes, rows=unique, spread=spread, samples=samples):
        where = np.searchsorted(unique, part)
        images[where], amplitude[where] = recovery.images, recovery.amplitude
        if spreads is not None:
            spreads[where], confidence[where] = recovery.spread, recovery.confidence
    return Recovery(images[inverse], None if spreads is None else spreads[inverse], amplitude[inverse],
                    None if confidence is None else confidence[inverse])


def simulate(source: PathLike, n: int, snr: float | list[float], out: PathLike, *, box: int | None = None,
             apix: float | None = None, ctf: bool = False, seed: int = 0, overwrite: bool = False,
             **options: Any) -> list[Path]:
    """Simulate ``n`` particles of a map or atomic model at uniform random views.

    Writes ``out/particles.mrcs`` (noisy, (n, box, box)), ``out/clean.mrcs`` (the same views
    without noise or CTF) and ``out/particles.star`` (RELION 3.1, angles, origins and with ``ctf``
    the CTF); several SNRs write one folder per SNR (``out/snr_0.1/...``) from the same views.

    Parameters
    ----------
    source
        3D map (``.mrc``/``.map``) or atomic model (``.pdb``/``.cif``, gzipped too).
    n
        Number of particles.
    snr
        var(clean image) / var(noise), one value or several.
    out
        Output folder (must not hold anything unless ``overwrite``).
    box, apix
        Box in pixels (default: the map's extent) and pixel size (default: the map's; 1.5 A for models).
    ctf
        Apply a CTF with a random defocus per particle.
    seed
        Random seed.
    **options
        ``defocus`` (min, max) A, ``astigmatism`` A, ``voltage`` kV, ``cs`` mm,
        ``amplitude_contrast``, ``shift`` (sd of origins, px), ``device``: see
        :func:`gan_viewer.sim.dataset.simulate_set`.

    Returns
    -------
    list of Path
        The STAR files written, one per SNR.
    """
    from gan_viewer.sim.dataset import simulate_set

    snrs = [float(snr)] if np.isscalar(snr) else [float(s) for s in snr]
    return simulate_set(source, n, snrs, out, box=box, apix=apix, ctf=ctf, seed=seed, overwrite=overwrite, **options)


def train(config: TrainingConfig) -> dict:
    """Train a pix2pix generator; see :class:`~gan_viewer.ml.training_config.TrainingConfig`.

    Writes ``config.out`` + ``.safetensors`` (the generator, usable as ``denoise(model=...)``),
    ``.json`` (its model card), ``.train.pt`` (to resume), ``_examples.png`` and ``_curves.png``.

    Example: ``train(TrainingConfig(out="gen", data=TrainingData(maps=["map.mrc"], snr=(0.05,),
    boxes=(64,)), steps=500, depth=4))``.

    Returns
    -------
    dict
        The model card: ``validation`` holds ``psnr_db``, ``input_psnr_db`` and ``cc`` on
        held-out pairs, ``training`` the steps run.
    """
    from gan_viewer.ml.training_config import train_generator

    return train_generator(config)


def evaluate(pred: np.ndarray | PathLike, truth: np.ndarray | PathLike, noisy: np.ndarray | PathLike | None = None,
             *, apix: float | None = None, out: PathLike | None = None, overwrite: bool = False) -> Evaluation:
    """Score denoised particles against their noise-free truth, beside classical baselines.

    PSNR, CC and FRC of each image are taken inside a circle of radius box / 2 after normalising
    each image there, so scales and offsets do not matter. With ``noisy``, the noisy input, the
    best Gaussian low-pass (an oracle), a blind and an oracle Wiener filter are scored too.

    Parameters
    ----------
    pred, truth, noisy
        (n, box, box) arrays or ``.mrcs`` stacks of the same particles in the same order.
    apix
        Pixel size in Angstrom (default: the truth stack's header; None: FRC in 1/px).
    out
        Also write ``out.json`` (every number) and ``out.png`` (examples and FRC curves).
    overwrite
        Replace existing ``out`` files.

    Returns
    -------
    Evaluation
        ``report["methods"][name]["mean"]`` holds ``psnr_db``, ``cc`` and ``frc_resolution`` of
        each method ("prediction", and with ``noisy`` "noisy", "lowpass", "wiener",
        "wiener_oracle"); per-image values are lists of n; ``table()`` prints them.
    """
    paths = None if out is None else report_paths(out, overwrite)
    if isinstance(pred, np.ndarray) or isinstance(truth, np.ndarray):
        arrays = [None if a is None else _images(a) for a in (pred, truth, noisy)]
        result = evaluate_images(arrays[0], arrays[1], arrays[2], apix)
    else:
        result = evaluate_stacks(pred, truth, noisy, apix)
    if paths is not None:
        result.write(*paths)
    return result


def export(particles: PathLike | ParticleTable | ParticleSource, labels: np.ndarray | list, kept: PathLike,
           rejected: PathLike | None = None, *, undecided: str = "reject", overwrite: bool = False) -> ExportResult:
    """Write the kept particles of a STAR file, and optionally every other one, as STAR files.

    The outputs keep the input's version, blocks, optics, columns, row order and values exactly. A
    micrograph opened with its picks (``open_particles(mic, coords=..., box=...)``) is written as a
    RELION coordinate STAR file: its STAR's rows, or the centres (and Topaz's score) of other picks.

    Parameters
    ----------
    particles
        The STAR file, its table, or a particle set opened from one (or from a micrograph's picks).
    labels
        (n,) per particle in row order: :class:`Label` values (``Label.KEEP``, ``Label.REJECT``,
        ``Label.UNDECIDED``), or booleans (True keep, False reject).
    kept, rejected
        Where the kept particles go, and (optionally) every other particle.
    undecided
        Where undecided particles go: "reject" (not kept; the default, as in the inspector and
        RELION's Select job) or "keep".
    overwrite
        Replace existing outputs; otherwise an existing output raises InputError.

    Returns
    -------
    ExportResult
        ``kept``, ``rejected`` and ``undecided`` counts and the paths written.
    """
    if undecided not in ("keep", "reject"):
        raise ValueError(f"undecided is 'keep' or 'reject', got {undecided!r}")
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = np.where(labels, Label.KEEP, Label.REJECT)
    return export_curated(_table(particles), labels.astype(np.int8), kept, rejected,
                          undecided=Label.KEEP if undecided == "keep" else Label.REJECT, overwrite=overwrite,
                          provenance={"labels": "gan_viewer.api.export"})


def _table(particles: PathLike | ParticleTable | ParticleSource) -> ParticleTable:
    if isinstance(particles, ParticleTable):
        return particles
    if isinstance(particles, (str, os.PathLike)):
        if Path(particles).suffix.lower() == ".cs":
            return _open_particles(particles).table
        return read_star(particles)
    table = curation_table(particles)
    if table is None:
        raise InputError("has no STAR table (a bare stack has no angles or rows to export)",
                         getattr(particles, "path", None))
    return table


def _images(value: np.ndarray | PathLike) -> np.ndarray:
    from gan_viewer.core.evaluation import load_stack

    return np.asarray(value, np.float32) if isinstance(value, np.ndarray) else load_stack(value)[0]
