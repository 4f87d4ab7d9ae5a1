"""The micrographs of one picks table (Topaz's: one table for many micrographs) and their curation.

The inspector curates such a table one micrograph at a time, each with its own session
(:class:`~gan_viewer.core.micrograph_particles.MicrographParticles`, ``session_key``). This module
finds the table's micrographs beside the one on screen, and writes every curated micrograph's
kept picks as RELION coordinate files in one go, as File > Export does for one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from gan_viewer.core.curation import Label
from gan_viewer.core.export import ExportResult, export_curated
from gan_viewer.core.micrograph_particles import MicrographParticles
from gan_viewer.core.session import session_labels, session_path
from gan_viewer.errors import InputError
from gan_viewer.io.micrograph import check_scale, picks_table_micrographs

log = logging.getLogger(__name__)


def table_micrographs(micrograph: str | os.PathLike, table: str | os.PathLike) -> list[tuple[str, Path]]:
    """Each micrograph ``table`` names, in its order, with the file it would be beside
    ``micrograph`` (the name, plus ``micrograph``'s suffix when the name has none); whether it
    is there is the caller's question (thousands of names: ask only where needed)."""
    here = Path(micrograph)
    return [(name, here.parent / (name if Path(name).suffix else f"{name}{here.suffix}"))
            for name in picks_table_micrographs(table)]


class ExistingOutputs(InputError):
    """Some coordinate files to write exist already (``paths``); nothing was written."""

    def __init__(self, paths: list[Path], folder: Path) -> None:
        super().__init__(f"{len(paths)} of the coordinate files exist already (e.g. {paths[0].name}); nothing was "
                         "written", folder)
        self.paths = paths


@dataclass
class TableExport:
    """What :func:`export_table_picks` wrote.

    Attributes
    ----------
    written
        (micrograph, result) for each micrograph with a session, in the table's order.
    not_curated
        Micrographs found but without a session (nothing decided: nothing written).
    not_found
        Names in the table with no micrograph beside the given one.
    scale_warnings
        For each curated micrograph whose picks all lie in its top-left part, as picks made at
        another binning and read without their scale do, the warning
        (:attr:`MicrographParticles.scale_warning`).
    """

    written: list[tuple[Path, ExportResult]]
    not_curated: list[Path]
    not_found: list[str]
    scale_warnings: list[str] = field(default_factory=list)


def export_table_picks(micrograph: str | os.PathLike, table: str | os.PathLike, box: int,
                       out_dir: str | os.PathLike, *, overwrite: bool = False,
                       undecided: Label = Label.REJECT, provenance: dict[str, str] | None = None,
                       scale: float = 1.0) -> TableExport:
    """Write ``OUT_DIR/<micrograph>_kept.star`` for every micrograph of ``table`` curated in the
    inspector (RELION coordinate files, :meth:`MicrographParticles.coordinate_table`).

    Every destination is checked before any is written: with one that exists (and no
    ``overwrite``), :class:`ExistingOutputs` and nothing written. Each file is written atomically.

    Parameters
    ----------
    micrograph
        One micrograph of the table; the others are looked for beside it.
    table
        Topaz's picks table.
    box
        The box the picks were opened at (as in the inspector).
    out_dir
        Folder for the coordinate files (created when missing).
    scale
        The coordinate scale the picks were opened at (``--coords-scale``; a session is bound to
        its scale, so one curated at another scale is not found).
    """
    out_dir, scale = Path(out_dir), check_scale(scale, table)
    planned, not_curated, not_found = [], [], []
    for name, path in table_micrographs(micrograph, table):
        if not path.is_file():
            not_found.append(name)
            continue
        source = MicrographParticles(path, table, box, scale=scale)
        source.close()  # the pixels are not needed
        journal = session_path(source)
        if not journal.is_file():
            not_curated.append(path)
            continue
        planned.append((path, source, journal, out_dir / f"{path.stem}_kept.star"))
    existing = [kept for *_, kept in planned if kept.exists()]
    if existing and not overwrite:
        raise ExistingOutputs(existing, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, source, journal, kept in planned:
        labels = session_labels(journal, source)
        result = export_curated(source.coordinate_table(), labels, kept, undecided=undecided, overwrite=overwrite,
                                provenance={**(provenance or {}), "labels": f"session {journal}"})
        written.append((path, result))
    log.info("%s: %d micrographs written, %d without a session, %d not found", Path(table).name, len(written),
             len(not_curated), len(not_found))
    warnings = [source.scale_warning for _, source, _, _ in planned if source.scale_warning is not None]
    return TableExport(written, not_curated, not_found, warnings)
