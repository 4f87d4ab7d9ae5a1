"""Metrics with known answers: identical images, independent noise, scale/offset invariance."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.metrics import (circular_mask, correlation, frc, frc_resolution, normalize_in_mask, psnr,
                                     radial_power, soft_mask)

from tests.conftest import blob_images


@pytest.fixture
def truth() -> np.ndarray:
    return blob_images(16, 32, np.random.default_rng(0))


def test_circular_mask() -> None:
    mask = circular_mask(32)
    assert mask.shape == (32, 32) and mask.dtype == bool
    assert mask[16, 16] and mask[16, 0] and not mask[0, 0]  # radius box / 2, centre box // 2
    assert circular_mask(32, 5).sum() == np.sum(np.hypot(*np.mgrid[-16:16, -16:16]) <= 5)
    soft = soft_mask(32, 10, 3)
    assert soft[16, 16] == 1 and soft[16, 16 + 13] == 0 and 0 < soft[16, 16 + 11] < 1


def test_normalize_in_mask(truth: np.ndarray) -> None:
    mask = circular_mask(32, 10)
    out = normalize_in_mask(truth * 5 + 3, mask)
    assert out.shape == truth.shape
    np.testing.assert_allclose(out[:, mask].mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(out[:, mask].std(axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(normalize_in_mask(truth[0]), normalize_in_mask(truth)[0])
    assert np.all(normalize_in_mask(np.ones((2, 4, 4))) == 0)  # flat: shifted only


def test_correlation(truth: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    np.testing.assert_allclose(correlation(truth, truth * 7 - 2), 1)
    np.testing.assert_allclose(correlation(truth, -truth), -1)
    assert isinstance(correlation(truth[0], truth[0]), float)
    noise = rng.standard_normal((200, 32, 32))
    cc = correlation(noise, rng.standard_normal((200, 32, 32)), circular_mask(32))
    assert cc.shape == (200,) and abs(cc.mean()) < 0.01 and cc.std() == pytest.approx(1 / np.sqrt(805), rel=0.2)


def test_psnr_matches_the_formula(truth: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    mask = circular_mask(32)
    snr = 0.5
    sigma = np.sqrt(truth[:, mask].var(axis=1) / snr)
    noisy = truth + rng.standard_normal(truth.shape) * sigma[:, None, None]
    t = normalize_in_mask(truth, mask)[:, mask]
    peak = t.max(axis=1) - t.min(axis=1)
    r = correlation(noisy, truth, mask)
    np.testing.assert_allclose(psnr(noisy, truth, mask), 10 * np.log10(peak ** 2 / (2 * (1 - r))))  # exact
    expected = 10 * np.log10(peak ** 2 / (2 * (1 - np.sqrt(snr / (1 + snr)))))  # from the noise variance
    assert np.mean(np.abs(psnr(noisy, truth, mask) - expected)) < 0.5
    assert np.all(psnr(truth, truth, mask) == np.inf)


def test_psnr_is_scale_and_offset_invariant(truth: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    pred = truth + 0.3 * rng.standard_normal(truth.shape)
    base = psnr(pred, truth)
    np.testing.assert_allclose(psnr(pred * 100 - 7, truth), base)
    np.testing.assert_allclose(psnr(pred, truth * 0.01 + 5), base)
    assert isinstance(psnr(pred[0], truth[0]), float) and base.shape == (16,)
    with pytest.raises(ValueError):
        psnr(pred[:3], truth)


def test_frc_identical_and_independent(truth: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    freq, curves = frc(truth, truth * 3 + 1, apix=2.0)
    assert freq.shape == (17,) and curves.shape == (16, 17)
    assert freq[-1] == pytest.approx(0.25)  # Nyquist of 2 A pixels
    np.testing.assert_allclose(curves, 1)
    a, b = rng.standard_normal((2, 64, 32, 32))
    freq, curves = frc(a, b)
    assert abs(curves[:, 1:].mean()) < 0.03  # +- 0.008
    assert np.abs(curves[:, 4:].mean(axis=0)).max() < 0.05  # ~0, +- 1/sqrt(64 * pi s) per shell s
    freq, single = frc(a[0], a[0])
    assert single.shape == (17,) and np.allclose(single, 1)
    assert np.isnan(frc(a - a.mean(axis=(1, 2), keepdims=True), b)[1][:, 0]).all()  # no power in shell 0


def test_frc_of_noisy_copies_follows_the_snr() -> None:
    rng = np.random.default_rng(5)
    a = rng.standard_normal((32, 32, 32))  # white 'signal' of variance 1, noise of variance 1: FRC 1/2
    _, curves = frc(a + rng.standard_normal(a.shape), a + rng.standard_normal(a.shape))
    assert curves[:, 1:].mean() == pytest.approx(0.5, abs=0.03)


def test_frc_resolution() -> None:
    freq = np.arange(5) / 10.0  # 0 .. 0.4
    assert frc_resolution(freq, [1, 0.9, 0.7, 0.3, 0.1]) == pytest.approx(1 / 0.25)
    assert frc_resolution(freq, [np.nan, 1, 1, 1, 1]) == pytest.approx(2.5)  # never below: Nyquist
    assert frc_resolution(freq, [1, 0.9, 0.7, 0.3, 0.1], threshold=0.143) == pytest.approx(1 / (0.3 + 0.1 * 0.157 / 0.2))


def test_radial_power_of_white_noise() -> None:
    noise = np.random.default_rng(6).standard_normal((64, 32, 32)) * 2
    power = radial_power(noise).mean(axis=0)
    assert power.shape == (17,)
    np.testing.assert_allclose(power[1:], 4 * 32 * 32, rtol=0.15)  # E|F|^2 = sigma^2 * pixels
