"""Moving through the particles and deciding them: the window's navigation, keep / reject,
undo / redo and the curator model's suggestions, as a mixin of the main window.

Every decision goes through the session, which journals it before it is applied; a
:class:`~gan_viewer.core.session.SaveError` is handed to :meth:`SaveGuard.save_failed
<gan_viewer.gui.saving.SaveGuard.save_failed>`, which undoes it on screen and pauses decisions.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtWidgets import QMessageBox

from gan_viewer.core.curation import Label
from gan_viewer.core.session import SaveError


class Deciding:
    """Navigation and decisions.

    The window provides ``session``, ``images``, ``metadata``, ``docks``, ``curator``,
    ``cursor_timer``, ``shown_index``, ``refresh()``, ``statusBar()`` and, from
    :class:`~gan_viewer.gui.saving.SaveGuard`, ``decisions_allowed()`` and ``save_failed()``.
    """

    def go(self, index: int) -> None:
        """Make particle ``index`` current (clamped) and show what is known of it."""
        if self.session is None:
            return
        index = self.session.move_to(index)
        self.cursor_timer.start()
        self.images.show(index)
        self.metadata.show_metadata(self.session.source.metadata(index))
        self.docks.set_current(index)
        self.refresh()

    def next(self) -> None:
        if self.session is not None:
            self.go(self.session.cursor + 1)

    def previous(self) -> None:
        if self.session is not None:
            self.go(self.session.cursor - 1)

    def next_undecided(self) -> None:
        if self.session is not None:
            index = self.session.curation.next_undecided(self.session.cursor)
            if index is None:
                self.statusBar().showMessage("every particle is decided", 5000)
            else:
                self.go(index)

    def next_uncertain(self) -> None:
        """Go to the undecided particle the curator model is least sure of."""
        if self.curator is None:
            return
        index = self.curator.next_uncertain()
        if index is None:
            prediction = self.curator.prediction
            self.statusBar().showMessage(prediction.reason if not prediction.ready else
                                         "every particle is decided", 8000)
        else:
            self.go(index)

    def apply_predictions(self, sure: float = 0.8) -> bool:
        """Label the undecided particles the curator model is sure of (p keep >= ``sure`` or
        <= 1 - ``sure``) as it predicts, after asking; two decisions (reject, then keep)."""
        from gan_viewer.core.learning import predicted_labels

        if not self.decisions_allowed() or self.curator is None or self.curator.p_keep() is None:
            self.statusBar().showMessage(self.curator.prediction.reason if self.curator else "open particles first",
                                         8000)
            return False
        guess = predicted_labels(self.curator.p_keep(), sure)
        guess[self.session.curation.labels != Label.UNDECIDED] = Label.UNDECIDED
        reject, keep = np.flatnonzero(guess == Label.REJECT), np.flatnonzero(guess == Label.KEEP)
        left = int((self.session.curation.labels == Label.UNDECIDED).sum()) - reject.size - keep.size
        warning = self.docks.coverage.warning(reject) if self.docks.coverage is not None else ""
        text = (f"Reject {reject.size:,} and keep {keep.size:,} undecided particles, as the curator model predicts "
                f"with p ≥ {sure:.1f}? {left:,} it is less sure of stay undecided. Two steps: Ctrl+Z twice undoes "
                "them." + (f"\n\n{warning}" if warning else ""))
        if not reject.size and not keep.size or not self.confirm("Apply the model's predictions", text):
            return False
        try:
            for label, indices in ((Label.REJECT, reject), (Label.KEEP, keep)):
                if indices.size:
                    self.session.decide(label, indices)
        except SaveError as exc:
            self.save_failed(exc)
            return False
        return True

    def confirm(self, title: str, text: str) -> bool:
        """Yes / no in a dialog (tests replace it)."""
        return QMessageBox.question(self, title, text) == QMessageBox.StandardButton.Yes

    def decide(self, label: Label, advance: bool = True) -> None:
        """Label the current particle (or the gallery's selection, when it has the focus), saved
        before it shows, and move to the next one."""
        if not self.decisions_allowed():
            return
        if self.docks.decide_selection(label):  # the gallery reports its own failures (decisionFailed)
            return
        if self.shown_index != self.session.cursor:
            self.statusBar().showMessage(f"particle {self.session.cursor + 1} could not be shown, so it cannot "
                                         "be decided", 10000)
            return
        try:
            self.session.decide(label)
        except SaveError as exc:
            self.save_failed(exc)
            return
        if advance and self.session.cursor < len(self.session) - 1:
            self.next()

    def undo(self) -> None:
        """Undo the last decision (whatever has the focus: Ctrl+Z is never "undecide the selection")."""
        self._history(self.session.undo if self.decisions_allowed() else None)

    def redo(self) -> None:
        self._history(self.session.redo if self.decisions_allowed() else None)

    def _history(self, step) -> None:
        self._last_changed: np.ndarray | None = None
        try:
            changed = step is not None and step()
        except SaveError as exc:
            self.save_failed(exc)
            return
        if changed and self._last_changed is not None and len(self._last_changed) == 1:
            self.go(int(self._last_changed[0]))
