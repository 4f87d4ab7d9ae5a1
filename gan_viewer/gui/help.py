"""The Help menu: the legend (what every panel, number, colour and key means), the keyboard
shortcuts and About.

The legend is written in one place, :data:`LEGEND`, as (section, [(term, explanation)]); the
keys in it come from the window's own actions (:data:`gan_viewer.gui.actions.SHORTCUTS`), so the
legend cannot drift from what the keys do.
"""

from __future__ import annotations

import html
import json
import logging

from PyQt6.QtGui import QKeySequence
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QTextBrowser, QVBoxLayout, QWidget

from gan_viewer import __version__
from gan_viewer.errors import InputError
from gan_viewer.gui.actions import SHORTCUTS

log = logging.getLogger(__name__)

Entries = list[tuple[str, str]]

LEGEND: list[tuple[str, Entries]] = [
    ("Panels (the triptych)", [
        ("raw", "The particle as read from its stack (or boxed out of the micrograph), standardised to mean 0 "
                "and standard deviation 1. The View bar's low-pass (a Gaussian whose amplitude falls to 1/e at "
                "the chosen resolution, in the particle's own pixel size) and bin (Fourier cropping) apply to it, "
                "to the gallery and to the micrograph view, and the title says which, e.g. \"raw (low-pass 20 Å)\". "
                "They are for the eye only: the scores and the generator use the unfiltered pixels."),
        ("GAN-recovered", "The generator's guess of the particle's shape from the raw image: the mean of its "
                          "recoveries of the particle shown in 4 rotations and flips (the samples of the spread "
                          "below; \"gan-viewer denoise --samples 4\" writes the same image). When the "
                          "generator's card asks for it (the bundled one does), half of the noise's colour is taken "
                          "away first, with the noise spectrum of the particle's optics group. The title names the "
                          "generator and its device. It is not data: fed pure noise, the generator still draws a "
                          "particle-like blob. Judge a particle by raw and recovered together, and by the agreement "
                          "score, never by the recovered image alone."),
        ("reference projection", "The reference map projected at the particle's Euler angles and origin "
                                 "(RELION conventions), at the particle's pixel size; \"× CTF\" in the title when "
                                 "\"CTF on reference\" is on. Needs a map (File > Open reference map) and angles in "
                                 "the STAR file; otherwise the panel says what is missing."),
        ("shared view", "The three panels share one contrast (View bar: ± σ around the mean, or min / max; invert) "
                        "and zoom and pan together (wheel to zoom, drag to pan). A panel with no image says why "
                        "(\"computing…\", \"no generator: …\", \"no reference map …\")."),
    ]),
    # The generator's uncertainty: the per-pixel spread and the per-particle confidence that the
    # recovered panel gets from the generator (gan_viewer/ml/inference.py, gui/pipeline.py).
    # Their wording lives here, one entry each; extend it where the window shows them.
    ("The generator's uncertainty", [
        ("spread", "Where the generator's recovery changes when the particle is shown rotated or flipped "
                   "(and, for particles sampled finer than the generator, between the two samplings it recovers "
                   "them at), i.e. where it is unsure: the View bar's \"spread\" colours it over the recovered "
                   "panel (dark: stable; bright: as large as a typical particle's signal)."),
        ("confidence", "Under the panels: 1 minus the spread over the recovered image's own amplitude, 0-1 (1: "
                       "the same image however the particle is turned). Below the generator's threshold (from its "
                       "model card: the value that best separates pure noise from particles in its benchmark) the "
                       "recovered panel says \"looks like noise\": the box may be empty or junk. The gallery sorts "
                       "and filters by it."),
        ("recovered contrast", "A recovered image is in the generator's units (the background noise's standard "
                               "deviation), divided by the typical amplitude of the particles recovered so far: "
                               "a faint or empty box looks faint or empty, not stretched to full contrast."),
    ]),
    ("Numbers", [
        ("gvScore", "Under the panels, first: the default curation score (higher is better): the whitened CTF "
                    "matched filter of the raw particle against the reference at its pose, in noise standard "
                    "deviations, as gan-viewer score writes it. Tools > Score all computes it (with gvMatchedZ "
                    "and gvMatchedPlain) for every particle; once all have it the gallery sorts by it, lowest "
                    "first, unless you chose another order. A STAR written by gan-viewer score brings it along."),
        ("agreement with the reference", "Under the panels: the correlation (CC, -1 to 1) of the recovered image "
                                         "and of the raw image with the reference projection, inside a circle as "
                                         "wide as the box; \"-\" until it is known (no map, still computing). A "
                                         "recovered score far below that of similar particles flags one whose "
                                         "recovered image disagrees with the reference. Tools > Score all "
                                         "computes it for every particle; the gallery sorts and filters by it."),
        ("raw agreement", "The same correlation for the raw image; the gallery sorts and filters by it too. Scores "
                          "are saved with the session, each with what it was computed against (the map, the CTF "
                          "setting, the generator): reopening the file, or going back to the same setting, brings "
                          "them back, and Score all computes only the particles still missing (it resumes where it "
                          "stopped). File > Export can write them as STAR columns (gvAgreement, "
                          "gvRawAgreement, gvConfidence, gvPredictedKeep; nan where not computed)."),
        ("model: keep (p keep 0.83)", "Under the panels: the curator model's guess for this particle, once it has "
                                      "learnt from your decisions (the status bar says from how many, and how often "
                                      "it is right on decisions left out of its training). It learns, by logistic "
                                      "regression, from the scores, the confidence, the generator's bottleneck "
                                      "features and the STAR's score columns (gv…, rlnMaxValueProbDistribution, "
                                      "rlnLogLikeliContribution, rlnNrOfSignificantSamples, rlnNormCorrection). It "
                                      "never decides: Curate > Next most uncertain goes to the undecided particle it "
                                      "is least sure of (where your decision teaches it most), and Curate > Apply the "
                                      "model's sure predictions asks before labelling."),
        ("rejecting it empties its view direction", "Under the panels: this particle is the last one not rejected "
                                                    "in its view direction (see Angular coverage)."),
        ("particle 12 of 300", "The current particle's 1-based row in the file, and how many there are."),
        ("kept · rejected · undecided of N", "The session's labels (bottom right). Each decision is saved in the "
                                             "session file before it shows, so a crash loses none."),
        ("showing M of N … in view", "Gallery: how many particles its sort and filters show, their labels, and "
                                     "how many are selected."),
    ]),
    ("Badges and colours", [
        ("KEEP / REJECT / undecided", "The current particle's badge: green, red, grey. \"reading the file…\": a "
                                      "large file is still being read (keep and reject open when it is). "
                                      "\"micrograph only\" and no badge: a micrograph opened without "
                                      "coordinates, nothing to curate."),
        ("Gallery thumbnails", "Green border and corner: kept; red: rejected; none: undecided; blue overlay: "
                               "selected. A hollow green or red corner on an undecided particle: what the curator "
                               "model predicts (keep or reject), not a decision. The number at the bottom left is the "
                               "particle's row; \"…\": loading; \"!\": its image could not be read."),
        ("Angular coverage map", "Each cell is one view direction (rot across, tilt down; rows are equal steps of "
                                 "cos(tilt), so all cells cover the same share of the sphere); its colour is how "
                                 "many particles are left there (not rejected, or kept only). Red: every particle of "
                                 "that direction is rejected. Yellow outline: the current particle's direction."),
        ("Micrograph boxes", "Light blue: undecided; green: kept; red: rejected; thick yellow: the current particle. "
                             "Click a box to go to its particle. Micrographs larger than 2048 px are binned further "
                             "for display; the dock's title says what is applied."),
        ("Banners", "Yellow: read-only (another window or process has this session open). Red: decisions paused, "
                    "the session file cannot be written (Retry tries again). Blue, a note to read (Dismiss hides it): the "
                    "session file beside the data holds another set's decisions (another version of the file, or "
                    "its picks at another coordinate scale) and keeps them, as this set has a session of its own; "
                    "or the picks all lie in the micrograph's top-left part, as picks made on a binned copy and read "
                    "without their scale do (reopen them at the factor it names)."),
    ]),
    ("Docks", [
        ("Gallery", "Every particle as a thumbnail: click to go to one, select several (Shift / Ctrl) and keep or "
                    "reject them at once, sort by any STAR column, a score or the model's predicted keep, filter "
                    "with the histogram's two thresholds or by label. Beside the histogram: how many particles lie "
                    "below, between and above the thresholds, and \"Reject all below\" / \"Keep all above\", "
                    "which label the undecided particles beyond a threshold in one step (Ctrl+Z undoes it) after "
                    "asking, and say if the rejection would empty view directions. Sorting by a score not "
                    "computed yet says so above the grid and offers to compute it."),
        ("Angular coverage", "The view directions of the particles left, updated at each decision; it flags the "
                             "directions rejections have emptied and, under the map, when rejecting the current "
                             "particle would empty its own. For particles with angles (rlnAngleRot / Tilt)."),
        ("Micrograph", "The whole micrograph with a box per particle (particles boxed out of a micrograph), or the "
                       "micrograph alone when it was opened without coordinates."),
        ("Metadata", "Every column of the current particle's STAR (or coordinate-file) row."),
    ]),
]

