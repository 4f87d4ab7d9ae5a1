"""Sort keys and filters for the gallery, as plain numpy over whole columns (no Qt, no per-row objects).

A view is an int64 array of particle indices: ``order`` (all particles sorted by a key) masked by
a numeric range on one column and by a label. On 1,000,000 rows each step takes milliseconds to
tens of milliseconds (one argsort per sort key, cached).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gan_viewer.core.scores import DEFAULT_SCORE

log = logging.getLogger(__name__)

INDEX = "index"
SCORE = "agreement score"
RAW_SCORE = "raw agreement"
CONFIDENCE = "confidence"
PREDICTED = "predicted keep"
#: the matched-filter scores, under their STAR column names (:data:`gan_viewer.core.scores.SCORE_COLUMNS`);
#: gvScore is the default ranking
CORE_SCORES = (DEFAULT_SCORE, "gvMatchedZ", "gvMatchedPlain")
#: the per-particle numbers the inspector computes (or reads from the STAR's gv columns), gvScore first
SCORES = (*CORE_SCORES, SCORE, RAW_SCORE, CONFIDENCE, PREDICTED)


@dataclass
class ViewSpec:
    """What the gallery shows: sort key and direction, a range on a numeric column, a label."""

    sort: str = INDEX
    descending: bool = False
    filter_column: str | None = None
    low: float = -np.inf
    high: float = np.inf
    label: int | None = None  # None: every label


class Columns:
    """Per-particle values for sorting and filtering: the STAR columns, the index and the scores
    the inspector computes (:data:`SCORES`).

    Parameters
    ----------
    n
        Number of particles.
    table
        The particles' DataFrame (n rows), or None.
    """

    def __init__(self, n: int, table: pd.DataFrame | None) -> None:
        self.n = n
        self.table = table
        self.scores = {name: np.full(n, np.nan) for name in SCORES}
        for name in SCORES:  # gv columns the STAR already has (written by gan-viewer score)
            if table is not None and name in table.columns:
                self.scores[name] = pd.to_numeric(table[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        self._orders: dict[tuple[str, bool], np.ndarray] = {}

    def names(self) -> list[str]:
        """Every sortable key: index, the scores, then the table's columns (a STAR column that is
        one of the scores, e.g. gvScore written by ``gan-viewer score``, is listed once, as the score)."""
        return [INDEX, *SCORES] + [c for c in self._table_names() if c not in SCORES]

    def _table_names(self) -> list[str]:
        return [] if self.table is None else [str(c) for c in self.table.columns]

    def numeric_names(self) -> list[str]:
        """Keys a range filter can apply to."""
        table = [] if self.table is None else [
            str(c) for c in self.table.columns if pd.api.types.is_numeric_dtype(self.table[c].dtype)
            and not pd.api.types.is_bool_dtype(self.table[c].dtype) and str(c) not in SCORES]
        return [*SCORES, INDEX] + table

    def set_scores(self, scores: np.ndarray | dict[str, np.ndarray]) -> list[str]:
        """New values of the scores: a dict name -> (n,) float (NaN: unknown), or one (n,) array of
        agreement scores. Returns the names set."""
        if not isinstance(scores, dict):
            scores = {SCORE: scores}
        for name, values in scores.items():
            values = np.asarray(values, np.float64)
            if name not in SCORES or values.shape != (self.n,):
                raise ValueError(f"score {name!r} has shape {values.shape}, expected one of {SCORES} of ({self.n},)")
            self.scores[name] = values.copy()
        self._orders = {k: v for k, v in self._orders.items() if k[0] not in scores}
        return list(scores)

    def values(self, name: str) -> np.ndarray:
        """(n,) float64 values of a numeric key (NaN where unknown)."""
        if name == INDEX:
            return np.arange(self.n, dtype=np.float64)
        if name in self.scores:
            return self.scores[name]
        return pd.to_numeric(self.table[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)

    def order(self, name: str, descending: bool = False) -> np.ndarray:
        """(n,) int64 particle indices sorted by ``name``; ties keep index order, unknowns last."""
        key = (name, descending)
        if key not in self._orders:
            self._orders[key] = self._argsort(name, descending)
        return self._orders[key]

    def _argsort(self, name: str, descending: bool) -> np.ndarray:
        if name == INDEX:
            return np.arange(self.n, dtype=np.int64)[::-1 if descending else 1].copy()
        if name in self.scores or pd.api.types.is_numeric_dtype(self.table[name].dtype):
            values = self.values(name)
            missing = np.isnan(values)
        else:  # text: rank by sorted unique value
            codes, _ = pd.factorize(self.table[name], sort=True)
            values, missing = codes.astype(np.float64), codes < 0
        keys = -values if descending else values
        keys = np.where(missing, np.inf, keys)
        order = np.argsort(keys, kind="stable")
        if missing.any():  # +inf values and unknowns tie at the end: put unknowns after them
            order = np.concatenate([order[~missing[order]], order[missing[order]]])
        return order.astype(np.int64, copy=False)


def compute_view(columns: Columns, spec: ViewSpec, labels: np.ndarray) -> np.ndarray:
    """The particle indices (m,) to show, in display order.

    Rows whose filter value is NaN (unknown) are hidden while a range filter is set.
    """
    order = columns.order(spec.sort, spec.descending)
    keep = np.ones(columns.n, bool)
    if spec.filter_column is not None:
        values = columns.values(spec.filter_column)
        with np.errstate(invalid="ignore"):
            keep &= (values >= spec.low) & (values <= spec.high)
    if spec.label is not None:
        keep &= labels == spec.label
    return order if keep.all() else order[keep[order]]


def threshold_counts(values: np.ndarray, low: float, high: float) -> tuple[int, int, int, int]:
    """How many of ``values`` (n,) lie below ``low``, from ``low`` to ``high``, above ``high``, and
    are unknown (NaN)."""
    known = np.isfinite(values)
    below, above = int((values[known] < low).sum()), int((values[known] > high).sum())
    inside = int(known.sum()) - below - above
    return below, inside, above, int(values.size - known.sum())


def histogram(values: np.ndarray, bins: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Counts (bins,) and edges (bins + 1,) of the finite values; a unit range when there are none."""
    finite = values[np.isfinite(values)]
    if not finite.size:
        return np.zeros(1), np.array([0.0, 1.0])
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return np.histogram(finite, bins=bins, range=(lo, hi))
