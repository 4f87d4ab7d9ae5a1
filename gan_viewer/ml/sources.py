"""Training and validation pair sources from ``gan-viewer train``'s arguments."""

from __future__ import annotations

import argparse
import logging

import numpy as np
import torch

from gan_viewer.errors import InputError
from gan_viewer.ml.data import SimulatedPairs, SimulationRecipe, StackPairs, StarPairs
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


def simulated_pairs(paths: list, args: argparse.Namespace, device: str = "cpu") -> SimulatedPairs:
    """Volumes of every map and model at one pixel size and box, with the run's recipe."""
    if len(args.snr) not in (1, 2):
        raise InputError(f"--snr takes one value or a MIN MAX range, got {len(args.snr)} values")
    snr = (min(args.snr), max(args.snr))
    apix = args.apix
    if apix is None:
        first_map = next((p for p in paths if not is_model(p)), None)
        apix = volume_from(first_map, None, None)[1] if first_map is not None else 2.0
    volumes = {}
    for path in paths:
        volume, _ = volume_from(path, apix, args.box, allow_pad=True)
        volumes[str(path)] = volume
        log.info("training volume %s: %d^3 at %.3g A/px", path, args.box, apix)
    if args.phantoms < 0:
        raise InputError(f"--phantoms must be 0 or more, got {args.phantoms}")
    rng = np.random.default_rng([args.seed, 3])
    for k in range(args.phantoms):
        volumes[f"phantom {k} (seed {args.seed})"] = phantom_map(rng, apix, args.box)
    if args.phantoms:
        log.info("%d procedural phantoms added", args.phantoms)
    recipe = SimulationRecipe(snr=snr, ctf_probability=args.ctf, defocus=tuple(args.defocus),
                              shift_sigma_px=args.shift)
    return SimulatedPairs(volumes, apix, recipe, device=device)


def _star_pairs(args: argparse.Namespace) -> StarPairs:
    from gan_viewer.core.particles import StarParticles
    from gan_viewer.io.star import read_star

    if len(args.map) != 1 or args.model:
        raise InputError("--star needs exactly one --map (the reference)")
    table = read_star(args.star)
    source = StarParticles(table, args.project_dir)
    apix = source.pixel_size
    volume, apix = volume_from(args.map[0], apix, source.box, allow_pad=True)
    return StarPairs.from_table(table, volume, apix, str(args.map[0]), project_dir=args.project_dir)
