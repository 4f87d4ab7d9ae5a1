"""A session killed with SIGKILL mid-curation loses no decision, and the CLI screenshot works."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.core.session import Session, read_labels

ROOT = Path(__file__).resolve().parents[2]

#: Opens the real window offscreen on argv[1], presses keys through QTest, prints after each,
#: then sleeps until it is killed.
CHILD = textwrap.dedent("""
    import os, sys, time
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    import numpy as np
    from PyQt6.QtCore import Qt
    from PyQt6.QtTest import QTest
    from gan_viewer.gui.app import create_app
    from gan_viewer.gui.main_window import MainWindow

    app = create_app()
    window = MainWindow(loader=lambda model, device: (lambda x, apix=None: -x, "fake"), device="cpu")
    window.show()
    window.activateWindow()
    QTest.qWaitForWindowActive(window, 5000)
    assert window.open_path(sys.argv[1])
    for key in sys.argv[2]:
        QTest.keyClick(window, {"K": Qt.Key.Key_K, "R": Qt.Key.Key_R, " ": Qt.Key.Key_Space}[key])
        print("done", window.session.cursor, flush=True)
    QTest.qWait(1000)  # the cursor is saved (without an fsync) half a second after the last move
    print("labels", "".join(map(str, window.session.curation.labels.tolist())), flush=True)
    time.sleep(60)
""")


def test_sigkill_mid_session_loses_no_decision(tiny_set, tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tiny_set), "KR KKR"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.split())
            if line.startswith("labels"):
                break
        assert len(lines) == 7, lines
        proc.send_signal(signal.SIGKILL)  # no clean shutdown, no chance to flush anything
        proc.wait(10)
    finally:
        proc.kill()
    expected = np.array([1, 2, 0, 1, 1, 2, 0, 0, 0, 0], np.int8)
    assert lines[-1][1] == "".join(map(str, expected))
    session = Session.open(tiny_set)  # reopen: every decision and the cursor (saved by the timer) are back
    np.testing.assert_array_equal(session.curation.labels, expected)
    assert session.cursor == 6
    session.close()
    np.testing.assert_array_equal(read_labels(Path(str(tiny_set) + ".gan-viewer.sqlite")), expected)


def test_cli_screenshot(tiny_set, tiny_map, tmp_path):
    """``gan-viewer gui FILE --screenshot PNG`` in its own process, as the README's screenshot is made."""
    png = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "gan_viewer", "gui", str(tiny_set), "--map", str(tiny_map),
                          "--device", "cpu", "--screenshot", str(png)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    from PyQt6.QtGui import QImage

    image = QImage(str(png))
    assert image.width() >= 1000 and image.height() >= 600


def test_cli_bad_input_exits_2(tmp_path, capsys):
    from gan_viewer.cli import main

    assert main(["gui", str(tmp_path / "missing.star")]) == 2
    assert "error" in capsys.readouterr().err
    assert main(["gui", str(tmp_path / "x.mrcs"), "--map", str(tmp_path / "nomap.mrc")]) == 2


def test_micrograph_mode(make_window, qtbot, shared_data, tmp_path):
    for name in ("Ucsf_stack_1142_DW.mrc", "Ucsf_stack_1142_DW_autopick.star"):
        shutil.copy(shared_data / "micrographs" / "ucsf_1142" / name, tmp_path / name)
    folder = tmp_path
    window = make_window(folder / "Ucsf_stack_1142_DW.mrc", coords=folder / "Ucsf_stack_1142_DW_autopick.star", box=64)
    assert len(window.session) == 45
    assert window.triptych.image("raw").shape == (64, 64)
    view = window.docks.micrograph
    if view is None:
        pytest.skip("no micrograph view module")
    view.particleClicked.emit(7)
    assert window.session.cursor == 7
