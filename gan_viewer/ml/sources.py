"""Training and validation pair sources from ``gan-viewer train``'s arguments."""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from gan_viewer.errors import InputError
from gan_viewer.ml.data import ScenePairs, StackPairs, StarPairs
from gan_viewer.sim.phantoms import phantom_map
from gan_viewer.sim.reference import is_model, volume_from

log = logging.getLogger(__name__)


def sources_from_args(args: argparse.Namespace, device: torch.device):
    """(train, validation) sources for the one training mode the arguments select."""
    simulated = bool(args.map or args.model or args.phantoms) and not args.star
    modes = [bool(args.noisy or args.clean), bool(args.star), simulated]
    if sum(modes) != 1:
        raise InputError("choose one kind of training data: --map/--model (simulated), "
                         "--noisy with --clean, or --star with --map")
    if args.noisy or args.clean:
        if not (args.noisy and args.clean):
            raise InputError("given pairs need both --noisy and --clean")
        return StackPairs(args.noisy, args.clean).split(64, args.seed)
    if args.star:
        return _star_pairs(args).split(64, args.seed)
    source = simulated_pairs(args.map + args.model, args, str(device))
    return source, source


def simulated_pairs(paths: list, args: argparse.Namespace, device: str = "cpu") -> ScenePairs:
    """Scenes (:mod:`gan_viewer.sim.scenes`) of every map, model and procedural structure asked for,
    at one pixel size, with the run's recipe."""
    from gan_viewer.sim.scenes import NoiseBank, SceneRecipe, SceneSampler, VolumeBank

    if len(args.snr) not in (1, 2):
        raise InputError(f"--snr takes one value or a MIN MAX range, got {len(args.snr)} values")
    apix = args.apix
    if apix is None:
        first_map = next((p for p in paths if not is_model(p)), None)
        apix = volume_from(first_map, None, None)[1] if first_map is not None else 3.0
    for name in ("phantoms", "assemblies"):
        if getattr(args, name, 0) < 0:
            raise InputError(f"--{name} must be 0 or more, got {getattr(args, name)}")
    bank = VolumeBank(apix)
    for path in paths:
        bank.add_file(path, assumed_apix=apix)
    for folder in getattr(args, "models_dir", None) or []:
        _add_folder(bank, folder)
    rng = np.random.default_rng([args.seed, 3])
    box = max(args.box)
    for k in range(args.phantoms):  # sizes from a quarter to nine tenths of the largest box
        volume = phantom_map(rng, apix, box, fill=rng.uniform(0.25, 0.9))
        bank.add_volume(f"phantom {k} (seed {args.seed})", volume, apix, "phantom")
    if getattr(args, "assemblies", 0):
        from gan_viewer.sim.assemblies import assembly_map

        for k in range(args.assemblies):
            volume, info = assembly_map(rng, apix, box, fill=rng.uniform(0.25, 0.95))
            bank.add_volume(f"assembly {k} ({info.get('kind', '?')}, seed {args.seed})", volume, apix, "assembly")
    if not len(bank):
        raise InputError("no structure to simulate from: give --map, --model, --models-dir, --phantoms or --assemblies")
    log.info("%d structures at %.3g A/px (%.2f GB of projectors)", len(bank), apix, bank.nbytes / 1e9)
    noise = NoiseBank(apix)
    for path in getattr(args, "micrograph", None) or []:
        noise.add_micrograph(path)
    realistic = getattr(args, "scenes", "simple") == "realistic"
    try:
        recipe = SceneRecipe(
            apix=apix, boxes=tuple(args.box), snr=(min(args.snr), max(args.snr)),
            fill=tuple(args.fill) if getattr(args, "fill", None) else SceneRecipe.fill,
            empty_probability=args.empty if args.empty is not None else (0.08 if realistic else 0.05),
            neighbour_probability=0.4 if realistic else 0.0, gradient_probability=0.3 if realistic else 0.0,
            invert_probability=0.5 if realistic else 0.0, ctf_probability=args.ctf,
            defocus_um=(args.defocus[0] / 1e4, args.defocus[1] / 1e4),
            astigmatism_um=(0.0, 0.2) if realistic else (0.0, 0.05),
            bfactor=(0.0, 150.0) if realistic else (0.0, 0.0),
            noise_mix=(0.4, 0.3, 0.3) if noise.micrographs else ((0.6, 0.4, 0.0) if realistic else (1.0, 0.0, 0.0)),
            shift_px=args.shift)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from exc
    return ScenePairs(SceneSampler(bank, noise, recipe))


def _add_folder(bank, folder) -> None:
    """Every atomic model and map under ``folder`` (recursively)."""
    from pathlib import Path

    paths = sorted(p for p in Path(folder).rglob("*") if p.is_file() and (is_model(p) or p.suffix in (".mrc", ".map")))
    if not paths:
        raise InputError("holds no atomic models or maps", folder)
    for path in paths:
        try:
            bank.add_file(path)
        except (InputError, ValueError) as exc:  # one odd file must not end a long run
            log.warning("skipped %s: %s", path, exc)


def _star_pairs(args: argparse.Namespace) -> StarPairs:
    from gan_viewer.io.star import read_star

    if len(args.map) != 1 or args.model:
        raise InputError("--star needs exactly one --map (the reference)")
    return StarPairs.from_map(read_star(args.star), args.map[0], args.project_dir)
