"""Per-particle normalisation and display contrast."""

from __future__ import annotations

import numpy as np

#: radius of RELION's default background circle as a fraction of the box (its diameter: 75 %)
BACKGROUND_RADIUS = 0.375


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


def background_mask(box: int, radius_fraction: float = BACKGROUND_RADIUS) -> np.ndarray:
    """(box, box) bool: the pixels outside RELION's background circle (radius ``radius_fraction * box``)
    around the centre pixel ``box // 2``."""
    y, x = np.indices((box, box))
    c = box // 2
    return (y - c) ** 2 + (x - c) ** 2 > (radius_fraction * box) ** 2


def relion_normalize(images: np.ndarray, radius_fraction: float = BACKGROUND_RADIUS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """RELION's particle normalisation: the background ring gets mean 0 and standard deviation 1.

    ``relion_preprocess --norm`` with its default background circle (diameter 75 % of the box):
    each image is shifted by the mean and divided by the standard deviation of its pixels outside
    that circle. A flat background (std 0) is only shifted.

    Parameters
    ----------
    images
        (n, box, box) or (box, box).
    radius_fraction
        Radius of the background circle as a fraction of the box.

    Returns
    -------
    normalised : float32 array of the input's shape
    mean, std : (n,) float64 (shape () for one image)
    """
    stack = np.asarray(images, np.float32)
    single = stack.ndim == 2
    if single:
        stack = stack[None]
    if stack.ndim != 3 or stack.shape[1] != stack.shape[2]:
        raise ValueError(f"need (n, box, box) images, got shape {np.shape(images)}")
    ring = stack[:, background_mask(stack.shape[-1], radius_fraction)]  # (n, m)
    mean = ring.mean(axis=1, dtype=np.float64)
    std = ring.std(axis=1, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)
    # float32 arithmetic: three times faster than float64 on a batch, equal to within 1e-6
    out = stack - mean.astype(np.float32)[:, None, None]
    out *= (1.0 / std).astype(np.float32)[:, None, None]
    return (out[0], mean[0], std[0]) if single else (out, mean, std)


def background_std(images: np.ndarray, radius_fraction: float = BACKGROUND_RADIUS) -> np.ndarray:
    """(n,) float64: the standard deviation of each image's background ring, the divisor of
    :func:`relion_normalize`, without making the normalised images (two matrix-vector products;
    1 where the ring is flat). ``images``: (n, box, box)."""
    stack = np.asarray(images, np.float32)
    flat = stack.reshape(len(stack), -1)  # (n, box^2)
    ring = background_mask(stack.shape[-1], radius_fraction).ravel().astype(np.float32)
    count = float(ring.sum())
    mean = (flat @ ring) / count  # (n,)
    centred = flat - mean[:, None]
    centred *= centred
    std = np.sqrt(np.maximum((centred @ ring).astype(np.float64) / count, 0.0))
    return np.where(std > 0, std, 1.0)
