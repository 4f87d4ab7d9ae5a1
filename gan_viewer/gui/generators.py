"""Which generator recovers the particles: the Generator menu and the structure-specific note.

The menu lists "default" (the bundled generator) and the generators trained in the inspector
(remembered in the settings), one of them checked: the one loaded. A generator whose model card
says it was trained for one map (:func:`gan_viewer.core.cards.trained_for_map`) draws that map's
shape into whatever it is given, so while one is loaded a note above the images says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtGui import QAction, QActionGroup
from PyQt6.QtWidgets import QLabel, QMenu, QSizePolicy

from gan_viewer.core.cards import specific_warning

SETTINGS_KEY = "generators/trained"
MAX_REMEMBERED = 10
DEFAULT = "default"


class SpecificNote(QLabel):
    """An amber line that stays while a structure-specific generator is loaded."""

    def __init__(self) -> None:
        super().__init__()
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setStyleSheet("QLabel { background: #ffb300; color: black; font-weight: bold; padding: 5px 10px; "
                           "border-radius: 4px; }")
        self.hide()

    def show_for(self, card: dict | None) -> None:
        """Show the warning when ``card`` is a structure-specific generator's, hide it otherwise."""
        text = specific_warning(card)
        self.setText(text or "")
        self.setToolTip(text or "")
        self.setVisible(text is not None)


class GeneratorChoice:
    """The Generator menu ("default" and trained generators) and the note.

    Parameters
    ----------
    settings
        Where the trained generators are remembered.
    """

    def __init__(self, settings: QSettings) -> None:
        self.settings = settings
        self.note = SpecificNote()
        self.menu: QMenu | None = None
        self.group: QActionGroup | None = None
        self._select: Callable[[str | None], None] | None = None
        self.current: str | None = None  # None: the default

    def build_menu(self, menu: QMenu, select: Callable[[str | None], None]) -> None:
        """Fill ``menu``; choosing an entry calls ``select(path)`` (None for the default)."""
        self.menu, self._select = menu, select
        self.rebuild()

    def trained(self) -> list[str]:
        """Remembered generators whose files still exist, newest first."""
        value = self.settings.value(SETTINGS_KEY, [])
        paths = [value] if isinstance(value, str) else list(value or [])
        return [p for p in paths if Path(p).is_file()]

    def remember(self, path: str | Path) -> None:
        """Add a trained generator (``.safetensors``) to the menu, first."""
        path = str(Path(path).resolve())
        paths = [path] + [p for p in self.trained() if p != path]
        self.settings.setValue(SETTINGS_KEY, paths[:MAX_REMEMBERED])
        self.rebuild()

    def rebuild(self) -> None:
        if self.menu is None:
            return
        self.menu.clear()
        self.group = QActionGroup(self.menu)
        self.group.setExclusive(True)
        self._add(DEFAULT, None, "the bundled generator")
        for path in self.trained():
            self._add(Path(path).name.removesuffix(".safetensors"), path, path)
        self._check()

    def _add(self, text: str, path: str | None, tip: str) -> QAction:
        action = QAction(text, self.menu, checkable=True)
        action.setData(path)
        action.setToolTip(tip)
        action.triggered.connect(lambda _=False, p=path: self._select(p))
        self.group.addAction(action)
        self.menu.addAction(action)
        return action

    def actions(self) -> list[QAction]:
        return [] if self.menu is None else self.menu.actions()

    def loaded(self, model: str | Path | None, card: dict | None) -> None:
        """A generator finished loading (``card`` None: none is loaded): check it and show the note."""
        self.current = None if model is None or str(model) == DEFAULT else str(Path(model).resolve())
        self.note.show_for(card)
        self._check()

    def _check(self) -> None:
        for action in self.actions():
            action.setChecked(action.data() == self.current)
