"""A micrograph opened without coordinates: shown in the micrograph view, with no particles to curate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtGui import QImage

from gan_viewer.core.display_filters import DisplayFilter
from gan_viewer.io.micrograph import is_micrograph_file
from tests.conftest import write_mrcs
from tests.io.test_micrograph import dot_micrograph, write_mrc

ROOT = Path(__file__).resolve().parents[2]


def test_which_files_are_micrographs(tmp_path, tiny_set):
    assert is_micrograph_file(write_mrc(tmp_path / "mic.mrc", dot_micrograph()))  # one 2D image in a .mrc
    assert is_micrograph_file(write_mrcs(tmp_path / "wide.mrcs", dot_micrograph()[None]))  # not square
    assert not is_micrograph_file(write_mrcs(tmp_path / "one.mrcs", np.zeros((1, 64, 64), np.float32)))
    assert not is_micrograph_file(tmp_path / "Extract" / "a.mrcs")  # six particles
    assert not is_micrograph_file(tiny_set)
    (tmp_path / "junk.mrc").write_bytes(b"not an mrc file")
    assert not is_micrograph_file(tmp_path / "junk.mrc")


def test_micrograph_without_coordinates_opens_in_the_micrograph_view(make_window, qtbot, tmp_path, tiny_set):
    mic = write_mrc(tmp_path / "mic.mrc", dot_micrograph(), pixel_size=1.5)
    window = make_window(mic)
    view = window.docks.micrograph
    assert view is not None and window.session is None
    qtbot.waitUntil(lambda: view.shown, timeout=20000)
    assert view.image_item.image.shape == (64, 80) and len(view.coords) == 0
    for panel in ("raw", "recovered", "reference"):
        assert window.triptych.message(panel).startswith("no particles")
    assert not window.bar.keep_button.isEnabled() and not window.bar.next_button.isEnabled()
    assert "no particles" in window.windowTitle()
    window.next()  # nothing to move through or decide: no error
    window.set_display_filter(DisplayFilter(20.0, 2))
    qtbot.waitUntil(lambda: view.shown and view.image_item.image.shape == (32, 40), timeout=20000)
    assert window.docks._micrograph_dock.windowTitle() == "Micrograph (low-pass 20 Å, bin 2)"
    assert window.open_path(tiny_set)  # particles after the micrograph: its view goes
    assert window.docks.micrograph is None and len(window.session) == 10
    assert window.triptych.message("raw") == ""


def test_cli_screenshot_of_a_micrograph(tmp_path):
    mic = write_mrc(tmp_path / "mic.mrc", dot_micrograph())
    png = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               XDG_CONFIG_HOME=str(tmp_path / "config"))  # its recent files are not the user's
    command = [sys.executable, "-m", "gan_viewer", "gui", str(mic), "--device", "cpu", "--screenshot", str(png)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert QImage(str(png)).width() >= 1000
    assert not list(tmp_path.glob("*.sqlite"))  # no session file for a micrograph without particles
    assert "mic.mrc" in (tmp_path / "config" / "gan-viewer" / "gan-viewer.ini").read_text()  # in Open recent


@pytest.mark.parametrize("name", ["Ucsf_stack_1142_DW.mrc"])
def test_real_micrograph_without_coordinates(make_window, qtbot, shared_data, name):
    window = make_window(shared_data / "micrographs" / "ucsf_1142" / name)
    view = window.docks.micrograph
    qtbot.waitUntil(lambda: view.shown, timeout=30000)
    assert view.image_item.image.shape == view.shape and window.session is None
