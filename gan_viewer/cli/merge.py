"""Join the shard files of `gan-viewer score --shard K/N` into one scored STAR file.

The shards must come from one input file (each names its sha256) and tile its rows exactly:
every slice 1..N once. Otherwise nothing is written and one line says what is wrong.

example:
  gan-viewer merge scored.*.star --out scored.star
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shards", type=Path, nargs="+", help="shard STAR files, in any order")
    parser.add_argument("--out", type=Path, required=True, help="output STAR file")
    parser.add_argument("--force", action="store_true", help="overwrite the output file")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.core.shards import merge_shards
    from gan_viewer.io.atomic import check_writable
    from gan_viewer.io.star import read_star, write_star

    check_writable(args.out, args.force)
    merged = merge_shards([read_star(path) for path in args.shards])
    write_star(merged, args.out, overwrite=args.force, comments=[f"gan-viewer merge of {len(args.shards)} shards"])
    print(f"{len(merged)} particles from {len(args.shards)} shards -> {args.out}")
    return 0
