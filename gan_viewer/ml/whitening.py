"""Taking part of the noise's colour away before the generator runs, the same way in training and
at inference (a card's ``input_whitening``).

The filter is :func:`gan_viewer.core.noise.whitening_filter`; here it is applied to batches of
RELION-normalised images with real FFTs in float32, and the result RELION-normalised again. The
second normalisation's divisor, the whitened background's standard deviation, converts between
the generator's units and the input's: at inference the output is multiplied by it
(:meth:`gan_viewer.ml.inference.Denoiser.recover`), in training the target is divided by it
(:class:`gan_viewer.ml.data.ScenePairs`).
"""

from __future__ import annotations

import numpy as np
import torch

from gan_viewer.core.noise import whitening_filter
from gan_viewer.core.normalize import BACKGROUND_RADIUS, relion_normalize


def half_plane_filters(noise_power: np.ndarray, size: int, exponent: float) -> torch.Tensor:
    """The whitening filter for ``size`` px images as the real FFT's half plane.

    Parameters
    ----------
    noise_power
        (m,) one spectrum for every image, or (n, m) one per image (shell k at k cycles per box).
    size
        Box of the images.
    exponent
        Share of the colour taken away, 0-1.

    Returns
    -------
    (size, size // 2 + 1) or (n, size, size // 2 + 1) float32 tensor.
    """
    power = np.asarray(noise_power, np.float64)
    rows = power[None] if power.ndim == 1 else power
    filters = np.stack([whitening_filter(p, size, exponent)[:, :size // 2 + 1] for p in rows])
    return torch.from_numpy(filters[0] if power.ndim == 1 else filters)


def whiten_normalised(images: np.ndarray, filters: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Filter RELION-normalised images and normalise them again.

    Parameters
    ----------
    images
        (b, size, size) float32, RELION-normalised.
    filters
        (size, size // 2 + 1) or (b, size, size // 2 + 1) from :func:`half_plane_filters`.

    Returns
    -------
    whitened : (b, size, size) float32, RELION-normalised
    std : (b,) float64, the standard deviation of each filtered image's background ring, in the
        units of ``images``
    """
    size = images.shape[-1]
    flattened = torch.fft.irfft2(torch.fft.rfft2(torch.from_numpy(np.ascontiguousarray(images, np.float32)))
                                 * filters, s=(size, size))
    whitened, _, std = relion_normalize(flattened.numpy(), BACKGROUND_RADIUS)
    return whitened, std


__all__ = ["half_plane_filters", "whiten_normalised"]
