from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_viewer.errors import InputError
from gan_viewer.ml.checkpoint import (card_path, load_generator, load_training_state, output_file, output_stem,
                                      save_generator, save_training_state)
from gan_viewer.ml.inference import Denoiser, fourier_resize_2d, pick_device
from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator


@pytest.fixture
def saved_model(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    g = UNetGenerator(GeneratorConfig(depth=3, base_channels=4)).eval()
    return save_generator(tmp_path / "m.safetensors", g, {"name": "m", "pixel_size": 2.0, "box": 32})


def test_round_trip_and_card(saved_model: Path) -> None:
    g, card = load_generator(saved_model)
    assert card["generator"]["depth"] == 3 and card["pixel_size"] == 2.0
    assert len(card["sha256"]) == 64 and card["weights_dtype"] == "float16"
    x = torch.randn(1, 1, 32, 32)
    assert g(x).shape == x.shape


def test_tampered_weights_are_refused(saved_model: Path) -> None:
    data = bytearray(saved_model.read_bytes())
    data[-1] ^= 0xFF
    saved_model.write_bytes(bytes(data))
    with pytest.raises(InputError, match="sha256"):
        load_generator(saved_model)


def test_card_that_does_not_fit(saved_model: Path) -> None:
    card_path = saved_model.with_suffix(".json")
    card = json.loads(card_path.read_text())
    card["generator"]["base_channels"] = 8
    card_path.write_text(json.dumps(card))
    with pytest.raises(InputError, match="do not fit"):
        load_generator(saved_model)


def test_weights_and_card_are_written_together(monkeypatch, tmp_path: Path) -> None:
    """A card that cannot be written leaves no weights without a card (nor the reverse)."""
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    g = UNetGenerator(GeneratorConfig(depth=3, base_channels=4))
    with pytest.raises(OSError, match="no space left on device") as info:
        save_generator(tmp_path / "m.safetensors", g, {"name": "m"})
    assert info.value.filename == str(tmp_path / "m.json") and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("given, stem", [("gen_snr0.05", "gen_snr0.05"), ("gen_snr0.05.safetensors", "gen_snr0.05"),
                                         ("a/m.json", "a/m"), ("m.train.pt", "m"), ("v1.2", "v1.2"),
                                         (".safetensors", ".safetensors")])
def test_output_stem_takes_off_model_suffixes_only(given: str, stem: str) -> None:
    assert output_stem(given) == Path(stem)
    assert output_file(output_stem(given), ".json") == Path(stem + ".json")
    assert card_path(Path(stem + ".safetensors")) == Path(stem + ".json")


def test_training_state_loads_without_pickle(tmp_path: Path) -> None:
    save_training_state(tmp_path / "s.pt", {"G": {"w": torch.ones(2)}, "step": 3, "history": {"D": [0.5]}})
    assert load_training_state(tmp_path / "s.pt")["step"] == 3

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(InputError, match="not a gan-viewer training state"):
        load_training_state(tmp_path / "evil.pt")


@pytest.mark.parametrize("box, apix", [(32, 2.0), (40, 2.0), (27, None), (64, 4.0), (50, 1.0)])
def test_denoiser_any_box_and_pixel_size(saved_model: Path, box: int, apix) -> None:
    den = Denoiser.load(saved_model, "cpu", batch_size=3)
    images = np.random.default_rng(0).standard_normal((7, box, box)).astype(np.float32)
    out = den(images, apix)
    assert out.shape == images.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out.mean(axis=(1, 2)), 0, atol=1e-4)
    # batches are independent: one particle alone gives the same answer
    np.testing.assert_allclose(den(images[2:3], apix)[0], out[2], atol=1e-4)


def test_resampling_decision(saved_model: Path) -> None:
    den = Denoiser.load(saved_model, "cpu")
    assert den.scale_for(None) == 1 and den.scale_for(2.1) == 1 and den.scale_for(4.0) == 2.0


