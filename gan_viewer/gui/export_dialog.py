"""The export dialog: where to write, where undecided particles go, and what "kept" means.

The meaning is the one of :mod:`gan_viewer.core.export` and ``gan-viewer export``: the kept file
holds the particles labelled keep; the rejected file holds every other particle. Undecided
particles are not kept unless the user says so here.
"""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import (QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                             QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton, QVBoxLayout, QWidget)

from gan_viewer.core.curation import Label
from gan_viewer.core.export import score_label

MEANING = ("<b>Kept</b> means labelled keep, as RELION's Select job writes the selected particles: the kept "
           "file holds the particles you kept, and nothing else. The rejected file holds <b>every other "
           "particle</b>, so the two files together are the whole set.")


def rejected_name(kept: Path) -> Path:
    """``x_kept.star`` -> ``x_rejected.star``; any other name gets ``_rejected`` added."""
    if "_kept" in kept.name:
        return kept.with_name(kept.name.replace("_kept", "_rejected"))
    return kept.with_name(f"{kept.stem}_rejected.star")


class ExportDialog(QDialog):
    """Ask for the kept file, whether to write the rejected one, and where undecided particles go.

    Parameters
    ----------
    counts
        Particles per label.
    kept_path
        The suggested kept file.
    score_names
        The scores computed in this session, which can be added as columns (none: no such choice).
    """

    def __init__(self, counts: dict[Label, int], kept_path: Path, parent: QWidget | None = None,
                 score_names: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export curated STAR")
        self.meaning = QLabel(MEANING)
        self.meaning.setWordWrap(True)
        self.counts = QLabel(f"labelled keep {counts[Label.KEEP]:,} · reject {counts[Label.REJECT]:,} · "
                             f"undecided {counts[Label.UNDECIDED]:,}")
        self.path = QLineEdit(str(kept_path))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.not_kept = QRadioButton("are not kept (they go to the rejected file)")
        self.kept = QRadioButton("are kept (they go to the kept file)")
        self.not_kept.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.not_kept)
        group.addButton(self.kept)
        self.write_rejected = QCheckBox()
        self.write_rejected.setChecked(True)
        labels = ", ".join(score_label(name) for name in score_names)
        self.scores = QCheckBox(f"add them as columns: {labels} (nan where not computed)")
        self.scores.setToolTip("The scores of this session, as extra columns of both files (RELION ignores columns "
                               "it does not use); as gan-viewer export --scores")
        self.scores.setVisible(bool(score_names))
        self.path.textChanged.connect(self._update)
        self.write_rejected.toggled.connect(self._update)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Kept file", row)
        form.addRow(f"Undecided ({counts[Label.UNDECIDED]:,})", self.not_kept)
        form.addRow("", self.kept)
        form.addRow("Rejected file", self.write_rejected)
        if score_names:
            form.addRow("Scores", self.scores)
        layout = QVBoxLayout(self)
        for widget in (self.meaning, self.counts):
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(620, self.sizeHint().height())
        self._update()

    def choice(self) -> tuple[Path, Path | None, Label]:
        """The kept file, the rejected file (None: not written) and where undecided particles go."""
        kept = Path(self.path.text())
        rejected = rejected_name(kept) if self.write_rejected.isChecked() else None
        return kept, rejected, Label.KEEP if self.kept.isChecked() else Label.REJECT

    def _update(self) -> None:
        self.write_rejected.setText(f"also write {rejected_name(Path(self.path.text())).name} (every particle "
                                    "not kept)")

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export kept particles", self.path.text(), "STAR (*.star)")
        if path:
            self.path.setText(path)
