"""File dialogs, recent files, drag and drop, and export, for the main window.

The dialogs take the window (their parent) and use only its public methods (``open_path``,
``set_map``, ``session``, ``settings``); the others take just what they need.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PyQt6.QtCore import QSettings, QTimer
from PyQt6.QtWidgets import QFileDialog, QMessageBox, QWidget

from gan_viewer.core.curation import Label
from gan_viewer.core.export import ExportResult, export_curated
from gan_viewer.core.micrograph_particles import MicrographParticles, curation_table
from gan_viewer.core.table_picks import ExistingOutputs, TableExport, export_table_picks, table_micrographs
from gan_viewer.errors import InputError
from gan_viewer.gui.export_dialog import ExportDialog
from gan_viewer.gui.picks_dialog import PicksOptions
from gan_viewer.io.micrograph import is_micrograph_file

log = logging.getLogger(__name__)

PARTICLE_FILTER = "Particles (*.star *.mrcs *.mrc *.cs);;All files (*)"
MAP_FILTER = "Maps (*.mrc *.map *.mrc.gz);;All files (*)"
PICKS_FILTER = "Picks: RELION .star, EMAN .box, Topaz's table (*.star *.box *.txt *.tsv);;All files (*)"
DEFAULT_PICK_BOX = 128
MAX_RECENT = 10
#: exports of a whole picks table, one at a time, off the window's thread
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="export-table")


def default_settings() -> QSettings:
    """The user's gan-viewer settings (an INI file; tests redirect it with ``QSettings.setPath``)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "gan-viewer", "gan-viewer")


def error_dialog(parent: QWidget | None, title: str, message: str) -> None:
    """Tell the user what went wrong (and log it: offscreen nobody reads dialogs)."""
    log.error("%s: %s", title, message)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, parent)
    box.open()  # not exec(): never blocks a caller (tests, screenshots)


# -- recent files ---------------------------------------------------------------------------------
def recent(settings: QSettings) -> list[dict]:
    """Recently opened sets, newest first: dicts with path, map, coords, box, project_dir."""
    try:
        entries = json.loads(settings.value("recent", "[]"))
    except (TypeError, ValueError):
        return []
    return [e for e in entries if isinstance(e, dict) and "path" in e]


def remember(settings: QSettings, path, map_path, options: dict) -> None:
    entry = {"path": str(Path(path).resolve()), "map": None if map_path is None else str(map_path)}
    kinds = {"box": int, "coords_scale": float}
    entry.update({k: (None if v is None else kinds.get(k, str)(v)) for k, v in options.items()})
    entries = [entry] + [e for e in recent(settings) if e != entry]
    settings.setValue("recent", json.dumps(entries[:MAX_RECENT]))


def describe(entry: dict) -> str:
    text = Path(entry["path"]).name
    if entry.get("coords"):
        text += f" + {Path(entry['coords']).name}"
    if entry.get("coords_scale"):
        text += f" ×{entry['coords_scale']:g}"
    if entry.get("map"):
        text += f"  (map {Path(entry['map']).name})"
    return text


def open_entry(open_path: Callable[..., bool], entry: dict) -> bool:
    """Open a recent entry with ``open_path(path, map, **options)`` (the window's)."""
    options = {k: entry.get(k) for k in ("coords", "box", "project_dir", "coords_scale") if entry.get(k) is not None}
    return open_path(entry["path"], entry.get("map"), **options)


# -- dialogs --------------------------------------------------------------------------------------
def open_dialog(window) -> None:
    path, _ = QFileDialog.getOpenFileName(window, "Open particles", "", PARTICLE_FILTER)
    if path:
        window.open_path(path, getattr(window, "map_path", None))


def shown_micrograph(window) -> Path | None:
    """The micrograph on screen: shown alone, or the one the open picks were boxed from."""
    if getattr(window, "micrograph_path", None) is not None:
        return Path(window.micrograph_path)
    source = getattr(window.session, "source", None)
    return None if getattr(source, "micrograph_path", None) is None else Path(source.micrograph_path)


