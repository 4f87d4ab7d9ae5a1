"""Small widgets around the triptych: the keep/reject bar, the session banner, the view toolbar and
the metadata table."""

from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton,
                             QTableWidget, QTableWidgetItem, QWidget)

from gan_viewer.core.curation import Label
from gan_viewer.core.display_filters import BINNING_CHOICES, LOWPASS_CHOICES_A, DisplayFilter

BADGE = {
    Label.UNDECIDED: ("undecided", "#5a5a5a"),
    Label.KEEP: ("KEEP", "#2e7d32"),
    Label.REJECT: ("REJECT", "#c62828"),
}


class CurationBar(QWidget):
    """Previous / keep / reject / next buttons, the current particle's badge and the counter.

    The buttons do nothing themselves; the window connects them to its actions (which also
    carry the keyboard shortcuts). Keep and reject are on only while decisions can be saved
    (:meth:`set_decisions_enabled`).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.decisions_enabled = True
        self.prev_button = self._button("◀ previous", "Backspace / Left")
        self.keep_button = self._button("Keep  (K)", "K", "#2e7d32")
        self.reject_button = self._button("Reject  (R / X)", "R or X", "#c62828")
        self.next_button = self._button("next ▶", "Space / Right")
        self.position = QLabel()
        self.badge = QLabel()
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.badge.setMinimumWidth(110)
        self.counter = QLabel()
        self.counter.setWordWrap(True)  # a million of each still fits a laptop's width, on two lines
        self.counter.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        for widget in (self.prev_button, self.keep_button, self.reject_button, self.next_button):
            layout.addWidget(widget)
        layout.addSpacing(12)
        layout.addWidget(self.position)
        layout.addWidget(self.badge)
        layout.addWidget(self.counter, 1)  # the room left; wraps only when there is too little

    def _button(self, text: str, keys: str, colour: str | None = None) -> QPushButton:
        button = QPushButton(text)
        button.setToolTip(keys)
        button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys go to the window's shortcuts
        button.setMinimumHeight(40)
        if colour:
            button.setStyleSheet(f"QPushButton {{ background: {colour}; color: white; font-weight: bold; "
                                 "font-size: 13pt; padding: 4px 18px; } "
                                 "QPushButton:disabled { background: #9e9e9e; color: #e0e0e0; }")
        return button

    def set_decisions_enabled(self, on: bool) -> None:
        """Keep and reject on or off (off: read-only session, or the journal cannot be written)."""
        self.decisions_enabled = on
        for button in (self.keep_button, self.reject_button):
            button.setEnabled(on and self.prev_button.isEnabled())

    def show_particle(self, index: int, total: int, label: Label) -> None:
        """The position ("particle 12 of 300") and the label badge of the current particle."""
        self._enable(True)
        self.badge.show()
        self.position.setText(f"particle {index + 1:,} of {total:,}")
        text, colour = BADGE[Label(label)]
        self.badge.setText(text)
        self.badge.setStyleSheet(f"QLabel {{ background: {colour}; color: white; font-weight: bold; "
                                 "border-radius: 6px; padding: 6px 10px; }")

    def show_reading(self, index: int) -> None:
        """The position while the particle file is still being read (no decisions yet)."""
        self._enable(False)
        self.badge.show()
        self.position.setText(f"particle {index + 1:,}")
        self.badge.setText("reading the file…")
        self.badge.setStyleSheet("QLabel { color: #555555; font-style: italic; padding: 6px 10px; }")
        self.counter.setText("keep / reject open when every particle is read")

    def show_no_particles(self) -> None:
        """A micrograph shown without particles: nothing to move through or decide."""
        self._enable(False)
        self.position.setText("micrograph only")
        self.badge.hide()
        self.counter.setText("no particles to curate")

    def _enable(self, on: bool) -> None:
        for button in (self.prev_button, self.next_button):
            button.setEnabled(on)
        for button in (self.keep_button, self.reject_button):
            button.setEnabled(on and self.decisions_enabled)

    def show_counts(self, counts: dict[Label, int], total: int) -> None:
        self.counter.setText(f"kept {counts[Label.KEEP]:,}  ·  rejected {counts[Label.REJECT]:,}  ·  "
                             f"undecided {counts[Label.UNDECIDED]:,}  of {total:,}")


class SessionBanner(QWidget):
    """A coloured bar above the triptych that says why decisions are off, with an optional action;
    or, with decisions on, something about the set the user should read before curating (that it
    starts in a session of its own, that its picks look made on a binned micrograph).

    Hidden while everything is normal. ``retry_button`` is shown only with :meth:`show_not_saved`,
    ``dismiss_button`` only with :meth:`show_note`.
    """

    STYLES = {"read-only": "#8a6d00", "not saved": "#b71c1c", "note": "#1f4e79"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.retry_button = QPushButton("Retry")
        self.retry_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.retry_button.setToolTip("Try to write the session file again; keep and reject come back if it works")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.dismiss_button = QPushButton("Dismiss")
        self.dismiss_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        layout.addWidget(self.text, 1)
        layout.addWidget(self.retry_button)
        layout.addWidget(self.dismiss_button)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.kind = ""
        self.hide()

    def show_read_only(self, message: str) -> None:
        self._show("read-only", f"Read-only: {message}. Keep and reject are off in this window.", retry=False)

    def show_not_saved(self, message: str) -> None:
        self._show("not saved", f"Decisions paused: {message}. Keep and reject are off until the session file "
                   "can be written again.", retry=True)

    def show_note(self, message: str) -> None:
        """``message`` (one sentence or more, as shown), with Dismiss."""
        self._show("note", message, retry=False, dismiss=True)

    def clear(self) -> None:
        self.kind = ""
        self.text.clear()
        self.hide()

    def _show(self, kind: str, text: str, retry: bool, dismiss: bool = False) -> None:
        self.kind = kind
        self.text.setText(text)
        self.setStyleSheet(f"SessionBanner {{ background: {self.STYLES[kind]}; }} "
                           "QLabel { color: white; font-weight: bold; font-size: 11pt; }")
        self.retry_button.setVisible(retry)
        self.dismiss_button.setVisible(dismiss)
        self.show()


class ViewBar(QWidget):
    """Contrast (mode, sigmas, invert), the display filter (low-pass, binning), CTF on the
    reference, and the generator's device.

    Signals
    -------
    contrastChanged(mode, sigmas, invert)
    displayChanged(DisplayFilter)
        The low-pass or binning of the raw panel, gallery and micrograph view changed.
    ctfToggled(bool)
    spreadToggled(bool)
        Show the generator's spread over the recovered panel.
    deviceChanged(device)
    """

    contrastChanged = pyqtSignal(str, float, bool)
    displayChanged = pyqtSignal(object)
    ctfToggled = pyqtSignal(bool)
    spreadToggled = pyqtSignal(bool)
    deviceChanged = pyqtSignal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = QComboBox()
        self.mode.addItem("auto (± σ)", "sigma")
        self.mode.addItem("min / max", "minmax")
        self.sigmas = QDoubleSpinBox(minimum=0.5, maximum=10.0, singleStep=0.5, value=3.0, suffix=" σ")
        self.invert = QCheckBox("invert")
        self.lowpass = QComboBox(toolTip="Gaussian low-pass of the raw panel, gallery and micrograph (for the eye "
                                         "only: scores use the raw pixels); amplitude 1/e at this resolution")
        for value in LOWPASS_CHOICES_A:
            self.lowpass.addItem("off" if value is None else f"{value:g} Å", value)
        self.binning = QComboBox(toolTip="Bin the raw panel, gallery and micrograph by Fourier cropping")
        for value in BINNING_CHOICES:
            self.binning.addItem("off" if value == 1 else f"{value}", value)
        self.ctf = QCheckBox("CTF on reference")
        self.spread = QCheckBox("spread", toolTip="Colour the recovered panel where the generator is unsure: where "
                                                  "its recovery changes when the particle is turned or flipped")
        self.device = QComboBox()
        for name in ("auto", "cpu", "cuda", "mps"):
            self.device.addItem(name)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        for widget in (QLabel("contrast"), self.mode, self.sigmas, self.invert, QLabel("low-pass"), self.lowpass,
                       QLabel("bin"), self.binning, self.ctf, self.spread, QLabel("device"), self.device):
            layout.addWidget(widget)
        layout.addStretch(1)
        for widget in (self.mode, self.sigmas, self.invert, self.lowpass, self.binning, self.ctf, self.spread,
                       self.device):
            widget.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.mode.currentIndexChanged.connect(self._emit_contrast)
        self.sigmas.valueChanged.connect(self._emit_contrast)
        self.invert.toggled.connect(self._emit_contrast)
        self.lowpass.currentIndexChanged.connect(lambda _: self.displayChanged.emit(self.display_filter()))
        self.binning.currentIndexChanged.connect(lambda _: self.displayChanged.emit(self.display_filter()))
        self.ctf.toggled.connect(self.ctfToggled)
        self.spread.toggled.connect(self.spreadToggled)
        self.device.currentTextChanged.connect(self.deviceChanged)

    def _emit_contrast(self) -> None:
        self.sigmas.setEnabled(self.mode.currentData() == "sigma")
        self.contrastChanged.emit(self.mode.currentData(), self.sigmas.value(), self.invert.isChecked())

    def display_filter(self) -> DisplayFilter:
        return DisplayFilter(self.lowpass.currentData(), self.binning.currentData())

    def set_display_filter(self, display: DisplayFilter) -> None:
        """Show ``display`` in the combo boxes (one of the choices offered); emits ``displayChanged`` once if it changed."""
        if display.lowpass_a not in LOWPASS_CHOICES_A or display.binning not in BINNING_CHOICES:
            raise ValueError(f"{display} is not among the choices offered")
        if display == self.display_filter():
            return
        for combo, choices, value in ((self.lowpass, LOWPASS_CHOICES_A, display.lowpass_a),
                                      (self.binning, BINNING_CHOICES, display.binning)):
            combo.blockSignals(True)
            combo.setCurrentIndex(choices.index(value) if value in choices else 0)
            combo.blockSignals(False)
        self.displayChanged.emit(self.display_filter())


class MetadataPanel(QTableWidget):
    """Every STAR column (or coordinate-file field) of the current particle, one row each."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setHorizontalHeaderLabels(["column", "value"])
        self.horizontalHeader().setStretchLastSection(True)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # full values in the tooltips
        self.setMinimumWidth(340)

    def show_metadata(self, values: dict[str, object]) -> None:
        self.setRowCount(len(values))
        for row, (key, value) in enumerate(values.items()):
            text = f"{value:.6g}" if isinstance(value, float) else str(value)
            item = QTableWidgetItem(text)
            item.setToolTip(str(value))
            self.setItem(row, 0, QTableWidgetItem(str(key)))
            self.setItem(row, 1, item)
        self.resizeColumnToContents(0)
