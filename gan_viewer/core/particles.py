"""Particle sets: anything that can hand out particle images by index.

A :class:`ParticleSource` is what the inspector, the denoiser and the exporter read from:
``len(source)``, ``source.images(indices) -> (n, h, w) float32`` in the order asked, and
``source.metadata(i)``. Implementations here: a STAR file with its stacks, and a bare stack.
Micrographs with coordinates: :mod:`gan_viewer.core.micrograph_particles`.
"""

from __future__ import annotations

import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from gan_viewer.errors import InputError
from gan_viewer.io.checks import as_indices, assert_finite
from gan_viewer.io.cryosparc import read_cryosparc
from gan_viewer.io.image_name import parse_image_names, resolve_stack
from gan_viewer.io.micrograph import is_picks_table
from gan_viewer.core.micrograph_particles import MicrographParticles
from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import ParticleTable, read_star

log = logging.getLogger(__name__)


@runtime_checkable
class ParticleSource(Protocol):
    """What every particle set offers."""

    path: Path | None
    table: ParticleTable | None

    def __len__(self) -> int: ...

    @property
    def box(self) -> int:
        """Image side in pixels (images are square)."""

    @property
    def pixel_size(self) -> float | None:
        """Angstrom per pixel of the first particle, or None when nothing says."""

    def images(self, indices: np.ndarray | list[int], check_finite: bool = True) -> np.ndarray:
        """Images at 0-based ``indices`` in the order given, shape (k, box, box) float32."""

    def metadata(self, index: int) -> dict[str, object]:
        """Every column of one particle's row (an empty dict when there is no table)."""


class StackParticles:
    """A bare ``.mrcs`` stack as a particle set (no metadata)."""

    table = None

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.stack = MrcStack(self.path)
        n, h, w = self.stack.shape
        if h != w:
            raise InputError(f"images are {w} x {h}; particles must be square", self.path)

    def __len__(self) -> int:
        return len(self.stack)

    @property
    def box(self) -> int:
        return self.stack.shape[1]

    @property
    def pixel_size(self) -> float | None:
        return self.stack.pixel_size

    def images(self, indices: np.ndarray | list[int], check_finite: bool = True) -> np.ndarray:
        idx = as_indices(indices, len(self), self.path)
        out = self.stack.read(idx)
        if check_finite:
            assert_finite(out, idx, self.path)
        return out

    def metadata(self, index: int) -> dict[str, object]:
        return {"index": index + 1, "stack": str(self.path)}


class StarParticles:
    """Particles named by a STAR file (``N@stack.mrcs``), read lazily from their stacks.

    Parameters
    ----------
    table
        The STAR file's table (see :func:`gan_viewer.io.star.read_star`).
    project_dir
        RELION project directory to resolve relative stack paths against; by default the
        STAR file's folder and its parents are tried.
    max_open
        How many stacks to keep open at once (a 1,000,000-particle set spans thousands).
    require_images
        Raise InputError when the file gives no box and none of its stacks is found; with False
        the box is then 0 (``gan-viewer info`` describes such a file, naming the missing stacks).
    """

    def __init__(self, table: ParticleTable, project_dir: str | os.PathLike | None = None,
                 max_open: int = 256, require_images: bool = True) -> None:
        if "rlnImageName" not in table.particles.columns:
            raise InputError("has no rlnImageName column, so no particle images", table.path)
        self.table = table
        self.path = table.path
        self.project_dir = project_dir
        self._in_stack, stacks, names = parse_image_names(table.particles["rlnImageName"], table.path)
        self._stack_of = stacks.astype(np.int32)  # (n,) which stack each particle is in
        self.stack_names: list[str] = names
        self.stack_paths: list[Path | None] = [resolve_stack(s, table.path, project_dir) for s in names]
        self._open: OrderedDict[int, MrcStack] = OrderedDict()
        self._max_open = max_open
        self._box = self._first_box(require_images)

    @classmethod
    def from_file(cls, path: str | os.PathLike, project_dir: str | os.PathLike | None = None) -> StarParticles:
        return cls(read_star(path), project_dir)

    def __len__(self) -> int:
        return len(self._stack_of)

    @property
    def missing_stacks(self) -> list[str]:
        """Stack paths as written in the STAR file that could not be found."""
        return [name for name, path in zip(self.stack_names, self.stack_paths) if path is None]

    @property
    def box(self) -> int:
        return self._box

    @property
    def pixel_size(self) -> float | None:
        apix = self.table.pixel_size()
        if apix is not None and len(apix):
            return float(apix[0])
        first = next((i for i, p in enumerate(self.stack_paths) if p is not None), None)
        return None if first is None else self._stack(first).pixel_size

    def images(self, indices: np.ndarray | list[int], check_finite: bool = True) -> np.ndarray:
        idx = as_indices(indices, len(self), self.path)
        out = np.empty((idx.size, self._box, self._box), np.float32)
        stacks = self._stack_of[idx]
        for sid in np.unique(stacks):
            where = np.flatnonzero(stacks == sid)
            out[where] = self._stack(int(sid)).read(self._in_stack[idx[where]])
        if check_finite:
            assert_finite(out, idx, self.path)
        return out

    def metadata(self, index: int) -> dict[str, object]:
        row = self.table.particles.iloc[index]
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}

    def origins_px(self) -> np.ndarray:
        """(n, 2) particle origins in pixels, using the stack header's pixel size as fallback."""
        return self.table.origins_px(default_apix=self.pixel_size)

    # -- stacks ----------------------------------------------------------------------------
    def _stack(self, sid: int) -> MrcStack:
        stack = self._open.get(sid)
        if stack is not None:
            self._open.move_to_end(sid)
            return stack
        path = self.stack_paths[sid]
        if path is None:
            raise InputError(f"stack {self.stack_names[sid]!r} named in the STAR file was not found "
                             "(try --project-dir)", self.path)
        stack = MrcStack(path)
        if stack.shape[1:] != (self._box, self._box):
            raise InputError(f"images are {stack.shape[2]} x {stack.shape[1]}, expected {self._box} px", path)
        self._open[sid] = stack
        if len(self._open) > self._max_open:
            self._open.popitem(last=False)[1].close()
        return stack

    def _first_box(self, require_images: bool = True) -> int:
        box = self.table.box_size()
        if box is not None and len(box):
            return int(box[0])
        first = next((i for i, p in enumerate(self.stack_paths) if p is not None), None)
        if first is None:
            if not len(self) or not require_images:
                return 0
            raise InputError(f"none of the {len(self.stack_names)} stack(s) it names was found, "
                             f"e.g. {self.stack_names[0]!r} (try --project-dir)", self.path)
        stack = MrcStack(self.stack_paths[first])
        h, w = stack.shape[1:]
        stack.close()
        if h != w:
            raise InputError(f"images are {w} x {h}; particles must be square", self.stack_paths[first])
        return h


