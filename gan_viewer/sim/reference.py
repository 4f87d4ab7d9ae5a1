"""A reference volume at the particles' sampling, from a map or an atomic model."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import torch

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.particles import StarParticles
from gan_viewer.errors import InputError
from gan_viewer.io.maps import load_map
from gan_viewer.io.mrc import StackWriter
from gan_viewer.io.star import ParticleTable
from gan_viewer.sim.project import Projector
from gan_viewer.sim.volume import resample_map

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")


def is_model(path: str | os.PathLike) -> bool:
    """True for atomic model files (``.pdb``, ``.cif``, ... gzipped or not)."""
    name = Path(path).name.lower().removesuffix(".gz")
    return name.endswith(MODEL_SUFFIXES)


def map_at(path: str | os.PathLike, apix: float | None, box: int | None, *,
           allow_pad: bool = False, hint: str = "choose a smaller --box") -> tuple[np.ndarray, float]:
    """Load a map and resample it to ``apix`` and ``box``.

    A map without a pixel size in its header takes ``apix`` (the particles'); with neither, the
    map's voxels are taken as the particles' pixels. ``box`` defaults to the map's extent at
    ``apix``. With ``allow_pad`` a box larger than the map is zero-padded instead of refused;
    without it the refusal ends with ``hint`` (what the caller's user can do about it).

    Returns
    -------
    volume : (box, box, box) float32 array indexed [z, y, x]
    apix : the pixel size of ``volume`` in Angstrom

    Raises
    ------
    InputError
        When the box asked for is larger than the map can fill.
    """
    volume, map_apix = load_map(path)
    d = volume.shape[0]
    if map_apix is None:
        if apix is None:
            log.warning("%s has no pixel size and none was given: taking 1 A per voxel", path)
        map_apix = apix or 1.0
    apix = apix or map_apix
    if not (math.isfinite(apix) and apix > 0):
        raise InputError(f"pixel size must be positive, got {apix}")
    extent = d * map_apix
    box = box or max(2, round(extent / apix))
    if box * apix > extent * (1 + 1e-3) + apix and not allow_pad:
        raise InputError(f"a {box} px box at {apix:g} A/px ({box * apix:.1f} A) is larger than the map can "
                         f"fill ({extent:.1f} A: {d} voxels at {map_apix:g} A); {hint}", path)
    if box < 2:
        raise InputError(f"box must be at least 2 pixels, got {box}")
    if (d, map_apix) != (box, apix):
        volume = resample_map(volume, map_apix, apix, box)
    return volume, apix


def volume_from(path: str | os.PathLike, apix: float | None, box: int | None, *,
                allow_pad: bool = False) -> tuple[np.ndarray, float]:
    """A map (:func:`map_at`) or an atomic model as a volume.

    A model is rendered at ``apix`` (default 1.5 A), low-passed to the Nyquist resolution
    ``2 * apix`` so that projections do not alias, in ``box`` (default: what the model needs).
    """
    if not is_model(path):
        return map_at(path, apix, box, allow_pad=allow_pad)
    from gan_viewer.sim.atomic import model_to_map, suggested_box

    apix = apix or 1.5
    box = box or suggested_box(path, apix)
    return model_to_map(path, apix, box, resolution=2 * apix), apix


def particle_sampling(table: ParticleTable, project_dir: str | os.PathLike | None = None
                      ) -> tuple[np.ndarray | None, np.ndarray]:
    """Pixel size (n,) or None when nothing says, and box (n,) of every particle.

    The STAR's optics come first; a RELION 3.0 file without them is completed from the header
    of its stacks.
    """
    apix, box = table.pixel_size(), table.box_size()
    if apix is None or box is None:
        try:
            source = StarParticles(table, project_dir)
        except InputError as exc:
            raise InputError(f"gives no {'pixel size' if apix is None else 'box size'} and its stacks cannot be "
                             f"read for one ({exc})", table.path) from exc
        box = np.full(len(table), source.box) if box is None else box
        if apix is None and source.pixel_size is not None:
            apix = np.full(len(table), source.pixel_size)
    return apix, box


def project_table(map_path: str | os.PathLike, table: ParticleTable, out: str | os.PathLike, *,
                  ctf: bool = False, device: str = "cpu", overwrite: bool = False,
                  project_dir: str | os.PathLike | None = None, relion_odd_centre: bool = False,
                  chunk: int = 512) -> int:
    """Write the reference projection of every particle of ``table`` to the stack ``out``.

    See :func:`iter_projections`; the stack has the particles' box and the first one's pixel size.

    Returns
    -------
    The number of projections written.
    """
    apix, box = _projection_sampling(table, project_dir)
    n, size = len(table), int(box[0])
    with StackWriter(out, (n, size, size), None if apix is None else float(apix[0]), overwrite=overwrite) as writer:
        for rows, images in iter_projections(map_path, table, ctf=ctf, device=device, project_dir=project_dir,
                                             relion_odd_centre=relion_odd_centre, chunk=chunk):
            writer.write_at(rows, images)
    log.info("%d reference projections of %s -> %s", n, map_path, out)
    return n


def iter_projections(map_path: str | os.PathLike, table: ParticleTable, *, ctf: bool = False, device: str = "cpu",
                     project_dir: str | os.PathLike | None = None, relion_odd_centre: bool = False,
                     chunk: int = 512, rows: np.ndarray | None = None):
    """The reference projections of the particles of ``table`` at their angles and origins, in chunks.

    Particles are grouped by pixel size (optics group); the map is resampled once per group to
    its pixel size and the particles' box (zero-padded when that box is larger than the map).
    With ``relion_odd_centre`` odd boxes are centred like ``relion_project`` output (see
    :meth:`Projector.project`).

    Parameters
    ----------
    rows
        0-based particles to project (default: all).

    Yields
    ------
    rows : (k,) int64 array
        Which particles of ``table`` this chunk holds.
    images : (k, box, box) float32 array
        Their projections, multiplied by their CTF with ``ctf``.

    Raises
    ------
    InputError
        Before the first chunk: no angles, several boxes, or a CTF without a pixel size.
    """
    eulers = table.eulers()
    if eulers is None:
        raise InputError("has no angles (rlnAngleRot/rlnAngleTilt/rlnAnglePsi); cannot project", table.path)
    apix, box = _projection_sampling(table, project_dir)
    origins = table.origins_px(default_apix=None if apix is None else float(apix[0]))
    params = CtfParams.from_table(table) if ctf else None
    if params is not None:
        from gan_viewer.sim.ctf import apply_ctf  # torch-ctf: imported only when a CTF is asked for
    if params is not None and apix is None:
        raise InputError("a CTF needs the pixel size, which neither the STAR nor its stacks give", table.path)
    keys = np.zeros(len(table)) if apix is None else apix
    wanted = np.arange(len(table)) if rows is None else np.asarray(rows, np.int64)
    size = int(box[0])
    for value in np.unique(keys[wanted]):
        group_rows = wanted[keys[wanted] == value]
        group = None if apix is None else float(value)
        volume, group_apix = volume_from(map_path, group, size, allow_pad=True)
        projector = Projector(volume, device=device)
        for lo in range(0, len(group_rows), chunk):
            part = group_rows[lo:lo + chunk]
            images = projector.project(eulers[part], origins[part], relion_odd_centre=relion_odd_centre)
            if params is not None:
                with torch.inference_mode():
                    images = apply_ctf(torch.from_numpy(images), params.take(part), group_apix).numpy()
            yield part, images


def _projection_sampling(table: ParticleTable, project_dir) -> tuple[np.ndarray | None, np.ndarray]:
    """:func:`particle_sampling`, refusing several boxes (one stack cannot hold them)."""
    apix, box = particle_sampling(table, project_dir)
    if len(np.unique(box)) > 1:
        raise InputError(f"optics groups have different boxes {np.unique(box).tolist()}; one stack cannot "
                         "hold them (split the STAR by optics group)", table.path)
    return apix, box
