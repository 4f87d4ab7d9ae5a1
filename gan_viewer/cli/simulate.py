"""Simulate noisy particles from a map or an atomic model, with their clean truth and a STAR file.

Writes OUT/particles.mrcs (noisy), OUT/clean.mrcs (the same views without noise or CTF) and
OUT/particles.star (RELION 3.1: optics + particles with angles, origins and, with --ctf, CTF).
The optics always name the microscope (--voltage, --cs, --amplitude-contrast), as RELION's
programs require; without --ctf no CTF is applied (run RELION without --ctf).
Orientations are uniform on SO(3); SNR is var(clean image) / var(noise), image by image.
Several SNRs (--snr 0.1 0.03 0.01) write one folder per SNR from the same views.

examples:
  gan-viewer simulate --map emd_1234.mrc --n 1000 --snr 0.05 --box 96 --apix 2.5 --out sim
  gan-viewer simulate --model 5a1a.cif.gz --n 200 --snr 0.1 0.03 0.01 --ctf --seed 1 --out panel
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_args(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--map", type=Path, help="3D map (.mrc/.map)")
    source.add_argument("--model", type=Path, help="atomic model (.pdb/.cif, gzipped too)")
    parser.add_argument("--n", type=int, required=True, help="number of particles")
    parser.add_argument("--snr", type=float, nargs="+", required=True, metavar="S", help="one or more SNRs")
    parser.add_argument("--box", type=int, help="box in pixels (default: the map's extent)")
    parser.add_argument("--apix", type=float, help="pixel size in A (default: the map's; 1.5 for models)")
    parser.add_argument("--ctf", action="store_true", help="apply a CTF (random defocus per particle)")
    parser.add_argument("--defocus", type=float, nargs=2, default=(10000.0, 25000.0), metavar=("MIN", "MAX"),
                        help="defocus range in A (default 10000 25000)")
    parser.add_argument("--astigmatism", type=float, default=500.0, help="max |U - V| in A (default 500)")
    parser.add_argument("--voltage", type=float, default=300.0, help="kV (default 300)")
    parser.add_argument("--cs", type=float, default=2.7, help="spherical aberration in mm (default 2.7)")
    parser.add_argument("--amplitude-contrast", type=float, default=0.1, help="(default 0.1)")
    parser.add_argument("--shift", type=float, default=0.0, metavar="PX",
                        help="standard deviation of random origins in pixels (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--force", action="store_true", help="replace a non-empty output folder")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.sim.dataset import simulate_set

    stars = simulate_set(args.map or args.model, args.n, list(args.snr), args.out, box=args.box, apix=args.apix,
                         ctf=args.ctf, defocus=tuple(args.defocus), astigmatism=args.astigmatism,
                         voltage=args.voltage, cs=args.cs, amplitude_contrast=args.amplitude_contrast,
                         shift=args.shift, seed=args.seed, device=args.device, overwrite=args.force)
    for star in stars:
        print(star)
    return 0
