"""Tools > Train a generator for this map: a dialog that trains in a thread of its own.

The run is :func:`gan_viewer.ml.specific.train_for_map` in a :class:`TrainingThread` (not the
inference worker, which keeps recovering particles meanwhile; torch is imported there too, never
in the UI thread). The dialog shows its progress; Cancel stops it after the current step with its
checkpoint kept, and Resume continues from that checkpoint for what is left of the time budget.
When the run ends, the model card's summary shows (gain over the noisy input and the oracle
low-pass on held-out simulated particles, hallucination on pure noise), the model joins the
Generator menu, and "Use this generator" loads it.
"""

from __future__ import annotations

import logging
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from PyQt6.QtCore import QThread, pyqtSignal
from PyQt6.QtWidgets import (QButtonGroup, QComboBox, QDialog, QDoubleSpinBox, QFileDialog, QFormLayout,
                             QHBoxLayout, QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton, QRadioButton,
                             QVBoxLayout, QWidget)

from gan_viewer.core.cards import MODE_TEXT, output_file, output_stem, specific_model_path, summary_lines
from gan_viewer.core.particles import ParticleSource

log = logging.getLogger(__name__)

DEFAULT_MINUTES = 15.0
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainingJob:
    """What to train: particles (a STAR table, or a file), map, output, mode and how long.

    ``options`` are further :class:`~gan_viewer.ml.specific.SpecificRecipe` fields (tests make
    the network tiny with them); ``steps`` caps the run besides ``minutes``.
    """

    particles: object  # ParticleTable, or a particle file path
    project_dir: str | None
    map_path: Path
    out: Path
    mode: str
    minutes: float
    device: str
    steps: int | None = None
    overwrite: bool = False
    options: dict = field(default_factory=dict)


