"""How much a recovered image can be trusted, from its spread (numpy only).

The spread of a recovery is the per-pixel standard deviation of the generator's outputs over
several views of one particle (:meth:`gan_viewer.ml.inference.Denoiser.recover` with
``spread=True``). :func:`confidence` turns it into one number per particle, which the inspector
shows and ``benchmarks/bench_generator.py general`` calibrates against the real error.
"""

from __future__ import annotations

import numpy as np

from gan_viewer.core.normalize import BACKGROUND_RADIUS

#: confidence below which a particle looks like noise, for cards that do not record a measured one
DEFAULT_CONFIDENCE_THRESHOLD = 0.6


def particle_circle(box: int) -> np.ndarray:
    """(box, box) bool: inside RELION's background circle (the particle's region)."""
    y, x = np.indices((box, box))
    c = box // 2
    return (y - c) ** 2 + (x - c) ** 2 <= (BACKGROUND_RADIUS * box) ** 2


def relative_spread(images: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """(n,) root-mean-square spread over root-mean-square recovered image, inside the particle circle."""
    mask = particle_circle(images.shape[-1])
    a = np.sqrt((np.asarray(images, np.float64)[:, mask] ** 2).mean(axis=1))
    s = np.sqrt((np.asarray(spread, np.float64)[:, mask] ** 2).mean(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a > 0, s / a, np.inf)


def confidence(images: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """How stable each recovered image is, in [0, 1]: ``1 - S / A``, clipped.

    ``A`` is the root-mean-square of the recovered image and ``S`` that of its spread, both inside
    the particle circle: 1 when every sample gives the same image, 0.8 when the image changes by a
    fifth of its own amplitude from one sample to the next, 0 when it changes by as much as it
    holds (the generator is drawing noise, not a particle). The error of a recovery (as the PSNR
    measures it) ranks with ``S / A``: ``benchmarks/bench_generator.py general`` checks that.

    Parameters
    ----------
    images, spread
        (n, box, box).

    Returns
    -------
    (n,) float64
    """
    return np.clip(1.0 - relative_spread(images, spread), 0.0, 1.0)
