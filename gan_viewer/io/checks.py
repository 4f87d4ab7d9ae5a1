"""Checks shared by every particle reader: index ranges and finite pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gan_viewer.errors import InputError


def as_indices(indices: np.ndarray | list[int], n: int, path: Path | None) -> np.ndarray:
    """``indices`` as a flat int64 array, or InputError naming the first one outside 0..n-1."""
    idx = np.asarray(indices, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx[(idx < 0) | (idx >= n)][0])
        raise InputError(f"particle {bad + 1} requested but there are {n}", path)
    return idx


def assert_finite(images: np.ndarray, indices: np.ndarray, path: Path | None) -> None:
    """InputError naming the first particle of ``images`` (k, h, w) with NaN or inf pixels."""
    bad = ~np.isfinite(images).all(axis=(1, 2))
    if bad.any():
        raise InputError(f"particle {int(indices[bad.argmax()]) + 1} contains NaN or infinite pixels", path)
