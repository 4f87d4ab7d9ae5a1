"""Opening particle files without freezing the window.

A large STAR file (over :data:`BACKGROUND_BYTES`) is read in a background thread in two steps.
First the rows at the saved cursor (:mod:`gan_viewer.io.star_head`: milliseconds, wherever they
are in the file) become a read-only :class:`Preview`, which the window shows at once; then, once the window says
the preview is on screen (:meth:`FileOpener.proceed`; the generator's start-up and the parser
would otherwise share the CPU and both be late), the whole file and its session are opened, and
the window switches to them, keeping the images it already has. Keys that decide or move wait
for the session: a decision is only ever made where it is journaled.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, pyqtSignal

from gan_viewer.core.memory import give_back_memory
from gan_viewer.core.particles import StarParticles, open_particles
from gan_viewer.core.session import Session, saved_cursor
from gan_viewer.errors import InputError
from gan_viewer.gui import files
from gan_viewer.gui.triptych import PENDING
from gan_viewer.io.micrograph import micrograph_header
from gan_viewer.io.star_head import read_star_head, read_star_rows

if TYPE_CHECKING:
    from gan_viewer.gui.pipeline import ParticleImages

log = logging.getLogger(__name__)

#: STAR files larger than this (about 100,000 particles) are opened in the background
BACKGROUND_BYTES = 8 << 20
#: a saved cursor among the file's first rows gets a preview of this many rows from the start
PREVIEW_ROWS = 256
#: the whole file is read at the latest this many seconds after its preview was sent
MAX_PREVIEW_WAIT_S = 10.0
#: what the particle panels say while a micrograph opened without coordinates is shown
NO_PARTICLES = {"raw": "no particles: a micrograph opened without coordinates (to box particles: File > Open "
                       "picks…, or --coords picks.star --box N)",
                "recovered": "no particles", "reference": "no particles"}


def loads_in_background(path: str | Path, options: dict) -> bool:
    """True for a particle STAR file large enough to be opened in the background."""
    path = Path(path)
    return (options.get("coords") is None and path.suffix.lower() == ".star" and path.is_file()
            and path.stat().st_size > BACKGROUND_BYTES)


@dataclass
class Preview:
    """The first particles of a file still being read: enough to show one (no labels, no journal).

    Attributes
    ----------
    source
        A run of the file's particles: its row ``i`` is row ``offset + i`` of the whole file.
    cursor
        The particle to show (a row of ``source``): where the file's session was left.
    offset
        The file's row of ``source``'s first row.
    """

    source: StarParticles
    cursor: int
    offset: int = 0

    def __len__(self) -> int:
        return len(self.source)


def read_preview(path: str | Path, project_dir: str | Path | None = None, prefetch: int = 8) -> Preview | None:
    """The preview of a STAR file, or None when its head cannot give one.

    Raises
    ------
    InputError
        When the head of the file is already malformed, or the particle to show cannot be read
        (e.g. its stack is missing), as opening the whole file would tell.
    """
    cursor = saved_cursor(path)
    if cursor + prefetch < PREVIEW_ROWS:
        offset, table = 0, read_star_head(path, PREVIEW_ROWS)
    else:  # the rows before the cursor are counted, not parsed
        offset, table = cursor, read_star_rows(path, cursor, prefetch + 1)
    if table is None or cursor - offset >= len(table):
        return None
    source = StarParticles(table, project_dir)
    source.images([cursor - offset])
    return Preview(source, cursor - offset, offset)


class FileOpener(QObject):
    """Opens particle files in background threads; only the latest request's results are sent.

    Signals
    -------
    previewReady(ticket, Preview)
        The head of the file, to show while the rest is read.
    opened(ticket, Session)
        The whole file and its session. A session nobody receives is closed.
    failed(ticket, message)
        The file cannot be opened (one line, naming the file).
    """

    previewReady = pyqtSignal(int, object)
    opened = pyqtSignal(int, object)
    failed = pyqtSignal(int, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ticket = 0
        self._proceed = threading.Event()

    def open(self, path: str | Path, options: dict, prefetch: int = 8) -> int:
        """Start opening ``path`` (``options`` as for :func:`open_particles`); returns its ticket."""
        self.ticket += 1
        self._proceed = threading.Event()
        thread = threading.Thread(target=self._run, name=f"open-{self.ticket}", daemon=True,
                                  args=(self.ticket, self._proceed, Path(path), dict(options), prefetch))
        thread.start()
        return self.ticket

    def proceed(self) -> None:
        """Read the whole file now (the preview is on screen)."""
        self._proceed.set()

    def proceeding(self) -> bool:
        return self._proceed.is_set()

    def cancel(self) -> None:
        """Drop whatever is still being opened."""
        self.ticket += 1
        self._proceed.set()

    def _run(self, ticket: int, proceed: threading.Event, path: Path, options: dict, prefetch: int) -> None:
        try:
            preview = read_preview(path, options.get("project_dir"), prefetch)
            if preview is not None and self._send("previewReady", ticket, preview):
                proceed.wait(MAX_PREVIEW_WAIT_S)
            if ticket != self.ticket:
                return
            give_back_memory()  # what the previous set and the parser's temporaries used
            session = Session(open_particles(path, **options))
            give_back_memory()
            check_readable(session)
        except (InputError, OSError) as exc:
            self._send("failed", ticket, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must reach the user, not die with the thread
            log.exception("opening %s failed", path)
            self._send("failed", ticket, f"{path}: {type(exc).__name__}: {exc}")
            return
        if not self._send("opened", ticket, session):
            session.close()

    def _send(self, signal: str, ticket: int, value: object) -> bool:
        """Emit ``signal`` (its name: looking up a signal of a deleted object raises too) unless
        ``ticket`` is stale; whether it was emitted."""
        if ticket != self.ticket:
            return False
        try:
            getattr(self, signal).emit(ticket, value)
        except RuntimeError:  # the window was closed while the file was read
            return False
        return True


def check_readable(session: Session) -> None:
    """Raise (closing ``session``) unless the particle it opens at can be read (a stack may be missing)."""
    try:
        session.source.images([session.cursor])
    except BaseException:
        session.close()
        raise


class BackgroundOpening:
    """The window's side of opening a file in the background (mixed into the main window).

    It shows the preview when it comes, switches to the session when the whole file is read
    (keeping the preview's images), and reports a file that turns out unreadable. A micrograph
    opened without coordinates is shown in the micrograph view alone (read and filtered there in
    the background), with no particles and no curation.
    """

    def _init_opening(self) -> None:
        self.opener = FileOpener(self)
        self.opener.previewReady.connect(self._on_preview)
        self.opener.opened.connect(self._on_opened)
        self.opener.failed.connect(self._on_open_failed)
        self._opening: tuple[int, Path, Path | None, dict] | None = None  # ticket, file, map, options
        self.micrograph_path: Path | None = None  # a micrograph shown without particles

    def open_micrograph(self, path: str | Path) -> bool:
        """Show the micrograph ``path`` without particles (closing what was open); False, with a
        dialog, when it cannot be read (what was open stays open)."""
        try:
            (height, width), apix = micrograph_header(path)
        except (InputError, OSError) as exc:
            files.error_dialog(self, "Cannot open micrograph", str(exc))
            return False
        self.close_session()
        self.micrograph_path = Path(path)
        self.docks.show_micrograph(self.micrograph_path, apix)
        self._display_particles(None)
        self.triptych.set_images({}, NO_PARTICLES)
        self.bar.show_no_particles()
        self.metadata.show_metadata({"micrograph": str(self.micrograph_path), "size (px)": f"{width} x {height}",
                                     "pixel size (Å)": "unknown" if apix is None else apix})
        self.setWindowTitle(f"gan-viewer — {self.micrograph_path.name} (micrograph, no particles)")
        files.remember(self.settings, path, None, {})
        self.actions_.refresh_recent()
        return True

    def _close_micrograph(self) -> None:
        if self.micrograph_path is not None:
            self.micrograph_path = None
            self.docks.detach()
            self.triptych.set_images({}, {})
            self.metadata.show_metadata({})

    def open_in_background(self, path: str | Path, map_path: str | Path | None, options: dict) -> None:
        """Close the open session and start reading ``path``; see :meth:`open_path`."""
        self.close_session()
        ticket = self.opener.open(path, options, self.prefetch)
        self._opening = (ticket, Path(path), map_path, options)
        self.triptych.set_images({}, {"raw": f"reading {Path(path).name}{PENDING}"})
        self.setWindowTitle(f"gan-viewer — {Path(path).name} (reading…)")
        self.statusBar().showMessage(f"reading {path}…")

    def _preview_drawn(self) -> None:
        """The preview is on screen: let the whole file be read, the previous set's memory freed first."""
        if not self.opener.proceeding():
            give_back_memory(collect=True)  # the closed session's widgets are gone by now
            self.opener.proceed()

    def _cancel_opening(self) -> None:
        if self._opening is not None:
            self.opener.cancel()
            self._opening = None
        self._drop_preview()

    def _on_preview(self, ticket: int, preview: Preview) -> None:
        if self._opening is None or ticket != self._opening[0]:
            return
        self.preview = preview
        self.images = self._make_images(preview, self._opening[2])
        self._display_particles(preview.source)
        self.images.show(preview.cursor)
        self.metadata.show_metadata(preview.source.metadata(preview.cursor))
        self.refresh()

    def _on_opened(self, ticket: int, session: Session) -> None:
        if self._opening is None or ticket != self._opening[0]:
            session.close()
            return
        _, path, map_path, options = self._opening
        self._opening = None
        self.statusBar().clearMessage()
        self.set_session(session, map_path)
        files.remember(self.settings, path, map_path, options)
        self.actions_.refresh_recent()

    def _on_open_failed(self, ticket: int, message: str) -> None:
        if self._opening is None or ticket != self._opening[0]:
            return
        self._opening = None
        self._drop_preview()
        self.triptych.set_images({}, {"raw": "could not open the particles (see the message)"})
        self.setWindowTitle("gan-viewer")
        self.statusBar().clearMessage()
        self.openFailed.emit(message)
        files.error_dialog(self, "Cannot open particles", message)

    def _take_preview(self) -> ParticleImages | None:
        """End the preview, handing back its images (None when there was none)."""
        if self.preview is None:
            return None
        images, self.images, self.preview = self.images, None, None
        images.updated.disconnect(self._on_updated)
        return images

    def _drop_preview(self) -> None:
        images = self._take_preview()
        if images is not None:
            images.close()
            images.deleteLater()