class TrainingThread(QThread):
    """Runs one :class:`TrainingJob` (or resumes it).

    Signals
    -------
    progressed(TrainingProgress)
        After every step, and once when the final checks begin (phase "checking").
    succeeded(card)
        The model is written; its card.
    stopped(step)
        Stopped on request; the checkpoint holds ``step`` steps.
    failed(message)
        One line.
    """

    progressed = pyqtSignal(object)
    succeeded = pyqtSignal(dict)
    stopped = pyqtSignal(int)
    failed = pyqtSignal(str)

    def __init__(self, job: TrainingJob, resume: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("training")
        self.job, self.resume = job, resume
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Stop after the current step (the checkpoint is written)."""
        self._stop.set()

    def run(self) -> None:
        job = self.job
        try:
            from gan_viewer.ml.specific import SpecificRecipe, open_source, train_for_map
            from gan_viewer.ml.train import TrainingStopped
        except ImportError as exc:
            self.failed.emit(f"training needs torch: {exc}")
            return
        try:
            card = train_for_map(
                open_source(job.particles, job.project_dir), job.map_path, job.out,
                recipe=SpecificRecipe(mode=job.mode, **job.options), minutes=job.minutes, steps=job.steps,
                progress=self.progressed.emit, should_stop=self._stop.is_set, resume=self.resume,
                overwrite=job.overwrite and not self.resume, device=job.device, project_dir=job.project_dir)
        except TrainingStopped as exc:
            self.stopped.emit(exc.step)
            return
        except Exception as exc:  # noqa: BLE001 - InputError, OSError, torch errors: told to the user
            log.debug("training failed:\n%s", traceback.format_exc())
            self.failed.emit(str(exc) or type(exc).__name__)
            return
        self.succeeded.emit(card)


class TrainingDialog(QDialog):
    """Ask what to train, run it in the background, show how it goes and how it did.

    Parameters
    ----------
    source
        The open particle set.
    map_path
        The reference map.
    device
        The device selected at first.

    Attributes
    ----------
    steps, options
        Passed on to the run (None / {} by default: the time budget and the default recipe).

    Signals
    -------
    trained(path)
        A model was written (its ``.safetensors``).
    useModel(path)
        "Use this generator" was clicked.
    """

    trained = pyqtSignal(str)
    useModel = pyqtSignal(str)

    def __init__(self, source: ParticleSource, map_path: str | Path, parent: QWidget | None = None, *,
                 device: str = "auto") -> None:
        super().__init__(parent)
        self.setWindowTitle("Train a generator for this map")
        self.source, self.map_path = source, Path(map_path)
        self.steps: int | None = None
        self.options: dict = {}
        self.thread_: TrainingThread | None = None
        self.job: TrainingJob | None = None
        self.model_path: Path | None = None
        self._build(device)
        self._set_state("idle")

    # -- layout ------------------------------------------------------------------------------------
    def _build(self, device: str) -> None:
        table = getattr(self.source, "table", None)
        name = Path(self.source.path).name if self.source.path else "particles"
        apix = self.source.pixel_size
        about = QLabel(f"<b>{name}</b>: {len(self.source):,} particles, {self.source.box} px"
                       f"{f' at {apix:g} Å/px' if apix else ''} · map <b>{self.map_path.name}</b>")
        about.setWordWrap(True)
        self.simulated = QRadioButton(MODE_TEXT["simulated"])
        self.experimental = QRadioButton(MODE_TEXT["experimental"])
        self.simulated.setChecked(True)
        has_angles = table is not None and table.eulers() is not None
        self.experimental.setEnabled(has_angles)
        self.experimental.setToolTip("" if has_angles else "the particles have no angles (rlnAngleRot/Tilt/Psi)")
        modes = QButtonGroup(self)
        modes.addButton(self.simulated)
        modes.addButton(self.experimental)
        self.minutes = QDoubleSpinBox(minimum=0.5, maximum=10000.0, value=DEFAULT_MINUTES, decimals=1, suffix=" min")
        self.device = QComboBox()
        self.device.addItems(DEVICES)
        self.device.setCurrentText(device if device in DEVICES else "auto")
        default = specific_model_path(self.source.path or Path.cwd() / "particles", self.map_path)
        self.output = QLineEdit(str(default))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        output_row = QHBoxLayout()
        output_row.addWidget(self.output, 1)
        output_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("training pairs", self._column(self.simulated, self.experimental))
        form.addRow("time", self.minutes)
        form.addRow("device", self.device)
        form.addRow("output", output_row)
        self.progress = QProgressBar(minimum=0, maximum=1000)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("QLabel { background: #f1f8e9; padding: 8px; border: 1px solid #aed581; }")
        self.start_button, self.stop_button = QPushButton("Start"), QPushButton("Cancel")
        self.resume_button, self.use_button = QPushButton("Resume"), QPushButton("Use this generator")
        self.close_button = QPushButton("Close")
        self.stop_button.setToolTip("stop after the current step; the checkpoint is kept and Resume continues")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button, slot in ((self.start_button, self.start), (self.stop_button, self.stop),
                             (self.resume_button, self.resume), (self.use_button, self.use),
                             (self.close_button, self.close)):
            button.clicked.connect(slot)
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        for item in (about, form, self.progress, self.status, self.summary, buttons):
            (layout.addLayout if not isinstance(item, QWidget) else layout.addWidget)(item)
        self.setMinimumWidth(620)

    @staticmethod
    def _column(*widgets: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            layout.addWidget(widget)
        return box

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the generator as", self.output.text(),
                                              "Generators (*.safetensors)")
        if path:
            self.output.setText(path if path.endswith(".safetensors") else f"{path}.safetensors")

    # -- running -----------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.thread_ is not None and self.thread_.isRunning()

    def start(self) -> None:
        """Start a new run (asking before an existing model or checkpoint is replaced)."""
        if self.state == "running":
            return
        out = output_stem(Path(self.output.text()).expanduser())
        existing = [p for p in (output_file(out, ".safetensors"), output_file(out, ".train.pt")) if p.exists()]
        if existing:
            answer = QMessageBox.question(self, "Replace the generator?",
                                          f"{existing[0]} exists already. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        table = getattr(self.source, "table", None)
        self.job = TrainingJob(
            particles=table if table is not None else self.source.path,
            project_dir=getattr(self.source, "project_dir", None), map_path=self.map_path, out=out,
            mode="experimental" if self.experimental.isChecked() else "simulated", minutes=self.minutes.value(),
            device=self.device.currentText(), steps=self.steps, overwrite=bool(existing), options=dict(self.options))
        self._run(resume=False)

    def resume(self) -> None:
        """Continue the stopped run from its checkpoint."""
        if self.job is not None and self.state == "stopped":
            self._run(resume=True)

    def stop(self) -> None:
        """Ask the run to stop after its current step."""
        if self.running:
            self.thread_.request_stop()
            self.stop_button.setEnabled(False)
            self.status.setText(f"{self.status.text()}  — stopping after this step…")

    def use(self) -> None:
        if self.model_path is not None:
            self.useModel.emit(str(self.model_path))

    def _run(self, resume: bool) -> None:
        if self.thread_ is not None:
            self.thread_.wait()  # the last run has sent its final signal: it is only returning
        thread = TrainingThread(self.job, resume, self)
        thread.progressed.connect(self._on_progress)
        thread.succeeded.connect(self._on_succeeded)
        thread.stopped.connect(self._on_stopped)
        thread.failed.connect(self._on_failed)
        self.thread_ = thread
        self.summary.hide()
        self.status.setText("reading the particles and measuring their noise…" if not resume else
                            "resuming from the checkpoint…")
        self._set_state("running")
        thread.start()

    def _on_progress(self, p) -> None:
        if p.phase != "training":
            self.progress.setRange(0, 0)  # busy
            self.status.setText(f"step {p.step:,}: checking the generator on held-out simulated particles and on "
                                "pure noise…")
            return
        self.progress.setRange(0, 1000)
        self.progress.setValue(round(1000 * p.fraction))
        parts = [f"step {p.step:,}" + (f" of {p.steps:,}" if p.steps else "")]
        if p.budget_seconds:
            parts.append(f"{_clock(p.seconds)} of {_clock(p.budget_seconds)}")
        if p.validation:
            v = p.validation
            parts.append(f"validation PSNR {v['psnr']:.2f} dB (noisy input {v['input_psnr']:.2f} dB)")
        if self.stop_button.isEnabled():
            self.status.setText(" · ".join(parts))

    def _on_succeeded(self, card: dict) -> None:
        self.model_path = output_file(self.job.out, ".safetensors")
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self.status.setText(f"done: {self.model_path}")
        self.summary.setText("<b>model card</b><ul style='margin: 0'>" + "".join(
            f"<li>{_escape(line)}</li>" for line in summary_lines(card)) + "</ul>")
        self._set_state("finished")
        self.adjustSize()  # room for the summary
        self.trained.emit(str(self.model_path))

    def _on_stopped(self, step: int) -> None:
        self.progress.setRange(0, 1000)
        self.status.setText(f"stopped at step {step:,}; the checkpoint is kept: Resume continues from it")
        self._set_state("stopped")

    def _on_failed(self, message: str) -> None:
        self.progress.setRange(0, 1000)
        self.status.setText(f"<span style='color:#c62828'>training failed: {_escape(message)}</span>")
        log.error("training failed: %s", message)
        checkpoint = self.job is not None and output_file(self.job.out, ".train.pt").is_file()
        self._set_state("stopped" if checkpoint else "idle")

    def _set_state(self, state: str) -> None:
        """idle (nothing run), running, stopped (a checkpoint to resume), finished."""
        self.state = state
        editable = state in ("idle", "stopped", "finished")
        for widget in (self.simulated, self.minutes, self.device, self.output):
            widget.setEnabled(editable)
        table = getattr(self.source, "table", None)
        self.experimental.setEnabled(editable and table is not None and table.eulers() is not None)
        self.start_button.setEnabled(editable)
        self.stop_button.setEnabled(state == "running")
        self.resume_button.setEnabled(state == "stopped")
        self.use_button.setEnabled(state == "finished")
        self.progress.setVisible(state != "idle")
        self.summary.setVisible(state == "finished")

    def shutdown(self, wait_ms: int = 120000) -> None:
        """Stop a run (after its current step, checkpoint written) and wait for its thread."""
        if self.running:
            self.thread_.request_stop()
            if not self.thread_.wait(wait_ms):
                log.warning("the training thread did not stop within %d ms", wait_ms)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        if self.running:  # closing stops the run after its step; the checkpoint is kept
            self.stop()
        super().closeEvent(event)


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- the window's side ------------------------------------------------------------------------------
def can_train(window) -> bool:
    """A session and a map are open."""
    return window.session is not None and getattr(window, "map_path", None) is not None


def refresh_action(window) -> None:
    window.actions_["train_for_map"].setEnabled(can_train(window))


def open_dialog(window) -> TrainingDialog | None:
    """Show the training dialog of the open session and map (the one already open, if any)."""
    dialog: TrainingDialog | None = getattr(window, "training_dialog", None)
    if dialog is not None and (dialog.running or (dialog.isVisible() and dialog.source is getattr(
            window.session, "source", None))):
        dialog.show()
        dialog.raise_()
        return dialog
    if not can_train(window):
        window.statusBar().showMessage("open particles and a reference map first", 5000)
        return None
    if dialog is not None:  # an earlier session's, finished or stopped
        dialog.deleteLater()
    dialog = TrainingDialog(window.session.source, window.map_path, window,
                            device=window.viewbar.device.currentText())
    dialog.trained.connect(window.generators.remember)
    dialog.useModel.connect(lambda path: window.load_generator(path, window.viewbar.device.currentText()))
    window.training_dialog = dialog
    dialog.show()
    return dialog


def shutdown(window) -> None:
    """Stop the window's training run, if any (the window is closing)."""
    dialog: TrainingDialog | None = getattr(window, "training_dialog", None)
    if dialog is not None:
        dialog.shutdown()
        dialog.close()
