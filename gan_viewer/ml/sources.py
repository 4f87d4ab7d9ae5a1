"""Training and validation pair sources: what :class:`TrainingData` describes, as pair samplers.

:class:`TrainingData` is the typed form of ``gan-viewer train``'s data options; the command line
builds one (:mod:`gan_viewer.cli.train`) and so can a notebook (:func:`gan_viewer.api.train`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gan_viewer.errors import InputError
from gan_viewer.ml.data import ScenePairs, StackPairs, StarPairs
from gan_viewer.sim.phantoms import phantom_map
from gan_viewer.sim.reference import is_model, volume_from

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


@dataclass
class TrainingData:
    """Where training pairs come from: exactly one of three kinds.

    * simulated scenes of ``maps``, ``models``, every model and map under ``models_dirs``,
      ``phantoms`` procedural phantoms and ``assemblies`` procedural assemblies;
    * given pairs: ``noisy`` and ``clean`` stacks, (n, box, box) each, same particles in the same order;
    * real particles ``star`` paired with projections of ``maps[0]`` at their angles and origins.

    Attributes
    ----------
    maps, models, models_dirs
        3D maps, atomic models, and folders searched recursively for both.
    phantoms, assemblies
        How many procedural structures to add to the simulated volumes.
    noisy, clean
        Stacks of given pairs.
    star, project_dir
        Real particles with angles, and the RELION project folder their stacks are relative to.
    snr
        Signal-to-noise ratio of simulated scenes: one value, or a (min, max) log-uniform range.
    ctf
        Fraction of batches multiplied by a CTF (0 to 1).
    defocus
        (min, max) defocus in Angstrom.
    shift
        Standard deviation of random origins in pixels.
    boxes
        Box sizes in pixels (one per batch, drawn at random).
    apix
        Pixel size in Angstrom; None: the first map's, 3 for models alone.
    scenes
        "simple" (one particle and noise) or "realistic" (neighbours, ice gradients, both
        contrasts, B-factors, astigmatism, coloured noise).
    micrographs
        Real micrographs whose patches serve as noise.
    empty
        Fraction of empty boxes; None: 0.05 (simple) or 0.08 (realistic).
    noise_mix
        Weights of white, coloured and micrograph noise; None: 0.4 0.3 0.3 with micrographs, else
        0.6 0.4 0 (realistic) or white only (simple).
    fill
        (min, max) particle diameter over box; None: the scene recipe's default.
    input_whitening
        Share (0-1) of the noise's colour taken away from simulated inputs, as the denoiser will
        at inference (the card records it); None: none.
    """

    maps: list[PathLike] = field(default_factory=list)
    models: list[PathLike] = field(default_factory=list)
    models_dirs: list[PathLike] = field(default_factory=list)
    phantoms: int = 0
    assemblies: int = 0
    noisy: PathLike | None = None
    clean: PathLike | None = None
    star: PathLike | None = None
    project_dir: PathLike | None = None
    snr: tuple[float, ...] = (0.03,)
    ctf: float = 0.0
    defocus: tuple[float, float] = (10000.0, 25000.0)
    shift: float = 0.0
    boxes: tuple[int, ...] = (96,)
    apix: float | None = None
    scenes: str = "simple"
    micrographs: list[PathLike] = field(default_factory=list)
    empty: float | None = None
    noise_mix: tuple[float, float, float] | None = None
    fill: tuple[float, float] | None = None
    input_whitening: float | None = None

    @property
    def simulated(self) -> bool:
        """True when the pairs are simulated scenes (not given pairs, not a STAR)."""
        return bool(self.maps or self.models or self.phantoms or self.models_dirs or self.assemblies) \
            and not self.star


def training_sources(data: TrainingData, seed: int = 0, device: torch.device | str = "cpu", workers: int = 0):
    """(train, validation) pair sources for the one kind of training data ``data`` selects
    (simulated scenes: their maps and models made by ``workers`` processes, more than one).

    Given pairs and STAR pairs hold 64 pairs out for validation; simulated scenes validate on
    fresh scenes of the same sampler.

    Raises
    ------
    InputError
        When ``data`` selects no kind, or more than one, or a kind lacks what it needs.
    """
    modes = [bool(data.noisy or data.clean), bool(data.star), data.simulated]
    if sum(modes) != 1:
        raise InputError("choose one kind of training data: --map/--model (simulated), "
                         "--noisy with --clean, or --star with --map")
    if data.input_whitening is not None and not data.simulated:
        raise InputError("--input-whitening needs simulated scenes (--map/--model), whose noise spectra are known")
    if data.noisy or data.clean:
        if not (data.noisy and data.clean):
            raise InputError("given pairs need both --noisy and --clean")
        return StackPairs(data.noisy, data.clean).split(64, seed)
    if data.star:
        return _star_pairs(data).split(64, seed)
    source = simulated_pairs(list(data.maps) + list(data.models), data, seed, str(device), workers)
    return source, source


def simulated_pairs(paths: list, data: TrainingData, seed: int = 0, device: str = "cpu",
                    workers: int = 0) -> ScenePairs:
    """Scenes (:mod:`gan_viewer.sim.scenes`) of every map and model in ``paths`` and every
    procedural structure ``data`` asks for, at one pixel size, with ``data``'s recipe; the maps
    and models are made by ``workers`` processes when there are more than one (the same bank)."""
    from gan_viewer.sim.scenes import NoiseBank, SceneRecipe, SceneSampler
    from gan_viewer.sim.volume_bank import VolumeBank

    if len(data.snr) not in (1, 2):
        raise InputError(f"--snr takes one value or a MIN MAX range, got {len(data.snr)} values")
    apix = data.apix
    if apix is None:
        first_map = next((p for p in paths if not is_model(p)), None)
        apix = volume_from(first_map, None, None)[1] if first_map is not None else 3.0
    for name in ("phantoms", "assemblies"):
        if getattr(data, name) < 0:
            raise InputError(f"--{name} must be 0 or more, got {getattr(data, name)}")
    bank = VolumeBank(apix)
    bank.add_files(paths, assumed_apix=apix, workers=workers)
    for folder in data.models_dirs:
        _add_folder(bank, folder, workers)
    rng = np.random.default_rng([seed, 3])
    box = max(data.boxes)
    for k in range(data.phantoms):  # sizes from a quarter to nine tenths of the largest box
        volume = phantom_map(rng, apix, box, fill=rng.uniform(0.25, 0.9))
        bank.add_volume(f"phantom {k} (seed {seed})", volume, apix, "phantom")
    if data.assemblies:
        from gan_viewer.sim.assemblies import assembly_map

        for k in range(data.assemblies):
            volume, info = assembly_map(rng, apix, box, fill=rng.uniform(0.25, 0.95))
            bank.add_volume(f"assembly {k} ({info.get('kind', '?')}, seed {seed})", volume, apix, "assembly")
    if not len(bank):
        raise InputError("no structure to simulate from: give --map, --model, --models-dir, --phantoms or --assemblies")
    log.info("%d structures at %.3g A/px (%.2f GB of projectors)", len(bank), apix, bank.nbytes / 1e9)
    noise = NoiseBank(apix)
    for path in data.micrographs:
        noise.add_micrograph(path)
    realistic = data.scenes == "realistic"
    try:
        recipe = SceneRecipe(
            apix=apix, boxes=tuple(data.boxes), snr=(min(data.snr), max(data.snr)),
            fill=tuple(data.fill) if data.fill else SceneRecipe.fill,
            empty_probability=data.empty if data.empty is not None else (0.08 if realistic else 0.05),
            neighbour_probability=0.4 if realistic else 0.0, gradient_probability=0.3 if realistic else 0.0,
            invert_probability=0.5 if realistic else 0.0, ctf_probability=data.ctf,
            defocus_um=(data.defocus[0] / 1e4, data.defocus[1] / 1e4),
            astigmatism_um=(0.0, 0.2) if realistic else (0.0, 0.05),
            bfactor=(0.0, 150.0) if realistic else (0.0, 0.0),
            noise_mix=tuple(data.noise_mix) if data.noise_mix is not None else (0.4, 0.3, 0.3) if noise.micrographs
            else ((0.6, 0.4, 0.0) if realistic else (1.0, 0.0, 0.0)),
            shift_px=data.shift)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from exc
    return ScenePairs(SceneSampler(bank, noise, recipe), input_whitening=data.input_whitening)


def _add_folder(bank, folder, workers: int = 0) -> None:
    """Every atomic model and map under ``folder`` (recursively), made by ``workers`` processes;
    one odd file is left out with a warning (it must not end a long run)."""
    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file() and (is_model(p) or p.suffix in (".mrc", ".map")))
    if not paths:
        raise InputError("holds no atomic models or maps", folder)
    bank.add_files(paths, workers=workers, skip_errors=True)


def _star_pairs(data: TrainingData) -> StarPairs:
    from gan_viewer.io.tables import read_table

    if len(data.maps) != 1 or data.models:
        raise InputError("--star needs exactly one --map (the reference)")
    return StarPairs.from_map(read_table(data.star), data.maps[0], data.project_dir)
