"""File > Open picks' options: the box to cut around each pick, and the picks' coordinate scale.

The scale is ``--coords-scale``'s: picks made on a copy of the micrograph binned by k are read at
k times their coordinates. The inspector asks about it by itself only when every pick lies in the
micrograph's top-left part (:func:`gan_viewer.gui.files.picks_scale_hint`); here the user gives
it for any picks, e.g. picks made on a copy binned by 4 that reach beyond its quarter.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QLabel, QSpinBox, QWidget

#: what the scale field accepts (the CLI's --coords-scale takes any positive number)
SCALE_RANGE = (0.01, 64.0)
BOX_RANGE = (2, 1 << 15)


class PicksOptions(QDialog):
    """Ask for the box around each pick (px) and the coordinate scale of ``picks_name``.

    Parameters
    ----------
    picks_name
        The coordinate file's name, shown in the title.
    box
        The box offered (the open picks' box, else the last one used).
    scale
        The scale offered (the open picks' scale, else 1).
    """

    def __init__(self, picks_name: str, box: int, scale: float = 1.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Open picks: {picks_name}")
        self.box = QSpinBox()
        self.box.setRange(*BOX_RANGE)
        self.box.setSuffix(" px")
        self.box.setValue(int(box))
        self.scale = QDoubleSpinBox()
        self.scale.setRange(*SCALE_RANGE)
        self.scale.setDecimals(3)
        self.scale.setSingleStep(0.5)
        self.scale.setPrefix("×")
        self.scale.setValue(float(scale))
        self.scale.setToolTip("The picks' coordinates are multiplied by this (--coords-scale): 2 for picks "
                              "made on a copy of the micrograph binned by 2, 0.5 for picks made on one "
                              "upsampled by 2.")
        form = QFormLayout(self)
        form.addRow("Box around each pick:", self.box)
        form.addRow("Coordinate scale:", self.scale)
        note = QLabel("Scale: 1 for picks made on this micrograph as it is, 2 for picks made on a copy "
                      "binned by 2.")
        note.setWordWrap(True)
        form.addRow(note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.setMinimumWidth(340)

    def values(self) -> tuple[int, float]:
        """(box in pixels, coordinate scale) as given."""
        return int(self.box.value()), float(self.scale.value())
