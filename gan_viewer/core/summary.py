"""One-screen summary of a particle file (what ``gan-viewer info`` prints)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.core.micrograph_particles import MicrographParticles
from gan_viewer.core.particles import StackParticles, StarParticles, open_particles


def summarize(path: str | os.PathLike, project_dir: str | os.PathLike | None = None,
              coords: str | os.PathLike | None = None, box: int | None = None,
              coords_scale: float | None = None) -> dict[str, object]:
    """Describe a particle STAR, stack or cryoSPARC file, or a micrograph with its picks
    (``coords``, boxed at ``box`` px, their coordinates multiplied by ``coords_scale``).

    Returns
    -------
    dict
        Ordered ``label -> value`` pairs: file, format, particles, box, pixel size, and for
        tables the optics groups, columns and the stacks found and missing; for a micrograph's
        picks the coordinate scale, the picks at the edge and duplicates, and ``warning`` when
        the picks look made at another scale
        (:attr:`MicrographParticles.scale_warning`).
    """
    # a table is described even when none of its stacks is found
    source = open_particles(path, project_dir, coords=coords, box=box, require_images=False,
                            coords_scale=coords_scale)
    try:
        return _describe(source, Path(path), coords)
    finally:
        if hasattr(source, "close"):  # a micrograph is mapped: let it go
            source.close()


def _describe(source, path: Path, coords) -> dict[str, object]:
    """:func:`summarize` of an opened particle set."""
    out: dict[str, object] = {"file": str(path), "particles": len(source)}
    if isinstance(source, MicrographParticles):
        out.update(format=f"micrograph {source.shape[1]} x {source.shape[0]} px with coordinates {coords}",
                   box=source.box, pixel_size=_angstrom(source.pixel_size), coords_scale=source.scale,
                   at_edge=int(source.at_edge.sum()), duplicates=_duplicates(source))
        if source.scale_warning is not None:
            out["warning"] = source.scale_warning
        return out
    if isinstance(source, StackParticles):
        out.update(format=f"MRC stack (mode {source.stack.mode})", box=source.box,
                   pixel_size=_angstrom(source.pixel_size))
        return out
    assert isinstance(source, StarParticles)
    table = source.table
    apix = table.pixel_size()
    out.update(
        format=f"STAR, RELION {table.release}" if path.suffix.lower() == ".star" else "cryoSPARC .cs",
        box=source.box or "unknown (the file does not say, and no stack of it was found)",
        pixel_size=_angstrom(source.pixel_size) + ("" if apix is not None or source.pixel_size is None
                                                   else " (from the stack header)"),
        optics_groups=_optics(table),
        angles="yes" if table.eulers() is not None else "no",
        origins=_origin_kind(table.columns),
        columns=table.columns,
        stacks_found=len(source.stack_names) - len(source.missing_stacks),
        stacks_missing=source.missing_stacks[:20] + ([f"... {len(source.missing_stacks) - 20} more"]
                                                     if len(source.missing_stacks) > 20 else []),
        duplicates=_duplicates(source),
    )
    return out


def _duplicates(source) -> str:
    """How many picks RELION's ``--remove_duplicates 30`` would remove (for Topaz's picks: those
    within 30 A of a better-scored one), or why it cannot be said."""
    from gan_viewer.core.duplicates import DEFAULT_DISTANCE, outranked_by, source_pick_positions, source_pick_rank
    from gan_viewer.errors import InputError

    try:
        positions = source_pick_positions(source)
    except InputError as exc:
        return f"unknown ({str(exc).removeprefix(f'{exc.path}: ') if exc.path else exc})"
    rank, rule = source_pick_rank(source)
    outranked = outranked_by(positions, DEFAULT_DISTANCE, rank)
    duplicate = np.flatnonzero(outranked >= 0)
    if rule.startswith("the later"):
        text = (f"{duplicate.size} within {DEFAULT_DISTANCE:g} A of a later pick on their micrograph "
                f"(relion_star_handler --remove_duplicates {DEFAULT_DISTANCE:g} removes them)")
    else:
        text = f"{duplicate.size} within {DEFAULT_DISTANCE:g} A of a pick with a higher score on their micrograph"
    table = getattr(source, "table", None)
    if duplicate.size and table is not None and "rlnRandomSubset" in table.columns:
        subset = pd.to_numeric(table.particles["rlnRandomSubset"], errors="coerce").to_numpy()
        split = int((subset[duplicate] != subset[outranked[duplicate]]).sum())
        text += f"; {split} split between the half sets, where they inflate the FSC"
    return text


def _angstrom(value: float | None) -> str:
    return "unknown" if value is None else f"{value:.4g} A"


def _optics(table) -> list[str]:
    optics = table.optics
    if optics is None:
        return ["none (RELION 3.0 layout)"]
    groups = table.optics_groups()
    ids, counts = np.unique(groups, return_counts=True)
    per_group = dict(zip(ids.tolist(), counts.tolist()))
    out = []
    for _, row in optics.iterrows():
        gid = int(row["rlnOpticsGroup"])
        name = row.get("rlnOpticsGroupName", f"group {gid}")
        apix = row.get("rlnImagePixelSize", float("nan"))
        box = row.get("rlnImageSize", "?")
        out.append(f"{gid} {name} ({per_group.get(gid, 0)} particles, {apix} A, {box} px)")
    return out


def _origin_kind(columns: list[str]) -> str:
    if "rlnOriginXAngst" in columns:
        return "rlnOriginX/YAngst (Angstrom)"
    if "rlnOriginX" in columns:
        return "rlnOriginX/Y (pixels)"
    return "none"
