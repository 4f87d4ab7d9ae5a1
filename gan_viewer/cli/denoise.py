"""Recover particles with a trained generator: IN.mrcs or IN.star -> OUT.mrcs, in input order.

Uses the bundled default generator unless --model names another (a .safetensors file with its
.json card). Any box works (padded to the U-Net's multiple and cropped back); when the input's
pixel size is known and differs from the model's by more than 10 %, particles are resampled to
the model's pixel size and back (and a line says so). Streams in chunks, so memory stays bounded
for any stack size; the output has the input's pixel size. Output images are standardised
(zero mean, unit variance per particle).

example:
  gan-viewer denoise particles.star --out recovered.mrcs --device auto
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="particle stack (.mrcs) or STAR file")
    parser.add_argument("--out", type=Path, required=True, help="output stack (.mrcs)")
    parser.add_argument("--model", help="model file or bundled name (default: the bundled default)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    parser.add_argument("--batch-size", type=int, default=32, help="particles per forward pass")
    parser.add_argument("--chunk", type=int, default=1024, help="particles read and written at a time")
    parser.add_argument("--project-dir", type=Path, help="RELION project folder for a STAR's stacks")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")


def main(args: argparse.Namespace) -> int:
    import logging

    import numpy as np
    from tqdm import tqdm

    from gan_viewer.core.particles import open_particles
    from gan_viewer.errors import InputError
    from gan_viewer.io.atomic import check_writable, ensure_free_space
    from gan_viewer.io.mrc import StackWriter
    from gan_viewer.ml.inference import Denoiser

    log = logging.getLogger("gan_viewer.denoise")
    if args.batch_size < 1 or args.chunk < 1:
        raise InputError("--batch-size and --chunk must be positive")
    check_writable(args.out, args.force)
    source = open_particles(args.input, args.project_dir)
    if len(source) == 0:
        raise InputError("holds no particles", args.input)
    missing = getattr(source, "missing_stacks", [])
    if missing:  # say so before loading the model, not at the first chunk that needs them
        raise InputError(f"{len(missing)} stack(s) named in it were not found, e.g. {missing[0]!r} "
                         "(try --project-dir)", args.input)
    ensure_free_space(args.out, 1024 + 4 * len(source) * source.box ** 2)  # before the model loads, too
    denoiser = Denoiser.load(args.model, args.device, args.batch_size)
    apix = source.pixel_size
    scale = denoiser.scale_for(apix)
    if scale != 1:
        log.info("input %.3g A/px vs model %.3g A/px: resampling each particle by %.3f and back",
                 apix, denoiser.pixel_size, scale)
    elif apix is None:
        log.info("input pixel size unknown: particles go to the model (%s A/px) as they are", denoiser.pixel_size)
    n, box = len(source), source.box
    with StackWriter(args.out, (n, box, box), apix, overwrite=args.force) as out, \
            tqdm(total=n, unit="particle", disable=None) as bar:
        for lo in range(0, n, args.chunk):
            rows = np.arange(lo, min(n, lo + args.chunk))
            out.write(lo, denoiser(source.images(rows), apix))
            bar.update(len(rows))
    print(f"{n} particles -> {args.out} ({denoiser.name} on {denoiser.device})")
    return 0
