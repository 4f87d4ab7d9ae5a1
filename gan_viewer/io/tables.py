"""Particle tables from either kind of metadata file: a RELION STAR file or a cryoSPARC ``.cs``."""

from __future__ import annotations

import os
from pathlib import Path

from gan_viewer.io.cryosparc import read_cryosparc
from gan_viewer.io.star import ParticleTable, read_star

__all__ = ["is_cryosparc", "read_table"]


def is_cryosparc(path: str | os.PathLike | None) -> bool:
    """True for a ``.cs`` path (the extension decides, as everywhere in gan-viewer)."""
    return path is not None and Path(path).suffix.lower() == ".cs"


def read_table(path: str | os.PathLike) -> ParticleTable:
    """Read a particle STAR file, or a cryoSPARC ``.cs`` file as a RELION 3.1 table.

    Parameters
    ----------
    path
        ``*.cs`` is read with :func:`~gan_viewer.io.cryosparc.read_cryosparc`, anything else
        with :func:`~gan_viewer.io.star.read_star`.

    Returns
    -------
    ParticleTable
        ``path`` set to the file read.

    Raises
    ------
    InputError
        When the file cannot be read as particles.
    """
    return read_cryosparc(path) if is_cryosparc(path) else read_star(path)
