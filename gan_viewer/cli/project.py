"""Reference projections of a map at every particle's angles and origin, in the STAR's order.

A cryoSPARC .cs file is read as its RELION conversion (poses from alignments3D). Each particle is projected at its optics group's pixel size and box (the map is resampled to
them), shifted by minus its origin as RELION does, and with --ctf multiplied by its CTF.
2D alignments (a Class2D _data.star) are projected with a warning: their psi is new and any rot
and tilt are older, so the images are not the particles' references.

example:
  gan-viewer project --map ref.mrc --star particles.star --out refs.mrcs --ctf
  gan-viewer project --map J24_map.mrc --star J24_particles.cs --out refs.mrcs --ctf
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--map", type=Path, required=True, help="3D map (.mrc/.map) or atomic model")
    parser.add_argument("--star", type=Path, required=True, help="particle STAR or cryoSPARC .cs file with angles")
    parser.add_argument("--out", type=Path, required=True, help="output stack (.mrcs)")
    parser.add_argument("--ctf", action="store_true", help="multiply by each particle's CTF")
    parser.add_argument("--project-dir", type=Path, help="RELION project folder (to read box/pixel size "
                        "from the stacks when the STAR does not give them)")
    parser.add_argument("--relion-odd-centre", action="store_true",
                        help="for odd boxes, centre images at n//2 + 1 like relion_project (default n//2)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.io.poses import two_d_alignment
    from gan_viewer.io.tables import read_table
    from gan_viewer.sim.reference import project_table

    table = read_table(args.star)
    two_d = two_d_alignment(table)
    if two_d is not None:
        log.warning("%s: %s: projections need 3D poses (Refine3D, Class3D); these mix a 2D psi with an older "
                    "rot and tilt", args.star, two_d)
    n = project_table(args.map, table, args.out, ctf=args.ctf, device=args.device, relion_odd_centre=args.relion_odd_centre, overwrite=args.force,
                      project_dir=args.project_dir)
    print(f"{n} projections -> {args.out}")
    return 0
