"""Large STAR files open in the background: the head shows at once, decisions wait for the journal."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.core.curation import Label
from gan_viewer.core.session import Session, read_labels

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def gated_open(monkeypatch):
    """Every STAR opens in the background, and reading a whole file waits for ``gate.set()``."""
    from gan_viewer.gui import opening

    gate = threading.Event()
    real = opening.open_particles

    def slow_open(path, **options):
        assert gate.wait(20), "the test never let the file open"
        return real(path, **options)

    monkeypatch.setattr(opening, "BACKGROUND_BYTES", 0)
    monkeypatch.setattr(opening, "open_particles", slow_open)
    return gate


def test_preview_first_then_decisions(make_window, qtbot, tiny_set, tiny_map, gated_open):
    drawn = []
    window = make_window()
    window.triptychDrawn.connect(drawn.append)
    assert window.open_path(tiny_set, tiny_map)  # returns at once
    assert window.session is None
    qtbot.waitUntil(lambda: window.preview is not None and bool(drawn), timeout=10000)
    assert drawn[0] == 0 and window.session is None  # the first triptych before the file is read
    assert window.triptych.image("raw") is not None and window.triptych.image("reference") is not None
    preview_raw = window.images.get("raw", 0)
    assert "reading" in window.bar.badge.text() and not window.bar.keep_button.isEnabled()
    from PyQt6.QtCore import Qt

    for key in (Qt.Key.Key_K, Qt.Key.Key_X, Qt.Key.Key_Right):  # no decision nor move before the journal
        qtbot.keyClick(window, key)
    window.decide(Label.KEEP)
    assert window.preview.cursor == 0

    with qtbot.waitSignal(window.sessionOpened, timeout=10000):
        gated_open.set()
    assert window.preview is None and len(window.session) == 10
    assert window.images.get("raw", 0) is preview_raw  # the preview's images are kept
    assert window.triptych.is_complete() and window.bar.keep_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_K)
    assert window.session.curation.labels.tolist()[:2] == [Label.KEEP, Label.UNDECIDED]
    assert read_labels(window.session.journal.path)[0] == Label.KEEP


@pytest.mark.parametrize("preview_rows, offset", [(256, 0), (4, 7)])  # from the head / rows counted to
def test_preview_starts_at_the_saved_cursor(make_window, qtbot, tiny_set, gated_open, monkeypatch,
                                            preview_rows, offset):
    from gan_viewer.gui import opening

    monkeypatch.setattr(opening, "PREVIEW_ROWS", preview_rows)
    session = Session.open(tiny_set)
    session.move_to(7)
    session.close()
    window = make_window(tiny_set, prefetch=2)
    qtbot.waitUntil(lambda: window.preview is not None and window.triptych.is_complete(), timeout=10000)
    assert (window.preview.offset, window.preview.cursor) == (offset, 7 - offset)
    assert window.bar.position.text() == "particle 8"
    raw = window.triptych.image("raw")
    assert np.allclose(window.images.get("raw", 7 - offset), 8, atol=0.5)  # particle i holds i + 1
    gated_open.set()
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    assert window.session.cursor == 7
    assert window.images.get("raw", 7) is not None and window.images.get("recovered", 7) is not None
    np.testing.assert_array_equal(window.triptych.image("raw"), raw)


def test_unreadable_rest_of_file_is_reported(make_window, qtbot, tiny_set, monkeypatch):
    from gan_viewer.gui import files, opening

    monkeypatch.setattr(opening, "BACKGROUND_BYTES", 0)
    messages = []
    monkeypatch.setattr(files, "error_dialog", lambda parent, title, message: messages.append(message))
    tiny_set.write_text(tiny_set.read_text().rstrip().rsplit(None, 1)[0] + "\n")  # the last row loses a value
    window = make_window()
    with qtbot.waitSignal(window.openFailed, timeout=10000) as failed:
        assert window.open_path(tiny_set)
    assert "particles.star" in failed.args[0] and "last row" in failed.args[0]
    assert messages == failed.args
    assert window.session is None and window.preview is None and window.images is None


def test_missing_stack_is_reported_before_anything_shows(make_window, qtbot, tiny_set, monkeypatch):
    from gan_viewer.gui import files, opening

    monkeypatch.setattr(opening, "BACKGROUND_BYTES", 0)
    monkeypatch.setattr(files, "error_dialog", lambda *args: None)
    (tiny_set.parent / "Extract" / "a.mrcs").unlink()
    window = make_window()
    with qtbot.waitSignal(window.openFailed, timeout=10000) as failed:
        window.open_path(tiny_set)
    assert "a.mrcs" in failed.args[0] and "not found" in failed.args[0]
    assert window.preview is None and window.session is None


def test_a_newer_open_wins(make_window, qtbot, tiny_set, tmp_path, gated_open):
    other = tmp_path / "other"
    other.mkdir()
    (other / "Extract").mkdir()
    for name in ("a.mrcs", "b.mrcs"):
        (other / "Extract" / name).write_bytes((tiny_set.parent / "Extract" / name).read_bytes())
    second = other / "particles.star"
    second.write_text(tiny_set.read_text())
    window = make_window()
    window.open_path(tiny_set)
    window.open_path(second)
    gated_open.set()
    qtbot.waitUntil(lambda: window.session is not None, timeout=10000)
    qtbot.wait(200)  # the first file's session, read too, must not replace the second
    assert window.session.source.path == second


def test_cli_screenshot_of_a_large_file(tiny_set, tmp_path):
    """A STAR over the background threshold, in its own process: head checked, window, then the rest."""
    from gan_viewer.gui.opening import BACKGROUND_BYTES
    from gan_viewer.io.star import read_star, write_star

    table = read_star(tiny_set)
    n = 120_000
    rows = table.particles.iloc[np.arange(n) % 10].reset_index(drop=True)
    table.blocks[table.particles_block] = rows
    big = write_star(table, tmp_path / "big.star")
    assert big.stat().st_size > BACKGROUND_BYTES
    png = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    command = [sys.executable, "-m", "gan_viewer", "gui", str(big), "--device", "cpu", "--screenshot", str(png)]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert png.stat().st_size > 10_000
    assert read_labels(Path(f"{big}.gan-viewer.sqlite")).shape == (n,)  # the whole file's session

    png.unlink()
    bad = tmp_path / "bad.star"
    bad.write_text(big.read_text().rstrip().rsplit(None, 1)[0] + "\n")
    run = subprocess.run(command[:4] + [str(bad)] + command[5:], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 2 and "bad.star" in run.stderr and "last row" in run.stderr
    assert not png.exists()


UI_THREAD_IMPORTS = r"""
import sys
from gan_viewer.gui.app import create_app
from gan_viewer.gui.main_window import MainWindow

app = create_app()
window = MainWindow(loader=lambda model, device: (lambda images, apix=None: -images, "fake"), device="cpu")
window.projection.stop()  # nothing but the UI thread may import anything from here on
window.show()
assert window.open_path(sys.argv[1], sys.argv[2])
app.processEvents()
reference = window.images.reference
print(reference.available, reference.ctf_reason, sorted(m for m in sys.modules if m.split(".")[0] == "torch")[:3])
window.close()
"""


def test_the_ui_thread_never_imports_torch(tiny_set, tiny_map):
    """torch takes a second or more to import: the generator's and the projector's threads do it. The
    window's own checks (reference, CTF, pixel sizes) must not, or it freezes while they wait."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-c", UI_THREAD_IMPORTS, str(tiny_set), str(tiny_map)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "None", "[]"], run.stdout


def test_a_file_opened_for_a_closed_window_is_dropped_quietly(qtbot) -> None:
    from PyQt6 import sip

    from gan_viewer.gui.opening import FileOpener

    opener = FileOpener()
    opener.ticket = 3
    sip.delete(opener)
    assert opener._send("opened", 3, None) is False
