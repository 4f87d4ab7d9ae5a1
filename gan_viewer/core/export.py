"""Curated subsets of a particle table: kept and rejected STAR (or cryoSPARC .cs) files.

What "kept" means, everywhere (the inspector's export, ``gan-viewer export``), as in RELION's
Select job: the kept file holds the particles labelled keep, and nothing else; the rejected file
is its complement, every other particle (labelled reject, and undecided), so the two files
together are the input. Undecided particles are not kept unless asked (``undecided=Label.KEEP``,
``--undecided keep``), and then they go to the kept file instead.

RELION's Select-job file (``backup_selection.star``, :mod:`gan_viewer.io.selection`) says the
same per input row: ``rlnSelected`` 1 for a kept particle, 0 for every other one (so undecided
particles are 0 unless they are kept). Read back, 0 is reject and any selection colour (1-6) is
keep: a selection file has no undecided particles.

The subsets keep the input's version, blocks, optics table, columns, row order and values
exactly; only the particle rows are filtered. On request the scores of a session are added as
columns (:func:`score_label`: ``gv`` and the name in CamelCase, ``nan`` where a score was not
computed, which RELION reads as a number). Provenance goes in ``#`` comment lines, which
RELION ignores. Nothing is written unless every destination can be written: both files are
written to temporaries and fsynced first, then renamed back to back, and a failure of either
(a full disk, an I/O error, SIGTERM, Ctrl+C) leaves neither, and existing files as they were. The
one residual: a SIGKILL or a power cut in the microseconds between the two renames leaves the
kept file without the rejected one.

Particles read from a cryoSPARC ``.cs`` file can go to either format, chosen by each output's
extension: a ``.cs`` output holds the input's rows as stored, every field (the rows of
:func:`~gan_viewer.io.cryosparc.load_cryosparc`), and a STAR output is the RELION 3.1 conversion,
whose image names point to ``.mrcs`` links to cryoSPARC's ``.mrc`` stacks in ``OUT_stacks/``
beside the kept file (:mod:`gan_viewer.io.relion_stacks`: RELION reads stacks only from ``.mrcs``).
The links folder is renamed into place just before the files; a failure in between leaves it.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer import __version__
from gan_viewer.core.curation import Label, unique_indices
from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_dir, atomic_paths, write_bytes, write_text
from gan_viewer.io.cryosparc import cs_bytes, load_cryosparc
from gan_viewer.io.relion_stacks import StackLinks, links_folder, make_links, plan_stack_links, relinked
from gan_viewer.io.selection import read_selection, selection_text
from gan_viewer.io.star import ParticleTable, star_text
from gan_viewer.io.tables import is_cryosparc

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_rows(text: str, n: int) -> np.ndarray:
    """``"1,3,5-9"`` (1-based, inclusive ranges) -> sorted unique 0-based indices (k,).

    Raises
    ------
    InputError
        On syntax errors or rows outside 1..n.
    """
    rows: list[np.ndarray] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _RANGE.match(part)
        if match is None:
            raise InputError(f"row list {text!r}: {part!r} is not a number or a range like 5-9")
        first, last = int(match[1]), int(match[2] or match[1])
        if first < 1 or last > n or first > last:
            raise InputError(f"row list {text!r}: {part!r} is outside 1..{n}")
        rows.append(np.arange(first - 1, last))
    return unique_indices(np.concatenate(rows)) if rows else np.zeros(0, np.int64)


def labels_from_rows(n: int, keep: np.ndarray | None, reject: np.ndarray | None) -> np.ndarray:
    """Labels (n,) int8 from row lists: ``keep`` rows keep, ``reject`` rows reject, every other
    row undecided (where undecided rows go is :func:`export_curated`'s ``undecided``)."""
    if keep is not None and reject is not None and np.intersect1d(keep, reject).size:
        raise InputError(f"row {int(np.intersect1d(keep, reject)[0]) + 1} is both kept and rejected")
    labels = np.full(n, Label.UNDECIDED, np.int8)
    if keep is not None:
        labels[keep] = Label.KEEP
    if reject is not None:
        labels[reject] = Label.REJECT
    return labels


def labels_from_selection(path: str | os.PathLike, table: ParticleTable) -> np.ndarray:
    """Labels (n,) int8 from RELION's Select-job file for ``table``: 0 reject, 1-6 keep.

    Raises
    ------
    InputError
        When the file is not a selection file or its row count is not the table's.
    """
    selected = read_selection(path, len(table), table.path)
    return np.where(selected > 0, Label.KEEP, Label.REJECT).astype(np.int8)


def score_label(name: str) -> str:
    """The STAR label of a score: the inspector's own by
    :data:`~gan_viewer.core.scores.INSPECTOR_COLUMNS` (``"agreement score"`` -> ``gvAgreement``, the
    column ``gan-viewer score --gan`` writes); a name that is already a ``gv`` label (``gvScore``)
    stays as it is; any other gets ``gv`` and its words in CamelCase."""
    from gan_viewer.core.scores import INSPECTOR_COLUMNS

    if name in INSPECTOR_COLUMNS:
        return INSPECTOR_COLUMNS[name]
    if re.fullmatch(r"gv[A-Z]\w*", name):
        return name
    words = re.findall(r"[A-Za-z0-9]+", name)
    if not words:
        raise ValueError(f"score name {name!r} has no letters or digits")
    return "gv" + "".join(w[:1].upper() + w[1:] for w in words)


def with_scores(table: ParticleTable, scores: dict[str, np.ndarray]) -> ParticleTable:
    """A copy of ``table`` whose particle loop has a column per score (:func:`score_label`), after
    the existing ones; a column of the same label is replaced.

    Parameters
    ----------
    scores
        name -> (n,) float, NaN where not computed (written ``nan``).
    """
    particles = table.particles.copy()
    for name, values in scores.items():
        values = np.asarray(values, np.float64)
        if values.shape != (len(table),):
            raise ValueError(f"score {name!r} has shape {values.shape}, expected ({len(table)},)")
        label = score_label(name)
        if label in particles.columns:
            log.info("replacing the column %s of %s with the session's scores", label, table.path)
            particles = particles.drop(columns=label)
        particles[label] = pd.Series(np.char.mod("%.6g", values), index=particles.index, dtype=object)
    blocks = dict(table.blocks)
    blocks[table.particles_block] = particles
    return ParticleTable(blocks, table.particles_block, table.optics_block, table.version, table.path,
                         list(table.header_comments))


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes
    ----------
    kept, rejected
        Rows in the kept file and in its complement (the rejected file, when written).
    undecided
        How many particles had no label; they are in the rejected file unless ``undecided_kept``.
    kept_path, rejected_path, selection_path
        The files written (None for those not asked for).
    links_path
        The folder of ``.mrcs`` stack links that STAR files converted from a ``.cs`` name, if made.
    """

    kept: int
    rejected: int
    undecided: int
    kept_path: Path | None
    rejected_path: Path | None
    undecided_kept: bool = False
    selection_path: Path | None = None
    links_path: Path | None = None


def kept_mask(labels: np.ndarray, undecided: Label = Label.REJECT) -> np.ndarray:
    """(n,) bool: the particles that go to the kept file (see the module docstring)."""
    labels = np.asarray(labels)
    if undecided not in (Label.KEEP, Label.REJECT):
        raise ValueError(f"undecided particles are kept or rejected, not {undecided!r}")
    kept = labels == Label.KEEP
    return kept | (labels == Label.UNDECIDED) if undecided == Label.KEEP else kept


def export_curated(table: ParticleTable, labels: np.ndarray, kept_path: str | os.PathLike | None,
                   rejected_path: str | os.PathLike | None = None, *, undecided: Label = Label.REJECT,
                   overwrite: bool = False, provenance: dict[str, str] | None = None,
                   selection_path: str | os.PathLike | None = None,
                   project_dir: str | os.PathLike | None = None,
                   scores: dict[str, np.ndarray] | None = None) -> ExportResult:
    """Write the kept particles of ``table`` (and, optionally, all the others, and RELION's
    Select-job file) as STAR (or ``.cs``) files, all or none.

    Parameters
    ----------
    table
        The input table; its other blocks are written unchanged.
    labels
        (n,) int8 labels (:class:`~gan_viewer.core.curation.Label`) in table row order.
    kept_path, rejected_path
        Destinations: the particles labelled keep, and every other particle. Both are checked
        before either is written.
    undecided
        Where undecided particles go: ``Label.REJECT`` (not kept, the default) or ``Label.KEEP``.
    overwrite
        Replace existing files; otherwise an existing destination raises InputError.
    provenance
        Extra ``key: value`` lines for the header (e.g. the model's sha256).
    selection_path
        Also write RELION's ``backup_selection.star``: ``rlnSelected`` 1 for each kept row, 0 for
        the others, in input order. ``kept_path`` may then be None.
    project_dir
        Where the stacks of a ``.cs`` input are, when it is converted to STAR (the cryoSPARC
        project folder; by default the ``.cs`` file's folder and its parents are tried).
    scores
        name -> (n,) float scores to add as columns of STAR outputs (:func:`with_scores`), or None.

    Raises
    ------
    InputError
        Before anything is written: labels of another length, a missing, existing or repeated
        destination, a ``.cs`` output for a STAR input, stacks of a ``.cs`` input not found.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(table),):
        raise InputError(f"{labels.shape[0]} labels for {len(table)} particles", table.path)
    named = {"kept": kept_path, "rejected": rejected_path, "selection": selection_path}
    named = {what: Path(p) for what, p in named.items() if p}
    if "kept" not in named and "selection" not in named:
        raise InputError("nothing to write: give a kept file or a selection file")
    targets = list(named.values())
    if len({t.resolve() for t in targets}) < len(targets):
        raise InputError(f"the {' and '.join(named)} outputs must be different files", targets[0])
    for target in targets:
        if table.path is not None and target.resolve() == Path(table.path).resolve():
            raise InputError("is the input file; choose another output name", target)
        if target.exists() and not overwrite:
            raise InputError("exists already; refusing to overwrite it (use --force)", target)
        if not target.parent.resolve().is_dir():
            raise InputError("folder does not exist", target.parent)
    records, links = _cryosparc_plan(table, named, overwrite, project_dir)
    counts = {lab: int((labels == lab).sum()) for lab in Label}
    kept = kept_mask(labels, undecided)
    if scores:
        table = with_scores(table, scores)
        provenance = {**(provenance or {}), "score columns": ", ".join(score_label(name) for name in scores)}
    with atomic_paths(targets, overwrite=overwrite) as temps:  # all or nothing: renamed together at the end
        for target, tmp, what in zip(targets, temps, named):
            if what == "selection":
                comments = _provenance(table, True, int(kept.sum()), counts, undecided, provenance or {})
                write_text(tmp, selection_text(kept, ["RELION Select-job file: rlnSelected 1 = " + comments[0]]
                                               + comments[1:]))
                continue
            rows = np.flatnonzero(kept if what == "kept" else ~kept)
            if records is not None and is_cryosparc(target):
                write_bytes(tmp, cs_bytes(records[rows]))
                continue
            comments = _provenance(table, what == "kept", len(rows), counts, undecided, provenance or {})
            source = table if links is None else relinked(table, links, target)
            write_text(tmp, star_text(source.subset(rows), comments, target))
        if links is not None:  # the links last, just before the files are renamed
            with atomic_dir(links.folder, overwrite=overwrite) as folder:
                make_links(folder, links)
    log.info("kept %d of %d (labelled keep %d, reject %d, undecided %d: %s)", int(kept.sum()), len(table),
             counts[Label.KEEP], counts[Label.REJECT], counts[Label.UNDECIDED],
             "kept" if undecided == Label.KEEP else "not kept")
    return ExportResult(int(kept.sum()), int((~kept).sum()), counts[Label.UNDECIDED], named.get("kept"),
                        named.get("rejected"), undecided == Label.KEEP, named.get("selection"),
                        None if links is None else links.folder)


def _cryosparc_plan(table: ParticleTable, named: dict[str, Path], overwrite: bool,
                    project_dir: str | os.PathLike | None) -> tuple[np.ndarray | None, StackLinks | None]:
    """The ``.cs`` rows for ``.cs`` outputs, and the stack links for STAR outputs of a ``.cs``
    input (None when not needed); InputError for what cannot be written."""
    outputs = {what: path for what, path in named.items() if what != "selection"}
    from_cs = is_cryosparc(table.path)
    cs_outputs = [path for path in outputs.values() if is_cryosparc(path)]
    if cs_outputs and not from_cs:
        raise InputError("a .cs output needs particles read from a cryoSPARC .cs file; write STAR (.star) "
                         "for these", cs_outputs[0])
    records = None
    if cs_outputs:
        records = load_cryosparc(table.path)
        if len(records) != len(table):
            raise InputError(f"has {len(records)} rows now, {len(table)} when it was read; open it again",
                             table.path)
    star_outputs = [path for path in outputs.values() if not is_cryosparc(path)]
    if not from_cs or not star_outputs:
        return records, None
    first = named["kept"] if "kept" in outputs and not is_cryosparc(named["kept"]) else star_outputs[0]
    folder = links_folder(first)
    if folder.exists() and not folder.is_dir():
        raise InputError("exists and is not a folder (it is where the .mrcs stack links go)", folder)
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise InputError("exists already (the .mrcs stack links of a converted .cs go there); refusing to "
                         "replace it (use --force)", folder)
    return records, plan_stack_links(table, folder, project_dir)


def _provenance(table: ParticleTable, kept: bool, n_rows: int, counts: dict, undecided: Label,
                extra: dict[str, str]) -> list[str]:
    what = "kept" if kept else "not kept (rejected or undecided)" if undecided == Label.REJECT else "rejected"
    lines = [
        f"gan-viewer {__version__}: {n_rows} {what} particles of {len(table)} "
        f"(labelled keep {counts[Label.KEEP]}, reject {counts[Label.REJECT]}, undecided {counts[Label.UNDECIDED]}; "
        f"undecided are {'kept' if undecided == Label.KEEP else 'not kept'})",
        f"source: {table.path}" if table.path else "source: (in memory)",
        f"time: {datetime.now(timezone.utc).isoformat(timespec='seconds')}",
    ]
    return lines + [f"{k}: {v}" for k, v in extra.items()]
