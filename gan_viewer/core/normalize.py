"""Per-particle normalisation and display contrast."""

from __future__ import annotations

import numpy as np


def display_limits(image: np.ndarray, sigmas: float = 3.0) -> tuple[float, float]:
    """Contrast limits mean -/+ ``sigmas`` standard deviations of a (h, w) image (finite pixels)."""
    values = image[np.isfinite(image)]
    if not values.size:
        return 0.0, 1.0
    mean, std = float(values.mean()), float(values.std())
    if std == 0:
        return mean - 0.5, mean + 0.5
    return mean - sigmas * std, mean + sigmas * std


def standardize(images: np.ndarray) -> np.ndarray:
    """Each image of (n, h, w) shifted and scaled to mean 0, standard deviation 1 (float32)."""
    images = np.asarray(images, np.float32)
    mean = images.mean(axis=(-2, -1), keepdims=True)
    std = images.std(axis=(-2, -1), keepdims=True)
    return (images - mean) / np.where(std > 0, std, 1.0)
