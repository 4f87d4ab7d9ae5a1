"""Whether a particle STAR file's poses are 3D (a reference projection can be made) or 2D alignments.

RELION's Class2D writes ``run_itNNN_data.star`` with a new in-plane ``rlnAnglePsi`` and origins,
and leaves any ``rlnAngleRot`` / ``rlnAngleTilt`` the input had (from an older 3D job) as they
were (``MlOptimiser`` updates rot and tilt only when the reference is 3D). Projecting a map at
such angles mixes an old tilt with a new psi: the picture looks like a reference and is not one.
"""

from __future__ import annotations

import re
from pathlib import Path

from gan_viewer.io.star import ParticleTable

#: RELION writes data_model_general first; its head is enough
_MODEL_HEAD_BYTES = 65536
_DIMENSIONALITY = re.compile(rb"^\s*_rlnReferenceDimensionality\s+(\d+)", re.MULTILINE)


def two_d_alignment(table: ParticleTable) -> str | None:
    """Why ``table``'s poses are 2D alignments (e.g. a Class2D ``_data.star``), or None.

    Evidence, strongest first: the ``_model.star`` beside a ``_data.star`` says
    ``rlnReferenceDimensionality 2``; the file is in a ``Class2D`` job folder; the particles have
    a class number and a psi but no rot or tilt.
    """
    path = None if table.path is None else Path(table.path)
    if path is not None and path.name.endswith("_data.star"):
        model = path.with_name(path.name[:-len("_data.star")] + "_model.star")
        dimensionality = _reference_dimensionality(model)
        if dimensionality is not None:
            return f"2D alignments ({model.name}: rlnReferenceDimensionality 2)" if dimensionality == 2 else None
    if path is not None and "Class2D" in path.parts[:-1]:
        return "2D alignments (a Class2D job's file)"
    columns = set(table.columns)
    if {"rlnClassNumber", "rlnAnglePsi"} <= columns and not {"rlnAngleRot", "rlnAngleTilt"} & columns:
        return "2D alignments (class numbers and psi, no rot or tilt)"
    return None


def _reference_dimensionality(model: Path) -> int | None:
    try:
        with open(model, "rb") as handle:
            head = handle.read(_MODEL_HEAD_BYTES)
    except OSError:
        return None
    match = _DIMENSIONALITY.search(head)
    return None if match is None else int(match[1])
