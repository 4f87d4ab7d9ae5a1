"""The particles' noise spectrum and SNR, measured on particles of known noise and signal."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.metrics import radial_power, rfft_shells
from gan_viewer.core.noise import estimate_snr, noise_power_spectrum, spectrum_rows, whitening_filter

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


def test_images_with_nan_are_left_out_of_the_spectrum() -> None:
    images, _ = particles(0.05, n=60)
    spoiled = images.copy()
    spoiled[3, 5, 5] = np.nan
    spoiled[7] = np.inf
    np.testing.assert_allclose(noise_power_spectrum(spoiled), noise_power_spectrum(np.delete(images, [3, 7], 0)))
    with pytest.raises(ValueError, match="NaN"):
        noise_power_spectrum(np.full((2, BOX, BOX), np.nan, np.float32))


@pytest.mark.parametrize("exponent", [1.0, 0.5])
def test_whitening_filter_takes_that_share_of_the_colour_away(exponent: float) -> None:
    images, expected = particles(0.0, n=200)
    measured = noise_power_spectrum(images)
    flattened = np.fft.ifft2(np.fft.fft2(images) * whitening_filter(measured, BOX, exponent)).real
    after = noise_power_spectrum(flattened)
    # the colour left over: the spectrum's shape to the power 1 - exponent (0 for white noise)
    ratio = after / (expected / expected.mean()) ** (1 - exponent)
    ratio /= ratio.mean()
    assert np.abs(ratio[2:-2] - 1).max() < 0.15
    before = expected.max() / expected.min()
    assert before > 3 and after.max() / after.min() < before ** (1 - exponent) * 1.3


def test_whitening_filter_of_white_noise_is_one_at_any_box_and_floors_empty_shells() -> None:
    np.testing.assert_allclose(whitening_filter(np.full(33, 2.5), 64), 1.0, rtol=1e-6)
    # a particle resampled to a larger box keeps its field of view: shell k is the same frequency;
    # the shells beyond the measured ones (empty after Fourier padding) take the last value
    power = np.linspace(4.0, 1.0, 33)
    small, large = whitening_filter(power, 64), whitening_filter(power, 96)
    ratio = large[:5, 0] / small[:5, 0]
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-5)
    assert np.isfinite(whitening_filter(np.r_[np.ones(20), np.zeros(13)], 64)).all()
    with pytest.raises(ValueError, match="noise spectrum"):
        whitening_filter(np.array([1.0, np.nan, 1.0]), 64)


def test_spectrum_rows_sample_the_particles_of_one_pixel_size() -> None:
    rows = spectrum_rows(None, 1000, None, size=10)
    assert len(rows) == 10 and (np.diff(rows) > 0).all() and np.array_equal(rows, spectrum_rows(None, 1000, None, 10))
    assert rows[-1] - rows[0] > 500  # from the whole set, not its first particles
    np.testing.assert_array_equal(spectrum_rows(None, 5, float("nan")), np.arange(5))  # fewer than the sample
    apix = np.where(np.arange(100) % 2, 1.0, 2.0)
    rows = spectrum_rows(apix, 100, 1.0, size=5)
    assert len(rows) == 5 and (apix[rows] == 1.0).all()
    assert len(spectrum_rows(apix, 100, 3.0)) == 0
