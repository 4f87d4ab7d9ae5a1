"""Display filters: the low-pass's 1/e point in Angstrom, Fourier-cropped binning, the cached spectrum."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan_viewer.core.baselines import gaussian_lowpass
from gan_viewer.core.display_filters import (DisplayFilter, Spectrum, binned_shape, fast_length, filter_images,
                                             lowpass_sigma_px)


def wave(shape: tuple[int, int], cycles_x: float, cycles_y: float = 0.0) -> np.ndarray:
    """A cosine with whole numbers of cycles over the image (periodic, so FFT filters are exact)."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    return np.cos(2 * np.pi * (cycles_x * x / shape[1] + cycles_y * y / shape[0])).astype(np.float32)


def amplitude(image: np.ndarray) -> float:
    return float(np.sqrt(2) * image.std())


def test_lowpass_amplitude_is_1_over_e_at_the_resolution():
    apix, box = 2.0, 128
    cycles = 16  # 16 cycles over 256 A: a period of 16 A
    image = wave((box, box), cycles)
    out = filter_images(image, DisplayFilter(lowpass_a=16.0), apix)
    assert amplitude(out) == pytest.approx(math.exp(-1), rel=1e-3)
    # coarser than the resolution passes almost untouched; twice as fine falls to exp(-4)
    assert amplitude(filter_images(wave((box, box), 2), DisplayFilter(16.0), apix)) > 0.98
    assert amplitude(filter_images(wave((box, box), 32), DisplayFilter(16.0), apix)) == pytest.approx(
        math.exp(-4), rel=1e-2)


def test_lowpass_uses_each_images_pixel_size():
    stack = np.stack([wave((64, 64), 8), wave((64, 64), 8)])
    out = filter_images(stack, DisplayFilter(lowpass_a=20.0), np.array([2.5, 1.25]))
    # 8 cycles over 160 A (20 A period) and over 80 A (10 A period)
    assert amplitude(out[0]) == pytest.approx(math.exp(-1), rel=1e-3)
    assert amplitude(out[1]) == pytest.approx(math.exp(-4), rel=1e-2)


def test_lowpass_matches_the_gaussian_of_baselines():
    rng = np.random.default_rng(0)
    image = rng.normal(size=(96, 96)).astype(np.float32)
    sigma = lowpass_sigma_px(20.0, 1.5)
    assert sigma == pytest.approx(20.0 / (math.pi * math.sqrt(2) * 1.5))
    np.testing.assert_allclose(filter_images(image, DisplayFilter(20.0), 1.5), gaussian_lowpass(image, sigma),
                               atol=1e-5)


def test_binning_by_fourier_cropping_keeps_low_frequencies_and_drops_high_ones():
    shape = (100, 90)  # not divisible by 4: the field of view is kept all the same
    low, high = wave(shape, 5, 3), wave(shape, 40, 0)
    out = filter_images(3.0 + low + high, DisplayFilter(binning=4), None)
    assert out.shape == binned_shape(shape, 4) == (25, 22)
    expected = 3.0 + wave((25, 22), 5, 3)  # the same 5 x 3 cycles over the whole (smaller) image
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_block_averaging_would_alias_what_fourier_cropping_removes():
    """The reason for Fourier cropping: a wave just above the binned Nyquist folds back under block averaging."""
    image = wave((64, 64), 20)  # binned by 2 to 32 px: Nyquist is 16 cycles
    blocks = image.reshape(32, 2, 32, 2).mean(axis=(1, 3))
    assert amplitude(blocks) > 0.5
    assert amplitude(filter_images(image, DisplayFilter(binning=2), None)) < 1e-4


def test_off_returns_the_input_and_unknown_pixel_size_skips_the_lowpass():
    image = np.random.default_rng(1).normal(size=(3, 32, 32)).astype(np.float32)
    assert filter_images(image, DisplayFilter(), 1.0) is image
    np.testing.assert_allclose(filter_images(image, DisplayFilter(lowpass_a=20.0), None), image, atol=1e-5)
    np.testing.assert_allclose(filter_images(image, DisplayFilter(lowpass_a=20.0), np.array([np.nan, 0.0, -1.0])),
                               image, atol=1e-5)


def test_describe_and_bad_settings():
    assert DisplayFilter().describe() == ""
    assert DisplayFilter(20.0, 2).describe() == "low-pass 20 Å, bin 2"
    assert DisplayFilter(15.0).describe(binning=4) == "low-pass 15 Å, bin 4"
    assert DisplayFilter(15.0).describe(apix_known=False) == "no pixel size: low-pass off"
    for bad in ({"lowpass_a": 0.0}, {"lowpass_a": float("nan")}, {"binning": 0}, {"binning": 1.5}):
        with pytest.raises(ValueError):
            DisplayFilter(**bad)
    with pytest.raises(ValueError):
        lowpass_sigma_px(20.0, 0.0)
    with pytest.raises(ValueError):
        filter_images(np.zeros((2, 2, 2, 2)), DisplayFilter(binning=2), None)


def test_fast_length_is_the_next_5_smooth_number():
    def smooth(n: int) -> bool:
        for p in (2, 3, 5):
            while n % p == 0:
                n //= p
        return n == 1
    for n in (1, 7, 959, 4096, 4097, 4137, 7681):
        assert fast_length(n) == next(k for k in range(n, 2 * n + 2) if smooth(k))


def test_spectrum_of_a_micrograph_filters_like_the_particles_away_from_its_edges():
    rng = np.random.default_rng(2)
    image = (100.0 + rng.normal(size=(120, 160))).astype(np.float32)
    spectrum = Spectrum(image, 2.0)
    shown = spectrum.image(DisplayFilter())
    assert shown.binning == 1 and shown.extent == (120, 160)
    np.testing.assert_allclose(shown.image, image, atol=1e-3)
    shown = spectrum.image(DisplayFilter(10.0))
    inner = (slice(12, -12), slice(12, -12))  # 3 sigma = 3.4 px from the edges
    np.testing.assert_allclose(shown.image[inner], filter_images(image, DisplayFilter(10.0), 2.0)[inner], atol=1e-3)


def test_spectrum_does_not_wrap_one_edge_into_the_other():
    """A micrograph is not periodic: a dark blob on its top edge must not darken its bottom edge."""
    image = np.zeros((200, 200), np.float32)
    image[:20, 80:120] = -100.0  # ice on the top edge
    periodic = filter_images(image, DisplayFilter(40.0), 2.0)
    assert periodic[-1, 100] < -5  # what a periodic filter would show at the bottom
    shown = Spectrum(image, 2.0).image(DisplayFilter(40.0)).image
    assert abs(shown[-1, 100] - shown[-1, 10]) < 0.05 and shown[0, 100] < -50


def test_spectrum_bins_further_to_fit_the_screen_and_keeps_the_field_of_view():
    rng = np.random.default_rng(3)
    image = (5.0 + rng.normal(size=(121, 160))).astype(np.float32)
    image[5, 7] = np.nan  # a dead pixel does not poison the view
    shown = Spectrum(image, 0.667).image(DisplayFilter(20.0), min_binning=3)
    assert shown.binning == 3
    assert shown.extent[0] == pytest.approx(121, abs=3) and shown.extent[1] == pytest.approx(160, abs=3)
    assert shown.image.shape == (round(shown.extent[0] / 3), round(shown.extent[1] / 3))
    assert shown.image.mean() == pytest.approx(np.nanmean(image), abs=0.05)
    assert Spectrum(image, 2.0).image(DisplayFilter(binning=4)).binning == 4
    assert Spectrum(image, None).apix is None
