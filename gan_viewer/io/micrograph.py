"""Particles boxed out of a whole micrograph, from a RELION coordinate STAR or an EMAN ``.box`` file.

Conventions
-----------
* Coordinates are particle centres ``(x, y)`` in micrograph pixels; the micrograph array is
  indexed ``data[y, x]`` (x = column, y = row of the MRC array, as RELION does).
* RELION coordinate STAR files (``rlnCoordinateX/Y``) hold centres. EMAN ``.box`` files hold the
  corner with the smallest x and y ("lower left") plus the box size, so centre = x + w/2, y + h/2.
* A window of side ``box`` around centre ``c`` (rounded half up) spans ``c - box//2`` to
  ``c - box//2 + box - 1``, so the centre sits at index ``box//2`` as in RELION's extraction.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.errors import InputError
from gan_viewer.io.checks import as_indices, assert_finite
from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import ParticleTable, read_star

log = logging.getLogger(__name__)

COORDINATE_LABELS = ("rlnCoordinateX", "rlnCoordinateY")
#: a single image with a side larger than this is a micrograph, whatever its file is called
MAX_PARTICLE_SIDE = 1024
BOX_COLUMNS = ("x", "y", "w", "h")
EDGE_MODES = ("pad", "flag", "skip")


def read_coordinates(path: str | os.PathLike) -> np.ndarray:
    """Particle centres ``(x, y)`` in pixels, shape (n, 2) float64; see :func:`load_coordinates`."""
    return load_coordinates(path)[0]


def load_coordinates(path: str | os.PathLike) -> tuple[np.ndarray, pd.DataFrame, ParticleTable | None]:
    """Read a coordinate file: RELION ``.star`` (3.0, or 3.1+ with optics) or EMAN ``.box``.

    Returns
    -------
    centres : (n, 2) float64 array
        ``(x, y)`` particle centres in micrograph pixels; n is 0 for an empty file.
    rows : DataFrame with n rows
        All STAR columns, or ``x, y, w, h`` for ``.box``.
    table : ParticleTable or None
        The STAR table; None for ``.box`` and empty files.

    Raises
    ------
    InputError
        When the file is missing, of unknown type, malformed or lacks coordinate columns.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".star", ".box"):
        raise InputError("unknown coordinate file type (expected .star or .box)", path)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path)
    if not path.read_bytes().strip():
        log.info("%s is empty: no particles", path)
        columns = BOX_COLUMNS if suffix == ".box" else COORDINATE_LABELS
        return np.zeros((0, 2)), pd.DataFrame(columns=list(columns)), None
    if suffix == ".box":
        rows = _read_box(path)
        centres = rows[["x", "y"]].to_numpy(np.float64) + rows[["w", "h"]].to_numpy(np.float64) / 2
        return centres, rows, None
    table = read_star(path)
    parts = table.particles
    missing = [label for label in COORDINATE_LABELS if label not in parts.columns]
    if missing:
        raise InputError(f"has no {' / '.join(missing)} column, so no particle coordinates", path)
    centres = parts[list(COORDINATE_LABELS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    _check_finite_rows(centres, path)
    return centres, parts, table


def _read_box(path: Path) -> pd.DataFrame:
    """EMAN ``.box`` rows ``x y w h [...]`` (extra columns ignored, ``#`` lines skipped)."""
    values = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            values.append([float(v) for v in fields[:4]])
        except ValueError:
            raise InputError(f"line {number}: expected numbers 'x y w h', got {line.strip()[:40]!r}",
                             path) from None
        if len(fields) < 4:
            raise InputError(f"line {number}: expected 4 columns 'x y w h', found {len(fields)}", path)
    rows = pd.DataFrame(np.array(values, np.float64).reshape(-1, 4), columns=list(BOX_COLUMNS))
    _check_finite_rows(rows.to_numpy(), path)
    if (rows[["w", "h"]].to_numpy() <= 0).any():
        raise InputError("box width or height is zero or negative", path)
    return rows


def _check_finite_rows(values: np.ndarray, path: Path) -> None:
    """Raise InputError naming the first row (1-based) with a NaN, missing or absurd (beyond
    10**9 px) value."""
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InputError(f"particle {int(bad.argmax()) + 1} has a missing or non-numeric coordinate", path)
    far = (np.abs(values) > 1e9).any(axis=1)
    if far.any():
        raise InputError(f"particle {int(far.argmax()) + 1} has a coordinate beyond 10**9 pixels", path)


class MicrographParticles:
    """Particles cut lazily out of one micrograph at the given coordinates (a ParticleSource).

    Parameters
    ----------
    micrograph_path
        2D MRC micrograph (or a stack holding exactly one image), read memory-mapped.
    coords_path
        RELION coordinate ``.star`` or EMAN ``.box`` file.
    box
        Side of the square windows in pixels, 1 .. min(micrograph height, width).
    edge
        Particles whose window leaves the micrograph: ``"pad"`` fills the outside with the
        micrograph mean, ``"flag"`` does the same (both expose ``at_edge``), ``"skip"`` drops them.
    scale
        Factor taking file coordinates to micrograph pixels (e.g. 0.5 when the coordinates were
        picked on a micrograph twice as large).

    Attributes
    ----------
    shape : (int, int)
        Micrograph (height, width) in pixels.
    coordinates : (n, 2) float64 array
        Centres ``(x, y)`` in micrograph pixels of the particles in this set.
    at_edge : (n,) bool array
        Whether each particle's window reaches outside the micrograph (all False with "skip").
    kept_rows : (n,) int64 array
        0-based row in the coordinate file of each particle.
    table : ParticleTable or None
        The STAR table with rows aligned to the particles (subset when "skip" dropped some).
    """

    def __init__(self, micrograph_path: str | os.PathLike, coords_path: str | os.PathLike,
                 box: int, edge: str = "pad", scale: float = 1.0) -> None:
        if edge not in EDGE_MODES:
            raise ValueError(f"edge must be one of {EDGE_MODES}, got {edge!r}")
        self.micrograph_path = Path(micrograph_path)
        self.path = Path(coords_path)
        if not (np.isfinite(scale) and scale > 0):
            raise InputError(f"coordinate scale must be a positive number, got {scale!r}", self.path)
        self.edge = edge
        centres, rows, table = load_coordinates(self.path)
        centres = centres * float(scale)
        self._stack = MrcStack(self.micrograph_path)
        self.shape: tuple[int, int] = self._stack.shape[1:]  # micrograph (height, width)
        try:
            if len(self._stack) != 1:
                raise InputError(f"holds {len(self._stack)} images or sections; expected one 2D micrograph",
                                 self.micrograph_path)
            self._box = _check_box(box, self.shape, self.micrograph_path)
            self._check_inside(centres)
        except InputError:
            self._stack.close()
            raise
        at_edge = self._window_leaves(centres)
        keep = ~at_edge if edge == "skip" else np.ones(len(centres), bool)
        self.kept_rows = np.flatnonzero(keep)
        self.coordinates = centres[keep]
        self.at_edge = at_edge[keep]
        self._rows = rows.iloc[self.kept_rows].reset_index(drop=True)
        self.table = table
        if table is not None and not keep.all():
            self.table = table.subset(self.kept_rows)
            self.table.path = table.path
        self._fill: float | None = None
        log.info("%s: %d particles from %s (%d at the edge, edge=%s)", self.micrograph_path.name,
                 len(self), self.path.name, int(at_edge.sum()), edge)

    def __len__(self) -> int:
        return len(self.coordinates)

    @property
    def box(self) -> int:
        """Window side in pixels."""
        return self._box

    @property
    def pixel_size(self) -> float | None:
        """Angstrom per pixel from the micrograph header, None when unset (0)."""
        return self._stack.pixel_size

    def images(self, indices: np.ndarray | list[int], check_finite: bool = True) -> np.ndarray:
        """Windows around the particles at 0-based ``indices``, in the order given.

        Returns
        -------
        images : (k, box, box) float32 array
        """
        idx = as_indices(indices, len(self), self.path)
        out = np.empty((idx.size, self._box, self._box), np.float32)
        for k, i in enumerate(idx):
            self._cut(self.coordinates[i], out[k])
        if check_finite:
            assert_finite(out, idx, self.micrograph_path)
        return out

    def metadata(self, index: int) -> dict[str, object]:
        """The particle's coordinate-file row plus ``at_edge``."""
        values = ((k, self._rows[k].iat[index]) for k in self._rows.columns)  # per column: keeps ints
        meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in values}
        meta["at_edge"] = bool(self.at_edge[index])
        return meta

    def close(self) -> None:
        self._stack.close()

    # -- windows -----------------------------------------------------------------------------
    def _corners(self, centres: np.ndarray) -> np.ndarray:
        """(n, 2) int (row, col) of each window's first pixel."""
        centre = np.floor(centres + 0.5).astype(np.int64)  # round half up, like RELION
        return centre[:, ::-1] - self._box // 2

    def _window_leaves(self, centres: np.ndarray) -> np.ndarray:
        """(n,) bool: the window around each centre reaches outside the micrograph."""
        first = self._corners(centres)
        return ((first < 0) | (first + self._box > np.array(self.shape))).any(axis=1)

    def _check_inside(self, centres: np.ndarray) -> None:
        h, w = self.shape
        out = (centres < 0).any(axis=1) | (centres[:, 0] >= w) | (centres[:, 1] >= h)
        if out.any():
            x, y = centres[out.argmax()]
            raise InputError(f"particle {int(out.argmax()) + 1} at ({x:g}, {y:g}) lies outside the {w} x {h} "
                             f"micrograph {self.micrograph_path.name} (wrong micrograph or scale?)", self.path)

    def _cut(self, centre: np.ndarray, out: np.ndarray) -> None:
        """Copy the (box, box) window around ``centre`` (x, y) into ``out``, padding outside."""
        (r0, c0), = self._corners(centre[None])
        h, w = self.shape
        rs, re, cs, ce = max(r0, 0), min(r0 + self._box, h), max(c0, 0), min(c0 + self._box, w)
        if (rs, re, cs, ce) != (r0, r0 + self._box, c0, c0 + self._box):
            out[:] = self._mean()
        out[rs - r0:re - r0, cs - c0:ce - c0] = self._stack.data[0, rs:re, cs:ce]

    def _mean(self) -> float:
        """Micrograph mean, read once and only when a window needs padding."""
        if self._fill is None:
            self._fill = float(np.mean(self._stack.data[0], dtype=np.float64))
        return self._fill


def is_micrograph_file(path: str | os.PathLike) -> bool:
    """Whether an MRC file holds one micrograph rather than particles.

    It does when it holds exactly one 2D image and that image is in a ``.mrc`` file (RELION
    writes micrographs as ``.mrc``, particle stacks as ``.mrcs``), is not square, or is larger
    than :data:`MAX_PARTICLE_SIDE`. Only the header is read; a file that is not a readable MRC
    file gives False (opening it as particles then says what is wrong).
    """
    path = Path(path)
    if path.suffix.lower() not in (".mrc", ".mrcs") or not path.is_file():
        return False
    try:
        with MrcStack(path) as stack:
            n, h, w = stack.shape
    except (InputError, OSError, ValueError):
        return False
    return n == 1 and (path.suffix.lower() == ".mrc" or h != w or max(h, w) > MAX_PARTICLE_SIDE)


def micrograph_header(path: str | os.PathLike) -> tuple[tuple[int, int], float | None]:
    """The (height, width) in pixels and the pixel size (Angstrom, None when unset) of a micrograph.

    Raises
    ------
    InputError
        When the file is not a readable MRC file holding exactly one 2D image.
    """
    with MrcStack(path) as stack:
        if len(stack) != 1:
            raise InputError(f"holds {len(stack)} images or sections; expected one 2D micrograph", path)
        return stack.shape[1:], stack.pixel_size


def read_micrograph(path: str | os.PathLike) -> np.ndarray:
    """The whole micrograph of an MRC file, (H, W) float32 (any supported mode)."""
    with MrcStack(path) as stack:
        if len(stack) != 1:
            raise InputError(f"holds {len(stack)} images or sections; expected one 2D micrograph", path)
        return np.asarray(stack.read(np.array([0]))[0], np.float32)


def _check_box(box: int, shape: tuple[int, int], path: Path) -> int:
    """``box`` as an int, if it is an integer from 1 to the micrograph's shorter side."""
    if isinstance(box, bool) or not isinstance(box, (int, np.integer)):
        raise InputError(f"box size {box!r} is not an integer number of pixels", path)
    if not 0 < int(box) <= min(shape):
        raise InputError(f"box size {box} px must be between 1 and the micrograph's "
                         f"{shape[1]} x {shape[0]} px", path)
    return int(box)
