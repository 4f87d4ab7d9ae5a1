"""Curated subsets of a particle table: kept and rejected STAR files.

What "kept" means, everywhere (the inspector's export, ``gan-viewer export``), as in RELION's
Select job: the kept file holds the particles labelled keep, and nothing else; the rejected file
is its complement, every other particle (labelled reject, and undecided), so the two files
together are the input. Undecided particles are not kept unless asked (``undecided=Label.KEEP``,
``--undecided keep``), and then they go to the kept file instead.

The subsets keep the input's version, blocks, optics table, columns, row order and values
exactly; only the particle rows are filtered. On request the scores of a session are added as
columns (:func:`score_label`: ``gv`` and the name in CamelCase, ``nan`` where a score was not
computed, which RELION reads as a number). Provenance goes in ``#`` comment lines, which
RELION ignores. Nothing is written unless every destination can be written: both files are
written to temporaries and fsynced first, then renamed back to back, and a failure of either
(a full disk, an I/O error, SIGTERM, Ctrl+C) leaves neither, and existing files as they were. The
one residual: a SIGKILL or a power cut in the microseconds between the two renames leaves the
kept file without the rejected one.
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
from gan_viewer.io.atomic import atomic_paths, write_text
from gan_viewer.io.star import ParticleTable, star_text

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


def score_label(name: str) -> str:
    """The STAR label of a score: ``"agreement score"`` -> ``gvAgreementScore``; a name that is
    already a ``gv`` label (``gvScore``) stays as it is."""
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
    """

    kept: int
    rejected: int
    undecided: int
    kept_path: Path
    rejected_path: Path | None
    undecided_kept: bool = False


def kept_mask(labels: np.ndarray, undecided: Label = Label.REJECT) -> np.ndarray:
    """(n,) bool: the particles that go to the kept file (see the module docstring)."""
    labels = np.asarray(labels)
    if undecided not in (Label.KEEP, Label.REJECT):
        raise ValueError(f"undecided particles are kept or rejected, not {undecided!r}")
    kept = labels == Label.KEEP
    return kept | (labels == Label.UNDECIDED) if undecided == Label.KEEP else kept


def export_curated(table: ParticleTable, labels: np.ndarray, kept_path: str | os.PathLike,
                   rejected_path: str | os.PathLike | None = None, *, undecided: Label = Label.REJECT,
                   overwrite: bool = False, provenance: dict[str, str] | None = None,
                   scores: dict[str, np.ndarray] | None = None) -> ExportResult:
    """Write the kept particles of ``table`` (and, optionally, all the others) as STAR files.

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
    scores
        name -> (n,) float scores to add as columns (:func:`with_scores`), or None.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(table),):
        raise InputError(f"{labels.shape[0]} labels for {len(table)} particles", table.path)
    targets = [Path(kept_path)] + ([Path(rejected_path)] if rejected_path else [])
    if len(targets) == 2 and targets[0].resolve() == targets[1].resolve():
        raise InputError("kept and rejected outputs are the same file", targets[0])
    for target in targets:
        if table.path is not None and target.resolve() == Path(table.path).resolve():
            raise InputError("is the input file; choose another output name", target)
        if target.exists() and not overwrite:
            raise InputError("exists already; refusing to overwrite it (use --force)", target)
        if not target.parent.resolve().is_dir():
            raise InputError("folder does not exist", target.parent)
    counts = {lab: int((labels == lab).sum()) for lab in Label}
    kept = kept_mask(labels, undecided)
    if scores:
        table = with_scores(table, scores)
        provenance = {**(provenance or {}), "score columns": ", ".join(score_label(name) for name in scores)}
    with atomic_paths(targets, overwrite=overwrite) as temps:  # all or nothing: renamed together at the end
        for target, tmp, is_kept, rows in zip(targets, temps, (True, False),
                                              (np.flatnonzero(kept), np.flatnonzero(~kept))):
            comments = _provenance(table, is_kept, len(rows), counts, undecided, provenance or {})
            write_text(tmp, star_text(table.subset(rows), comments, target))
    log.info("kept %d of %d (labelled keep %d, reject %d, undecided %d: %s)", int(kept.sum()), len(table),
             counts[Label.KEEP], counts[Label.REJECT], counts[Label.UNDECIDED],
             "kept" if undecided == Label.KEEP else "not kept")
    return ExportResult(int(kept.sum()), int((~kept).sum()), counts[Label.UNDECIDED], targets[0],
                        targets[1] if len(targets) == 2 else None, undecided == Label.KEEP)


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
