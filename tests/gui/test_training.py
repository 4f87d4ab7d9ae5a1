"""Tools > Train a generator for this map; the Generator menu; the structure-specific note."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from PyQt6.QtCore import Qt, QTimer

from gan_viewer.cli import main
from tests.gui.conftest import wait_complete

TINY = dict(depth=3, base_channels=4, batch_size=4, validate_every=2, n_validation=8, n_check=8,
            n_hallucination=6, n_references=8, n_estimate=40)


@pytest.fixture
def particle_set(tmp_path: Path, tiny_map: Path) -> Path:
    """40 simulated particles of the tiny map (angles, CTF values) in tmp_path/sim/particles.star."""
    assert main(["simulate", "--map", str(tiny_map), "--n", "40", "--snr", "0.1", "--ctf", "--seed", "3",
                 "--out", str(tmp_path / "sim")]) == 0
    return tmp_path / "sim" / "particles.star"


def test_training_runs_in_the_background_cancels_resumes_and_shows_the_card(
        make_window, qtbot, monkeypatch, particle_set: Path, tiny_map: Path) -> None:
    import gan_viewer.ml.specific as specific

    window = make_window(particle_set, tiny_map)
    action = window.actions_["train_for_map"]
    assert action.isEnabled()
    action.trigger()
    dialog = window.training_dialog
    assert dialog.isVisible() and dialog.experimental.isEnabled() and dialog.minutes.value() == 15
    expected = particle_set.with_name("particles.blobs.generator.safetensors")
    assert dialog.output.text() == str(expected)
    dialog.steps, dialog.options = 4, TINY

    # the UI thread's event loop keeps running while the training thread works: at its first step
    # the training waits for timer ticks, which only a free UI thread can deliver
    ticks = []
    timer = QTimer(interval=5)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    saw_ticks, at_step_two, cancelled = [], threading.Event(), threading.Event()
    real = specific.train_for_map

    def observed(*args, progress, **kwargs):
        def report(p):
            progress(p)
            if p.step == 1 and not saw_ticks:
                before = len(ticks)
                saw_ticks.append(qtbot_wait(lambda: len(ticks) > before + 2) and threading.current_thread()
                                 is not threading.main_thread())
            if p.step == 2 and not cancelled.is_set():
                at_step_two.set()
                cancelled.wait(60)  # the test clicks Cancel now
        return real(*args, progress=report, **kwargs)

    monkeypatch.setattr(specific, "train_for_map", observed)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert dialog.running and not dialog.start_button.isEnabled() and dialog.stop_button.isEnabled()
    qtbot.waitUntil(lambda: at_step_two.is_set() or not dialog.running, timeout=240000)
    assert at_step_two.is_set(), dialog.status.text()  # not failed
    assert saw_ticks == [True]
    # the progress of step 2 of 4 reached the dialog while the training waits there
    qtbot.waitUntil(lambda: dialog.progress.value() == 500, timeout=10000)
    assert dialog.progress.isVisible() and "step 2 of 4" in dialog.status.text()
    assert "validation PSNR" in dialog.status.text()  # validate_every=2
    qtbot.mouseClick(dialog.stop_button, Qt.MouseButton.LeftButton)
    cancelled.set()
    qtbot.waitUntil(lambda: dialog.state == "stopped", timeout=120000)
    assert "stopped at step 2" in dialog.status.text() and dialog.resume_button.isEnabled()
    assert expected.with_name("particles.blobs.generator.train.pt").is_file() and not expected.exists()

    qtbot.mouseClick(dialog.resume_button, Qt.MouseButton.LeftButton)
    # the dialog's state, not the thread's: the thread ends before its queued "succeeded" signal reaches the UI
    qtbot.waitUntil(lambda: dialog.state != "running", timeout=240000)
    assert dialog.state == "finished", dialog.status.text()
    timer.stop()
    card = json.loads(expected.with_suffix(".json").read_text())
    assert card["training"]["steps"] == 4 and card["specific"]["mode"] == "simulated"
    assert "held_out_simulated" in card["validation"] and "particle_noise" in card["hallucination"]
    summary = dialog.summary.text()
    assert dialog.summary.isVisible() and "over the best Gaussian low-pass" in summary and "hallucination" in summary
    assert str(expected.resolve()) in window.generators.trained()  # offered in the Generator menu
    entries = {a.text(): a for a in window.generators.actions()}
    assert list(entries) == ["default", "particles.blobs.generator"]

    qtbot.mouseClick(dialog.use_button, Qt.MouseButton.LeftButton)
    assert window.model == str(expected)
    wait_complete(qtbot, window)
    assert entries["particles.blobs.generator"].isChecked() and not entries["default"].isChecked()


def qtbot_wait(condition, timeout_s: float = 60.0) -> bool:
    """Poll ``condition`` from a non-UI thread (qtbot.waitUntil spins the event loop: UI thread only)."""
    done = threading.Event()
    for _ in range(int(timeout_s / 0.01)):
        if condition():
            return True
        done.wait(0.01)
    return False


def test_existing_output_is_not_replaced_unasked(make_window, qtbot, monkeypatch, particle_set, tiny_map) -> None:
    from PyQt6.QtWidgets import QMessageBox

    window = make_window(particle_set, tiny_map)
    window.actions_["train_for_map"].trigger()
    dialog = window.training_dialog
    Path(dialog.output.text()).write_bytes(b"someone's model")
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or QMessageBox.StandardButton.No)
    dialog.start()
    assert asked and dialog.state == "idle" and not dialog.running
    assert Path(dialog.output.text()).read_bytes() == b"someone's model"


def fake_specific_model(folder: Path, map_path: Path) -> Path:
    """A tiny untrained format-2 generator whose card says it was trained for ``map_path``."""
    import torch

    from gan_viewer.ml.checkpoint import save_generator
    from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator

    torch.manual_seed(0)
    generator = UNetGenerator(GeneratorConfig(depth=3, base_channels=4)).eval()
    card = {"name": "blobs-specific", "format_version": 2, "pixel_size": 2.0, "box": 32, "boxes": [32, 32],
            "specific": {"map": str(map_path), "mode": "simulated"}}
    return save_generator(folder / "blobs-specific.safetensors", generator, card)


def test_generator_menu_switches_and_warns_for_a_specific_generator(make_window, qtbot, particle_set: Path,
                                                                     tiny_map: Path) -> None:
    from gan_viewer.gui.workers import load_denoiser

    window = make_window(particle_set, loader=load_denoiser)  # the real generators
    assert not window.actions_["train_for_map"].isEnabled()  # no map yet
    window.set_map(tiny_map)
    assert window.actions_["train_for_map"].isEnabled()
    wait_complete(qtbot, window)
    model = fake_specific_model(particle_set.parent, tiny_map)
    window.generators.remember(model)
    entries = {a.text(): a for a in window.generators.actions()}
    assert list(entries) == ["default", "blobs-specific"] and entries["default"].isChecked()
    assert window.generators.note.isHidden()

    entries["blobs-specific"].trigger()
    qtbot.waitUntil(lambda: "blobs-specific" in window.generator_status, timeout=60000)
    note = window.generators.note
    assert note.isVisible() and "structure-specific generator" in note.text() and "blobs.mrc" in note.text()
    assert "judge particles by the raw image and scores" in note.text()
    assert entries["blobs-specific"].isChecked() and not entries["default"].isChecked()
    wait_complete(qtbot, window)
    assert window.triptych.image("recovered") is not None

    entries["default"].trigger()
    qtbot.waitUntil(lambda: window.generator_status.startswith("default"), timeout=60000)
    assert note.isHidden() and entries["default"].isChecked()
