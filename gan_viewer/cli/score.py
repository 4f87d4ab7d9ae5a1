"""Curation scores of every particle of a STAR file, written as new columns.

Adds gv-prefixed columns to the input (every original block, column and value is kept):
gvScore, the default ranking (higher = better), and beside it gvMatched (the CTF matched
filter at the particle's pose, whitened by the noise spectrum measured on the particles'
background, per optics group, in noise standard deviations), gvMatchedZ (the same as a
z-score against the particle at random poses) and gvMatchedPlain (the unwhitened baseline);
with --gan, gvAgreement (GAN-recovered vs reference correlation) and gvConfidence. A STAR
without angles or CTF is scored as far as it can be, and the log says which scores are missing.

--shard K/N scores only the K-th of N slices of the rows (a cluster job array's task); join the
shard files with `gan-viewer merge`. Particles are read and scored in chunks (--chunk), so
memory does not grow with the number of particles.

examples:
  gan-viewer score particles.star --map ref.mrc --out scored.star
  gan-viewer score particles.star --map ref.mrc --shard 3/10 --out scored.3.star
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("star", type=Path, help="input particle STAR file (or cryoSPARC .cs)")
    parser.add_argument("--map", type=Path, required=True, help="reference map (.mrc) covering the particles' box")
    parser.add_argument("--out", type=Path, required=True, help="output STAR file")
    parser.add_argument("--shard", metavar="K/N", help="score only the K-th of N slices of the rows")
    parser.add_argument("--resolution", type=float, default=None,
                        help="highest resolution the matched filter uses, in A (default 10)")
    parser.add_argument("--interpolation", choices=("trilinear", "nearest"), default="trilinear",
                        help="how the reference is sampled: trilinear (RELION's), or nearest (faster on a GPU only)")
    parser.add_argument("--chunk", type=int, default=2048, help="particles read and scored at a time")
    parser.add_argument("--gan", action="store_true", help="also gvAgreement and gvConfidence (slow: the generator)")
    parser.add_argument("--model", help="generator for --gan (default: the bundled one)")
    parser.add_argument("--project-dir", type=Path, help="RELION project folder the image names are relative to")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, auto)")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.core.shards import parse_shard
    from gan_viewer.errors import InputError
    from gan_viewer.ml.allocator import reuse_freed_memory
    from gan_viewer.sim.scoring import DEFAULT_RESOLUTION, score_star

    shard = None if args.shard is None else parse_shard(args.shard)
    resolution = DEFAULT_RESOLUTION if args.resolution is None else args.resolution
    if not resolution > 0 or args.chunk < 1:
        raise InputError("--resolution and --chunk must be positive")
    reuse_freed_memory()  # chunk after chunk of one size: no page faults for each one's arrays
    extra = None
    if args.gan:
        from gan_viewer.ml.inference import Denoiser
        from gan_viewer.ml.scoring import gan_scores

        denoiser = Denoiser.load(args.model, device=args.device)
        extra = lambda images, refs, apix, noise: gan_scores(denoiser, images, refs, apix, noise)  # noqa: E731
    n, written = score_star(args.star, args.map, args.out, shard=shard, chunk=args.chunk, resolution=resolution,
                            project_dir=args.project_dir, device="cpu" if args.device == "auto" else args.device,
                            extra=extra, interpolation=args.interpolation, overwrite=args.force)
    print(f"{n} particles scored ({', '.join(written) or 'no score could be computed'}) -> {args.out}")
    return 0
