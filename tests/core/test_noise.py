"""The particles' noise spectrum and SNR, measured on particles of known noise and signal."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.metrics import radial_power, rfft_shells
from gan_viewer.core.noise import estimate_snr, noise_power_spectrum

BOX = 64


def profile(k: np.ndarray) -> np.ndarray:
    """A coloured noise spectrum: a low-frequency excess and a high-frequency roll-off (k in cycles/px)."""
    return (1 + 3 * np.exp(-(k / 0.06) ** 2 / 2)) * (1 - 1.5 * k ** 2)


def particles(snr: float, n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images, expected spectrum): centred blobs at ``snr`` in noise of :func:`profile`; the
    spectrum in units of the noise's variance (what RELION's normalisation makes 1)."""
    rng = np.random.default_rng(seed)
    radius, _, weight = rfft_shells(BOX, BOX)
    power = profile(radius)
    noise = np.fft.irfft2(np.fft.rfft2(rng.standard_normal((n, BOX, BOX))) * np.sqrt(power), s=(BOX, BOX))
    y, x = np.mgrid[:BOX, :BOX] - BOX // 2
    blob = np.exp(-(x ** 2 + y ** 2) / 72.0) + 0.5 * np.exp(-((x - 6) ** 2 + (y + 4) ** 2) / 18.0)
    images = noise + np.sqrt(snr * noise.var() / blob.var()) * blob
    expected = profile(np.arange(BOX // 2 + 1) / BOX) / ((power * weight).sum() / BOX ** 2)
    return images.astype(np.float32), expected


@pytest.mark.parametrize("snr", [0.03, 0.1])
def test_noise_spectrum_of_known_coloured_noise_under_particles(snr: float) -> None:
    images, expected = particles(snr)
    measured = noise_power_spectrum(images)
    assert measured.shape == (BOX // 2 + 1,)
    error = measured / expected - 1
    assert np.abs(error[2:]).max() < 0.1  # the window blurs the sharp low-frequency excess a little
    assert np.abs(error[:2]).max() < 0.2
    # the whole box would take the particle's low frequencies for noise: several times too much
    whole = radial_power(images).mean(axis=0) / BOX ** 2 / images.var()
    assert whole[1] / expected[1] > 2


def test_white_noise_gives_a_flat_spectrum_of_one() -> None:
    images = np.random.default_rng(1).normal(5.0, 3.0, (200, BOX, BOX))
    np.testing.assert_allclose(noise_power_spectrum(images), 1.0, atol=0.06)


@pytest.mark.parametrize("snr", [0.02, 0.05, 0.2])
def test_snr_estimate(snr: float) -> None:
    images, _ = particles(snr, seed=2)
    assert estimate_snr(images) == pytest.approx(snr, rel=0.25)


def test_snr_of_pure_noise_is_near_zero() -> None:
    images = np.random.default_rng(3).standard_normal((200, BOX, BOX))
    assert abs(estimate_snr(images)) < 0.005


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="need"):
        noise_power_spectrum(np.zeros((BOX, BOX)))
