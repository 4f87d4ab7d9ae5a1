"""Recover particles with a trained generator: IN.mrcs or IN.star -> OUT.mrcs, in input order.

Uses the bundled default generator unless --model names another (a .safetensors file with its
.json card). Each particle is resampled to the model's pixel size (from its own optics group in
a STAR file, else the stack header, else --apix), normalised as in training, recovered and
resampled back, so any box and pixel size work; an unknown or absurd pixel size, or a box far
outside what the model was trained on, is refused. When the model's card has a finer_scale (the
bundled default does), particles sampled finer than the model are also recovered at a finer
pixel size (the bundled default: 3 and 2 A/px) and the two averaged; that takes about 1.5 times
as long (--single-scale: one pass). Streams in chunks, so memory stays bounded for any stack
size; the output has the input's box and pixel size.

Units: the recovered particle without noise or CTF, in standard deviations of the input's
background noise at the model's pixel size (an empty box comes out near 0, not at full contrast).

--spread SPREAD.mrcs also writes, per pixel, how much the recovery changes when the particle is
shown rotated or flipped (--samples of the 8 rotations and flips, default 4, at each sampling;
the recovered image is then their mean): high where the generator is unsure. A per-particle
confidence (1 minus the spread over the recovered image's amplitude, 0-1) is summarised at the
end, with how many particles fall below the model card's threshold, where pure noise lies.

--samples 4 without --spread writes the same mean image, the one the inspector's recovered panel
shows: up to 0.3 dB closer to the truth than one pass (benchmarks/bench_generator.py general),
for 4 times the time. The default without --spread is one pass (--samples 1).

example:
  gan-viewer denoise particles.star --out recovered.mrcs --spread spread.mrcs --device auto
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="particle stack (.mrcs) or STAR file")
    parser.add_argument("--out", type=Path, required=True, help="output stack (.mrcs)")
    parser.add_argument("--spread", type=Path, metavar="SPREAD.mrcs", help="also write the per-pixel spread")
    parser.add_argument("--samples", type=int,
                        help="rotations/flips averaged per particle (1-8; 2-8 with --spread; default 4 with --spread, "
                             "else 1; the inspector shows the mean of 4)")
    parser.add_argument("--model", help="model file or bundled name (default: the bundled default)")
    parser.add_argument("--single-scale", action="store_true",
                        help="recover particles finer than the model at its pixel size only: faster, but the "
                             "card's figures were measured with the finer second pass")
    parser.add_argument("--apix", type=float, help="pixel size in A (default: from the STAR optics or MRC header)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    parser.add_argument("--batch-size", type=int, default=32, help="particles per forward pass")
    parser.add_argument("--chunk", type=int, default=1024, help="particles read and written at a time")
    parser.add_argument("--project-dir", type=Path, help="RELION project folder for a STAR's stacks")
    parser.add_argument("--force", action="store_true", help="overwrite the output file(s)")


def main(args: argparse.Namespace) -> int:
    import contextlib

    import numpy as np
    from tqdm import tqdm

    from gan_viewer.core.particles import open_particles, pixel_sizes
    from gan_viewer.errors import InputError
    from gan_viewer.io.atomic import check_writable, ensure_free_space
    from gan_viewer.io.mrc import StackWriter
    from gan_viewer.ml.allocator import reuse_freed_memory
    from gan_viewer.ml.inference import Denoiser
    from gan_viewer.ml.stream import check_source_sampling, iter_recovered

    if args.batch_size < 1 or args.chunk < 1:
        raise InputError("--batch-size and --chunk must be positive")
    samples = args.samples if args.samples is not None else 4 if args.spread is not None else 1
    if not (2 if args.spread is not None else 1) <= samples <= 8:
        raise InputError(f"--samples must be {'2' if args.spread is not None else '1'}..8, got {samples}")
    outputs = [args.out] + ([args.spread] if args.spread else [])
    if len(outputs) == 2 and args.out.resolve() == args.spread.resolve():
        raise InputError("--out and --spread are the same file", args.out)
    for path in outputs:
        check_writable(path, args.force)
    source = open_particles(args.input, args.project_dir)
    if len(source) == 0:
        raise InputError("holds no particles", args.input)
    missing = getattr(source, "missing_stacks", [])
    if missing:  # say so before loading the model, not at the first chunk that needs them
        raise InputError(f"{len(missing)} stack(s) named in it were not found, e.g. {missing[0]!r} "
                         "(try --project-dir)", args.input)
    apix = pixel_sizes(source, args.apix)
    # before the model loads, too; a spread stack as large as the output
    ensure_free_space(args.out, len(outputs) * (1024 + 4 * len(source) * source.box ** 2))
    reuse_freed_memory()  # batch after batch of one size: no page faults for each one's activations
    denoiser = Denoiser.load(args.model, args.device, args.batch_size)
    if args.single_scale:
        denoiser.finer_scale = None
    n, box = len(source), source.box
    check_source_sampling(denoiser, box, apix)  # every pixel size and box, before anything is written
    header_apix = None if apix is None else float(apix[0])
    confidences = np.full(n, np.nan)
    amplitudes = np.empty(n)
    with contextlib.ExitStack() as stack:
        out = stack.enter_context(StackWriter(args.out, (n, box, box), header_apix, overwrite=args.force))
        spread_out = None if args.spread is None else stack.enter_context(
            StackWriter(args.spread, (n, box, box), header_apix, overwrite=args.force))
        bar = stack.enter_context(tqdm(total=n, unit="particle", disable=None))
        for rows, result in iter_recovered(denoiser, source, apix, spread=samples > 1, samples=max(samples, 2),
                                           chunk=args.chunk):
            out.write_at(rows, result.images)
            amplitudes[rows] = result.amplitude
            if result.confidence is not None:
                confidences[rows] = result.confidence
            if spread_out is not None:
                spread_out.write_at(rows, result.spread)
            bar.update(len(rows))
    print(f"{n} particles -> {args.out} ({denoiser.name} on {denoiser.device}; units: {denoiser.units})")
    print(f"amplitude (rms inside the particle circle): median {np.median(amplitudes):.3g}")
    if samples > 1:
        threshold = denoiser.confidence_threshold
        low = int((confidences < threshold).sum())
        print(f"{f'spread -> {args.spread}; ' if args.spread is not None else ''}mean of {samples} rotations/flips; "
              f"confidence median {np.nanmedian(confidences):.2f}, {low} of {n} below {threshold:.2f}, where pure "
              "noise lies (the generator is unsure: they may be empty or junk)")
    return 0