#: the gallery's own keys, which act on its selection while it has the focus
GALLERY_KEYS: Entries = [
    ("K", "keep the selected particles"), ("R, X", "reject the selected particles"),
    ("U", "undecide the selected particles"), ("Enter, click", "go to a particle"),
    ("Shift / Ctrl + click, drag", "select several"),
]


def keys_section() -> tuple[str, Entries]:
    """The curation keys, from the window's actions."""
    entries = [(", ".join(keys), text.replace("&", "")) for _menu, text, keys in SHORTCUTS.values()]
    return "Keys (curation)", entries


def legend_sections() -> list[tuple[str, Entries]]:
    """Everything the legend says, in order."""
    return LEGEND + [keys_section()]


def legend_text() -> str:
    """The legend as plain text (what a test or a search reads)."""
    lines = []
    for heading, entries in legend_sections():
        lines.append(heading)
        lines.extend(f"  {term}: {text}" for term, text in entries)
    return "\n".join(lines)


def _html(sections: list[tuple[str, Entries]]) -> str:
    parts = []
    for heading, entries in sections:
        rows = "".join(f"<tr><td valign='top' style='padding-right:10px'><b>{html.escape(term)}</b></td>"
                       f"<td>{html.escape(text)}</td></tr>" for term, text in entries)
        parts.append(f"<h3>{html.escape(heading)}</h3><table cellspacing='4'>{rows}</table>")
    return "".join(parts)


