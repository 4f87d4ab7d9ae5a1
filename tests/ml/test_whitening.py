"""Taking part of the noise's colour away: at inference (Denoiser, each set or optics group with one
spectrum) and in training (ScenePairs), the same way (ml/whitening.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from gan_viewer.core.metrics import radial_power
from gan_viewer.core.noise import whitening_filter
from gan_viewer.core.normalize import background_mask
from gan_viewer.errors import InputError
from gan_viewer.ml.data import ScenePairs
from gan_viewer.sim.scenes import NoiseBank, SceneRecipe, SceneSampler
from gan_viewer.sim.volume_bank import VolumeBank
from tests.ml.test_checkpoint_inference import Recorder, format2


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


def coloured(n: int, box: int, seed: int) -> np.ndarray:
    """(n, box, box) Gaussian noise with a strong low-frequency excess (as in a micrograph)."""
    rng = np.random.default_rng(seed)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(box), np.fft.fftfreq(box), indexing="ij"))
    power = 1 + 8 * np.exp(-(k / 0.05) ** 2 / 2)
    return np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, box, box))) * np.sqrt(power)).real.astype(np.float32)


def low_to_high(images: np.ndarray) -> float:
    """Noise power in the lowest shells over that in the highest (1 for white noise)."""
    from gan_viewer.core.noise import noise_power_spectrum

    power = noise_power_spectrum(images)
    return float(power[1:4].mean() / power[-8:].mean())


def test_a_card_with_input_whitening_takes_that_share_of_the_noises_colour_away() -> None:
    images = coloured(40, 64, 7)
    before = low_to_high(images)
    seen = {}
    for whitening in (None, 0.5, 1.0):
        recorder = Recorder()
        den = format2(recorder, **({} if whitening is None else {"input_whitening": whitening}))
        assert den.input_whitening == whitening
        den.recover(images, 3.0)
        seen[whitening] = low_to_high(torch.cat(recorder.seen)[:, 0].numpy())
    assert before > 5 and seen[None] == pytest.approx(before, rel=0.05)
    assert seen[0.5] == pytest.approx(np.sqrt(before), rel=0.25) and seen[1.0] == pytest.approx(1, abs=0.25)
    # still RELION-normalised: the background ring has standard deviation 1
    from gan_viewer.core.normalize import background_mask

    ring = torch.cat(recorder.seen)[:, 0].numpy()[:, background_mask(64)]
    np.testing.assert_allclose(ring.std(axis=1), 1, rtol=1e-4)
    # the output comes back in the units of the background as it was (the card's output_units):
    # an identity generator returns the filtered particle, not it renormalised
    from gan_viewer.core.noise import noise_power_spectrum, whitening_filter
    from gan_viewer.core.normalize import relion_normalize

    out = format2(Recorder(), input_whitening=0.5).recover(images, 3.0).images
    expected = np.fft.ifft2(np.fft.fft2(relion_normalize(images)[0]) *
                            whitening_filter(noise_power_spectrum(images), 64, 0.5)).real
    np.testing.assert_allclose(out, expected, atol=2e-3 * np.abs(expected).max())


def test_a_particle_recovered_alone_gets_its_sets_noise_spectrum() -> None:
    """The inspector recovers one particle at a time: with the set's spectrum it comes out as it
    does among the whole set; its own background alone would give another image."""
    images = coloured(40, 64, 8)
    den = format2(Recorder(), input_whitening=0.5)
    whole = den.recover(images, 3.0).images
    spectrum = den.noise_power(images)
    alone = den.recover(images[5:6], 3.0, noise_power=spectrum).images
    np.testing.assert_allclose(alone[0], whole[5], rtol=1e-4, atol=1e-4)
    assert not np.allclose(den.recover(images[5:6], 3.0).images[0], whole[5], atol=1e-2)
    # without whitening in the card a spectrum changes nothing
    plain = format2(Recorder())
    assert plain.noise_power(images) is None
    np.testing.assert_array_equal(plain.recover(images[:3], 3.0, noise_power=spectrum).images,
                                  plain.recover(images[:3], 3.0).images)


def test_a_streamed_set_is_whitened_with_one_spectrum_whatever_the_chunks(tmp_path: Path) -> None:
    from gan_viewer.core.particles import StackParticles
    from gan_viewer.io.mrc import write_stack
    from gan_viewer.ml.stream import iter_recovered

    images = coloured(30, 64, 9)
    images[4] = np.nan  # a spoiled particle: left out of the spectrum, refused when it is recovered
    write_stack(tmp_path / "p.mrcs", images, 3.0)
    source = StackParticles(tmp_path / "p.mrcs")
    den = format2(Recorder(), input_whitening=0.5)
    rows, apix = np.delete(np.arange(30), 4), np.full(30, 3.0)
    chunked = np.concatenate([r.images for _, r in iter_recovered(den, source, apix, rows=rows, chunk=4)])
    whole = np.concatenate([r.images for _, r in iter_recovered(den, source, apix, rows=rows, chunk=100)])
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-4)
    # the same spectrum as the 29 good particles give
    np.testing.assert_allclose(whole, den.recover(images[rows], 3.0).images, rtol=1e-4, atol=1e-4)


def test_each_optics_group_is_whitened_with_its_own_spectrum_as_score_measures_it(tmp_path: Path) -> None:
    import pandas as pd

    from gan_viewer.core.noise import noise_power_spectrum
    from gan_viewer.core.particles import StarParticles, noise_groups, pixel_sizes
    from gan_viewer.io.mrc import write_stack
    from gan_viewer.io.star import read_star, table_from_dataframe, write_star
    from gan_viewer.ml.stream import iter_recovered
    from gan_viewer.sim.scoring import TableScorer

    # two optics groups at one pixel size, interleaved: white noise, and noise with a strong
    # low-frequency excess (another detector, say)
    images = np.random.default_rng(3).standard_normal((24, 64, 64)).astype(np.float32)
    group = np.tile([1, 2], 12)
    images[group == 2] = coloured(12, 64, 4)
    write_stack(tmp_path / "p.mrcs", images, 3.0)
    particles = pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@p.mrcs" for i in range(24)], "rlnOpticsGroup": group})
    optics = pd.DataFrame({"rlnOpticsGroup": [1, 2], "rlnOpticsGroupName": ["a", "b"], "rlnImagePixelSize": [3.0, 3.0],
                           "rlnImageSize": [64, 64], "rlnImageDimensionality": [2, 2]})
    star = write_star(table_from_dataframe(particles, optics), tmp_path / "p.star")
    source = StarParticles.from_file(star)
    apix = pixel_sizes(source)
    np.testing.assert_array_equal(noise_groups(source, apix), group - 1)
    den = format2(Recorder(), input_whitening=1.0)
    streamed = np.empty_like(images)
    for rows, recovery in iter_recovered(den, source, apix, chunk=5):
        streamed[rows] = recovery.images
    for g in (1, 2):
        members = group == g
        alone = den.recover(images[members], 3.0, noise_power=noise_power_spectrum(images[members])).images
        np.testing.assert_allclose(streamed[members], alone, rtol=1e-4, atol=1e-4)
    # not what one spectrum for the whole pixel size gives
    pooled = den.recover(images, 3.0, noise_power=noise_power_spectrum(images)).images
    assert not np.allclose(streamed[group == 2], pooled[group == 2], atol=1e-2)
    # the very spectra gan-viewer score's GAN scores take (TableScorer.noise_power per optics group)
    scorer = TableScorer(read_star(star), source.images, None, whiten=True)
    for g in (1, 2):
        key = tuple(scorer.keys[np.flatnonzero(group == g)[0]])
        np.testing.assert_allclose(scorer.noise_power(key), noise_power_spectrum(images[group == g]), rtol=1e-6)
