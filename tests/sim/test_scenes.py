from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.normalize import background_mask
from gan_viewer.errors import InputError
from gan_viewer.sim.scenes import NoiseBank, SceneRecipe, SceneSampler
from gan_viewer.sim.volume_bank import VolumeBank, support_radius


def sphere(side: int, radius: float) -> np.ndarray:
    z, y, x = np.indices((side,) * 3) - side // 2
    return (x ** 2 + y ** 2 + z ** 2 <= radius ** 2).astype(np.float32) * 5.0


@pytest.fixture
def bank() -> VolumeBank:
    bank = VolumeBank(3.0)
    bank.add_volume("small", sphere(40, 6), 3.0, "test")
    bank.add_volume("large", sphere(48, 12), 3.0, "test")
    return bank


def quiet(**changes) -> SceneRecipe:
    """A recipe with nothing random but what a test asks for."""
    base = dict(boxes=(32,), snr=(1e6, 1e6), empty_probability=0.0, neighbour_probability=0.0, shift_px=0.0,
                ctf_probability=0.0, gradient_probability=0.0, invert_probability=0.0, noise_mix=(1, 0, 0))
    return SceneRecipe(**{**base, **changes})


def test_bank_crops_each_structure_to_its_support_and_scales_it(bank: VolumeBank) -> None:
    small, large = bank.entries
    assert small.volume.shape[0] < 40 and large.volume.shape[0] < 48
    assert abs(small.diameter - 2 * 6 * 3.0) < 2 * 3.0 and abs(large.diameter - 2 * 12 * 3.0) < 2 * 3.0
    for entry in bank.entries:
        dense = entry.volume > 0.2 * entry.volume.max()
        assert abs(float(entry.volume[dense].mean()) - 1.0) < 1e-4
    assert bank.pick(np.random.default_rng(0), (60, 80)).name == "large"
    assert support_radius(sphere(40, 6)) == pytest.approx(6.5, abs=1.0)


def test_resampled_maps_and_negative_density(tmp_path) -> None:
    bank = VolumeBank(3.0)
    volume = sphere(60, 12) - 0.5  # a filtered map: negative solvent
    entry = bank.add_volume("fine", volume, 1.5, "map")  # 1.5 A/px -> 3 A/px: half the voxels
    assert entry.volume.min() >= 0
    assert abs(entry.diameter - 2 * 12 * 1.5) < 2 * 3.0
    assert bank.add_volume("empty", np.zeros((20, 20, 20)), 3.0) is None


def test_files_made_by_worker_processes_give_the_same_bank_and_odd_files_are_left_out(tmp_path, shared_data,
                                                                                      caplog) -> None:
    """VolumeBank.add_files with workers (train --workers): the same entries, in the same order,
    as one after the other; a file that cannot be read is skipped with a warning, or raised."""
    import mrcfile

    from gan_viewer.errors import InputError

    with mrcfile.new(tmp_path / "ball.mrc") as mrc:
        mrc.set_data(sphere(24, 6).astype(np.float32))
        mrc.voxel_size = 3.0
    (tmp_path / "broken.mrc").write_bytes(b"not a map")
    paths = [shared_data / "structures" / "5a1a.cif.gz", tmp_path / "broken.mrc", tmp_path / "ball.mrc"]
    serial, parallel = VolumeBank(3.0), VolumeBank(3.0)
    serial.add_files(paths, skip_errors=True)
    parallel.add_files(paths, workers=2, skip_errors=True)
    assert [e.name for e in parallel.entries] == [e.name for e in serial.entries] == ["5a1a.cif.gz", "ball.mrc"]
    for a, b in zip(serial.entries, parallel.entries):
        assert a.diameter == b.diameter and np.array_equal(a.volume, b.volume)
    assert "skipped" in caplog.text and "broken.mrc" in caplog.text
    with pytest.raises(InputError):
        VolumeBank(3.0).add_files(paths[1:], workers=2)


def test_noise_free_scene_target_is_the_input_in_its_own_units(bank: VolumeBank) -> None:
    sampler = SceneSampler(bank, NoiseBank(3.0), quiet())
    scenes = sampler.sample(6, np.random.default_rng(1))
    assert scenes.noisy.shape == scenes.target.shape == (6, 32, 32)
    ring = background_mask(32)
    for noisy, target in zip(scenes.noisy, scenes.target):
        assert abs(float(noisy[ring].std()) - 1) < 1e-3
        # no CTF, almost no noise: the normalised input is the target shifted by the ring mean
        offset = float((noisy - target)[ring].mean())
        assert np.abs(noisy - target - offset).max() < 0.05 * np.abs(target).max()


