"""Describe a particle file: count, box, pixel size, optics groups, columns, stacks.

Works on a STAR file (any RELION version), a bare .mrcs stack, a cryoSPARC .cs file, or a
micrograph with a coordinate file (--coords picks.star|picks.box|topaz_picks.txt --box 64;
--coords-scale 2 for picks made on a copy of the micrograph binned by 2). Picks that all lie in
the micrograph's top-left part, as picks made at another binning and read without their scale
do, get a warning line naming the --coords-scale to try.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gan_viewer.cli import add_coords_scale, coords_scale


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="particle STAR, .mrcs stack or cryoSPARC .cs")
    parser.add_argument("--project-dir", type=Path, help="RELION project folder to find stacks in")
    parser.add_argument("--coords", type=Path,
                        help="coordinates (RELION .star, EMAN .box, or Topaz's picks table) when FILE is a micrograph")
    parser.add_argument("--box", type=int, help="box size in pixels for --coords")
    add_coords_scale(parser)
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.core.summary import summarize

    summary = summarize(args.file, args.project_dir, args.coords, args.box, coords_scale(args))
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    warning = summary.pop("warning", None)
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        if isinstance(value, list):
            value = ", ".join(map(str, value)) if value else "-"
        print(f"{key:<{width}}  {value}")
    if warning is not None:
        print(f"warning: {warning}")
    return 0
