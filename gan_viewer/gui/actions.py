"""The window's actions, their keyboard shortcuts and the menus that hold them.

Shortcuts live on actions added to the window itself, so they work wherever the focus is
(buttons and image views do not take keyboard focus).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from PyQt6.QtCore import QSettings
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QMainWindow, QMenu

from gan_viewer.core.curation import Label
from gan_viewer.gui import duplicates, files, training

#: name -> (menu, text, shortcuts)
SHORTCUTS = {
    "keep": ("&Curate", "&Keep", ["K"]),
    "reject": ("&Curate", "&Reject", ["R", "X"]),
    "next": ("&Curate", "&Next particle", ["Space", "Right"]),
    "previous": ("&Curate", "&Previous particle", ["Backspace", "Left"]),
    "next_undecided": ("&Curate", "Next &undecided", ["N"]),
    "next_uncertain": ("&Curate", "Next most un&certain (curator model)", ["Shift+N"]),
    "undo": ("&Curate", "&Undo", ["U", "Ctrl+Z"]),
    "redo": ("&Curate", "Re&do", ["Ctrl+Shift+Z"]),
}


@dataclass
class Actions:
    """The window's actions by name, and the Open Recent menu (rebuilt from ``settings``; an entry
    opens with ``open_path(path, map, **options)``)."""

    window: QMainWindow
    settings: QSettings
    open_path: Callable[..., bool]
    by_name: dict[str, QAction] = field(default_factory=dict)
    recent_menu: QMenu | None = None
    dialogs: dict = field(default_factory=dict)  # the Help menu's dialogs, made once

    def __getitem__(self, name: str) -> QAction:
        return self.by_name[name]

    def refresh_recent(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for entry in files.recent(self.settings):
            action = menu.addAction(files.describe(entry))
            action.triggered.connect(lambda _=False, e=entry: files.open_entry(self.open_path, e))
        menu.setEnabled(bool(menu.actions()))


def build_actions(window) -> Actions:
    """Create every action of ``window`` (a MainWindow) with its menu entry and shortcuts."""
    actions = Actions(window, window.settings, window.open_path)
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    _add(actions, file_menu, "open", "&Open particles…", ["Ctrl+O"], lambda: files.open_dialog(window))
    _add(actions, file_menu, "open_map", "Open reference &map…", ["Ctrl+M"], lambda: files.open_map_dialog(window))
    _add(actions, file_menu, "open_picks", "Open &picks for the micrograph…", ["Ctrl+Shift+O"],
         lambda: files.open_picks_dialog(window))
    _add(actions, file_menu, "next_micrograph", "Ne&xt micrograph of the picks", ["Ctrl+PgDown"],
         lambda: files.open_neighbour_micrograph(window, +1))
    _add(actions, file_menu, "previous_micrograph", "Pre&vious micrograph of the picks", ["Ctrl+PgUp"],
         lambda: files.open_neighbour_micrograph(window, -1))
    actions.recent_menu = file_menu.addMenu("Open &recent")
    actions.refresh_recent()
    file_menu.addSeparator()
    _add(actions, file_menu, "export", "&Export curated STAR…", ["Ctrl+E"], window.export_curated)
    _add(actions, file_menu, "export_table", "Export &all micrographs of the picks…", [],
         lambda: files.export_table_dialog(window))
    file_menu.addSeparator()
    _add(actions, file_menu, "quit", "&Quit", ["Ctrl+Q"], window.close)
    handlers = {"keep": lambda: window.decide(Label.KEEP), "reject": lambda: window.decide(Label.REJECT),
                "next": window.next, "previous": window.previous, "next_undecided": window.next_undecided,
                "next_uncertain": window.next_uncertain,
                "undo": window.undo, "redo": window.redo}
    menus: dict[str, QMenu] = {}
    for name, (menu_name, text, keys) in SHORTCUTS.items():
        menu = menus.get(menu_name) or menus.setdefault(menu_name, bar.addMenu(menu_name))
        _add(actions, menu, name, text, keys, handlers[name])
    curate = menus["&Curate"]
    curate.addSeparator()
    _add(actions, curate, "apply_predictions", "&Apply the model's sure predictions…", [],
         lambda: window.apply_predictions())
    _add(actions, curate, "reject_duplicates", "Reject duplicate &picks…", [],
         lambda: duplicates.reject_duplicates(window))
    tools = bar.addMenu("&Tools")
    _add(actions, tools, "score_all", "&Score all particles", ["Ctrl+Shift+S"], window.score_all)
    _add(actions, tools, "cancel", "&Cancel background work", ["Escape"], window.cancel_bulk)
    tools.addSeparator()
    _add(actions, tools, "train_for_map", "&Train a generator for this map…", [], lambda: training.open_dialog(window))
    tools.aboutToShow.connect(lambda: training.refresh_action(window))
    window.sessionOpened.connect(lambda: training.refresh_action(window))
    actions["train_for_map"].setEnabled(False)
    window.generators.build_menu(bar.addMenu("&Generator"),
                                 lambda model: window.load_generator(model, window.viewbar.device.currentText()))
    window.view_menu = bar.addMenu("&View")
    from gan_viewer.gui.help import show_help  # help imports SHORTCUTS from here

    help_menu = bar.addMenu("&Help")
    _add(actions, help_menu, "legend", "&Legend…", ["F1"], lambda: show_help(window, "legend"))
    _add(actions, help_menu, "shortcuts", "&Keyboard shortcuts…", [], lambda: show_help(window, "shortcuts"))
    _add(actions, help_menu, "about", "&About gan-viewer…", [], lambda: show_help(window, "about"))
    return actions


def _add(actions: Actions, menu: QMenu, name: str, text: str, keys: list[str], slot) -> QAction:
    action = QAction(text, actions.window)
    action.setShortcuts([QKeySequence(k) for k in keys])
    action.triggered.connect(slot)
    menu.addAction(action)
    actions.window.addAction(action)  # shortcuts work even with the menu bar hidden
    actions.by_name[name] = action
    return action
