"""Open the particle inspector: raw | GAN-recovered | reference projection, keep/reject, export.

FILE is a particle STAR file (with its stacks), a bare .mrcs stack, a cryoSPARC .cs file, or a
micrograph with --coords and --box (without them the micrograph alone opens in the micrograph
view, with nothing to curate); --coords-scale 2 reads picks made on a copy of the micrograph
binned by 2, and picks that all lie in the micrograph's top-left part, as such picks read without
their scale do, get a warning in the status bar. The View bar's low-pass (Angstrom) and binning
make the raw panel, the thumbnails and the micrograph legible at real sizes; Help > Legend
explains every panel and number. Without FILE a bundled demo set opens (simulated once from the
bundled map, which serves as its reference). Decisions are saved before they show, in a session
file beside FILE (in the user data folder when FILE's folder is read-only or on a network
filesystem); opening FILE again resumes where you left off. A second window on the same FILE is read-only. File >
Export writes the particles labelled keep, and optionally all the others. --from-selection
takes the labels of RELION's Select job (backup_selection.star: rlnSelected 1-6 keep, 0 reject,
one row per particle of FILE) into the session, as two decisions that Ctrl+Z undoes.

keys: K keep, R or X reject, Space/Right next, Backspace/Left previous, N next undecided,
      U or Ctrl+Z undo, Ctrl+Shift+Z redo, F1 legend

examples:
  gan-viewer gui particles.star --map reference.mrc
  gan-viewer gui micrograph.mrc --coords micrograph_autopick.star --box 64
  gan-viewer gui micrograph.mrc --coords predicted_particles_all.txt --box 64 --coords-scale 2   # Topaz on bin 2
  gan-viewer gui micrograph.mrc   # the micrograph alone (View bar: low-pass 20 A, bin 4)
  gan-viewer gui particles.star --screenshot window.png   # save the window and exit
  gan-viewer gui Extract/job005/particles.star --from-selection Select/job012/backup_selection.star
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gan_viewer.cli import add_coords_scale, coords_scale


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", type=Path, metavar="FILE",
                        help="particles (.star, .mrcs, .cs) or a micrograph (boxed with --coords, else shown alone); "
                             "default: the demo")
    parser.add_argument("--map", type=Path, help="reference map for the third panel")
    parser.add_argument("--model", help="generator checkpoint (default: the bundled one)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"],
                        help="where the generator runs (default: auto, falling back to the CPU)")
    parser.add_argument("--coords", type=Path,
                        help="coordinate file (RELION .star, EMAN .box, or Topaz's picks table) for a micrograph FILE")
    parser.add_argument("--box", type=int, help="box size in pixels for a micrograph FILE")
    add_coords_scale(parser)
    parser.add_argument("--project-dir", type=Path, help="RELION project folder to resolve stack paths")
    parser.add_argument("--session", type=Path, metavar="FILE",
                        help="the session file (default: beside FILE, or in the user data folder)")
    parser.add_argument("--from-selection", type=Path, metavar="FILE",
                        help="label the particles from RELION's Select-job file (backup_selection.star)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="save the window as PNG once the first particle is drawn, then exit")


def main(args: argparse.Namespace) -> int:
    scale = coords_scale(args)  # checked before Qt starts
    from gan_viewer.gui.app import run

    return run(args.file, map_path=args.map, model=args.model, device=args.device, coords=args.coords,
               box=args.box, coords_scale=scale, project_dir=args.project_dir, screenshot=args.screenshot,
               selection=args.from_selection, session_path=args.session)
