from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.normalize import BACKGROUND_RADIUS, background_mask, relion_normalize


def test_background_ring_gets_mean_0_and_std_1_whatever_the_particle() -> None:
    rng = np.random.default_rng(0)
    images = rng.normal(7.0, 3.0, (4, 64, 64)).astype(np.float32)
    images[:, 24:40, 24:40] += 50.0  # a bright particle inside the circle must not count
    out, mean, std = relion_normalize(images)
    ring = out[:, background_mask(64)]
    np.testing.assert_allclose(ring.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(ring.std(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(mean, 7.0, atol=0.2)
    np.testing.assert_allclose(std, 3.0, atol=0.1)
    assert out[:, 32, 32].min() > 10  # the particle keeps its contrast against the background


def test_the_mask_is_relions_default_circle() -> None:
    mask = background_mask(100)
    assert not mask[50, 50] and mask[0, 0]
    assert not mask[50, 50 + 37] and mask[50, 50 + 38]  # radius 0.375 * 100 = 37.5 px
    assert BACKGROUND_RADIUS == 0.375


def test_one_image_and_a_flat_background() -> None:
    image = np.zeros((32, 32), np.float32) + 2.0
    out, mean, std = relion_normalize(image)
    assert out.shape == (32, 32) and float(mean) == 2.0 and float(std) == 1.0
    assert np.all(out == 0)
    with pytest.raises(ValueError):
        relion_normalize(np.zeros((2, 8, 9)))
