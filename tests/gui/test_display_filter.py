"""The display filter (low-pass in Angstrom, binning) of the raw panel, the gallery and the micrograph view."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gan_viewer.core.display_filters import DisplayFilter, filter_images
from gan_viewer.io.star import table_from_dataframe, write_star
from tests.conftest import write_mrcs
from tests.gui.conftest import wait_complete


@pytest.fixture
def striped_set(tmp_path):
    """Four 64 px particles at 2.0 A/px: a coarse wave (32 A period) plus a fine one (8 A period)."""
    x = np.arange(64)
    image = np.cos(2 * np.pi * 4 * x / 64)[None, :] + np.cos(2 * np.pi * 16 * x / 64)[None, :]
    images = np.repeat((image * np.ones((64, 1)))[None], 4, axis=0).astype(np.float32)
    write_mrcs(tmp_path / "stripes.mrcs", images, 2.0)
    particles = pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@stripes.mrcs" for i in range(4)],
                              "rlnOpticsGroup": [1] * 4})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["g1"], "rlnImagePixelSize": [2.0],
                           "rlnImageSize": [64], "rlnImageDimensionality": [2]})
    return write_star(table_from_dataframe(particles, optics), tmp_path / "stripes.star")


def fine_share(image: np.ndarray) -> float:
    """Amplitude of the fine (8 A) wave relative to the coarse (32 A) one, from a row's spectrum."""
    row = np.abs(np.fft.rfft(image.mean(axis=0)))
    n = image.shape[1]
    return row[16 * n // 64] / row[4 * n // 64] if 16 * n // 64 < len(row) - 1 else 0.0


def test_lowpass_and_binning_reach_the_raw_panel_with_its_title(make_window, qtbot, striped_set):
    window = make_window(striped_set)
    wait_complete(qtbot, window, 0)
    assert window.triptych.titles["raw"].text() == "raw"
    assert fine_share(window.triptych.image("raw")) == pytest.approx(1.0, rel=1e-3)
    window.set_display_filter(DisplayFilter(lowpass_a=10.0))
    assert window.triptych.titles["raw"].text() == "raw (low-pass 10 Å)"
    # amplitude exp(-(10 A / period) ** 2): the 8 A wave against the 32 A one
    assert fine_share(window.triptych.image("raw")) == pytest.approx(math.exp(-(10 / 8) ** 2 + (10 / 32) ** 2),
                                                                     rel=1e-3)
    window.viewbar.binning.setCurrentIndex(1)  # bin 2, through the combo box
    assert window.triptych.titles["raw"].text() == "raw (low-pass 10 Å, bin 2)"
    assert window.triptych.image("raw").shape == (32, 32)
    assert window.triptych.items["raw"].mapRectToParent(window.triptych.items["raw"].boundingRect()).width() == 64
    assert window.triptych.image("recovered").shape == (64, 64)  # the other panels are not filtered
    assert fine_share(window.images.raw(0)) == pytest.approx(1.0, rel=1e-3)  # what scores use: unfiltered


def test_setting_is_saved_for_the_next_window(make_window, qtbot, striped_set):
    first = make_window()
    first.viewbar.lowpass.setCurrentIndex(3)  # 20 A
    first.viewbar.binning.setCurrentIndex(2)  # 4
    second = make_window(striped_set)
    assert second.viewbar.display_filter() == DisplayFilter(20.0, 4)
    assert second.raw_display.display == DisplayFilter(20.0, 4)
    assert second.triptych.titles["raw"].text() == "raw (low-pass 20 Å, bin 4)"
    second.settings.setValue("display/lowpass_A", "nonsense")
    assert make_window().viewbar.display_filter() == DisplayFilter(None, 4)


def test_gallery_thumbnails_are_filtered(make_window, qtbot, striped_set):
    window = make_window(striped_set)
    gallery = window.docks.gallery
    indices = np.array([0, 2])
    assert np.array_equal(gallery.loader._fetch(indices), window.images.read(indices))
    window.set_display_filter(DisplayFilter(10.0, 2))
    expected = filter_images(window.images.read(indices), DisplayFilter(10.0, 2), 2.0)
    np.testing.assert_allclose(gallery.loader._fetch(indices), expected, atol=1e-6)
    assert window.docks._gallery_dock.windowTitle() == "Gallery (low-pass 10 Å, bin 2)"


def test_micrograph_view_filters_in_the_background(make_window, qtbot, tmp_path):
    """Boxed particles from a micrograph: the micrograph's filtered image arrives from a worker thread."""
    from tests.io.test_micrograph import DOTS, dot_micrograph, write_mrc, write_star30

    mic = write_mrc(tmp_path / "mic.mrc", dot_micrograph())
    coords = write_star30(tmp_path / "mic_picks.star", DOTS)
    window = make_window(mic, coords=coords, box=16)
    view = window.docks.micrograph
    qtbot.waitUntil(lambda: view.shown, timeout=20000)
    before = view.image_item.image.copy()
    with qtbot.waitSignal(window.micrographShown, timeout=20000):
        window.set_display_filter(DisplayFilter(binning=2))
    assert view.image_item.image.shape == tuple(s // 2 for s in before.shape)
    assert window.docks._micrograph_dock.windowTitle() == "Micrograph (bin 2)"
    rect = view.image_item.mapRectToParent(view.image_item.boundingRect())
    assert (rect.width(), rect.height()) == (before.shape[1], before.shape[0])  # boxes stay in micrograph pixels