def shortcut_sections(actions) -> list[tuple[str, Entries]]:
    """Every window action that has keys (``actions`` an :class:`~gan_viewer.gui.actions.Actions`),
    then the gallery's keys."""
    window_keys = [(", ".join(k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()),
                    action.text().replace("&", "").rstrip("…"))
                   for action in actions.by_name.values() if action.shortcuts()]
    return [("Window (wherever the focus is)", window_keys), ("Gallery (while it has the focus)", GALLERY_KEYS)]


def bundled_generator() -> str:
    """The bundled generator's name and what its model card says of it (no torch needed)."""
    from gan_viewer.resources import resource_path

    try:
        card = json.loads(resource_path("models/default.json").read_text(encoding="utf-8"))
    except (InputError, OSError, ValueError) as exc:
        return f"not found ({exc})"
    data = card.get("training", {}).get("data", {})
    return (f"{card.get('name', 'default')} (model card of {str(card.get('created', '?'))[:10]}: "
            f"{card.get('box', '?')} px at {card.get('pixel_size', '?')} Å/px, {data.get('kind', '?')} particles, "
            f"{card.get('training', {}).get('steps', '?')} training steps)")


def about_text(loaded: str) -> str:
    """Version, the bundled generator, and the one loaded now (``loaded``)."""
    return (f"<h3>gan-viewer {html.escape(__version__)}</h3>"
            "<p>Inspect cryo-EM particles raw, GAN-recovered and against a reference projection; keep or reject "
            "them; export curated RELION STAR files.</p>"
            f"<p><b>Bundled generator:</b> {html.escape(bundled_generator())}</p>"
            f"<p><b>Loaded now:</b> {html.escape(loaded or 'none yet')}</p>")


class HelpDialog(QDialog):
    """A non-modal, resizable page of rich text with a Close button."""

    def __init__(self, title: str, body: str, parent: QWidget | None = None, size: tuple[int, int] = (640, 560)) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(False)
        self.browser.setHtml(body)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser, 1)
        layout.addWidget(buttons)
        self.resize(*size)

    def text(self) -> str:
        return self.browser.toPlainText()


def show_help(window, kind: str) -> HelpDialog:
    """Show the window's ``kind`` dialog ("legend", "shortcuts", "about"), made once and kept in
    ``window.actions_.dialogs``; About is rewritten each time (it names the generator loaded now)."""
    pages = {
        "legend": lambda: ("Legend", _html(legend_sections())),
        "shortcuts": lambda: ("Keyboard shortcuts", _html(shortcut_sections(window.actions_))),
        "about": lambda: ("About gan-viewer", about_text(window.engine.description or window.generator_status)),
    }
    dialogs = window.actions_.dialogs
    title, body = pages[kind]()
    if kind not in dialogs:
        dialogs[kind] = HelpDialog(title, body, window, (520, 300) if kind == "about" else (640, 560))
    elif kind == "about":
        dialogs[kind].browser.setHtml(body)
    dialog = dialogs[kind]
    dialog.show()
    dialog.raise_()
    return dialog