def ask_picks(window, micrograph: Path, box: int, scale: float = 1.0) -> tuple[Path, int, float] | None:
    """A coordinate file for ``micrograph``, the box to cut around each pick and the picks'
    coordinate scale (:class:`~gan_viewer.gui.picks_dialog.PicksOptions`); None when cancelled
    (tests replace this)."""
    path, _ = QFileDialog.getOpenFileName(window, f"Open picks for {micrograph.name}", str(micrograph.parent),
                                          PICKS_FILTER)
    if not path:
        return None
    dialog = PicksOptions(Path(path).name, box, scale, window)
    if dialog.exec() != PicksOptions.DialogCode.Accepted:
        return None
    return (Path(path), *dialog.values())


def open_picks_dialog(window) -> bool:
    """File > Open picks: box the micrograph on screen at a coordinate file's picks (RELION
    ``.star``, EMAN ``.box``, Topaz's table), as ``--coords FILE --box N [--coords-scale S]``
    does. The box and scale offered are the open picks' (else the last box used, and 1). Picks
    asked for at scale 1 that all lie in the micrograph's top-left part bring a question: open
    them at the binning they look made at? True when opened."""
    micrograph = shown_micrograph(window)
    if micrograph is None:
        error_dialog(window, "Open picks", "Open a micrograph first (File > Open particles… takes micrographs too).")
        return False
    source = getattr(window.session, "source", None)
    box = int(source.box) if source is not None else int(window.settings.value("picks/box", DEFAULT_PICK_BOX, int))
    scale = float(getattr(source, "scale", 1.0) or 1.0)
    answer = ask_picks(window, micrograph, box, scale)
    if answer is None:
        return False
    path, box, scale = answer
    window.settings.setValue("picks/box", box)
    options = {"coords": path, "box": box}
    if scale != 1:
        options["coords_scale"] = scale
    else:
        suggested = picks_scale_hint(micrograph, path, box)
        if suggested is not None and ask_scale(window, *suggested):
            options["coords_scale"] = suggested[1]
    return window.open_path(micrograph, getattr(window, "map_path", None), **options)


def picks_scale_hint(micrograph: Path, picks: Path, box: int) -> tuple[str, float] | None:
    """(warning, suggested scale) when the picks of ``picks`` all lie in the top-left part of
    ``micrograph``, as picks made on a binned copy do
    (:attr:`~gan_viewer.core.micrograph_particles.MicrographParticles.suggested_scale`); None
    otherwise, and when they cannot be read (opening them then says why)."""
    try:
        source = MicrographParticles(micrograph, picks, box)
    except (InputError, OSError, ValueError):
        return None
    source.close()
    return None if source.suggested_scale is None else (source.scale_warning, source.suggested_scale)


def ask_scale(window, warning: str, scale: float) -> bool:
    """Whether to open picks that look made on a binned copy at ``scale``: the window's yes / no
    question (``window.confirm``, which tests replace), ``warning`` its
    :attr:`~gan_viewer.core.micrograph_particles.MicrographParticles.scale_warning`."""
    where = warning.split("; ")[0]  # "all N picks of FILE lie in the top-left S % of ... MIC"
    return window.confirm("Picks made on a binned micrograph?",
                          f"{where[0].upper()}{where[1:]}, as picks made on a copy binned by {scale:g} "
                          f"and read without their scale would.\n\nOpen them at ×{scale:g} (their coordinates "
                          f"times {scale:g}, as --coords-scale {scale:g} does)?")


def neighbour_micrograph(source, step: int) -> tuple[Path | None, int]:
    """The micrograph ``step`` places (+1 next, -1 previous) from the one on screen among those
    its picks table names (Topaz's, :func:`~gan_viewer.core.table_picks.table_micrographs`);
    those not beside it are passed over. Returns the path (None at either end) and how many were
    passed over."""
    here = Path(source.micrograph_path)
    found = table_micrographs(here, source.path)
    position = next((k for k, (name, _) in enumerate(found) if name in (here.stem, here.name)), None)
    if position is None:
        return None, 0
    missing = 0
    for _, path in found[position + step::step] if step > 0 else found[:position][::-1]:
        if path.is_file():
            return path, missing
        missing += 1
    return None, missing


