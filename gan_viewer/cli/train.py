"""Train a pix2pix generator that recovers particles from noisy images.

Three sources of training pairs:
  --map MAP | --model PDB  (repeatable)  scenes simulated on the fly: random views, optional CTF,
  --models-dir DIR, --phantoms N,        noise at --snr S (or a log-uniform range --snr MIN MAX);
  --assemblies N                         --scenes realistic adds neighbours, ice gradients, both
                                         contrasts, B-factors, coloured noise (and --micrograph
                                         noise) for a general generator
  --noisy N.mrcs --clean C.mrcs          given pairs (same particles, same order)
  --star P.star --map MAP                real particles paired with reference projections at
                                         their STAR angles and origins
Stops after --steps or --minutes. Writes OUT.safetensors + OUT.json (model card), OUT.train.pt
(for --resume), OUT_examples.png and OUT_curves.png. Inputs are RELION-normalised (background
ring mean 0, std 1) and targets are in the same units (model card format 2): an empty box
recovers as flat, a faint particle as faint.

examples:
  gan-viewer train --map emd_1234.mrc --snr 0.03 --box 96 --minutes 15 --out betagal
  gan-viewer train --model 5a1a.cif.gz --model 1WCM.pdb --snr 0.01 0.1 --ctf 0.5 --steps 20000 --out mix
  gan-viewer train --models-dir corpus/ --assemblies 200 --scenes realistic --box 64 96 128 --apix 3 \
      --micrograph epu.mrc --snr 0.003 0.6 --ctf 0.8 --minutes 600 --out general
  gan-viewer train --noisy sim/particles.mrcs --clean sim/clean.mrcs --steps 2000 --out pairs
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_args(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("training data")
    data.add_argument("--map", type=Path, action="append", default=[], help="3D map (repeatable)")
    data.add_argument("--model", type=Path, action="append", default=[], help="atomic model (repeatable)")
    data.add_argument("--models-dir", type=Path, action="append", default=[], metavar="DIR",
                      help="every atomic model and map under DIR (repeatable)")
    data.add_argument("--phantoms", type=int, default=0, metavar="N",
                      help="add N procedural protein-like phantoms to the simulated volumes")
    data.add_argument("--assemblies", type=int, default=0, metavar="N",
                      help="add N procedural assemblies (oligomers, shells, rings, filaments, membrane proteins, ...)")
    data.add_argument("--noisy", type=Path, help="noisy stack of given pairs")
    data.add_argument("--clean", type=Path, help="clean stack of given pairs")
    data.add_argument("--star", type=Path, help="real particles with angles, STAR or cryoSPARC .cs (with --map)")
    data.add_argument("--project-dir", type=Path, help="RELION project folder for --star")
    sim = parser.add_argument_group("simulation (with --map/--model)")
    sim.add_argument("--snr", type=float, nargs="+", default=[0.03], metavar="S", help="SNR, or MIN MAX")
    sim.add_argument("--ctf", type=float, nargs="?", const=1.0, default=0.0, metavar="FRACTION",
                     help="apply a CTF (to this fraction of batches; 1 when given alone)")
    sim.add_argument("--defocus", type=float, nargs=2, default=(10000.0, 25000.0), metavar=("MIN", "MAX"))
    sim.add_argument("--shift", type=float, default=0.0, metavar="PX", help="sd of random origins in pixels")
    sim.add_argument("--box", type=int, nargs="+", default=[96], help="box(es) in pixels (default 96; one per batch)")
    sim.add_argument("--apix", type=float, help="pixel size in A (default: the first map's; 3 for models)")
    sim.add_argument("--scenes", choices=("simple", "realistic"), default="simple",
                     help="simple: one particle and noise; realistic: neighbours, ice gradients, both contrasts, "
                          "B-factors, astigmatism, coloured noise")
    sim.add_argument("--micrograph", type=Path, action="append", default=[],
                     help="real micrograph whose patches serve as noise (repeatable)")
    sim.add_argument("--empty", type=float, metavar="FRACTION", help="fraction of empty boxes (default 0.05 / 0.08)")
    sim.add_argument("--noise-mix", type=float, nargs=3, metavar=("WHITE", "COLOURED", "MICROGRAPH"),
                     help="weights of white, coloured and micrograph noise in realistic scenes (default 0.4 0.3 0.3 "
                          "with --micrograph, else 0.6 0.4 0)")
    sim.add_argument("--fill", type=float, nargs=2, metavar=("MIN", "MAX"),
                     help="particle diameter / box (default 0.3 0.9)")
    sim.add_argument("--input-whitening", type=float, metavar="SHARE",
                     help="take this share (0-1) of each scene's noise colour away from the input, as the denoiser "
                          "then does at inference (the model card records it; default: none)")
    run = parser.add_argument_group("run")
    run.add_argument("--steps", type=int, help="stop after this many steps")
    run.add_argument("--minutes", type=float, help="stop after this much time")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--validate-every", type=int, default=200)
    run.add_argument("--depth", type=int, default=5, help="U-Net depth (boxes: multiples of 2**depth)")
    run.add_argument("--base-channels", type=int, default=32)
    run.add_argument("--lambda-l1", type=float, default=100.0, help="weight of the reconstruction term")
    run.add_argument("--loss", choices=("l1", "l2"), default="l1", help="reconstruction term (default l1, pix2pix)")
    run.add_argument("--gan-weight", type=float, default=1.0, help="weight of the adversarial term (default 1)")
    run.add_argument("--lr", type=float, default=2e-4, help="Adam's learning rate (default 2e-4, pix2pix's)")
    run.add_argument("--lr-decay", type=int, nargs=2, metavar=("FROM", "STEPS"),
                     help="pix2pix's schedule: from step FROM (resumed steps count) the learning rate falls "
                          "linearly to 0 over STEPS steps")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    run.add_argument("--workers", type=int, default=0, metavar="N",
                     help="processes that simulate the training pairs in parallel, and make the maps of the "
                          "atomic models and maps first (default 0: all in the training process); on a GPU, most "
                          "of the CPU cores, or the GPU waits for the scenes")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--init", type=Path, metavar="MODEL",
                     help="start the generator from this model (.safetensors with its card): fine-tune it; the "
                          "discriminator and optimiser start fresh, and the card records the model")
    run.add_argument("--resume", action="store_true", help="continue from OUT.train.pt")
    run.add_argument("--out", type=Path, required=True, help="output name (OUT.safetensors, OUT.json, ...)")
    run.add_argument("--force", action="store_true", help="replace an existing model of that name")


def config_from_args(args: argparse.Namespace):
    """The :class:`~gan_viewer.ml.training_config.TrainingConfig` the options describe."""
    from gan_viewer.ml.sources import TrainingData
    from gan_viewer.ml.training_config import TrainingConfig

    data = TrainingData(
        maps=list(args.map), models=list(args.model), models_dirs=list(args.models_dir), phantoms=args.phantoms,
        assemblies=args.assemblies, noisy=args.noisy, clean=args.clean, star=args.star,
        project_dir=args.project_dir, snr=tuple(args.snr), ctf=args.ctf, defocus=tuple(args.defocus),
        shift=args.shift, boxes=tuple(args.box), apix=args.apix, scenes=args.scenes,
        micrographs=list(args.micrograph), empty=args.empty,
        noise_mix=None if args.noise_mix is None else tuple(args.noise_mix),
        fill=None if args.fill is None else tuple(args.fill), input_whitening=args.input_whitening)
    return TrainingConfig(
        out=args.out, data=data, steps=args.steps, minutes=args.minutes, batch_size=args.batch_size,
        validate_every=args.validate_every, depth=args.depth, base_channels=args.base_channels,
        lambda_l1=args.lambda_l1, loss=args.loss, gan_weight=args.gan_weight, lr=args.lr,
        decay=None if args.lr_decay is None else tuple(args.lr_decay), device=args.device, workers=args.workers,
        seed=args.seed, init=args.init,
        resume=args.resume, force=args.force, command="gan-viewer train " + " ".join(_argv(args)))


def main(args: argparse.Namespace) -> int:
    from gan_viewer.ml.allocator import reuse_freed_memory
    from gan_viewer.ml.checkpoint import output_file, output_stem
    from gan_viewer.ml.training_config import train_generator

    reuse_freed_memory()  # step after step of one size: no page faults for each one's activations
    card = train_generator(config_from_args(args))
    v = card["validation"]
    print(f"{output_file(output_stem(args.out), '.safetensors')}: validation PSNR {v['psnr_db']:.2f} dB "
          f"(noisy input {v['input_psnr_db']:.2f} dB), CC {v['cc']:.3f}, {card['training']['steps']} steps")
    return 0


def _argv(args: argparse.Namespace) -> list[str]:
    import sys

    return sys.argv[2:] if len(sys.argv) > 2 and sys.argv[1] == "train" else []
