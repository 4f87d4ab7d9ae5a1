"""Fixtures for the GUI tests: offscreen Qt, private settings, fake generators, a ready window."""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")

from PyQt6.QtCore import QSettings  # noqa: E402


def fake_loader(delay: float = 0.0, calls: list | None = None, gate=None):
    """A generator loader whose denoiser returns minus the input after ``delay`` seconds per call.

    With ``gate`` (a ``threading.Event``) every call also waits until the test sets it.
    """
    def load(model, device):
        def denoise(images: np.ndarray, apix: float | None = None) -> np.ndarray:
            if calls is not None:
                calls.append(len(images))
            time.sleep(delay)
            if gate is not None:
                gate.wait(10)
            return -np.asarray(images, np.float32)
        return denoise, f"fake on {device}"
    return load


def failing_loader(model, device):
    raise RuntimeError("no generator: test has none")


@pytest.fixture(autouse=True)
def private_settings(tmp_path_factory, monkeypatch):
    """Recent files go to a temporary INI, never the user's."""
    folder = tmp_path_factory.mktemp("settings")
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(folder))
    monkeypatch.setenv("GAN_VIEWER_DEMO_DIR", str(folder / "demo"))


@pytest.fixture
def make_window(qtbot):
    """``make_window(path=None, map_path=None, loader=fake_loader(), **kw)`` -> a shown MainWindow."""
    from gan_viewer.gui.app import create_app
    from gan_viewer.gui.main_window import MainWindow

    create_app()
    windows = []

    def make(path=None, map_path=None, loader=None, prefetch: int = 4, **options):
        window = MainWindow(loader=loader or fake_loader(), prefetch=prefetch, device="cpu")
        qtbot.addWidget(window)
        window.resize(1200, 800)
        window.show()
        window.activateWindow()  # shortcuts need the active window
        qtbot.waitUntil(window.isActiveWindow, timeout=5000)
        windows.append(window)
        if path is not None:
            assert window.open_path(path, map_path, **options)
        return window

    yield make
    for window in windows:
        window.close()


def wait_complete(qtbot, window, index: int | None = None, timeout: int = 60000) -> None:
    """Wait until the triptych of the current particle (or ``index``) has all its panels (the first
    reference imports torch in a worker: under a loaded CPU that alone can take over 10 s)."""
    def done():
        assert window.session is not None
        if index is not None:
            assert window.session.cursor == index
        window.refresh()
        assert window.triptych.is_complete()
    qtbot.waitUntil(done, timeout=timeout)