def open_neighbour_micrograph(window, step: int) -> bool:
    """File > Next / Previous micrograph: the next micrograph of the picks table, with the same
    table and box (each micrograph keeps its own session). True when opened."""
    source = getattr(window.session, "source", None)
    if not getattr(source, "names_micrographs", False):
        window.statusBar().showMessage("next / previous micrograph: open a micrograph with a Topaz picks table "
                                       "first (File > Open picks…)", 8000)
        return False
    try:
        path, missing = neighbour_micrograph(source, step)
    except (InputError, OSError) as exc:
        error_dialog(window, "Next micrograph", str(exc))
        return False
    passed = f" ({missing} named in {Path(source.path).name} not found beside it)" if missing else ""
    if path is None:
        window.statusBar().showMessage(f"{'last' if step > 0 else 'first'} micrograph of {Path(source.path).name}"
                                       f"{passed}", 8000)
        return False
    opened = window.open_path(path, getattr(window, "map_path", None), **picks_options(source))
    if opened and passed:
        window.statusBar().showMessage(f"{path.name}{passed}", 8000)
    return opened


def picks_options(source) -> dict:
    """The options opening another micrograph with the picks table of ``source`` (a micrograph's
    picks): the table, the box, and the coordinate scale when it is not 1."""
    options = {"coords": source.path, "box": source.box}
    if source.scale != 1:
        options["coords_scale"] = source.scale
    return options


def open_map_dialog(window) -> None:
    if window.session is None:
        return error_dialog(window, "Open map", "Open particles first.")
    path, _ = QFileDialog.getOpenFileName(window, "Open reference map", "", MAP_FILTER)
    if path:
        window.set_map(path)


def open_dropped(window, paths: list[Path]) -> None:
    """Particles open a session and a micrograph the micrograph view; a map (``.map``, or a 3D ``.mrc``
    while a session is open) becomes the reference."""
    for path in paths:
        suffix = path.suffix.lower()
        if suffix == ".map" or (suffix == ".mrc" and window.session is not None and not is_micrograph_file(path)):
            window.set_map(path)
        else:
            window.open_path(path, getattr(window, "map_path", None))


def default_outputs(source) -> tuple[Path, Path]:
    """Beside the particle file: ``NAME_kept.star`` and ``NAME_rejected.star``; for a micrograph's
    picks, the micrograph's name beside the coordinate file (``MIC_kept.star``: RELION imports
    coordinate files named after their micrograph, here with the suffix ``_kept.star``)."""
    micrograph = getattr(source, "micrograph_path", None)
    path = Path(source.path)
    stem = path.parent / Path(micrograph).stem if micrograph is not None else path.with_suffix("")
    return Path(f"{stem}_kept.star"), Path(f"{stem}_rejected.star")


def export_dialog(window) -> ExportResult | None:
    """Ask where to write and where undecided particles go (the dialog says what kept means),
    confirm before replacing files, export, and show the counts."""
    session = window.session
    if session is None or curation_table(session.source) is None:
        error_dialog(window, "Export", "Export needs particles read from a STAR (or .cs) file, or a micrograph's "
                     "picks.")
        return None
    kept, _ = default_outputs(session.source)
    scores = window.exportable_scores()
    dialog = ExportDialog(session.curation.counts(), kept, window, list(scores))
    if dialog.exec() != ExportDialog.DialogCode.Accepted:
        return None
    kept, rejected, undecided = dialog.choice()
    scores = scores if dialog.scores.isChecked() and scores else None
    existing = [p for p in (kept, rejected) if p is not None and p.exists()]
    overwrite = False
    if existing:
        names = "\n".join(str(p) for p in existing)
        answer = QMessageBox.question(window, "Replace files?", f"These files exist already:\n{names}\n\nReplace them?")
        if answer != QMessageBox.StandardButton.Yes:
            return None
        overwrite = True
    result = export_to(session, kept, rejected, overwrite=overwrite, undecided=undecided, scores=scores,
                       generator=window.engine.description, parent=window,
                       status=lambda text: window.statusBar().showMessage(text, 15000))
    if result is not None:
        QMessageBox.information(window, "Exported", summary(result))
    return result


