"""The recovered panel of a format-2 generator: units, spread overlay, confidence and its warning."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from tests.gui.conftest import wait_complete


class Uncertain:
    """A format-2 'generator': particle i comes out at amplitude AMPLITUDES[i] with a spread of
    SPREADS[i] (in its units), so its confidence is 1 - SPREADS[i] / AMPLITUDES[i]."""

    format = 2
    confidence_threshold = 0.6
    AMPLITUDES = np.array([2.0, 2.0, 0.1, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0])
    SPREADS = np.array([0.2, 0.2, 0.08, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])

    def recover(self, images: np.ndarray, apix=None, *, spread: bool = False):
        idx = np.rint(images.mean(axis=(1, 2))).astype(int) - 1  # tiny_set: particle i is about i + 1
        box = images.shape[-1]
        y, x = np.mgrid[:box, :box] - box // 2
        blob = np.exp(-(x ** 2 + y ** 2) / 8.0).astype(np.float32)
        blob /= np.sqrt((blob ** 2).mean())
        out = self.AMPLITUDES[idx, None, None] * blob[None]
        sd = np.ones_like(out) * self.SPREADS[idx, None, None] if spread else None
        conf = 1 - self.SPREADS[idx] / self.AMPLITUDES[idx] if spread else None
        return SimpleNamespace(images=out.astype(np.float32), spread=None if sd is None else sd.astype(np.float32),
                               confidence=conf, amplitude=self.AMPLITUDES[idx])

    def __call__(self, images, apix=None):
        return self.recover(images, apix).images


def uncertain_loader(model, device):
    return Uncertain(), f"uncertain on {device}"


def test_a_faint_recovery_looks_faint_and_says_it_looks_like_noise(make_window, qtbot, tiny_set) -> None:
    window = make_window(tiny_set, loader=uncertain_loader)
    wait_complete(qtbot, window, 0)
    strong = window.triptych.image("recovered")
    assert not window.triptych.looks_like_noise() and "confidence 0.90" in window.triptych.score_label.text()
    window.go(2)
    wait_complete(qtbot, window, 2)
    faint = window.triptych.image("recovered")
    # not re-standardised: the faint particle is shown at its amplitude relative to the others
    assert faint.std() < 0.2 * strong.std()
    assert window.triptych.looks_like_noise() and window.triptych.warning.isVisible()
    assert "looks like noise" in window.triptych.score_label.text()
    window.go(0)
    wait_complete(qtbot, window, 0)
    assert not window.triptych.warning.isVisible()


def test_the_spread_overlay_follows_the_view_bar(make_window, qtbot, tiny_set) -> None:
    window = make_window(tiny_set, loader=uncertain_loader)
    wait_complete(qtbot, window, 0)
    assert not window.triptych.spread_item.isVisible()
    window.viewbar.spread.setChecked(True)
    assert window.triptych.spread_item.isVisible()
    assert window.triptych.spread_item.image is not None and window.triptych.spread_item.image.shape == (16, 16)
    window.viewbar.spread.setChecked(False)
    assert not window.triptych.spread_item.isVisible()


def test_the_gallery_sorts_by_confidence(make_window, qtbot, tiny_set) -> None:
    window = make_window(tiny_set, loader=uncertain_loader)
    for i in range(4):
        window.go(i)
        wait_complete(qtbot, window, i)
    window.docks.set_scores(window.images.score_columns())
    gallery = window.docks.gallery
    gallery.set_sort("confidence")
    order = gallery.visible_indices()
    assert order[0] == 2  # the least confident particle first
    assert np.isfinite(window.images.confidence[:4]).all()  # (the prefetched ones may have theirs too)


class Whitening(Uncertain):
    """An :class:`Uncertain` generator whose card takes half of the noise's colour away: it keeps
    the noise spectra it is given."""

    input_whitening = 0.5

    def __init__(self) -> None:
        self.spectra: list[np.ndarray | None] = []

    def recover(self, images: np.ndarray, apix=None, *, spread: bool = False, noise_power=None):
        self.spectra.append(noise_power)
        return super().recover(images, apix, spread=spread)


def test_each_particle_is_recovered_with_its_sets_noise_spectrum(make_window, qtbot, tiny_set) -> None:
    from gan_viewer.core.noise import noise_power_spectrum

    generator = Whitening()
    window = make_window(tiny_set, loader=lambda model, device: (generator, "whitening"))
    wait_complete(qtbot, window, 0)
    window.go(3)
    wait_complete(qtbot, window, 3)
    session = window.images.session
    expected = noise_power_spectrum(session.source.images(np.arange(len(session))))
    assert len(generator.spectra) >= 2  # one particle (and its prefetched neighbours) at a time
    for spectrum in generator.spectra:
        np.testing.assert_allclose(spectrum, expected, rtol=1e-6)


def test_each_optics_group_gets_its_own_noise_spectrum(make_window, qtbot, tiny_set) -> None:
    import pandas as pd

    from gan_viewer.core.noise import noise_power_spectrum
    from gan_viewer.io.star import read_star, table_from_dataframe, write_star

    from gan_viewer.io.mrc import write_stack

    # two groups at one pixel size, alternating: white noise, and noise with a low-frequency excess
    images = np.random.default_rng(0).standard_normal((10, 16, 16)).astype(np.float32)
    images[1::2] = np.fft.ifft2(np.fft.fft2(images[1::2]) * (1 + 4 * np.exp(-np.hypot(
        *np.meshgrid(np.fft.fftfreq(16), np.fft.fftfreq(16))) / 0.1))).real
    write_stack(tiny_set.with_name("noise.mrcs"), images, 2.0)
    table = read_star(tiny_set)
    particles = table.particles.copy()
    particles["rlnImageName"] = [f"{i + 1:06d}@noise.mrcs" for i in range(10)]
    particles["rlnOpticsGroup"] = [1, 2] * 5
    optics = pd.concat([table.optics, table.optics.assign(rlnOpticsGroup=2, rlnOpticsGroupName="opticsGroup2")])
    star = write_star(table_from_dataframe(particles, optics), tiny_set.with_name("two_groups.star"))
    generator = Whitening()
    window = make_window(star, loader=lambda model, device: (generator, "whitening"))
    wait_complete(qtbot, window, 0)
    window.go(1)
    wait_complete(qtbot, window, 1)
    source = window.images.session.source
    expected = [noise_power_spectrum(source.images(np.arange(g, 10, 2))) for g in (0, 1)]
    assert not np.allclose(expected[0], expected[1], rtol=1e-3)
    seen = [min(range(2), key=lambda g: float(np.abs(spectrum - expected[g]).max())) for spectrum in generator.spectra]
    assert set(seen) == {0, 1}  # particles 0 and 1 (and prefetched ones) of both groups
    for spectrum, g in zip(generator.spectra, seen):
        np.testing.assert_allclose(spectrum, expected[g], rtol=1e-6)