def open_particles(path: str | os.PathLike, project_dir: str | os.PathLike | None = None, *,
                   coords: str | os.PathLike | None = None, box: int | None = None,
                   edge: str = "pad", require_images: bool = True,
                   coords_scale: float | None = None) -> ParticleSource:
    """Open a particle set by its extension: STAR, bare stack, cryoSPARC ``.cs``, or a
    micrograph with a coordinate file (``coords``: ``.star``, ``.box`` or Topaz's picks) boxed at ``box`` px,
    its coordinates multiplied by ``coords_scale`` (None: 1; see :class:`MicrographParticles`).
    ``require_images``: as for :class:`StarParticles` (False: a table none of whose stacks is
    found opens, with box 0)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if coords is not None:
        if box is None:
            raise InputError("a micrograph with coordinates needs a box size (--box)", coords)
        return MicrographParticles(path, coords, box, edge=edge, scale=1.0 if coords_scale is None else coords_scale)
    if suffix == ".star":
        return StarParticles(read_star(path), project_dir, require_images=require_images)
    if suffix in (".mrcs", ".mrc", ".st"):
        return StackParticles(path)
    if suffix == ".cs":
        return StarParticles(read_cryosparc(path), project_dir, require_images=require_images)
    if path.is_file() and is_picks_table(path):
        raise InputError("is a table of picks (Topaz's), not particles: open a micrograph it names with "
                         f"--coords {path.name} --box N", path)
    raise InputError("unknown particle file type (expected .star, .mrcs, .mrc or .cs)", path)


def pixel_sizes(source: ParticleSource, override: float | None = None) -> np.ndarray | None:
    """(n,) pixel size of every particle in Angstrom: ``override`` when given, else each
    particle's optics group (RELION 3.1+) or row, else the stack header's; None when nothing says.

    Optics groups can differ (a data set of 1.24 and 1.25 A/px is common): values are rounded to
    1e-4 A so that equal sizes group exactly.
    """
    n = len(source)
    if override is not None:
        return np.full(n, float(override))
    table = getattr(source, "table", None)
    apix = None if table is None else table.pixel_size()
    if apix is not None:
        return np.round(apix, 4)
    first = source.pixel_size
    return None if first is None else np.full(n, round(float(first), 4))


def noise_groups(source: ParticleSource, apix: np.ndarray | None) -> np.ndarray:
    """(n,) int64 label per particle: which noise spectrum it is whitened with, one per optics
    group and pixel size (:func:`pixel_sizes`), as ``gan-viewer score`` groups them; all 0 for a
    source without optics groups at one pixel size. Optics groups of one pixel size can still
    differ in noise (detectors, EPU's beam-shift groups), so each gets its own spectrum."""
    n = len(source)
    table = getattr(source, "table", None)
    groups = np.zeros(n, np.int64) if table is None else table.optics_groups()
    sizes = np.full(n, -1.0) if apix is None else np.where(np.isfinite(apix), apix, -1.0)
    # one-dimensional uniques (a 2-column np.unique takes 3 s for a million particles; this 0.1 s)
    size_ids = np.unique(sizes, return_inverse=True)[1].reshape(n)
    group_values, group_ids = np.unique(groups, return_inverse=True)
    combined = size_ids.astype(np.int64) * len(group_values) + group_ids.reshape(n)
    return np.unique(combined, return_inverse=True)[1].reshape(n).astype(np.int64)