def test_snr_is_what_was_asked_and_empty_boxes_have_flat_targets(bank: VolumeBank) -> None:
    rng = np.random.default_rng(2)
    sampler = SceneSampler(bank, NoiseBank(3.0), quiet(snr=(0.05, 0.05)))
    scenes = sampler.sample(200, np.random.default_rng(3))
    # no CTF: the signal in the input is the target itself, in the same units
    signal_var = scenes.target.reshape(200, -1).var(axis=1)
    noise_var = (scenes.noisy - scenes.target).reshape(200, -1).var(axis=1)
    assert abs(float(np.median(signal_var / noise_var)) - 0.05) < 0.01
    empty = SceneSampler(bank, NoiseBank(3.0), quiet(empty_probability=1.0, snr=(0.05, 0.05))).sample(4, rng)
    assert empty.empty.all() and np.all(empty.target == 0) and np.isnan(empty.snr).all()
    assert np.allclose(empty.noisy[:, background_mask(32)].std(axis=1), 1, atol=1e-3)


def test_realistic_parts_take_effect(bank: VolumeBank) -> None:
    rng = np.random.default_rng(4)
    inverted = SceneSampler(bank, NoiseBank(3.0), quiet(invert_probability=1.0)).sample(4, rng)
    assert np.all(inverted.target.sum(axis=(1, 2)) < 0)
    small = VolumeBank(3.0)
    small.add_volume("small", sphere(40, 6), 3.0, "test")
    crowded = SceneSampler(small, NoiseBank(3.0), quiet(boxes=(64,), neighbour_probability=1.0, max_neighbours=3))
    single = SceneSampler(small, NoiseBank(3.0), quiet(boxes=(64,)))
    edges = np.ones((64, 64), bool)
    edges[4:-4, 4:-4] = False

    def edge_share(sampler: SceneSampler) -> float:
        target = np.abs(sampler.sample(16, np.random.default_rng(5)).target)
        return float(target[:, edges].sum() / target.sum())

    assert edge_share(single) < 1e-3 < 0.02 < edge_share(crowded)  # neighbours are cut by the box edge
    with_ctf = SceneSampler(bank, NoiseBank(3.0), quiet(ctf_probability=1.0)).sample(4, np.random.default_rng(6))
    without = SceneSampler(bank, NoiseBank(3.0), quiet()).sample(4, np.random.default_rng(6))
    corr = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(with_ctf.noisy, without.noisy)]
    assert max(corr) < 0.95  # the CTF changed the images, the targets did not
    np.testing.assert_allclose(with_ctf.target / np.abs(with_ctf.target).max(axis=(1, 2), keepdims=True),
                               without.target / np.abs(without.target).max(axis=(1, 2), keepdims=True), atol=1e-5)


def test_scenes_are_reproducible(bank: VolumeBank) -> None:
    recipe = SceneRecipe(boxes=(32,), snr=(0.01, 0.5), neighbour_probability=0.5)
    a = SceneSampler(bank, NoiseBank(3.0), recipe).sample(5, np.random.default_rng(7))
    b = SceneSampler(bank, NoiseBank(3.0), recipe).sample(5, np.random.default_rng(7))
    np.testing.assert_array_equal(a.noisy, b.noisy)


def test_noise_kinds_have_unit_variance_and_micrographs_are_resampled(tmp_path) -> None:
    from gan_viewer.io.mrc import write_stack

    rng = np.random.default_rng(8)
    write_stack(tmp_path / "mic.mrc", rng.standard_normal((1, 200, 240)).astype(np.float32), 1.0)
    noise = NoiseBank(2.0, [(tmp_path / "mic.mrc", None)])
    assert noise.micrographs[0].shape == (100, 120)  # 1 A/px -> 2 A/px halves each side
    for kind in ("white", "coloured", "micrograph"):
        fields = noise.sample(kind, 8, 48, rng)
        assert fields.shape == (8, 48, 48)
        np.testing.assert_allclose(fields.std(axis=(1, 2)), 1, atol=0.05)
    with pytest.raises(ValueError):
        noise.sample("pink", 1, 8, rng)


def test_micrograph_patches_raw_or_with_random_phases_on_request(tmp_path) -> None:
    """random_phases=0 cuts raw patches (each one somewhere in the micrograph, turned), 1 keeps only
    their spectra."""
    from numpy.lib.stride_tricks import sliding_window_view

    from gan_viewer.io.mrc import write_stack

    write_stack(tmp_path / "mic.mrc", np.random.default_rng(9).standard_normal((1, 40, 40)).astype(np.float32), 2.0)
    noise = NoiseBank(2.0, [(tmp_path / "mic.mrc", None)])
    windows = sliding_window_view(noise.micrographs[0], (12, 12)).reshape(-1, 144)  # every 12 px patch
    windows = (windows - windows.mean(axis=1, keepdims=True)) / windows.std(axis=1, keepdims=True)

    def is_a_patch(field: np.ndarray) -> bool:
        turns = np.stack([np.rot90(field, -k).ravel() for k in range(4)])
        turns = (turns - turns.mean(axis=1, keepdims=True)) / turns.std(axis=1, keepdims=True)
        return bool((windows @ turns.T / 144 > 1 - 1e-5).any())

    raw = noise.sample("micrograph", 4, 12, np.random.default_rng(1), random_phases=0.0)
    phases = noise.sample("micrograph", 4, 12, np.random.default_rng(1), random_phases=1.0)
    assert all(is_a_patch(f) for f in raw) and not any(is_a_patch(f) for f in phases)


