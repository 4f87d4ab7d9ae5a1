"""The layers of the design: io/core import neither torch nor Qt; only gui imports Qt."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gan_viewer"
FORBIDDEN = {
    "io": ("torch", "PyQt6", "pyqtgraph", "gan_viewer.core", "gan_viewer.gui", "gan_viewer.sim", "gan_viewer.ml"),
    "core": ("torch", "PyQt6", "pyqtgraph", "gan_viewer.gui", "gan_viewer.sim", "gan_viewer.ml"),
    "sim": ("PyQt6", "pyqtgraph", "gan_viewer.gui"),
    "ml": ("PyQt6", "pyqtgraph", "gan_viewer.gui"),
    "cli": ("PyQt6", "pyqtgraph"),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer: str) -> None:
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in imported_modules(path):
            bad = [f for f in FORBIDDEN[layer] if name == f or name.startswith(f + ".")]
            assert not bad, f"{path.relative_to(PACKAGE)} imports {name}"
