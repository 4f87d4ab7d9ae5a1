"""Particles boxed out of a whole micrograph at picked coordinates: a particle set like a STAR's.

The coordinate files and the micrograph are read by :mod:`gan_viewer.io.micrograph`, whose
docstring gives the conventions (centres, ``.box`` corners, the window around a centre).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.errors import InputError
from gan_viewer.io.checks import as_indices, assert_finite
from gan_viewer.io.micrograph import (COORDINATE_LABELS, EDGE_MODES, TOPAZ_COLUMNS, binning_hint, check_box,
                                      check_scale, load_coordinates, shrink_hint)
from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import ParticleTable, table_from_dataframe

log = logging.getLogger(__name__)


#: pixel-size labels of a coordinate STAR: the pixel size of the micrograph the picks refer to
PIXEL_SIZE_LABELS = ("rlnMicrographPixelSize", "rlnImagePixelSize")


def rescaled_pixel_sizes(frame: pd.DataFrame, scale: float) -> pd.DataFrame:
    """``frame`` (a STAR loop) with its pixel sizes for coordinates multiplied by ``scale``: the
    pixel sizes divided by it, and RELION 3.0's magnification multiplied by it (a copy; the
    frame is returned as it is when it has none of them).

    >>> rescaled_pixel_sizes(pd.DataFrame({"rlnMicrographPixelSize": [4.0]}), 4.0)["rlnMicrographPixelSize"].tolist()
    [1.0]
    """
    labels = [k for k in (*PIXEL_SIZE_LABELS, "rlnMagnification") if k in frame.columns]
    if not labels:
        return frame
    frame = frame.copy()
    for label in labels:
        values = pd.to_numeric(frame[label], errors="coerce")
        frame[label] = values * scale if label == "rlnMagnification" else values / scale
    return frame


def curation_table(source) -> ParticleTable | None:
    """The table a curated subset of ``source`` is written from: a STAR or cryoSPARC set's own,
    a micrograph's picks as a RELION coordinate table (:meth:`MicrographParticles.coordinate_table`),
    None for a bare stack."""
    if isinstance(source, MicrographParticles):
        return source.coordinate_table()
    return getattr(source, "table", None)


class MicrographParticles:
    """Particles cut lazily out of one micrograph at the given coordinates (a ParticleSource).

    Parameters
    ----------
    micrograph_path
        2D MRC micrograph (or a stack holding exactly one image), read memory-mapped.
    coords_path
        RELION coordinate ``.star``, EMAN ``.box`` file or Topaz picks table (its rows of this
        micrograph).
    box
        Side of the square windows in pixels, 1 .. min(micrograph height, width).
    edge
        Particles whose window leaves the micrograph: ``"pad"`` fills the outside with the
        micrograph mean, ``"flag"`` does the same (both expose ``at_edge``), ``"skip"`` drops them.
    scale
        Factor taking file coordinates to micrograph pixels (e.g. 2 for picks made on a copy
        binned by 2, 0.5 when they were picked on a micrograph twice as large); the command
        line's ``--coords-scale``.

    Attributes
    ----------
    scale : float
        The coordinate scale applied.
    suggested_scale : float or None
        The scale the picks look made at when they all lie in the micrograph's top-left part
        (:func:`~gan_viewer.io.micrograph.binning_hint`), else None.
    scale_warning : str or None
        What to tell the user when ``suggested_scale`` is set (one line, with the option to try).
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
    rows : DataFrame
        The coordinate file's columns, one row per particle (a STAR's, ``.box``'s ``x y w h``,
        Topaz's ``image_name x_coord y_coord score``).
    session_key : Path
        The path a curation session is named after (:func:`gan_viewer.core.session.fingerprint`
        and the session file): the coordinate file, or for a file that names its micrographs
        (Topaz's table of many) ``<file>.<micrograph name>``, so each micrograph's decisions stay
        its own.
    """

    def __init__(self, micrograph_path: str | os.PathLike, coords_path: str | os.PathLike,
                 box: int, edge: str = "pad", scale: float = 1.0) -> None:
        if edge not in EDGE_MODES:
            raise ValueError(f"edge must be one of {EDGE_MODES}, got {edge!r}")
        self.micrograph_path = Path(micrograph_path)
        self.path = Path(coords_path)
        self.scale = check_scale(scale, self.path)
        self.edge = edge
        centres, rows, table = load_coordinates(self.path, self.micrograph_path)
        centres = centres * self.scale
        self._stack = MrcStack(self.micrograph_path)
        self.shape: tuple[int, int] = self._stack.shape[1:]  # micrograph (height, width)
        try:
            if len(self._stack) != 1:
                raise InputError(f"holds {len(self._stack)} images or sections; expected one 2D micrograph",
                                 self.micrograph_path)
            self._box = check_box(box, self.shape, self.micrograph_path)
            self._check_inside(centres)
        except InputError:
            self._stack.close()
            raise
        self.suggested_scale, self.scale_warning = self._scale_hint(centres)
        at_edge = self._window_leaves(centres)
        keep = ~at_edge if edge == "skip" else np.ones(len(centres), bool)
        self.kept_rows = np.flatnonzero(keep)
        self.coordinates = centres[keep]
        self.at_edge = at_edge[keep]
        self.rows = rows.iloc[self.kept_rows].reset_index(drop=True)
        self.table = table
        self.names_micrographs = TOPAZ_COLUMNS[0] in rows.columns
        self.session_key = (self.path.with_name(f"{self.path.name}.{self.micrograph_path.stem}")
                            if self.names_micrographs else self.path)
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
        values = ((k, self.rows[k].iat[index]) for k in self.rows.columns)  # per column: keeps ints
        meta = {k: (v.item() if hasattr(v, "item") else v) for k, v in values}
        meta["at_edge"] = bool(self.at_edge[index])
        return meta

    def coordinate_table(self) -> ParticleTable:
        """The picks as a RELION coordinate STAR table (what RELION's Extract reads), one row per
        particle in this set's order: the STAR's own table when the coordinates came from one
        (its ``rlnCoordinateX/Y`` scaled by a coordinate scale other than 1); else
        ``rlnCoordinateX/Y``, the centres in micrograph pixels (a coordinate scale applied), and
        from Topaz's picks ``rlnAutopickFigureOfMerit``, its score."""
        if self.table is not None:
            return self._scaled_table()
        columns = {"rlnCoordinateX": self.coordinates[:, 0], "rlnCoordinateY": self.coordinates[:, 1]}
        if "score" in self.rows.columns:
            columns["rlnAutopickFigureOfMerit"] = pd.to_numeric(self.rows["score"], errors="coerce").to_numpy()
        table = table_from_dataframe(pd.DataFrame(columns))
        table.path = self.path
        return table

    def close(self) -> None:
        self._stack.close()

    def _scaled_table(self) -> ParticleTable:
        """The STAR's own table, with the centres in micrograph pixels when a scale is applied, and
        its pixel sizes (which described the copy the picks were made on) those of these pixels."""
        if self.scale == 1:
            return self.table
        table = self.table.subset(np.arange(len(self)))
        table.particles[list(COORDINATE_LABELS)] = self.coordinates
        for block in (table.particles_block, table.optics_block):
            if block is not None:
                table.blocks[block] = rescaled_pixel_sizes(table.blocks[block], self.scale)
        table.path = self.table.path
        return table

    def _scale_hint(self, centres: np.ndarray) -> tuple[float | None, str | None]:
        """(suggested scale, warning) when all picks lie in the micrograph's top-left part, else (None, None)."""
        binning = binning_hint(centres, self.shape)
        if binning is None:
            return None, None
        h, w = self.shape
        share = math.ceil(100 * max(centres[:, 0].max() / w, centres[:, 1].max() / h))
        suggested = self.scale * binning
        return suggested, (f"all {len(centres)} picks of {self.path.name} lie in the top-left {share} % of the "
                           f"{w} x {h} px micrograph {self.micrograph_path.name}; picked on a copy binned by "
                           f"{binning}? try --coords-scale {suggested:g}")

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
            shrink = shrink_hint(centres, self.shape)
            hint = "" if shrink is None else f" try --coords-scale {self.scale / shrink:g}"
            raise InputError(f"particle {int(out.argmax()) + 1} at ({x:g}, {y:g}) lies outside the {w} x {h} "
                             f"micrograph {self.micrograph_path.name} (wrong micrograph or scale?{hint})", self.path)

    def _cut(self, centre: np.ndarray, out: np.ndarray) -> None:
        """Copy the (box, box) window around ``centre`` (x, y) into ``out``, padding outside."""
        (r0, c0), = self._corners(centre[None])
        h, w = self.shape
        rs, re, cs, ce = max(r0, 0), min(r0 + self._box, h), max(c0, 0), min(c0 + self._box, w)
        if (rs, re, cs, ce) != (r0, r0 + self._box, c0, c0 + self._box):
            out[:] = self._mean()
        if re > rs and ce > cs:
            out[rs - r0:re - r0, cs - c0:ce - c0] = self._stack.read_rows(0, (rs, re), (cs, ce))

    def _mean(self) -> float:
        """Micrograph mean, read once and only when a window needs padding."""
        if self._fill is None:
            self._fill = float(np.mean(self._stack.read(np.array([0]))[0], dtype=np.float64))
        return self._fill
