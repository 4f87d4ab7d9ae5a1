"""The main window: triptych, keep/reject bar, docks, menus and actions; wiring only.

The window holds one :class:`~gan_viewer.core.session.Session` at a time and the two workers that
outlive sessions (inference, which owns the device, and projection). Every decision goes
through the session, which journals it before it is applied; one that cannot be saved is not
shown and pauses decisions (:mod:`gan_viewer.gui.saving`). Only a particle whose raw image is on
screen can be decided. A large STAR file is read in the background (:mod:`gan_viewer.gui.opening`);
its first rows are shown, read-only, meanwhile.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from PyQt6.QtCore import QSettings, QTimer, pyqtSignal
from PyQt6.QtWidgets import QLabel, QMainWindow, QMessageBox, QProgressBar, QPushButton, QVBoxLayout, QWidget

from gan_viewer.core.curation import Label
from gan_viewer.core.memory import give_back_memory
from gan_viewer.core.scores import DEFAULT_SCORE
from gan_viewer.core.session import Session, saved_cursor
from gan_viewer.errors import InputError
from gan_viewer.gui import files, training
from gan_viewer.gui.actions import build_actions
from gan_viewer.gui.controls import CurationBar, MetadataPanel, SessionBanner, ViewBar
from gan_viewer.gui.curator import CuratorModel
from gan_viewer.gui.deciding import Deciding
from gan_viewer.gui.display import DisplayFiltering
from gan_viewer.gui.docks import Docks
from gan_viewer.gui.generators import GeneratorChoice
from gan_viewer.gui.opening import BackgroundOpening, Preview, check_readable, loads_in_background
from gan_viewer.io.micrograph import is_micrograph_file
from gan_viewer.gui.pipeline import ParticleImages
from gan_viewer.sim.reference_maker import ReferenceMaker
from gan_viewer.gui.saving import SaveGuard
from gan_viewer.gui.triptych import PENDING, Triptych
from gan_viewer.gui.workers import InferenceEngine, Loader, Request, Worker

log = logging.getLogger(__name__)

#: the cursor is saved this long after the last move (decisions save it at once)
CURSOR_SAVE_MS = 500


class MainWindow(BackgroundOpening, SaveGuard, Deciding, DisplayFiltering, QMainWindow):
    """The inspector window.

    Parameters
    ----------
    loader
        How to load the generator (``loader(model, device) -> (denoise, description)``); the
        real :class:`~gan_viewer.ml.inference.Denoiser` by default. Tests pass fakes.
    model, device
        The generator to load (None: the bundled default) and where ("auto", "cpu", "cuda", "mps").
    settings
        Where recent files are kept; the user's gan-viewer settings by default.
    prefetch
        Particles computed ahead of the cursor.

    Signals
    -------
    triptychDrawn(index)
        When every panel of particle ``index`` shows its image or a final message.
    sessionOpened()
        When a session is ready for decisions (at once for small files, later for large ones).
    openFailed(message)
        When a file opened in the background turned out unreadable (a dialog says so too).
    micrographShown()
        When the micrograph view has drawn its image (after an open, or a new display filter).
    """

    triptychDrawn = pyqtSignal(int)
    sessionOpened = pyqtSignal()
    openFailed = pyqtSignal(str)
    micrographShown = pyqtSignal()

    def __init__(self, *, loader: Loader | None = None, model: str | Path | None = None, device: str = "auto",
                 settings: QSettings | None = None, prefetch: int = 8) -> None:
        super().__init__()
        self.setWindowTitle("gan-viewer")
        self.settings = settings or files.default_settings()
        self.prefetch, self.model = prefetch, model
        self.session: Session | None = None
        self.preview: Preview | None = None  # the head of a file still being read
        self.images: ParticleImages | None = None
        self.curator: CuratorModel | None = None  # the curator model of the session
        self.shown_index: int | None = None  # the session's particle whose raw image is on screen
        self._init_opening()
        self.engine = InferenceEngine(loader)
        self.generator_status = f"loading generator{PENDING}"
        self.inference, self.projection = Worker("inference"), Worker("projection")
        self.inference.resultReady.connect(self._on_task)
        self.inference.failed.connect(self._on_task_failed)
        self.inference.start()
        self.projection.start()
        self._build_ui()
        self.actions_ = build_actions(self)
        self.docks = Docks(self, self.view_menu, self.metadata, self.go, self.save_failed,
                           self.micrographShown.emit, self.score_all)
        self._init_display()
        self._init_saving()
        self.refresh_decisions()
        self.cursor_timer = QTimer(self, singleShot=True, interval=CURSOR_SAVE_MS)
        self.cursor_timer.timeout.connect(lambda: self.session is not None and self.session.flush_cursor())
        self.setAcceptDrops(True)
        self.load_generator(model, device)

    def _build_ui(self) -> None:
        self.triptych, self.bar, self.viewbar = Triptych(), CurationBar(), ViewBar()
        self.metadata, self.banner = MetadataPanel(), SessionBanner()
        self.generators = GeneratorChoice(self.settings)  # the Generator menu and the structure-specific note
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        for widget, stretch in ((self.viewbar, 0), (self.banner, 0), (self.generators.note, 0), (self.triptych, 1),
                                (self.bar, 0)):
            layout.addWidget(widget, stretch)
        self.setCentralWidget(central)
        self.progress, self.cancel_button = QProgressBar(), QPushButton("Cancel")
        self.progress.setMaximumWidth(240)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self.progress.hide()
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_bulk)
        self.model_status = QLabel()
        self.statusBar().addPermanentWidget(self.model_status)
        self.viewbar.contrastChanged.connect(lambda m, s, i: self.triptych.set_contrast(m, s, i))
        self.viewbar.ctfToggled.connect(self._on_ctf)
        self.viewbar.spreadToggled.connect(self.triptych.set_show_spread)
        self.viewbar.deviceChanged.connect(lambda device: self.load_generator(self.model, device))
        self.bar.keep_button.clicked.connect(lambda: self.decide(Label.KEEP))
        self.bar.reject_button.clicked.connect(lambda: self.decide(Label.REJECT))
        self.bar.next_button.clicked.connect(self.next)
        self.bar.prev_button.clicked.connect(self.previous)

    # -- sessions ----------------------------------------------------------------------------------
    def open_path(self, path: str | Path, map_path: str | Path | None = None, **kwargs) -> bool:
        """Open particles (see :func:`~gan_viewer.core.particles.open_particles` for ``kwargs``).

        Shows a dialog and returns False when the file cannot be opened. A large STAR file is
        read in the background: the call returns True at once, its first particles show as soon
        as they are read, and ``sessionOpened`` (or ``openFailed``) tells when it is all read.
        """
        from gan_viewer.core.particles import open_particles

        if kwargs.get("coords") is None and is_micrograph_file(path):
            return self.open_micrograph(path)
        if loads_in_background(path, kwargs):
            self.open_in_background(path, map_path, kwargs)
            return True
        try:
            source = open_particles(path, kwargs.get("project_dir"), coords=kwargs.get("coords"),
                                    box=kwargs.get("box"), coords_scale=kwargs.get("coords_scale"))
            session = self._new_session(source)
        except Exception as exc:  # noqa: BLE001 - InputError, OSError: told to the user
            files.error_dialog(self, "Cannot open particles", str(exc))
            return False  # the previous particles stay open, untouched
        self.set_session(session, map_path)
        files.remember(self.settings, path, map_path, kwargs)
        self.actions_.refresh_recent()
        return True

    def _new_session(self, source) -> Session:
        """The session of ``source``, once the particle it opens at is known to be readable (a
        stack may be missing): until then nothing changes."""
        if source.path is not None and len(source):
            source.images([min(saved_cursor(source.path), len(source) - 1)])
        if self.session is not None and _same_file(self.session.source.path, source.path):
            self.close_session()  # the same file again: its session must be free to open
        session = Session(source)
        check_readable(session)  # where its session was left, if that is another one
        return session

    def set_session(self, session: Session, map_path: str | Path | None = None) -> None:
        """Show ``session`` (closing the previous one) from its saved cursor."""
        preview_images = self._take_preview()
        if session is self.session:
            self._detach()
        else:
            self.close_session()
        self.session = session
        self.map_path = map_path
        self.images = self._make_images(session, map_path, preview_images)
        session.curation.changed.connect(self._on_labels)
        name = Path(session.source.path).name if session.source.path else "particles"
        self.setWindowTitle(f"gan-viewer — {name} ({len(session):,} particles)")
        self.docks.attach(session, self.images, self._display_particles(session.source))
        self.curator = CuratorModel(session, self.images.features, parent=self)
        self.curator.predicted.connect(self._on_predicted)
        self.docks.set_predictor(self.curator.p_keep)
        self.docks.set_scores(self.images.score_columns())  # saved scores read back
        self.save_error = None
        self.refresh_decisions()
        if session.read_only:
            self.statusBar().showMessage("read-only: another gan-viewer window or process has this session open")
        if getattr(session.source, "scale_warning", None):  # the banner shows it too (refresh_decisions)
            log.warning("%s", session.source.scale_warning)
        self.bar.show_counts(session.curation.counts(), len(session))
        self.go(session.cursor)
        self.sessionOpened.emit()

    def _make_images(self, shown: Session | Preview, map_path: str | Path | None,
                     previous: ParticleImages | None = None) -> ParticleImages:
        """The images of ``shown``, taking over what ``previous`` (its preview's) already has."""
        reference = ReferenceMaker(shown.source, map_path)
        images = ParticleImages(shown, self.engine, self.inference, self.projection, reference,
                                self.prefetch, parent=self)
        images.set_ctf(self.viewbar.ctf.isChecked())
        if previous is not None:
            images.adopt(previous)
            previous.close()
            previous.deleteLater()
        images.updated.connect(self._on_updated)
        images.failed.connect(self._on_images_failed)
        images.progress.connect(self._on_progress)
        images.bulkFinished.connect(self._on_bulk_finished)
        self.viewbar.ctf.setEnabled(reference.available and reference.ctf_reason is None)
        self.viewbar.ctf.setToolTip(reference.reason or reference.ctf_reason or "")
        return images

    def set_map(self, map_path: str | Path | None) -> None:
        """Use ``map_path`` as the reference for the open session."""
        if self.session is not None:
            self.set_session(self.session, map_path)

    def close_session(self) -> None:
        self._cancel_opening()
        if self.session is None:
            self._close_micrograph()
            return
        self._detach()
        self.cursor_timer.stop()
        self.session.close()
        self.session = None
        self.shown_index = None
        self.save_error = None
        self.refresh_decisions()
        # once the event loop has deleted the session's widgets: its memory back to the system
        QTimer.singleShot(100, lambda: give_back_memory(collect=True))

    def _detach(self) -> None:
        self.session.curation.changed.disconnect(self._on_labels)
        if self.curator is not None:
            self.curator.predicted.disconnect(self._on_predicted)
            self.curator.close()
            self.curator.deleteLater()
            self.curator = None
            self.model_status.clear()
        self.docks.detach()
        if self.images is not None:
            self.images.close()
            self.images.deleteLater()
            self.images = None

    def _on_labels(self, indices: np.ndarray, labels: np.ndarray) -> None:
        self._last_changed = indices
        self.docks.labels_changed(indices, labels)
        if self.curator is not None:
            self.curator.schedule()
        self._on_labels_redraw()

    def _on_predicted(self) -> None:
        """A new prediction: the gallery's column and corners, the score line, the status bar."""
        if self.curator is None or self.sender() is not self.curator:
            return  # from a session closed since
        prediction = self.curator.prediction
        self.docks.set_scores({"predicted keep": prediction.p_keep})
        self.model_status.setText(prediction.summary() if prediction.ready else "")
        self.model_status.setToolTip(prediction.reason or "features: " + ", ".join(prediction.features))
        self.refresh()

    def _on_labels_redraw(self) -> None:
        """Counters, badge and micrograph boxes from the session's (saved) labels."""
        self.bar.show_counts(self.session.curation.counts(), len(self.session))
        self.bar.show_particle(self.session.cursor, len(self.session), self.session.curation.label(self.session.cursor))
        self.docks.set_labels(self.session.curation.labels)

    # -- display ------------------------------------------------------------------------------------
    def shown(self) -> Session | Preview | None:
        """What the triptych shows: the session, or the preview of a file still being read."""
        return self.session if self.session is not None else self.preview

    def refresh(self) -> None:
        """Redraw the current particle from the caches."""
        shown = self.shown()
        if shown is None:
            return
        index = shown.cursor
        try:
            raw, unreadable = self.images.raw(index), ""
        except (InputError, OSError) as exc:  # e.g. its stack went missing: say so, and allow no decision
            raw, unreadable = None, f"cannot show this particle: {exc}"
        if self.session is not None:
            self.shown_index = index if raw is not None else None
        images = {"raw": None if raw is None else self.raw_display.image(index, raw),
                  "recovered": self.images.get("recovered", index), "reference": self.images.get("reference", index)}
        self.triptych.set_images(images, {**self._messages(index), "raw": unreadable}, box=shown.source.box,
                                 recovered_scale=self.images.recovered_scale(), spread=self.images.get("spread", index),
                                 confidence=float(self.images.confidence[index]),
                                 threshold=getattr(self.engine.denoise, "confidence_threshold", None))
        extra = ()
        if self.session is not None:
            coverage = self.docks.coverage
            extra = (self.curator.describe(index) if self.curator is not None else "",
                     "rejecting it empties its view direction" if coverage is not None and
                     coverage.current_empties() else "")
        self.triptych.set_scores(float(self.images.scores[index]), float(self.images.raw_scores[index]), extra,
                                 gv_score=float(self.images.core[DEFAULT_SCORE][index]),
                                 gv_computable=self.images.core_available())
        if self.session is not None:
            self.bar.show_particle(index, len(self.session), self.session.curation.label(index))
        else:
            self.bar.show_reading(self.preview.offset + index)
        if self.triptych.is_complete():
            if self.preview is not None:
                self._preview_drawn()
            self.triptychDrawn.emit(index)

    def _messages(self, index: int) -> dict[str, str]:
        """What the recovered and reference panels say while they have no image of ``index``."""
        ref = self.images.reference
        failed = {kind: self.images.error(kind, index) for kind in ("recovered", "reference")}
        recovered = f"generator failed: {failed['recovered']}" if failed["recovered"] else (
            f"computing{PENDING}" if self.engine.denoise is not None else self.generator_status)
        reference = ref.reason or (f"projection failed: {failed['reference']}" if failed["reference"]
                                   else f"computing{PENDING}")
        return {"recovered": recovered, "reference": reference}

    def _on_images_failed(self, kind: str, message: str) -> None:
        """A worker failed: the panel of the particle says so (see :meth:`_messages`); a failed
        score-all stops, and a dialog says why."""
        if kind == "score":
            self.progress.hide()
            self.cancel_button.hide()
            files.error_dialog(self, "Score all stopped", f"scoring the particles failed: {message}")

    def _on_updated(self, index: int) -> None:
        shown = self.shown()
        if shown is not None and index == shown.cursor:
            self.refresh()

    def _on_ctf(self, on: bool) -> None:
        if self.images is not None:
            self.images.set_ctf(on)
            self.triptych.set_title("reference", "reference projection" + (" × CTF" if on else ""))
            self.refresh()

    # -- generator ----------------------------------------------------------------------------------
    def load_generator(self, model: str | Path | None, device: str) -> None:
        """Load the generator on ``device`` in the inference thread (the UI does not wait)."""
        self.model = model
        self.generator_status = f"loading generator{PENDING}"
        if self.images is not None:
            self.images.save_scores()  # under the generator that computed them
        self.engine.denoise = None
        if self.images is not None:
            self.images.reset("recovered")
        engine = self.engine
        self.inference.run_task(Request("task", np.zeros(0, np.int64), lambda _: engine.load(model, device)))
        self.refresh()

    def _on_task(self, request: Request, _indices, result) -> None:
        if request.kind == "task":
            self.generator_status = str(result)
            self.generators.loaded(self.model, getattr(self.engine.denoise, "card", None))
            self.triptych.set_title("recovered", f"GAN-recovered ({result})")
            self.statusBar().showMessage(f"generator: {result}", 10000)
            if self.session is not None:
                self.images.reset("recovered")
                self.go(self.session.cursor)
            elif self.preview is not None:
                self.images.reset("recovered")
                self.images.show(self.preview.cursor)
                self.refresh()

    def _on_task_failed(self, request: Request, message: str) -> None:
        if request.kind == "task":
            self.generator_status = message if message.startswith("no generator") else f"no generator: {message}"
            self.generators.loaded(self.model, None)
            self.triptych.set_title("recovered", "GAN-recovered")
            self.statusBar().showMessage(self.generator_status, 15000)
            self.refresh()

    # -- bulk work ----------------------------------------------------------------------------------
    def score_all(self) -> None:
        if self.session is None:
            self.statusBar().showMessage("open particles first (a large file: wait until it is read)", 5000)
            return
        queued = self.images.score_all()
        if queued is None:
            QMessageBox.information(self, "Score all", "Scores need a reference: open a map with angles in the STAR.")
            return
        if queued == 0:
            self.statusBar().showMessage("every particle is scored already", 5000)
            return
        done = len(self.session) - queued
        if done:
            self.statusBar().showMessage(f"resuming: {done:,} of {len(self.session):,} particles are scored already",
                                         10000)
        self.progress.setRange(0, len(self.session))
        self.progress.setValue(done)
        self._score_offset = done
        self.progress.show()
        self.cancel_button.show()

    def cancel_bulk(self) -> None:
        if self.images is not None:
            self.images.cancel()

    def _on_progress(self, done: int, total: int) -> None:
        self.progress.setValue(getattr(self, "_score_offset", 0) + done)
        self.docks.set_scores(self.images.score_columns())
        if self.curator is not None:
            self.curator.schedule()

    def _on_bulk_finished(self) -> None:
        self.progress.hide()
        self.cancel_button.hide()
        self.docks.set_scores(self.images.score_columns())
        if self.curator is not None:
            self.curator.schedule()
        self.refresh()

    # -- files --------------------------------------------------------------------------------------
    def export_curated(self) -> None:
        files.export_dialog(self)

    def exportable_scores(self) -> dict[str, np.ndarray]:
        """The session's scores that can be exported as columns, name -> (n,): those known for at
        least one particle, and the curator model's predicted keep once it has learnt."""
        if self.images is None:
            return {}
        scores = {name: values.copy() for name, values in self.images.saved_names().items()}
        if self.curator is not None and self.curator.p_keep() is not None:
            scores["predicted keep"] = self.curator.p_keep().copy()
        return {name: values for name, values in scores.items() if np.isfinite(values).any()}

    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        files.open_dropped(self, paths)

    def closeEvent(self, event) -> None:  # noqa: N802
        training.shutdown(self)
        self.close_session()
        self.inference.stop()
        self.projection.stop()
        super().closeEvent(event)


def _same_file(a: str | Path | None, b: str | Path | None) -> bool:
    return a is not None and b is not None and Path(a).resolve() == Path(b).resolve()
