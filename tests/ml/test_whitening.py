"""Training inputs half-whitened as the denoiser whitens them (ml/whitening.py, ScenePairs)."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.metrics import radial_power
from gan_viewer.core.noise import whitening_filter
from gan_viewer.core.normalize import background_mask
from gan_viewer.errors import InputError
from gan_viewer.ml.data import ScenePairs
from gan_viewer.sim.scenes import NoiseBank, SceneRecipe, SceneSampler, VolumeBank


def sampler(empty: float) -> SceneSampler:
    """Noise with a strong low-frequency excess only, nothing else random: no CTF, neighbours,
    gradients or inversion."""
    z, y, x = np.indices((40,) * 3) - 20
    bank = VolumeBank(3.0)
    bank.add_volume("ball", (x ** 2 + y ** 2 + z ** 2 <= 64).astype(np.float32), 3.0, "test")
    noise = NoiseBank(3.0)
    noise.add_spectrum(1 + 30 * np.exp(-np.arange(33) / 4), "low-frequency excess")
    recipe = SceneRecipe(boxes=(64,), snr=(0.2, 0.2), empty_probability=empty, neighbour_probability=0.0,
                         shift_px=0.0, ctf_probability=0.0, gradient_probability=0.0, invert_probability=0.0,
                         noise_mix=(0, 0, 0, 1))
    return SceneSampler(bank, noise, recipe)


def colour(images: np.ndarray) -> np.ndarray:
    """(n,) log of the lowest shells' power over the upper half's: 0 for white noise."""
    power = radial_power(images)
    return np.log(power[:, 1:4].mean(axis=1) / power[:, 16:32].mean(axis=1))


@pytest.mark.parametrize("share", [0.5, 1.0])
def test_scene_inputs_lose_that_share_of_their_noises_colour(share: float) -> None:
    empty = sampler(empty=1.0)
    plain, _ = ScenePairs(empty).sample(48, np.random.default_rng(0))
    whitened, target = ScenePairs(empty, input_whitening=share).sample(48, np.random.default_rng(0))
    before, after = colour(plain), colour(whitened)
    assert np.median(before) > 2  # strongly coloured to begin with
    assert np.median(after / before) == pytest.approx(1 - share, abs=0.15)
    ring = background_mask(64)
    assert np.allclose(whitened[:, ring].std(axis=1), 1, atol=1e-3) and np.all(target == 0)


def test_the_target_is_brought_to_the_whitened_inputs_units() -> None:
    particles = sampler(empty=0.0)
    scenes = particles.sample(6, np.random.default_rng(1))
    noisy, target = ScenePairs(particles, input_whitening=0.5).sample(6, np.random.default_rng(1))
    ring = background_mask(64)
    scales = []
    for i in range(6):  # the filter applied again here with numpy's full-plane FFT
        filtered = np.fft.ifft2(np.fft.fft2(scenes.noisy[i]) * whitening_filter(scenes.noise_power[i], 64, 0.5)).real
        scale = filtered[ring].std()
        assert np.allclose(target[i] * scale, scenes.target[i], atol=1e-4 * np.abs(scenes.target[i]).max())
        assert np.allclose(noisy[i], (filtered - filtered[ring].mean()) / scale, atol=1e-4)
        scales.append(scale)
    assert np.all(np.abs(np.subtract(scales, 1)) > 0.02)  # so the units checked above are not just 1


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_an_impossible_share_is_refused(share: float) -> None:
    with pytest.raises(InputError, match="input-whitening"):
        ScenePairs(sampler(empty=1.0), input_whitening=share)
