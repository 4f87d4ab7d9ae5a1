"""When decisions cannot be saved: the window's side (mixed into the main window).

A decision is shown only once the session has committed it (:class:`~gan_viewer.core.session.Session`
saves before it changes anything). When a save fails (disk full, I/O error), the labels on screen
are still the saved ones; the user is told why in a dialog, keep / reject / undo / redo are turned
off and a red banner stays above the images with a Retry button, until a test write succeeds. A
read-only session (another window or process holds it) gets a yellow banner and no decisions.
"""

from __future__ import annotations

import logging

from PyQt6.QtWidgets import QMessageBox

from gan_viewer.core.session import SaveError

log = logging.getLogger(__name__)

#: the window's actions that change labels
DECISION_ACTIONS = ("keep", "reject", "undo", "redo", "apply_predictions")


class SaveGuard:
    """Decisions on or off, and what the user is told (see the module docstring).

    The window provides ``session``, ``bar``, ``banner``, ``docks``, ``actions_`` and ``statusBar()``.
    """

    def _init_saving(self) -> None:
        self.save_error: SaveError | None = None  # the last failed save, until a retry succeeds
        self.save_dialog: QMessageBox | None = None
        self.banner.retry_button.clicked.connect(self.retry_saving)
        self.banner.dismiss_button.clicked.connect(self.dismiss_note)
        self.dismissed_notes: set[str] = set()  # banner notes the user has read (Dismiss)

    def decisions_allowed(self) -> bool:
        """True when a decision made now would be saved."""
        return self.session is not None and not self.session.read_only and self.save_error is None

    def save_failed(self, error: SaveError) -> None:
        """A decision (or undo / redo) was not saved: say so, and pause decisions."""
        log.error("decision not saved: %s", error)
        self.save_error = error
        self.refresh_decisions()
        if self.session is not None:  # the labels on screen are the saved ones: redraw them
            self._on_labels_redraw()
        self._show_save_dialog(
            f"Your last decision was not saved to {error.path} ({error.reason}), so it has been undone, and keep "
            "and reject are paused until the session file can be written again.")

    def retry_saving(self) -> bool:
        """Test whether the session file can be written again; decisions come back if so."""
        if self.session is None or self.save_error is None:
            return True
        try:
            self.session.check_writable()
        except SaveError as exc:
            log.error("still cannot save: %s", exc)
            self.save_error = exc
            self.refresh_decisions()
            self._show_save_dialog(f"The session file {exc.path} still cannot be written ({exc.reason}); "
                                   "keep and reject stay paused.")
            return False
        self.save_error = None
        if self.save_dialog is not None:
            self.save_dialog.close()
            self.save_dialog = None
        self.refresh_decisions()
        self.statusBar().showMessage(f"saving to {self.session.journal.path} works again", 10000)
        return True

    def refresh_decisions(self) -> None:
        """Turn keep / reject / undo / redo on or off, and show or hide the banner, from the state."""
        allowed = self.decisions_allowed()
        for name in DECISION_ACTIONS:
            self.actions_[name].setEnabled(allowed)
        self.bar.set_decisions_enabled(allowed)
        self.docks.set_decisions_enabled(allowed)
        if self.session is not None and self.session.read_only:
            self.banner.show_read_only(self.session.read_only_reason)
        elif self.save_error is not None:
            self.banner.show_not_saved(f"could not save to {self.save_error.path} ({self.save_error.reason})")
        elif (note := self.session_note()) is not None:
            self.banner.show_note(note)
        else:
            self.banner.clear()

    def session_note(self) -> str | None:
        """The first note about the open set not dismissed yet: that it has a session of its own
        (:attr:`~gan_viewer.core.session.Session.other_set_note`), that its picks look made on a
        binned micrograph (:attr:`~gan_viewer.core.micrograph_particles.MicrographParticles.scale_warning`)."""
        if self.session is None:
            return None
        notes = (self.session.other_set_note and f"Decisions kept apart: {self.session.other_set_note}.",
                 getattr(self.session.source, "scale_warning", None) and
                 f"Warning: {self.session.source.scale_warning}.")
        return next((note for note in notes if note and note not in self.dismissed_notes), None)

    def dismiss_note(self) -> None:
        """The banner's Dismiss: the user has read the note; the next one, if any, shows."""
        self.dismissed_notes.add(self.banner.text.text())
        self.refresh_decisions()

    def _show_save_dialog(self, message: str) -> None:
        if self.save_dialog is not None:
            self.save_dialog.close()
        box = QMessageBox(QMessageBox.Icon.Critical, "Decision not saved", message,
                          QMessageBox.StandardButton.Retry | QMessageBox.StandardButton.Close, self)
        box.setDefaultButton(QMessageBox.StandardButton.Retry)
        box.buttonClicked.connect(
            lambda button: button is box.button(QMessageBox.StandardButton.Retry) and self.retry_saving())
        self.save_dialog = box
        box.open()  # window-modal, but it does not block the caller (tests, a running event loop)
