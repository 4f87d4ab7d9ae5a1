"""Noise for training scenes: white, coloured (a random 1/f-like spectrum), patches of real
micrographs (raw or with randomised phases) and Gaussian noise with a measured spectrum, each
drawn as (n, box, box) images at the bank's pixel size (:class:`NoiseBank`)."""

from __future__ import annotations

import logging
import os

import numpy as np

from gan_viewer.core.metrics import rfft_shells
from gan_viewer.errors import InputError

log = logging.getLogger(__name__)


NOISE_KINDS = ("white", "coloured", "micrograph", "spectrum")


class NoiseBank:
    """Unit-variance noise fields: white, coloured, cut from real micrographs, or Gaussian noise
    with a measured radial power spectrum (:meth:`add_spectrum`, e.g. a particle set's own).

    Parameters
    ----------
    apix
        Pixel size of the fields in Angstrom.
    micrographs
        (path, pixel size or None for the header's) of real micrographs; each is resampled to
        ``apix`` once. Half of the micrograph fields keep the micrograph's own texture (ice,
        carbon, detector), the other half only its spectrum (random phases), so the generator
        meets both without learning the micrograph's particles as noise shapes.
    """

    def __init__(self, apix: float, micrographs: list[tuple[str | os.PathLike, float | None]] = ()) -> None:
        self.apix = float(apix)
        self.sources: list[str] = []
        self.micrographs: list[np.ndarray] = []
        self.spectra: list[np.ndarray] = []  # each (s,) power per shell of a box of 2 (s - 1) px
        self.spectrum_sources: list[str] = []
        for path, size in micrographs:
            self.add_micrograph(path, size)

    def add_micrograph(self, path: str | os.PathLike, apix: float | None = None) -> None:
        from gan_viewer.io.mrc import MrcStack

        with MrcStack(path) as stack:
            image = stack.read([0])[0]
            apix = apix or stack.pixel_size
        if not apix:
            raise InputError("has no pixel size; give one", path)
        image = image - image.mean()
        h, w = image.shape
        scale = apix / self.apix
        out_h, out_w = max(8, int(h * scale) // 2 * 2), max(8, int(w * scale) // 2 * 2)
        spectrum = np.fft.fftshift(np.fft.fft2(image))
        ch, cw = h // 2, w // 2
        if out_h <= h and out_w <= w:  # a coarser sampling: crop the spectrum
            resized = spectrum[ch - out_h // 2:ch + out_h // 2, cw - out_w // 2:cw + out_w // 2]
        else:  # a finer one: pad it (only up to the micrograph's own resolution, of course)
            out_h, out_w = max(out_h, h + h % 2), max(out_w, w + w % 2)
            resized = np.zeros((out_h, out_w), complex)
            resized[out_h // 2 - ch:out_h // 2 - ch + h, out_w // 2 - cw:out_w // 2 - cw + w] = spectrum
        small = np.fft.ifft2(np.fft.ifftshift(resized)).real.astype(np.float32)
        self.add_image(small, str(path))
        log.info("noise micrograph %s: %dx%d at %.3g A/px", path, out_w, out_h, self.apix)

    def add_image(self, image: np.ndarray, name: str) -> None:
        """Add a (h, w) micrograph already at the bank's pixel size (e.g. a region of one)."""
        image = np.asarray(image, np.float32)
        image = image - image.mean()
        self.micrographs.append(image / max(float(image.std()), 1e-12))
        self.sources.append(name)

    def add_spectrum(self, power: np.ndarray, name: str) -> None:
        """Add a radial power spectrum for "spectrum" noise.

        Parameters
        ----------
        power
            (s,) power per Fourier shell, shell k at ``k / (2 (s - 1))`` cycles per pixel of this
            bank's pixel size (:func:`gan_viewer.core.noise.noise_power_spectrum` of the particles).
            Only its shape matters: the fields are scaled to unit variance.
        name
            Where it comes from (for the model card).
        """
        power = np.asarray(power, np.float64)
        if power.ndim != 1 or power.size < 2 or not np.all(np.isfinite(power)) or np.any(power < 0) \
                or not power.sum() > 0:
            raise InputError(f"a noise spectrum must be (s >= 2,) finite non-negative values, not all 0 ({name})")
        self.spectra.append(power)
        self.spectrum_sources.append(name)

    def sample(self, kind: str, n: int, box: int, rng: np.random.Generator, random_phases: float = 0.5
               ) -> np.ndarray:
        """(n, box, box) float32 fields of unit variance; ``kind`` is one of :data:`NOISE_KINDS`
        (micrograph and spectrum noise are white when the bank has none). ``random_phases`` is the
        share of micrograph patches that keep only their spectrum (0: all raw, 1: none raw); the
        default, half, is what training draws."""
        if kind == "white" or (kind == "micrograph" and not self.micrographs) or (kind == "spectrum" and not self.spectra):
            return rng.standard_normal((n, box, box), dtype=np.float32)
        if kind == "coloured":
            return _coloured(n, box, rng)
        if kind == "spectrum":
            return _with_spectrum(self.spectra[int(rng.integers(len(self.spectra)))], n, box, rng)
        if kind != "micrograph":
            raise ValueError(f"unknown noise kind {kind!r}")
        out = np.empty((n, box, box), np.float32)
        for i in range(n):
            image = self.micrographs[int(rng.integers(len(self.micrographs)))]
            y = int(rng.integers(0, image.shape[0] - box + 1))
            x = int(rng.integers(0, image.shape[1] - box + 1))
            patch = np.rot90(image[y:y + box, x:x + box], int(rng.integers(4)))
            if rng.random() < random_phases:
                patch = _randomise_phases(patch, rng)
            patch = patch - patch.mean()
            out[i] = patch / max(float(patch.std()), 1e-6)
        return out

    def describe(self) -> dict:
        return {"micrographs": self.sources, **({"spectra": self.spectrum_sources} if self.spectra else {})}


def _coloured(n: int, box: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with a random smooth radial spectrum: a low-frequency excess (ice, drift)
    and a high-frequency roll-off (detector MTF), normalised to unit variance."""
    k = np.sqrt(np.fft.fftfreq(box)[:, None] ** 2 + np.fft.rfftfreq(box)[None, :] ** 2) / 0.5  # 0..~1.4
    excess = rng.uniform(0, 4, n)[:, None, None]
    width = rng.uniform(0.02, 0.2, n)[:, None, None]
    rolloff = rng.uniform(0, 0.8, n)[:, None, None]
    power = (1 + excess * np.exp(-(k / width) ** 2 / 2)) * np.clip(1 - rolloff * k ** 2, 0.05, None)
    white = np.fft.rfft2(rng.standard_normal((n, box, box)))
    fields = np.fft.irfft2(white * np.sqrt(power), s=(box, box))
    fields -= fields.mean(axis=(1, 2), keepdims=True)
    return (fields / fields.std(axis=(1, 2), keepdims=True)).astype(np.float32)


def _with_spectrum(power: np.ndarray, n: int, box: int, rng: np.random.Generator) -> np.ndarray:
    """(n, box, box) Gaussian noise whose radial power follows ``power`` (s,), of unit variance on
    average (each field keeps its own, as real noise does)."""
    measured_box = 2 * (power.size - 1)
    radius, _, weight = rfft_shells(box, box)  # cycles per pixel
    gain = np.interp(radius * measured_box, np.arange(power.size), power)  # beyond the last shell: held
    gain /= float((gain * weight).sum()) / box ** 2  # mean over the full transform: 1
    white = np.fft.rfft2(rng.standard_normal((n, box, box)))
    return np.fft.irfft2(white * np.sqrt(gain), s=(box, box)).astype(np.float32)


def _randomise_phases(patch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The patch's amplitude spectrum with random phases: its colour without its shapes."""
    spectrum = np.fft.rfft2(patch)
    phases = np.fft.rfft2(rng.standard_normal(patch.shape))
    phases /= np.maximum(np.abs(phases), 1e-12)
    return np.fft.irfft2(np.abs(spectrum) * phases, s=patch.shape).astype(np.float32)