@pytest.mark.parametrize("change, message", [
    ({"snr": (-1.0, 0.1)}, "SNR must be positive"),
    ({"boxes": (8,)}, "boxes must be"),
    ({"empty_probability": 1.5}, "probabilities"),
    ({"fill": (0.9, 0.3)}, "fill must be"),
])
def test_impossible_recipes_are_refused(change, message) -> None:
    with pytest.raises(InputError, match=message):
        SceneRecipe(**change)


@pytest.mark.parametrize("box", [48, 72])
def test_spectrum_noise_has_the_measured_radial_power(box: int) -> None:
    """Particles' noise measured at 48 px, drawn at their box and at another: the fields' radial
    power is the measured spectrum, read at the same spatial frequencies, at unit variance."""
    from gan_viewer.core.metrics import radial_power, rfft_shells
    from gan_viewer.core.noise import noise_power_spectrum

    rng = np.random.default_rng(9)
    estimate = noise_power_spectrum(NoiseBank(3.0).sample("coloured", 300, 48, rng))  # (25,), smooth random spectra
    noise = NoiseBank(3.0)
    noise.add_spectrum(estimate, "test particles")
    fields = noise.sample("spectrum", 400, box, rng)
    assert fields.shape == (400, box, box)
    assert fields.var() == pytest.approx(1.0, rel=0.05)
    drawn = radial_power(fields).mean(axis=0) / box ** 2  # (box // 2 + 1,), variance per pixel
    radius, _, weight = rfft_shells(box, box)
    mean_power = (np.interp(radius * 48, np.arange(estimate.size), estimate) * weight).sum() / box ** 2
    expected = np.interp(np.arange(box // 2 + 1) / box * 48, np.arange(estimate.size), estimate) / mean_power
    np.testing.assert_allclose(drawn[1:] / expected[1:], 1.0, atol=0.06)
    assert np.ptp(expected) > 0.5  # coloured indeed: white noise would not pass
    assert noise.describe()["spectra"] == ["test particles"]
    with pytest.raises(InputError, match="noise spectrum"):
        noise.add_spectrum(np.array([1.0, np.nan]), "bad")


def test_a_fourth_noise_weight_draws_spectrum_noise(bank: VolumeBank) -> None:
    noise = NoiseBank(3.0)
    noise.add_spectrum(np.linspace(2.0, 0.5, 17), "test")
    scenes = SceneSampler(bank, noise, quiet(noise_mix=(0, 0, 0, 1), snr=(0.1, 0.1))).sample(4, np.random.default_rng(3))
    assert scenes.noise == ["spectrum"] * 4


def test_ctf_parameters_come_from_the_pool(bank: VolumeBank, tiny_set) -> None:
    from gan_viewer.core.ctf_params import CtfParams
    from gan_viewer.io.star import read_star

    pool = CtfParams.from_table(read_star(tiny_set))  # defocus U 15000.5 + row, V 14000.25 + row
    sampler = SceneSampler(bank, NoiseBank(3.0), quiet(ctf_probability=1.0), ctf_pool=pool)
    drawn = sampler.ctf_params(40, np.random.default_rng(4))
    rows = np.rint(drawn.defocus_u - 15000.5).astype(int)
    assert set(rows) <= set(range(10)) and len(set(rows)) > 3
    np.testing.assert_array_equal(drawn.defocus_v, 14000.25 + rows)  # whole rows, not mixed values
    assert set(drawn.voltage) == {300.0} and set(drawn.cs) == {2.7} and set(drawn.amplitude_contrast) == {0.1}
    assert sampler.describe()["ctf_pool"]["n"] == 10
    assert sampler.sample(2, np.random.default_rng(5)).noisy.shape == (2, 32, 32)
    recipe_drawn = SceneSampler(bank, NoiseBank(3.0), quiet(ctf_probability=1.0)).ctf_params(40, np.random.default_rng(4))
    assert not set(np.round(recipe_drawn.defocus_u, 2)) & set(np.round(pool.defocus_u, 2))


def test_each_scene_carries_the_spectrum_of_its_own_noise(bank: VolumeBank) -> None:
    from gan_viewer.core.metrics import radial_power

    # coloured noise with particles, no CTF: the input is the target plus the normalised noise
    sampler = SceneSampler(bank, NoiseBank(3.0), quiet(snr=(0.1, 0.1), noise_mix=(0, 1, 0), gradient_probability=0.5))
    scenes = sampler.sample(8, np.random.default_rng(5))
    assert scenes.noise_power.shape == (8, 17)
    expected = radial_power(scenes.noisy - scenes.target) / 32 ** 2
    assert np.allclose(scenes.noise_power[:, 1:], expected[:, 1:], rtol=1e-3)
    assert np.all(scenes.noise_power[:, 0] == scenes.noise_power[:, 1])
    # the particle is not in it: the spectrum of the whole input differs where the particle is
    assert not np.allclose(radial_power(scenes.noisy)[:, 1:4] / 32 ** 2, scenes.noise_power[:, 1:4], rtol=0.05)