def export_to(session, kept: Path, rejected: Path | None, overwrite: bool = False,
              undecided: Label = Label.REJECT, scores: dict | None = None, *, generator: str = "",
              parent: QWidget | None = None, status: Callable[[str], None] | None = None) -> ExportResult | None:
    """Export ``session``'s labels (no dialog but the error one, over ``parent``); None when it failed.

    ``kept`` gets the particles labelled keep (and the undecided ones with ``undecided=Label.KEEP``),
    ``rejected`` every other particle; see :mod:`gan_viewer.core.export`. A micrograph's picks are
    written as a RELION coordinate STAR file
    (:func:`~gan_viewer.core.micrograph_particles.curation_table`). ``scores`` (name -> (n,))
    are added as columns. ``generator`` (the loaded generator's description) goes into the files'
    provenance; ``status`` gets the summary.
    """
    provenance = {"labels": f"session {session.journal.path}"}
    if generator:
        provenance["generator"] = generator
    try:
        result = export_curated(curation_table(session.source), session.curation.labels, kept, rejected,
                                undecided=undecided, overwrite=overwrite, provenance=provenance, scores=scores,
                                project_dir=getattr(session.source, "project_dir", None))
    except (InputError, OSError) as exc:
        error_dialog(parent, "Export failed", str(exc))
        return None
    if status is not None:
        status(summary(result).replace("\n", "; "))
    return result


def ask_folder(window, start: Path) -> Path | None:
    """A folder for the coordinate files, None when cancelled (tests replace this)."""
    folder = QFileDialog.getExistingDirectory(window, "Write the kept picks of every micrograph to", str(start))
    return Path(folder) if folder else None


def export_table_dialog(window) -> bool:
    """File > Export all micrographs of the picks: every micrograph of the open Topaz table that
    has a session, each to ``FOLDER/MIC_kept.star``
    (:func:`~gan_viewer.core.table_picks.export_table_picks`), in a thread (a table may name
    thousands of micrographs), after asking before files are replaced; the counts are shown.
    True when the export started."""
    source = getattr(window.session, "source", None)
    if not getattr(source, "names_micrographs", False):
        error_dialog(window, "Export all micrographs", "Open a micrograph with a Topaz picks table first.")
        return False
    if exporting_table(window):
        return False
    folder = ask_folder(window, Path(source.path).parent)
    if folder is None:
        return False
    _export_table_in_thread(window, source, folder, overwrite=False)
    return True


def exporting_table(window) -> bool:
    """True while File > Export all micrographs of the picks runs."""
    return getattr(window, "table_export_poll", None) is not None


def _export_table_in_thread(window, source, folder: Path, overwrite: bool) -> None:
    window.statusBar().showMessage(f"writing the kept picks of every curated micrograph to {folder}…")
    future = _POOL.submit(export_table_picks, source.micrograph_path, source.path, source.box, folder,
                          overwrite=overwrite, scale=source.scale)
    poll = QTimer(window, interval=30)
    window.table_export_poll = poll

    def check() -> None:
        if not future.done():
            return
        poll.stop()
        window.table_export_poll = None
        try:
            result = future.result()
        except ExistingOutputs as exc:
            if window.confirm("Replace files?", f"{len(exc.paths)} coordinate files exist already in {folder} "
                              f"(e.g. {exc.paths[0].name}). Replace them?"):
                _export_table_in_thread(window, source, folder, overwrite=True)
            else:
                window.statusBar().clearMessage()
            return
        except (InputError, OSError) as exc:
            error_dialog(window, "Export failed", str(exc))
            return
        _report_table_export(window, source, folder, result)

    poll.timeout.connect(check)
    poll.start()


def _report_table_export(window, source, folder: Path, result: TableExport) -> None:
    kept = ", ".join(f"{path.stem} {written.kept}" for path, written in result.written[:5])
    text = f"{len(result.written)} micrograph(s) → {folder}, picks kept: {kept}" + (
        " …" if len(result.written) > 5 else "")
    if result.not_curated:
        text += f"\n{len(result.not_curated)} without a session (not curated): nothing written"
    if result.not_found:
        text += f"\n{len(result.not_found)} named in the table but not found beside {Path(source.micrograph_path).name}"
    if result.scale_warnings:
        text += (f"\nwarning: {len(result.scale_warnings)} with picks only in their top-left part, e.g. "
                 f"{result.scale_warnings[0]}")
    window.statusBar().showMessage(text.replace("\n", "; "), 15000)
    QMessageBox(QMessageBox.Icon.Information, "Exported", text, QMessageBox.StandardButton.Ok, window).open()


def summary(result: ExportResult) -> str:
    lines = [f"kept {result.kept:,} → {result.kept_path}"]
    if result.rejected_path is not None:
        lines.append(f"not kept {result.rejected:,} → {result.rejected_path}")
    if result.undecided:
        lines.append(f"undecided {result.undecided:,}: {'kept' if result.undecided_kept else 'not kept'}")
    return "\n".join(lines)
