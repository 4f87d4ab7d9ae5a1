"""The Help menu: a legend that names every panel, dock, badge and key; the shortcuts; About."""

from __future__ import annotations

from PyQt6.QtWidgets import QDockWidget

from gan_viewer import __version__
from gan_viewer.gui.actions import SHORTCUTS
from gan_viewer.gui.controls import BADGE
from gan_viewer.gui.help import legend_sections, legend_text
from gan_viewer.gui.triptych import TITLES


def menu_actions(window, title: str) -> dict[str, object]:
    menu = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == title)
    return {a.text().replace("&", "").rstrip("…"): a for a in menu.actions()}


def test_legend_names_every_panel_dock_badge_and_key(make_window, tiny_set):
    window = make_window(tiny_set)
    text = legend_text()
    terms = {term for _, entries in legend_sections() for term, _ in entries}
    assert set(TITLES) <= terms  # raw, GAN-recovered, reference projection
    docks = {d.windowTitle().split(" (")[0] for d in window.findChildren(QDockWidget)}
    assert docks == {"Metadata", "Gallery", "Angular coverage"} and docks | {"Micrograph"} <= terms
    for text_shown, _colour in BADGE.values():
        assert text_shown in text
    for name in ("agreement with the reference", "spread", "confidence"):
        assert name in terms
    for _menu, _text, keys in SHORTCUTS.values():
        assert ", ".join(keys) in text


def test_help_menu_opens_legend_shortcuts_and_about(make_window, qtbot, tiny_set):
    window = make_window(tiny_set)
    actions = menu_actions(window, "Help")
    assert set(actions) == {"Legend", "Keyboard shortcuts", "About gan-viewer"}
    actions["Legend"].trigger()
    legend = window.actions_.dialogs["legend"]
    assert legend.isVisible() and "reference projection" in legend.text() and "confidence" in legend.text()
    actions["Keyboard shortcuts"].trigger()
    shortcuts = window.actions_.dialogs["shortcuts"].text()
    for needle in ("Keep", "Ctrl+Shift+Z", "Legend", "F1", "undecide the selected particles"):
        assert needle in shortcuts
    qtbot.waitUntil(lambda: window.engine.description != "", timeout=10000)
    actions["About gan-viewer"].trigger()
    about = window.actions_.dialogs["about"].text()
    assert f"gan-viewer {__version__}" in about
    assert "Bundled generator: default" in about and "96 px at 3.0 Å/px" in about
    assert "fake on cpu" in about  # the generator loaded now