def test_fourier_resize_keeps_a_smooth_image() -> None:
    yy, xx = np.mgrid[:64, :64]
    img = torch.tensor(np.exp(-((xx - 32) ** 2 + (yy - 30) ** 2) / 50.0), dtype=torch.float32)
    small = fourier_resize_2d(img, 32)
    assert small.shape == (32, 32)
    assert abs(float(small.sum()) * 4 - float(img.sum())) < 1e-2 * float(img.sum())
    assert np.unravel_index(int(small.argmax()), (32, 32)) == (15, 16)


def test_pick_device_falls_back_to_cpu() -> None:
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device("cuda").type == "cpu"
    with pytest.raises(InputError):
        pick_device("toaster")


def test_nan_input_is_refused(saved_model: Path) -> None:
    images = np.zeros((1, 32, 32), np.float32)
    images[0, 3, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        Denoiser.load(saved_model, "cpu")(images)


class Recorder(torch.nn.Module):
    """An identity 'generator' that keeps what it was fed (optionally adding a fixed pattern)."""

    def __init__(self, pattern: torch.Tensor | None = None, gain: float = 1.0) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []
        self.pattern, self.gain = pattern, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        y = x * self.gain
        return y if self.pattern is None else y + self.pattern[..., :x.shape[-2], :x.shape[-1]]


def format2(generator: torch.nn.Module, **card) -> Denoiser:
    base = {"format_version": 2, "pixel_size": 3.0, "boxes": [64, 128], "generator": {"depth": 3}, "name": "fake"}
    return Denoiser(generator, {**base, **card}, torch.device("cpu"), batch_size=8)


def test_the_model_sees_relion_normalised_particles_at_its_own_pixel_size() -> None:
    from gan_viewer.core.normalize import background_mask

    recorder = Recorder()
    images = np.random.default_rng(0).normal(3.0, 5.0, (4, 192, 192)).astype(np.float32)
    format2(recorder).recover(images, 1.0)  # 1 A/px -> the model's 3 A/px: 192 px -> 64 px
    seen = recorder.seen[0][:, 0].numpy()
    assert seen.shape == (4, 64, 64)
    ring = seen[:, background_mask(64)]
    # normalised after resampling: standardising first and then cropping the spectrum left the
    # model a third of the noise it was trained on
    np.testing.assert_allclose(ring.std(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(ring.mean(axis=1), 0.0, atol=1e-4)


def test_outputs_keep_their_units_so_an_empty_box_looks_empty() -> None:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:96, :96] - 48
    blob = np.exp(-(x ** 2 + y ** 2) / 60.0).astype(np.float32)
    noise = rng.standard_normal((2, 96, 96)).astype(np.float32)
    images = np.stack([noise[0] + 10 * blob, noise[1]])  # a particle, and nothing
    den = format2(Recorder(gain=0.1))  # a generator that draws little where it sees little
    rec = den.recover(images, 3.0)
    assert rec.amplitude[1] < 0.12 and rec.amplitude[0] > 1.3 * rec.amplitude[1]  # re-standardised: both 1
    assert np.abs(rec.images[1]).max() < 0.6
    np.testing.assert_allclose(den.recover(images * 40 + 7, 3.0).images, rec.images, atol=1e-3)  # units: noise sd
    assert "background noise" in den.units


def test_spread_is_zero_for_a_symmetric_generator_and_not_otherwise() -> None:
    images = np.random.default_rng(2).standard_normal((3, 64, 64)).astype(np.float32)
    rec = format2(Recorder()).recover(images, 3.0, spread=True, samples=8)
    assert rec.spread.shape == images.shape and np.abs(rec.spread).max() < 1e-5
    np.testing.assert_allclose(rec.confidence, 1.0, atol=1e-5)
    pattern = torch.zeros(1, 1, 64, 64)
    pattern[..., 5:20, 40:60] = 3.0  # an output that depends on how the particle is turned
    rec = format2(Recorder(pattern)).recover(images, 3.0, spread=True, samples=4)
    assert rec.spread.max() > 0.5 and np.all(rec.confidence < 0.99) and np.all(rec.confidence > 0)
    with pytest.raises(ValueError, match="samples"):
        format2(Recorder()).recover(images, 3.0, spread=True, samples=9)


@pytest.mark.parametrize("apix, message", [(None, "unknown"), (0.0, "impossible"), (float("nan"), "impossible"),
                                           (0.1, "impossible"), (25.0, "impossible"), (0.5, "far outside")])
def test_unknown_or_absurd_pixel_sizes_and_boxes_are_refused(apix, message) -> None:
    images = np.zeros((1, 256, 256), np.float32)  # at 0.5 A/px: 43 px at 3 A/px, far below 64 * 0.25?
    if apix == 0.5:
        images = np.zeros((1, 40, 40), np.float32)  # 7 px at the model's pixel size
    with pytest.raises(InputError, match=message):
        format2(Recorder()).recover(images, apix)


@pytest.mark.parametrize("version", [3, "2", None])
def test_cards_of_another_format_are_refused(version) -> None:
    with pytest.raises(InputError, match="model card format"):
        format2(Recorder(), format_version=version)


def test_the_bottleneck_embedding_comes_with_the_recovery() -> None:
    torch.manual_seed(0)
    generator = UNetGenerator(GeneratorConfig(depth=3, base_channels=4, max_channels=8))
    assert generator.bottleneck() is generator.model.model[1].model[3].model[1]  # the innermost down conv
    den = format2(generator)
    rng = np.random.default_rng(2)
    images = rng.normal(0, 1, (10, 64, 64)).astype(np.float32)
    images[5:, 24:40, 24:40] += 4.0  # a bright square: a different bottleneck
    rec = den.recover(images, 3.0, spread=True, samples=4)
    assert rec.embedding.shape == (10, 8) and (rec.embedding >= 0).all()
    alone = den.recover(images[7:8], 3.0).embedding  # the same whatever the batch and the spread
    np.testing.assert_allclose(alone[0], rec.embedding[7], rtol=1e-4, atol=1e-6)
    assert not np.allclose(rec.embedding[0], rec.embedding[7], rtol=1e-3)  # one per particle
    assert format2(Recorder()).recover(images, 3.0).embedding is None  # no bottleneck, no embedding


class SizeGain(torch.nn.Module):
    """An identity 'generator' whose gain grows with the box it is run at."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * (x.shape[-1] / 64)


def band(images: np.ndarray, fraction: float = 1 / 6) -> np.ndarray:
    """``images`` with nothing beyond ``fraction`` of Nyquist (so that Fourier cropping to a third
    of the box loses nothing of them)."""
    box = images.shape[-1]
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(box), np.fft.fftfreq(box), indexing="ij"))
    return np.fft.ifft2(np.fft.fft2(images) * (k < 0.5 * fraction)).real.astype(np.float32)


def test_finer_data_gets_a_second_pass_only_when_the_card_asks() -> None:
    images = np.random.default_rng(3).standard_normal((2, 192, 192)).astype(np.float32)
    recorder = Recorder()
    format2(recorder).recover(images, 1.0)
    assert [x.shape[-1] for x in recorder.seen] == [64]  # no finer_scale in the card: one pass
    recorder = Recorder()
    den = format2(recorder, finer_scale=2 / 3)
    den.recover(images, 1.0)  # 3 A/px: 64 px, and 2 A/px: 96 px
    assert [x.shape[-1] for x in recorder.seen] == [64, 96]
    assert den.working_boxes(192, 1.0) == [64, 96]
    assert den.working_boxes(128, 2.0) == [85, 128]  # the data's own sampling is the finer one
    assert den.working_boxes(96, 3.0) == [96]  # at the model's pixel size
    assert den.working_boxes(128, 2.6) == [111]  # 2.6 A is too close to 3 A to be worth a pass
    assert den.working_boxes(1400, 1.0) == [467]  # the finer box (700 px) is beyond the trained range
    assert format2(Recorder(), finer_scale=0.95).finer_scale is None  # not a finer scale


def test_the_two_passes_are_averaged_in_the_units_of_the_models_pixel_size() -> None:
    rng = np.random.default_rng(4)
    particle = 5.0 * band(rng.standard_normal((3, 192, 192)))
    images = particle + 2.0 + 3.0 * rng.standard_normal(particle.shape).astype(np.float32)  # white noise
    single = format2(Recorder()).recover(images, 1.0)
    both = format2(Recorder(), finer_scale=2 / 3).recover(images, 1.0)
    # an identity generator shows the particle alike at both samplings, but a 2 A/px background
    # holds more of the white noise: each pass is in its own noise units until it is brought to
    # those of the model's 3 A/px; the band the two passes share must then agree
    np.testing.assert_allclose(band(both.images), band(single.images), atol=0.02 * np.abs(band(single.images)).max())
    assert not np.allclose(both.images, single.images, atol=0.05)  # the finer pass adds its band


def test_the_spread_pools_the_disagreement_of_the_passes() -> None:
    images = 5.0 * band(np.random.default_rng(6).standard_normal((3, 192, 192)))
    rec = format2(Recorder(), finer_scale=2 / 3).recover(images, 1.0, spread=True, samples=2)
    assert np.abs(rec.spread).max() < 2e-3 * np.abs(rec.images).max()  # they agree: nothing uncertain
    # a generator that draws the particle differently at the two samplings is unsure
    rec = format2(SizeGain(), finer_scale=2 / 3).recover(images, 1.0, spread=True, samples=2)
    alone = format2(SizeGain()).recover(images, 1.0, spread=True, samples=2)
    assert np.abs(alone.spread).max() < 1e-4 and rec.spread.max() > 0.1 * np.abs(rec.images).max()
    np.testing.assert_allclose(rec.images, alone.images * (1 + 96 / 64) / 2, rtol=1e-3,
                               atol=1e-3 * np.abs(rec.images).max())
    np.testing.assert_allclose(rec.spread, np.abs(alone.images) * (96 / 64 - 1) / 2, rtol=1e-3,
                               atol=1e-3 * np.abs(rec.images).max())


def test_the_embedding_comes_from_the_pass_at_the_models_pixel_size() -> None:
    torch.manual_seed(0)
    generator = UNetGenerator(GeneratorConfig(depth=3, base_channels=4, max_channels=8))
    images = np.random.default_rng(5).standard_normal((4, 192, 192)).astype(np.float32)
    single = format2(generator).recover(images, 1.0)
    both = format2(generator, finer_scale=2 / 3).recover(images, 1.0)
    np.testing.assert_allclose(both.embedding, single.embedding, rtol=1e-5, atol=1e-6)
    assert not np.allclose(both.images, single.images, atol=1e-4)  # the second pass did count


@pytest.mark.parametrize("method", ["tta", "noise"])
def test_a_padded_particle_gets_the_same_recovery_in_any_batch_and_place(method: str) -> None:
    """A 60 px box is padded to the U-Net's multiple of 8 with background noise; that noise, and
    the spread's added noise, must not depend on which batch the particle is in or where (they
    did: particle 5 of a batch got other pad noise than particle 5 recovered alone)."""
    torch.manual_seed(0)
    den = format2(UNetGenerator(GeneratorConfig(depth=3, base_channels=4)).eval())
    images = np.random.default_rng(0).standard_normal((8, 60, 60)).astype(np.float32)
    whole = den.recover(images, 3.0, spread=True, samples=2, method=method)
    alone = den.recover(images[5:6], 3.0, spread=True, samples=2, method=method)
    np.testing.assert_allclose(alone.images[0], whole.images[5], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(alone.spread[0], whole.spread[5], rtol=1e-4, atol=1e-5)
