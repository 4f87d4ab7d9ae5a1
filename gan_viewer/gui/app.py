"""The Qt application: start-up, the error dialog for uncaught exceptions, headless screenshots.

:func:`run` is what ``gan-viewer gui`` calls. Bad command-line input raises
:class:`~gan_viewer.errors.InputError` before any window appears (the command line prints one
line and exits 2); later errors (a file opened from the menu, a failing worker) are shown in the
window. A large STAR file is checked by its head before the window appears and read in full
behind it; if the rest turns out unreadable the window says so (with ``--screenshot``: exit 2).
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PyQt6.QtCore import QSize, QTimer
from PyQt6.QtGui import QIcon
from PyQt6.QtWidgets import QApplication, QMessageBox

from gan_viewer.errors import InputError
from gan_viewer.resources import resource_path

if TYPE_CHECKING:
    from gan_viewer.core.session import Session

log = logging.getLogger(__name__)

SCREENSHOT_TIMEOUT_S = 120


def create_app(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists), with pyqtgraph set to row-major images."""
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setApplicationName("gan-viewer")
    app.setOrganizationName("gan-viewer")
    app.setDesktopFileName("gan-viewer")  # packaging/gan-viewer.desktop
    try:
        app.setWindowIcon(QIcon(str(resource_path("icons/gan-viewer.png"))))
    except InputError:
        log.debug("no icon among the bundled resources")
    return app


def install_excepthook() -> None:
    """Uncaught exceptions in Qt slots go to the log and to a dialog instead of killing the app."""
    def hook(kind, value, tb) -> None:
        log.error("uncaught exception:\n%s", "".join(traceback.format_exception(kind, value, tb)))
        if QApplication.instance() is None:
            return
        text = str(value) if isinstance(value, InputError) else f"{kind.__name__}: {value}"
        box = QMessageBox(QMessageBox.Icon.Critical, "gan-viewer: error", text)
        box.setDetailedText("".join(traceback.format_exception(kind, value, tb)))
        box.open()
    sys.excepthook = hook


def run(file: Path | None = None, *, map_path: Path | None = None, model: str | None = None, device: str = "auto",
        coords: Path | None = None, box: int | None = None, project_dir: Path | None = None,
        screenshot: Path | None = None, selection: Path | None = None, session_path: Path | None = None,
        coords_scale: float | None = None) -> int:
    """Open the window on ``file`` (the bundled demo when None) and run the event loop.

    ``coords_scale`` multiplies the coordinates of ``coords`` (None: 1; see
    :class:`~gan_viewer.core.micrograph_particles.MicrographParticles`).

    ``selection``, RELION's Select-job file for ``file``, labels the particles before the window
    opens; ``session_path`` is the session file to use instead of the default one beside ``file``
    (with either, a large file is read before the window, not behind it).

    Raises
    ------
    InputError
        When the particles or the map cannot be opened.
    """
    from gan_viewer.core.particles import open_particles
    from gan_viewer.core.session import Session
    from gan_viewer.gui.opening import loads_in_background
    from gan_viewer.io.micrograph import is_micrograph_file
    from gan_viewer.io.star_head import read_star_head

    if file is None:
        from gan_viewer.gui.demo import demo_set

        file, demo_map = demo_set()
        map_path = map_path or demo_map
    if map_path is not None and not Path(map_path).is_file():
        raise InputError("no such map file", map_path)
    options = {k: v for k, v in (("coords", coords), ("box", box), ("project_dir", project_dir)) if v is not None}
    if coords_scale not in (None, 1):
        options["coords_scale"] = coords_scale
    if coords is None and is_micrograph_file(file):  # shown without particles, read behind the window
        session = None
    elif selection is None and session_path is None and loads_in_background(file, options):
        read_star_head(file, 1)  # a file that is not a STAR file fails here, before any window
        session = None
    else:
        source = open_particles(file, project_dir, coords=coords, box=box, coords_scale=coords_scale)
        session = Session(source, session_path) if selection is None else _labelled_session(
            source, Path(selection), session_path)
    app = create_app()
    previous_hook = sys.excepthook
    install_excepthook()
    from gan_viewer.gui import files
    from gan_viewer.gui.main_window import MainWindow

    window = MainWindow(model=model, device=device)
    window.resize(initial_size(app))
    if screenshot is not None:
        _arm_screenshot(app, window, Path(screenshot))
    if session is None:
        window.open_path(file, map_path, **options)
    else:
        window.set_session(session, map_path)
        files.remember(window.settings, file, map_path, options)
        window.actions_.refresh_recent()
    window.show()
    try:
        return app.exec()
    finally:
        sys.excepthook = previous_hook
        window.close()
        window.deleteLater()


def _labelled_session(source, selection: Path, session_path: Path | None) -> Session:
    """The session of ``source`` with the labels of RELION's Select-job file; the file is checked
    before the session file is opened, so a selection that does not fit writes nothing."""
    from gan_viewer.core.export import labels_from_selection
    from gan_viewer.core.session import SaveError, Session

    table = getattr(source, "table", None)
    if table is None:
        raise InputError("a selection file labels the rows of a STAR file; open the STAR file", selection)
    labels = labels_from_selection(selection, table)
    session = Session(source, session_path)
    try:
        keep, reject = session.take_labels(labels)
    except SaveError as exc:
        session.close()
        raise InputError(f"cannot take its labels: {exc}", selection) from exc
    log.info("%s: %d kept, %d rejected (Ctrl+Z undoes)", selection, keep, reject)
    return session


def initial_size(app: QApplication) -> QSize:
    """1600 x 1000, or less on a smaller screen (a 1366 x 768 laptop). The offscreen platform's
    screen is a fixed 800 x 600 that no one sees, so offscreen windows (screenshots) keep 1600 x 1000."""
    size = QSize(1600, 1000)
    screen = app.primaryScreen()
    if screen is None or app.platformName() == "offscreen":
        return size
    return size.boundedTo(screen.availableGeometry().size())


def _arm_screenshot(app: QApplication, window, path: Path) -> None:
    """Save the window to ``path`` once the first triptych of the open session is complete and the
    micrograph view (if any) has its image, then quit (status 0; 1 on timeout; 2 when a file read
    in the background is unreadable). A micrograph without particles needs only its image."""
    done = []

    def ready() -> bool:
        micrograph = window.docks.micrograph
        if micrograph is not None and not micrograph.shown:
            return False
        return window.session is not None and window.triptych.is_complete() or (
            window.micrograph_path is not None and micrograph is not None)

    def save(status: int) -> None:
        if done:
            return
        done.append(status)
        app.processEvents()
        if not window.grab().save(str(path)):
            log.error("could not write %s", path)
            status = 1
        log.info("screenshot %s%s", path, "" if status == 0 else " (timed out before the triptych was complete)")
        window.close()
        app.exit(status)

    def failed(message: str) -> None:
        log.error("%s", message)
        done.append(2)
        window.close()
        app.exit(2)

    window.triptychDrawn.connect(lambda _index: ready() and QTimer.singleShot(300, lambda: save(0)))
    window.micrographShown.connect(lambda: ready() and QTimer.singleShot(300, lambda: save(0)))
    window.openFailed.connect(failed)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_S * 1000, lambda: save(1))
