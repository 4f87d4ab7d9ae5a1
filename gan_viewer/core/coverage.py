"""Angular coverage while curating: how many particles are left per view direction.

A particle's view direction is given by its first two Euler angles (rot, tilt; psi only turns
the image in its plane). Directions are counted in equal-area cells: :data:`ROT_BINS` equal
steps of rot times :data:`TILT_BINS` equal steps of cos(tilt), the Lambert cylindrical
equal-area map of the sphere, so every cell holds the same share of a uniform set.

:class:`Coverage` keeps the counts per cell and label and follows the curation one decision at a
time (:meth:`Coverage.update` costs as much as the decision has particles, not the set), so the
view can be redrawn after every keep or reject. A cell is *emptied* when it has particles but
every one of them is rejected: rejecting has removed a view direction from the set, which a
reconstruction then lacks. :meth:`Coverage.would_empty` says which cells a rejection would empty,
before it is made.
"""

from __future__ import annotations

import numpy as np

from gan_viewer.core.curation import Label

ROT_BINS = 24
TILT_BINS = 12


def direction_cells(rot: np.ndarray, tilt: np.ndarray, rot_bins: int = ROT_BINS,
                    tilt_bins: int = TILT_BINS) -> np.ndarray:
    """(n,) int64 cell of each direction: ``row * rot_bins + column``, row 0 at tilt 0 (rows equal
    steps of cos(tilt)), column 0 at rot -180 degrees; -1 where an angle is not a number."""
    rot, tilt = np.asarray(rot, np.float64), np.asarray(tilt, np.float64)
    known = np.isfinite(rot) & np.isfinite(tilt)
    u = np.cos(np.deg2rad(np.where(known, tilt, 0.0)))
    row = np.clip(np.floor((1.0 - u) / 2.0 * tilt_bins), 0, tilt_bins - 1).astype(np.int64)
    wrapped = np.mod(np.where(known, rot, 0.0) + 180.0, 360.0)
    column = np.clip(np.floor(wrapped / 360.0 * rot_bins), 0, rot_bins - 1).astype(np.int64)
    return np.where(known, row * rot_bins + column, -1)


def tilt_edges(tilt_bins: int = TILT_BINS) -> np.ndarray:
    """(tilt_bins + 1,) tilt in degrees at the cell rows' edges (equal steps of cos(tilt))."""
    return np.rad2deg(np.arccos(1.0 - 2.0 * np.arange(tilt_bins + 1) / tilt_bins))


class Coverage:
    """Particles per view-direction cell and label, kept up to date decision by decision.

    Parameters
    ----------
    eulers
        (n, 3) RELION angles (rot, tilt, psi) in degrees.
    labels
        (n,) int8 current labels.
    """

    def __init__(self, eulers: np.ndarray, labels: np.ndarray, rot_bins: int = ROT_BINS,
                 tilt_bins: int = TILT_BINS) -> None:
        eulers = np.asarray(eulers, np.float64)
        self.rot_bins, self.tilt_bins = rot_bins, tilt_bins
        self.cells = direction_cells(eulers[:, 0], eulers[:, 1], rot_bins, tilt_bins)
        self._known = self.cells >= 0
        self.labels = np.asarray(labels, np.int8).copy()
        self.counts = np.zeros((len(Label), rot_bins * tilt_bins), np.int64)  # [label, cell]
        self.set_labels(labels)

    @property
    def size(self) -> int:
        return self.rot_bins * self.tilt_bins

    def set_labels(self, labels: np.ndarray) -> None:
        """Count everything again from ``labels`` (n,)."""
        self.labels = np.asarray(labels, np.int8).copy()
        k = self._known
        self.counts[:] = 0
        np.add.at(self.counts, (self.labels[k].astype(np.int64), self.cells[k]), 1)

    def update(self, indices: np.ndarray, labels: np.ndarray) -> None:
        """Particles ``indices`` (k,) now have ``labels`` (k,): move them between counts."""
        idx = np.asarray(indices, np.int64)
        new = np.asarray(labels, np.int8)
        k = self._known[idx]
        idx, new = idx[k], new[k]
        np.add.at(self.counts, (self.labels[idx].astype(np.int64), self.cells[idx]), -1)
        np.add.at(self.counts, (new.astype(np.int64), self.cells[idx]), 1)
        self.labels[idx] = new

    def total(self) -> np.ndarray:
        """(cells,) particles per cell, whatever their label."""
        return self.counts.sum(axis=0)

    def remaining(self, kept_only: bool = False) -> np.ndarray:
        """(cells,) particles per cell that are not rejected (``kept_only``: that are kept)."""
        return self.counts[Label.KEEP] if kept_only else self.counts[Label.KEEP] + self.counts[Label.UNDECIDED]

    def emptied(self) -> np.ndarray:
        """(cells,) bool: cells with particles, every one of them rejected."""
        return (self.total() > 0) & (self.remaining() == 0)

    def would_empty(self, indices: np.ndarray) -> np.ndarray:
        """Cells (k,) that rejecting particles ``indices`` would empty (not emptied yet)."""
        idx = np.asarray(indices, np.int64)
        idx = idx[self._known[idx] & (self.labels[idx] != Label.REJECT)]
        if not idx.size:
            return np.zeros(0, np.int64)
        leaving = np.bincount(self.cells[np.unique(idx)], minlength=self.size)
        remaining = self.remaining()
        return np.flatnonzero((leaving > 0) & (leaving == remaining))

    def grid(self, values: np.ndarray) -> np.ndarray:
        """(cells,) values as a (tilt_bins, rot_bins) image, row 0 at tilt 0."""
        return np.asarray(values).reshape(self.tilt_bins, self.rot_bins)

    def cell_of(self, index: int) -> int:
        """The cell of particle ``index`` (-1: its angles are unknown)."""
        return int(self.cells[index])

    def describe(self, cell: int) -> str:
        """A cell in words: ``"rot 30° to 45°, tilt 56° to 71°"``."""
        row, column = divmod(int(cell), self.rot_bins)
        step = 360.0 / self.rot_bins
        edges = tilt_edges(self.tilt_bins)
        return (f"rot {-180 + column * step:.0f}° to {-180 + (column + 1) * step:.0f}°, "
                f"tilt {edges[row]:.0f}° to {edges[row + 1]:.0f}°")
