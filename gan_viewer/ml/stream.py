"""Recover the particles of a whole source (a stack or a STAR file's particles) chunk by chunk,
each optics group and pixel size on its own: what ``gan-viewer denoise`` and
:func:`gan_viewer.api.denoise` stream.
"""

from __future__ import annotations

import logging

import numpy as np

from gan_viewer.core.noise import spectrum_rows
from gan_viewer.core.particles import noise_groups
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
    chunk by chunk, each optics group and pixel size on its own (its own noise spectrum, for a
    card with ``input_whitening``).

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
    groups = noise_groups(source, apix)  # one noise spectrum per optics group and pixel size
    spectra: dict[int, np.ndarray | None] = {}
    for lo in range(0, len(wanted), chunk):
        part = wanted[lo:lo + chunk]
        images = source.images(part)
        for group in np.unique(groups[part]).tolist():
            where = np.flatnonzero(groups[part] == group)
            value = np.nan if apix is None else float(apix[part[where[0]]])
            if group not in spectra:
                spectra[group] = set_noise_power(denoiser, source, groups, group)
            yield part[where], denoiser.recover(images[where], None if not np.isfinite(value) else value,
                                                spread=spread, samples=samples, noise_power=spectra[group])


def set_noise_power(denoiser: Denoiser, source, groups: np.ndarray, group: int) -> np.ndarray | None:
    """The noise spectrum of the particles of ``source`` in noise group ``group`` (``groups``:
    (n,) :func:`~gan_viewer.core.particles.noise_groups`), from a sample spread over the group
    (:func:`~gan_viewer.core.noise.spectrum_rows`, as ``gan-viewer score`` samples it), for
    :meth:`Denoiser.recover`; None when the generator asks for no whitening."""
    if denoiser.input_whitening is None:
        return None
    rows = spectrum_rows(groups, len(source), group)
    log.info("noise spectrum of optics/pixel-size group %d from %d of its particles", group, len(rows))
    return denoiser.noise_power(source.images(rows, check_finite=False))
