"""What the noise of a particle set looks like: its radial power spectrum and the particles' SNR,
and the filter that flattens that spectrum.

Both are measured on RELION-normalised particles (:func:`gan_viewer.core.normalize.relion_normalize`:
the background ring outside 0.375 of the box has mean 0 and standard deviation 1).

**Why the background ring and not the whole box.** At SNR 0.01-0.1 the particle holds 1-10 % of
a box's variance, but that variance sits in the few lowest-frequency shells, where it can exceed
the noise: the whole box's spectrum would call the particle's own low frequencies "noise" and
teach a generator to remove them. The ring outside RELION's background circle holds almost no
particle (only what the CTF delocalises and the odd neighbour), so its spectrum is the noise's.
The ring is windowed with a raised-cosine edge (no ringing from a hard mask) and its power
divided by the window's energy, so that white noise of variance s^2 gives s^2 in every shell.
"""

from __future__ import annotations

import numpy as np

from gan_viewer.core.metrics import radial_power, soft_mask
from gan_viewer.core.normalize import BACKGROUND_RADIUS, background_mask, relion_normalize

#: raised-cosine edge (pixels) of the background window
WINDOW_EDGE = 3.0
#: a shell's noise power counts as at least this fraction of the mean when a spectrum is
#: flattened (:func:`whitening_filter`), so that an empty shell is not blown up
POWER_FLOOR = 1e-2
#: particles of a set (of an optics group, of a pixel size) its noise spectrum is measured on
NOISE_SAMPLE = 512


def background_window(box: int, radius_fraction: float = BACKGROUND_RADIUS, edge: float = WINDOW_EDGE) -> np.ndarray:
    """(box, box) float64: 0 inside RELION's background circle, 1 well outside, a raised-cosine edge
    ``edge`` pixels wide just outside the circle (so the particle's region stays out)."""
    return 1.0 - soft_mask(box, radius_fraction * box, edge)


def noise_power_spectrum(images: np.ndarray, radius_fraction: float = BACKGROUND_RADIUS) -> np.ndarray:
    """Radially averaged power spectrum of the noise, from the particles' background ring.

    Parameters
    ----------
    images
        (n, box, box) particles (raw or normalised: they are RELION-normalised here); those with
        NaN or infinite values are left out.
    radius_fraction
        RELION's background circle as a fraction of the box.

    Returns
    -------
    (box // 2 + 1,) float64: power per shell (shell k at k / box cycles per pixel) in variance per
    pixel of the normalised particles: white noise of standard deviation 1 gives 1 in every shell.
    Shell 0 (the mean, which the normalisation removes) takes shell 1's value.
    """
    stack = np.asarray(images, np.float32)
    if stack.ndim != 3 or stack.shape[1] != stack.shape[2] or not len(stack):
        raise ValueError(f"need (n, box, box) images, got shape {stack.shape}")
    stack = stack[np.isfinite(stack).all(axis=(1, 2))]
    if not len(stack):
        raise ValueError("every image holds NaN or infinite values")
    normalised, _, _ = relion_normalize(stack, radius_fraction)
    window = background_window(stack.shape[-1], radius_fraction)
    power = radial_power(normalised * window).mean(axis=0) / float((window ** 2).sum())
    power[0] = power[1]
    return power


def noise_sample_rows(rows: np.ndarray, size: int = NOISE_SAMPLE, seed: int = 0) -> np.ndarray:
    """At most ``size`` of ``rows`` (sorted), the same for every caller with the same rows and seed,
    so every shard or chunk of a set measures the same noise spectrum."""
    rows = np.asarray(rows, np.int64)
    if len(rows) <= size:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size, replace=False))


def spectrum_rows(labels: np.ndarray | None, n: int, value: float | None,
                  size: int = NOISE_SAMPLE) -> np.ndarray:
    """Which of a set's ``n`` particles to measure the noise spectrum of those labelled ``value``
    on (a pixel size, or a group of :func:`gan_viewer.core.particles.noise_groups`):
    :func:`noise_sample_rows` of them; all particles when ``labels`` is None or ``value`` None or
    NaN. (k,) int64, ascending. ``labels``: (n,) or None."""
    if labels is None or value is None or not np.isfinite(value):
        return noise_sample_rows(np.arange(n), size)
    return noise_sample_rows(np.flatnonzero(np.asarray(labels, float) == value), size)


def estimate_snr(images: np.ndarray, radius_fraction: float = BACKGROUND_RADIUS) -> float:
    """The particles' mean SNR, var(signal over the box) / var(noise), from total and background power.

    On RELION-normalised particles the background ring's variance is the noise's (1). Inside the
    circle a pixel holds signal plus noise, so the signal's energy is the circle's energy minus
    the noise's share, ``sum(x^2 in circle) - n_circle``; its variance over the box is that over
    the box's pixel count, less the square of its mean. Averaged over the particles (one
    particle's estimate is noisy); signal that the CTF delocalises into the ring counts as noise,
    so the estimate is low rather than high.

    Parameters
    ----------
    images
        (n, box, box) particles.

    Returns
    -------
    The estimate (may be 0 or negative when there is no measurable signal; NaN for no images).
    """
    stack = np.asarray(images, np.float32)
    if stack.ndim != 3 or not len(stack):
        return float("nan")
    normalised, _, _ = relion_normalize(stack, radius_fraction)
    box = stack.shape[-1]
    circle = ~background_mask(box, radius_fraction)
    inside = normalised[:, circle].astype(np.float64)  # (n, m)
    noise_variance = normalised[:, ~circle].astype(np.float64).var(axis=1)  # (n,), 1 by construction
    energy = (inside ** 2).sum(axis=1) - circle.sum() * noise_variance
    signal_mean = inside.sum(axis=1) / box ** 2
    signal_variance = energy / box ** 2 - signal_mean ** 2
    return float(np.mean(signal_variance) / np.mean(noise_variance))


def whitening_filter(noise_power: np.ndarray, size: int, exponent: float = 1.0) -> np.ndarray:
    """A filter that flattens a noise spectrum, in part or in full, for images of ``size`` px.

    Multiplying an image's spectrum by it divides the noise's power in each shell by
    ``noise_power ** exponent`` (relative to the spectrum's mean): ``exponent`` 1 makes the noise
    white, 0.5 takes half of its colour away (on a log scale), 0 leaves it as it is.

    Parameters
    ----------
    noise_power
        (m,) power per shell (:func:`noise_power_spectrum`), shell k at k cycles per box. A
        particle resampled to another pixel size keeps its field of view, so shell k is the same
        frequency at any ``size``; shells beyond ``m - 1`` (an upsampled image, whose spectrum is
        empty there) take the last value.
    size
        Box of the images it will filter.
    exponent
        How much of the colour to take away, 0-1.

    Returns
    -------
    (size, size) float32 in numpy's FFT layout (zero frequency at [0, 0]); all ones for white
    noise of any variance.
    """
    power = np.asarray(noise_power, np.float64)
    if power.ndim != 1 or power.size < 2 or not np.isfinite(power).all():
        raise ValueError(f"need a finite (m,) noise spectrum with m >= 2, got shape {power.shape}")
    freq = np.fft.fftfreq(size) * size
    radius = np.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2)  # (size, size), in shells
    grid = np.interp(radius, np.arange(power.size), power)
    grid = np.maximum(grid, POWER_FLOOR * max(float(grid.mean()), np.finfo(float).tiny))
    grid /= grid.mean()
    return (grid ** (-exponent / 2)).astype(np.float32)
