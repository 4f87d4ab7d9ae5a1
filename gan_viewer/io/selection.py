"""RELION's Select-job selection file, ``backup_selection.star``: one ``rlnSelected`` per input row.

RELION 3.1's Select job (``relion_display``, ``multiViewerCanvas::saveBackupSelection``) writes it
beside its ``particles.star``, in the order of the input particles, as an unnamed table::

    # version 30001
    data_
    loop_
    _rlnSelected #1
               1
               0

0 is "not selected"; 1 to 6 are the display's selection colours (1 unless the user picked
another). RELION reloads the file only when it has one row per input particle, and so do we.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.errors import InputError
from gan_viewer.io.star import read_star

#: the label RELION writes, and the largest selection colour its display offers
LABEL = "rlnSelected"
MAX_COLOUR = 6


def read_selection(path: str | os.PathLike, n: int | None = None, particles: object = None) -> np.ndarray:
    """The ``rlnSelected`` values (n,) int8 of a selection file, in input-particle order.

    Parameters
    ----------
    path
        The selection file.
    n
        The number of input particles; a file with another row count is refused.
    particles
        The particle file it must match (named in that error).

    Raises
    ------
    InputError
        When the file is not a STAR file, has no ``rlnSelected`` loop, holds a value that is not
        an integer in 0..6, or has a row count other than ``n``.
    """
    path = Path(path)
    table = read_star(path, require_particles=False)
    loop = next((b for b in table.blocks.values() if isinstance(b, pd.DataFrame) and LABEL in b.columns), None)
    if loop is None:
        raise InputError(f"not a selection file: no _{LABEL} loop (RELION's Select job writes "
                         "backup_selection.star)", path)
    values = pd.to_numeric(loop[LABEL], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values > MAX_COLOUR)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"row {row + 1}: _{LABEL} {loop[LABEL].iloc[row]!r} is not 0 (not selected) "
                         f"or a selection colour 1-{MAX_COLOUR}", path)
    if n is not None and len(values) != n:
        other = f"{particles} has" if particles is not None else "the particle file has"
        raise InputError(f"has {len(values)} rows but {other} {n} particles; a selection file has one row "
                         "per input particle, in order", path)
    return values.astype(np.int8)


def selection_text(selected: np.ndarray, comments: list[str] | tuple[str, ...] = ()) -> str:
    """The file RELION writes for ``selected`` (n,) bool or int (0 not selected, 1-6 selected):
    ``comments`` as ``#`` lines first (RELION ignores them)."""
    values = np.asarray(selected).astype(np.int64)
    lines = [f"# {c}" for c in comments] + ["", "# version 30001", "", "data_", "", "loop_ ", f"_{LABEL} #1 "]
    lines += [f"{v:12d} " for v in values.tolist()]
    return "\n".join(lines) + "\n\n"
