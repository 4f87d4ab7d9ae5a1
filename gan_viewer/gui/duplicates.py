"""Curate > "Reject duplicate picks…": reject the undecided picks that lie within a distance of a
pick that stays, on the same micrograph (:mod:`gan_viewer.core.duplicates`), as one undoable
step, after asking.

Which pick stays: a kept one over an undecided one, and among undecided ones the later in the
file, as RELION's ``--remove_duplicates`` has it; rejected picks take no part. Kept picks are
never changed: two kept duplicates are reported, for the curator to choose.
"""

from __future__ import annotations

import numpy as np
from PyQt6 import QtWidgets

from gan_viewer.core.curation import Label
from gan_viewer.core.duplicates import DEFAULT_DISTANCE, outranked_by, source_pick_positions
from gan_viewer.core.session import SaveError
from gan_viewer.errors import InputError


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
    """Ask for the distance, find the undecided picks that duplicate a pick that stays, and
    reject them after ``window.confirm`` (one step: Ctrl+Z undoes it). True when applied."""
    if window.session is None or not window.decisions_allowed():
        return False
    source = window.session.source
    try:
        apix = np.unique(source_pick_positions(source).micrograph_apix)
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
    labels = window.session.curation.labels
    n = len(labels)
    rank = np.arange(n, dtype=np.float64) + n * (labels == Label.KEEP)  # kept first, then the later
    try:
        positions = source_pick_positions(source, micrograph_apix)
    except InputError as exc:
        window.statusBar().showMessage(f"duplicate picks: {exc}", 10000)
        return False
    outranked = outranked_by(positions, distance, rank=rank, present=labels != Label.REJECT)
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
            "a kept one, else the later one in the file, as RELION's duplicate removal has it. One step: Ctrl+Z "
            "undoes it." + note + (f"\n\n{warning}" if warning else ""))
    if not window.confirm("Reject duplicate picks", text):
        return False
    try:
        window.session.decide(Label.REJECT, reject)
    except SaveError as exc:
        window.save_failed(exc)
        return False
    window.statusBar().showMessage(f"rejected {reject.size:,} duplicate pick{'s' if reject.size > 1 else ''}", 8000)
    return True
