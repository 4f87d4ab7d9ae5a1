"""Slices of a particle set scored apart (a cluster's job array) and joined again.

``gan-viewer score --shard K/N`` scores the K-th of N contiguous slices of the input's rows
(:func:`shard_rows`) and writes those rows, every column kept, with the score columns added. Its
first line says which slice of which input it is (:func:`shard_comment`): ``# gan-viewer shard
K/N rows LO-HI of TOTAL input SHA256``, the input's sha256 over its bytes. ``gan-viewer merge``
reads those lines back (:func:`shard_marker`) and joins the slices (:func:`merge_shards`) only
when they come from one input and tile its rows exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable

_MARKER = re.compile(r"^#\s*gan-viewer shard (\d+)/(\d+) rows (\d+)-(\d+) of (\d+) input ([0-9a-f]{64})\s*$")


@dataclass(frozen=True)
class Shard:
    """Which slice of which input a shard file holds: rows ``lo`` to ``hi`` (0-based, ``hi``
    excluded) of ``total``; ``k`` is 1-based."""

    k: int
    n: int
    lo: int
    hi: int
    total: int
    digest: str


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N) with 1 <= K <= N; InputError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise InputError(f"--shard must be K/N with 1 <= K <= N (e.g. 3/10), got {text!r}")
    return int(match[1]), int(match[2])


def shard_bounds(total: int, k: int, n: int) -> tuple[int, int]:
    """(lo, hi): the K-th of N contiguous slices of ``total`` rows is rows lo to hi - 1; the first
    ``total % n`` slices hold one row more. A slice may be empty when N > total."""
    lo = (k - 1) * (total // n) + min(k - 1, total % n)
    return lo, lo + total // n + (k <= total % n)


def shard_rows(total: int, k: int, n: int) -> np.ndarray:
    """(hi - lo,) int64: the rows of :func:`shard_bounds`."""
    return np.arange(*shard_bounds(total, k, n), dtype=np.int64)


def shard_comment(shard: Shard) -> str:
    """The provenance line of a shard file (without the leading ``#``)."""
    return f"gan-viewer shard {shard.k}/{shard.n} rows {shard.lo}-{shard.hi} of {shard.total} input {shard.digest}"


def shard_marker(table: ParticleTable) -> Shard:
    """The :class:`Shard` a shard file's first marker line names; InputError when it has none."""
    for line in table.header_comments:
        match = _MARKER.match(line)
        if match:
            k, n, lo, hi, total = (int(match[i]) for i in range(1, 6))
            return Shard(k, n, lo, hi, total, match[6])
    raise InputError("is not a shard of 'gan-viewer score --shard' (no '# gan-viewer shard' line)", table.path)


def merge_shards(tables: list[ParticleTable]) -> ParticleTable:
    """Join shard tables into the scored set, rows in the input's order.

    Raises
    ------
    InputError
        When the shards come from different inputs (sha256, row count or slice count differ),
        repeat a slice, miss one, or do not tile the rows; or a shard's row count is not its slice's.
    """
    if not tables:
        raise InputError("no shards to merge")
    marks = [shard_marker(t) for t in tables]
    first = marks[0]
    for table, mark in zip(tables, marks):
        if (mark.digest, mark.total, mark.n) != (first.digest, first.total, first.n):
            raise InputError(f"comes from a different input than {tables[0].path} (shard {mark.k}/{mark.n} of a "
                             f"{mark.total}-row file {mark.digest[:12]}, not {first.n} slices of a {first.total}-row "
                             f"file {first.digest[:12]})", table.path)
        if len(table) != mark.hi - mark.lo:
            raise InputError(f"holds {len(table)} rows but says it is rows {mark.lo}-{mark.hi}", table.path)
    order = sorted(range(len(tables)), key=lambda i: (marks[i].lo, marks[i].k))
    seen: dict[int, Path | None] = {}
    expect = 0
    for i in order:
        mark = marks[i]
        if mark.k in seen:
            raise InputError(f"repeats shard {mark.k}/{mark.n} (also in {seen[mark.k]})", tables[i].path)
        seen[mark.k] = tables[i].path
        if mark.lo != expect:
            raise InputError(f"shards do not tile the set: rows {expect}-{mark.lo} of {first.total} are in no shard"
                             if mark.lo > expect else f"shards overlap at row {mark.lo}", tables[i].path)
        expect = mark.hi
    if expect != first.total or len(seen) != first.n:
        missing = sorted(set(range(1, first.n + 1)) - set(seen))
        raise InputError(f"shards do not tile the set: {first.n} slices of {first.total} rows, shard(s) "
                         f"{', '.join(f'{k}/{first.n}' for k in missing) or '?'} missing", tables[order[-1]].path)
    base = tables[order[0]]
    columns = list(base.particles.columns)
    for i in order:
        if list(tables[i].particles.columns) != columns:
            raise InputError(f"has other columns than {base.path}; shards of one input have the same columns",
                             tables[i].path)
    particles = pd.concat([tables[i].particles for i in order], ignore_index=True)
    blocks = dict(base.blocks)
    blocks[base.particles_block] = particles
    comments = [c for c in base.header_comments if not _MARKER.match(c)]
    return ParticleTable(blocks, base.particles_block, base.optics_block, base.version, None, comments)
