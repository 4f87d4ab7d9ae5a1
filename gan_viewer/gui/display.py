"""A window's display filter (low-pass in Angstrom, binning) for the raw panel, the gallery and the micrograph.

The filtering itself is :mod:`gan_viewer.core.display_filters`; here are the window's side of it:
the setting persisted in the window's QSettings, the raw panel's filtered image (cached for the
particle on screen), the gallery's filtered fetch, and the titles that say what is applied.
Scores and the generator always see the unfiltered particles.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PyQt6.QtCore import QSettings

from gan_viewer.core.display_filters import BINNING_CHOICES, LOWPASS_CHOICES_A, DisplayFilter, filter_images
from gan_viewer.core.particles import pixel_sizes
from gan_viewer.errors import InputError

log = logging.getLogger(__name__)

LOWPASS_KEY, BINNING_KEY = "display/lowpass_A", "display/binning"


def load_display_filter(settings: QSettings) -> DisplayFilter:
    """The saved setting; a value that is not among the choices offered falls back to off."""
    lowpass = _saved_choice(settings, LOWPASS_KEY, float, [0.0 if v is None else v for v in LOWPASS_CHOICES_A])
    binning = _saved_choice(settings, BINNING_KEY, int, list(BINNING_CHOICES))
    return DisplayFilter(lowpass or None, binning or 1)


def _saved_choice(settings: QSettings, key: str, cast, choices: list):
    try:
        value = cast(settings.value(key))
    except (TypeError, ValueError):
        return None
    return value if value in choices else None


def save_display_filter(settings: QSettings, display: DisplayFilter) -> None:
    settings.setValue(LOWPASS_KEY, display.lowpass_a or 0)
    settings.setValue(BINNING_KEY, display.binning)


def titled(base: str, description: str) -> str:
    """``base`` with what the display filter applies in brackets: "raw (low-pass 20 Å)"."""
    return f"{base} ({description})" if description else base


def particle_pixel_sizes(source) -> np.ndarray | None:
    """(n,) pixel size of each particle in Angstrom, or None when nothing says (no low-pass then)."""
    try:
        return pixel_sizes(source)
    except InputError as exc:
        log.info("no pixel size for the display filter: %s", exc)
        return None


def described(display: DisplayFilter, apix: np.ndarray | None) -> str:
    """What ``display`` applies to particles of pixel sizes ``apix`` (n,) or None."""
    return display.describe(apix_known=apix is not None)


class RawDisplay:
    """The raw panel's image through the display filter, cached for the particle on screen.

    Parameters
    ----------
    apix
        (n,) pixel size of each particle in Angstrom, or None.
    """

    def __init__(self, display: DisplayFilter = DisplayFilter(), apix: np.ndarray | None = None) -> None:
        self.display, self.apix = display, apix
        self.particles = False  # whether particles are shown (no title without)
        self._cached: tuple[int, int, DisplayFilter, np.ndarray] | None = None  # index, id(raw), setting, image

    def set_particles(self, apix: np.ndarray | None, shown: bool = True) -> None:
        """Particles of pixel sizes ``apix`` (n,) (None: unknown) are shown, or none (``shown=False``)."""
        self.apix, self.particles, self._cached = apix, shown, None

    def image(self, index: int, raw: np.ndarray) -> np.ndarray:
        """The (box // b, box // b) float32 image to show for particle ``index`` whose raw image is ``raw``."""
        cached = self._cached
        if cached is not None and cached[:3] == (index, id(raw), self.display):
            return cached[3]
        apix = None if self.apix is None else self.apix[index]
        shown = filter_images(raw, self.display, apix)
        self._cached = (index, id(raw), self.display, shown)
        return shown

    def description(self) -> str:
        return described(self.display, self.apix) if self.particles else ""


def filtered_fetch(read: Callable[[np.ndarray], np.ndarray], display: DisplayFilter,
                   apix: np.ndarray | None) -> Callable[[np.ndarray], np.ndarray]:
    """The gallery's fetch: ``read(indices)`` (k, box, box) through ``display``; runs on its pool thread."""
    if display.is_off:
        return read

    def fetch(indices: np.ndarray) -> np.ndarray:
        return filter_images(read(indices), display, None if apix is None else apix[indices])
    return fetch


class DisplayFiltering:
    """The window's side of the display filter (mixed into the main window).

    The window provides ``settings``, ``viewbar``, ``triptych``, ``docks`` and ``refresh()``.
    """

    def _init_display(self) -> None:
        self.raw_display = RawDisplay(load_display_filter(self.settings))
        self.viewbar.set_display_filter(self.raw_display.display)
        self.docks.set_display_filter(self.raw_display.display)
        self.viewbar.displayChanged.connect(self.set_display_filter)

    def set_display_filter(self, display: DisplayFilter) -> None:
        """Low-pass and bin the raw panel, the gallery and the micrograph view; saved for the next window."""
        self.viewbar.set_display_filter(display)  # emits again only if the combo boxes differed
        if display == self.raw_display.display:
            return
        save_display_filter(self.settings, display)
        self.raw_display.display = display
        self.docks.set_display_filter(display)
        self._title_raw()
        self.refresh()

    def _display_particles(self, source) -> np.ndarray | None:
        """Take the pixel sizes of the particles of ``source`` (shown from now on; None: no particles)."""
        apix = None if source is None else particle_pixel_sizes(source)
        self.raw_display.set_particles(apix, shown=source is not None)
        self._title_raw()
        return apix

    def _title_raw(self) -> None:
        self.triptych.set_title("raw", titled("raw", self.raw_display.description()))
