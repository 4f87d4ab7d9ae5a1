"""Curate > "Reject duplicate picks…": reject the undecided picks that lie within a distance of a
pick that stays, on the same micrograph (:mod:`gan_viewer.core.duplicates`), as one undoable
step, after asking.

Which pick stays: a kept one over an undecided one, and among undecided ones the later in the
file, as RELION's ``--remove_duplicates`` has it (for Topaz's picks, the higher score:
:func:`~gan_viewer.core.duplicates.source_pick_rank`); rejected picks take no part. Kept picks are
never changed: two kept duplicates are reported, for the curator to choose. Segments of one
filament are never duplicates of each other (:func:`~gan_viewer.core.duplicates.close_pairs`).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from PyQt6 import QtWidgets
from PyQt6.QtCore import QTimer

from gan_viewer.core.curation import Label
from gan_viewer.core.duplicates import (DEFAULT_DISTANCE, close_pairs, outranked_in, source_micrograph_pixel_sizes,
                                        source_pick_positions, source_pick_rank)
from gan_viewer.core.session import SaveError
from gan_viewer.errors import InputError

#: one search at a time, off the window's thread
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duplicates")


class DuplicateDialog(QtWidgets.QDialog):
    """The distance that makes two picks one particle, and the micrographs' pixel size."""

    def __init__(self, distance: float, micrograph_apix: float | None, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Reject duplicate picks")
        form = QtWidgets.QFormLayout(self)
        self.distance = QtWidgets.QDoubleSpinBox(decimals=1, minimum=0.0, maximum=10000.0, value=distance,
                                                 suffix=" Å", toolTip="Picks of one micrograph this close "
                                                 "are one particle (RELION's default: 30 Å)")
        self.apix = QtWidgets.QDoubleSpinBox(decimals=4, minimum=0.0, maximum=100.0, suffix=" Å/px",
                                             value=micrograph_apix or 0.0, specialValueText="as the file says",
                                             toolTip="The pixel size of the micrographs the coordinates are "
                                             "in. RELION assumes the particles' (its --image_angpix); "
                                             "particles extracted binned need the micrographs'.")
        self._given = self.apix.value()
        form.addRow("Minimum distance between particles", self.distance)
        form.addRow("Micrograph pixel size", self.apix)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> tuple[float, float | None]:
        """(distance in Angstrom, micrograph pixel size, None when left as the file says)."""
        apix = self.apix.value()
        return self.distance.value(), (None if apix == self._given or apix == 0 else apix)


def ask_settings(window, distance: float, micrograph_apix: float | None) -> tuple[float, float | None] | None:
    """The dialog's answer, None when cancelled (tests replace this)."""
    dialog = DuplicateDialog(distance, micrograph_apix, window)
    return dialog.values() if dialog.exec() == QtWidgets.QDialog.DialogCode.Accepted else None


def reject_duplicates(window) -> bool:
    """Ask for the distance, find the picks that close in a thread (about a second for a million
    particles), then offer to reject the undecided ones that duplicate a pick that stays
    (:func:`_offer`, after ``window.confirm``; one step, Ctrl+Z undoes it). True when the search
    started."""
    if window.session is None or not window.decisions_allowed() or finding(window):
        return False
    session = window.session
    try:
        apix = np.unique(source_micrograph_pixel_sizes(session.source))
    except InputError as exc:
        window.statusBar().showMessage(f"duplicate picks: {exc}", 10000)
        return False
    settings = window.settings
    last = float(settings.value("duplicates/distance", DEFAULT_DISTANCE, float))
    answer = ask_settings(window, last, float(apix[0]) if len(apix) == 1 else None)
    if answer is None:
        return False
    distance, micrograph_apix = answer
    settings.setValue("duplicates/distance", distance)
    window.statusBar().showMessage(f"finding picks within {distance:g} Å of another…")
    future = _POOL.submit(lambda: close_pairs(source_pick_positions(session.source, micrograph_apix), distance))
    poll = QTimer(window, interval=30)
    window.duplicates_poll = poll

    def check() -> None:
        if future.done():
            poll.stop()
            window.duplicates_poll = None
            if window.session is session:  # not closed or replaced meanwhile
                _offer(window, future, distance, micrograph_apix)

    poll.timeout.connect(check)
    poll.start()
    return True


def finding(window) -> bool:
    """True while a search for duplicate picks runs."""
    return getattr(window, "duplicates_poll", None) is not None


def _offer(window, future: Future, distance: float, micrograph_apix: float | None) -> bool:
    """Reject the undecided picks the pairs make duplicates of a pick that stays, with the
    decisions as they are now, after asking. True when applied."""
    try:
        pairs = future.result()
    except InputError as exc:
        window.statusBar().showMessage(f"duplicate picks: {exc}", 10000)
        return False
    labels = window.session.curation.labels
    n = len(labels)
    order, rule = source_pick_rank(window.session.source)
    rank = order + n * (labels == Label.KEEP)  # kept first, then the file's rule
    outranked = outranked_in(pairs, n, rank=rank, present=labels != Label.REJECT)
    reject = np.flatnonzero((outranked >= 0) & (labels == Label.UNDECIDED))
    kept_twice = int(((outranked >= 0) & (labels == Label.KEEP)).sum())
    note = (f"\n\n{kept_twice:,} kept particle{'s lie' if kept_twice > 1 else ' lies'} within {distance:g} Å of "
            "another kept one; kept particles are left as they are, so choose between them yourself."
            if kept_twice else "")
    if not reject.size:
        window.statusBar().showMessage(f"no undecided pick lies within {distance:g} Å of another pick that stays on "
                                       f"its micrograph{'; ' + note.strip() if note else ''}", 10000)
        return False
    where = ("at the micrograph pixel size the file gives" if micrograph_apix is None
             else f"at {micrograph_apix:g} Å/px on the micrographs")
    warning = window.docks.coverage.warning(reject) if window.docks.coverage is not None else ""
    many = reject.size > 1
    text = (f"Reject {reject.size:,} undecided pick{'s that lie' if many else ' that lies'} within {distance:g} Å "
            f"of another pick on the same micrograph ({where}, after the refined shifts)? The pick that stays is "
            f"a kept one, else {rule}. One step: Ctrl+Z undoes it." + note + (f"\n\n{warning}" if warning else ""))
    if not window.decisions_allowed() or not window.confirm("Reject duplicate picks", text):
        window.statusBar().clearMessage()
        return False
    try:
        window.session.decide(Label.REJECT, reject)
    except SaveError as exc:
        window.save_failed(exc)
        return False
    window.statusBar().showMessage(f"rejected {reject.size:,} duplicate pick{'s' if many else ''}", 8000)
    return True
