"""Baselines on Gaussian-blob particles at SNR 0.03, and the hallucination check with fake denoisers."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.baselines import (best_gaussian_lowpass, gaussian_lowpass, hallucination_report, matched_sigma,
                                       wiener_filter, wiener_gain)
from gan_viewer.core.metrics import circular_mask, psnr, radial_power

from tests.conftest import blob_images

MASK = circular_mask(32)


@pytest.fixture(params=[0, 5])
def pair(request) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, truth): 16 blob images of 32 px plus white noise at SNR 0.03 (var over the box)."""
    rng = np.random.default_rng(request.param)
    truth = blob_images(16, 32, rng)
    sigma = np.sqrt(truth.reshape(16, -1).var(axis=1) / 0.03)
    return truth + rng.standard_normal(truth.shape) * sigma[:, None, None], truth


def test_gaussian_lowpass() -> None:
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 32, 32))
    np.testing.assert_allclose(gaussian_lowpass(images, 0), images, atol=1e-5)
    out = gaussian_lowpass(images, 2.0)
    assert out.dtype == np.float32 and out.shape == images.shape
    np.testing.assert_allclose(out.mean(axis=(1, 2)), images.mean(axis=(1, 2)), atol=1e-5)  # DC kept
    # white noise through a Gaussian of sigma s has variance 1 / (4 pi s^2)
    many = gaussian_lowpass(rng.standard_normal((64, 32, 32)), 2.0)
    assert many.var() == pytest.approx(1 / (4 * np.pi * 4.0), rel=0.1)
    impulse = np.zeros((32, 32))
    impulse[16, 16] = 1
    blurred = gaussian_lowpass(impulse, 1.5)
    y, x = np.mgrid[:32, :32]
    np.testing.assert_allclose(blurred, np.exp(-((y - 16) ** 2 + (x - 16) ** 2) / 4.5) / (2 * np.pi * 2.25), atol=1e-4)
    with pytest.raises(ValueError):
        gaussian_lowpass(images, -1)


def test_baselines_improve_the_noisy_input(pair) -> None:
    noisy, truth = pair
    before = psnr(noisy, truth, MASK).mean()
    filtered, sigma, scores = best_gaussian_lowpass(noisy, truth, mask=MASK)
    assert filtered.shape == noisy.shape and scores.shape == (16,)
    np.testing.assert_allclose(scores, psnr(filtered, truth, MASK), rtol=1e-5)
    assert 2.0 <= sigma <= 5.0  # blobs have sigma 1.5-3.5 px; measured 3.0-3.5
    assert scores.mean() > before + 4  # measured +5 to +6 dB
    blind = psnr(wiener_filter(noisy), truth, MASK).mean()
    oracle = psnr(wiener_filter(noisy, oracle_truth=truth * 10 + 3), truth, MASK).mean()  # units do not matter
    assert blind > before + 3  # measured +4.3 to +5.3 dB
    assert oracle > scores.mean() - 0.3  # measured within 0.05 dB of the oracle low-pass
    assert blind > scores.mean() - 1.5  # measured 0.25-1.3 dB below it


def test_wiener_gain(pair) -> None:
    noisy, truth = pair
    for gain in (wiener_gain(noisy), wiener_gain(noisy, truth)):
        assert gain.shape == (17,) and gain[0] == 1 and np.all((gain >= 0) & (gain <= 1))
        assert gain[1] > 0.5 and gain[8:].max() < 0.2  # passes low, stops high frequencies
    pure = np.random.default_rng(1).standard_normal((16, 32, 32))
    assert wiener_gain(pure)[1:].mean() < 0.05  # nothing but noise: (almost) nothing passes
    with pytest.raises(ValueError):
        wiener_gain(noisy, truth[:3])
    with pytest.raises(ValueError):
        wiener_gain(noisy, mask=np.ones((32, 32), bool))  # no pixels left for the noise


def test_matched_sigma() -> None:
    noise = np.random.default_rng(2).standard_normal((32, 32, 32))
    assert matched_sigma(radial_power(noise).mean(axis=0), 32) < 0.3
    assert matched_sigma(radial_power(gaussian_lowpass(noise, 2.0)).mean(axis=0), 32) == pytest.approx(2.0, rel=0.1)


REFS = blob_images(40, 32, np.random.default_rng(9))


def report(denoise) -> dict:
    return hallucination_report(denoise, REFS, n=32, rng=np.random.default_rng(1))


def test_hallucination_of_an_honest_denoiser_is_low() -> None:
    for denoise, sigma in ((lambda x: x, 0.0), (lambda x: gaussian_lowpass(x, 2.0), 2.0)):
        result = report(denoise)
        assert result["control_sigma"] == pytest.approx(sigma, abs=0.2)
        assert abs(result["excess_cc"]) < 0.02  # measured 0.001-0.002
        assert result["fraction_above_control_p99"] <= 0.1  # measured 0 and 0.03
    identity = report(lambda x: x)
    assert identity["power"]["mean_variance_ratio"] == pytest.approx(1)
    np.testing.assert_allclose(identity["power"]["radial_power_ratio"], 1)
    assert len(identity["output"]["best_cc"]) == 32 and identity["arrays"]["output"].shape == (32, 32, 32)


def test_hallucination_of_a_denoiser_that_invents_particles_is_high() -> None:
    def invent(x: np.ndarray) -> np.ndarray:
        return (REFS[np.arange(len(x)) % len(REFS)] + 0.1 * x).astype(np.float32)

    result = report(invent)
    assert result["fraction_above_control_p99"] == 1.0
    assert result["excess_cc"] > 0.5 and result["output"]["mean"] > 0.9  # measured 0.62 and 0.94
    np.testing.assert_array_equal(result["arrays"]["best_reference"], np.arange(32) % len(REFS))


def test_hallucination_checks_the_denoiser_output() -> None:
    with pytest.raises(ValueError, match="shape"):
        report(lambda x: x[:, :16, :16])
    with pytest.raises(ValueError, match="references"):
        hallucination_report(lambda x: x, REFS, n=4, box=16)
