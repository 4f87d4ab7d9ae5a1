"""Find bundled files (generator weights, model cards, the demo map) wherever gan-viewer runs.

The same lookup serves a source checkout (``<repo>/resources``), an installed wheel
(``gan_viewer/resources``, force-included by the build) and a PyInstaller app
(``sys._MEIPASS/resources``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from gan_viewer.errors import InputError

_PACKAGE = Path(__file__).resolve().parent


def resource_dirs() -> list[Path]:
    """Candidate resource folders, most specific first; only those that exist."""
    candidates = [_PACKAGE / "resources", _PACKAGE.parent / "resources"]
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        candidates.insert(0, Path(frozen) / "resources")
    return [c for c in candidates if c.is_dir()]


def resource_path(name: str) -> Path:
    """The bundled file ``name`` (a path relative to the resources folder).

    Raises
    ------
    InputError
        When no resources folder holds it.
    """
    for folder in resource_dirs():
        path = folder / name
        if path.exists():
            return path
    raise InputError(f"bundled resource {name!r} not found (looked in {[str(d) for d in resource_dirs()]})")
