"""The window on a 1366 x 768 laptop screen (1366 x 720 left by a taskbar): nothing cut off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PyQt6.QtWidgets import QDockWidget

from gan_viewer.gui.triptych import PANELS
from gan_viewer.io.star import table_from_dataframe, write_star
from tests.conftest import write_mrcs
from tests.gui.conftest import wait_complete
from tests.io.test_micrograph import DOTS, dot_micrograph, write_mrc, write_star30

SCREEN_W, SCREEN_H = 1366, 720
SCREENSHOT = Path("/tmp/gan_viewer_1366x720.png")


@pytest.fixture
def real_size_set(tmp_path):
    """Six 256 px particles at 1.3 A/px with long metadata columns, as real RELION files have."""
    rng = np.random.default_rng(0)
    write_mrcs(tmp_path / "particles.mrcs", rng.normal(size=(6, 256, 256)).astype(np.float32), 1.3)
    particles = pd.DataFrame({
        "rlnImageName": [f"{i + 1:06d}@particles.mrcs" for i in range(6)],
        "rlnMicrographName": ["MotionCorr/job002/Movies/20170629_00021_frameImage_with_a_long_name.mrc"] * 6,
        "rlnAngleRot": np.linspace(0, 90, 6), "rlnAngleTilt": np.linspace(10, 80, 6),
        "rlnAnglePsi": np.linspace(-30, 30, 6), "rlnOpticsGroup": [1] * 6,
    })
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                           "rlnImagePixelSize": [1.3], "rlnImageSize": [256], "rlnImageDimensionality": [2]})
    return write_star(table_from_dataframe(particles, optics), tmp_path / "particles.star")


def laptop_window(make_window, qtbot, path, **options):
    """A window sized for the laptop before the file opens (as :func:`gan_viewer.gui.app.initial_size` does)."""
    window = make_window()
    window.resize(SCREEN_W, SCREEN_H)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (SCREEN_W, SCREEN_H), timeout=5000)
    assert window.open_path(path, **options)
    return window


def check_fits(window, qtbot) -> None:
    hint = window.minimumSizeHint()
    assert hint.width() <= SCREEN_W and hint.height() <= SCREEN_H, hint
    window.resize(SCREEN_W, SCREEN_H)
    qtbot.waitUntil(lambda: (window.width(), window.height()) == (SCREEN_W, SCREEN_H), timeout=5000)
    qtbot.wait(100)
    for key in PANELS:
        assert window.triptych.views[key].width() >= 250, (key, window.triptych.views[key].width())
        assert window.triptych.views[key].height() >= 150
    for widget in (window.viewbar, window.bar, window.triptych):
        assert widget.width() >= widget.minimumSizeHint().width(), type(widget).__name__
    for dock in window.findChildren(QDockWidget):
        if dock.isVisible():
            inner = dock.widget()
            assert inner.width() >= inner.minimumSizeHint().width(), dock.windowTitle()
            assert inner.height() >= inner.minimumSizeHint().height(), dock.windowTitle()


def test_particles_fit_1366x720(make_window, qtbot, real_size_set):
    window = laptop_window(make_window, qtbot, real_size_set)
    check_fits(window, qtbot)
    gallery = window.docks.gallery
    assert gallery.view.viewport().height() >= gallery.view.gridSize().height()  # a whole row of thumbnails
    wait_complete(qtbot, window, 0)
    qtbot.waitUntil(lambda: not gallery.loader.busy, timeout=20000)
    assert "\n" not in window.bar.counter.text() and window.bar.counter.heightForWidth(window.bar.counter.width()) < 30
    assert window.grab().save(str(SCREENSHOT))
    gallery.set_filter("rlnAngleTilt", 20, 60)  # the histogram opens above the thumbnails
    qtbot.wait(50)
    check_fits(window, qtbot)
    assert gallery.view.viewport().height() >= gallery.view.gridSize().height()


def test_micrograph_with_particles_fits_1366x720(make_window, qtbot, tmp_path):
    mic = write_mrc(tmp_path / "mic.mrc", dot_micrograph())
    window = laptop_window(make_window, qtbot, mic, coords=write_star30(tmp_path / "picks.star", DOTS), box=16)
    check_fits(window, qtbot)
    assert window.docks.micrograph.width() >= 200 and window.docks.micrograph.height() >= 150
