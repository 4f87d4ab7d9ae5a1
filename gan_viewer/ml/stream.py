"""Recover the particles of a whole source (a stack or a STAR file's particles) chunk by chunk,
each pixel size on its own: what ``gan-viewer denoise`` and :func:`gan_viewer.api.denoise` stream.
"""

from __future__ import annotations

import logging

import numpy as np

from gan_viewer.core.noise import spectrum_rows
from gan_viewer.ml.inference import Denoiser, check_pixel_size

log = logging.getLogger(__name__)


def check_source_sampling(denoiser: Denoiser, box: int, apix: np.ndarray | None) -> None:
    """Refuse, before any work, a pixel size or box the generator cannot take (InputError).

    ``apix`` is the (n,) pixel size of every particle, or None when unknown.
    """
    for value in (np.unique(apix) if apix is not None else [None]):
        if denoiser.format >= 2:
            check_pixel_size(value)
        sizes = denoiser.working_boxes(box, value)
        scale = denoiser.scale_for(value)
        if scale != 1:
            log.info("%g A/px particles go to the model's %g A/px (x %.3f) and back", value, denoiser.pixel_size,
                     scale)
        if len(sizes) > 1:
            log.info("%g A/px particles are also recovered at %.2f A/px (%d px) and the two averaged", value,
                     value * box / sizes[1], sizes[1])


def iter_recovered(denoiser: Denoiser, source, apix: np.ndarray | None, *, rows: np.ndarray | None = None,
                   spread: bool = False, samples: int = 4, chunk: int = 1024):
    """Recover the particles of ``source`` (a :class:`~gan_viewer.core.particles.ParticleSource`)
    chunk by chunk, each pixel size on its own.

    Parameters
    ----------
    apix
        (len(source),) pixel size of every particle in Angstrom, or None when unknown (see
        :func:`~gan_viewer.core.particles.pixel_sizes`).
    rows
        0-based particles to recover (default: all), in the order they are yielded.
    spread, samples
        As for :meth:`Denoiser.recover`.
    chunk
        Particles read at a time.

    Yields
    ------
    rows : (k,) int64 array
        Which particles of ``source``.
    recovery : Recovery
        Theirs, (k, box, box) images.
    """
    wanted = np.arange(len(source)) if rows is None else np.asarray(rows, np.int64)
    spectra: dict[float, np.ndarray | None] = {}
    for lo in range(0, len(wanted), chunk):
        part = wanted[lo:lo + chunk]
        images = source.images(part)
        chunk_apix = np.full(len(part), np.nan) if apix is None else np.asarray(apix, float)[part]
        for value in np.unique(chunk_apix):
            where = np.flatnonzero(chunk_apix == value) if np.isfinite(value) else np.arange(len(part))
            key = float(value) if np.isfinite(value) else -1.0
            if key not in spectra:
                spectra[key] = set_noise_power(denoiser, source, apix, float(value))
            yield part[where], denoiser.recover(images[where], None if not np.isfinite(value) else float(value),
                                                spread=spread, samples=samples, noise_power=spectra[key])


def set_noise_power(denoiser: Denoiser, source, apix: np.ndarray | None, value: float) -> np.ndarray | None:
    """The noise spectrum of the particles of ``source`` at pixel size ``value`` (NaN: all of
    them), from a sample spread over the set (:func:`~gan_viewer.core.noise.spectrum_rows`), for
    :meth:`Denoiser.recover`; None when the generator asks for no whitening."""
    if denoiser.input_whitening is None:
        return None
    rows = spectrum_rows(apix, len(source), value)
    log.info("noise spectrum of the %g A/px particles from %d of them", value, len(rows))
    return denoiser.noise_power(source.images(rows, check_finite=False))
