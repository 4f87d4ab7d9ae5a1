"""Display filters for noisy images: a Gaussian low-pass in Angstrom and binning by Fourier cropping.

For the eye only (the raw panel, the gallery thumbnails, the micrograph view): scores and the
generator always see the unfiltered pixels.

Low-pass
    A Gaussian whose Fourier amplitude falls to 1/e at spatial frequency 1 / ``resolution``
    (Angstrom), in the image's own pixel size: ``H(s) = exp(-(s * resolution) ** 2)`` with ``s``
    in 1/Angstrom, the real-space Gaussian of standard deviation
    ``resolution / (pi * sqrt(2) * apix)`` pixels (:func:`lowpass_sigma_px`).
Binning
    By Fourier cropping, as RELION and cryoSPARC downsample: the binned image keeps exactly the
    frequencies below its own Nyquist, so noise above it does not fold back (block averaging
    aliases it, and its sinc response still passes 64 % at the new Nyquist), the field of view is
    kept whatever the remainder ``h % b``, and it costs nothing extra when the low-pass is on (the
    same FFT). Its sharp edge rings a little beside very strong edges (carbon, ice); with the
    low-pass on, the Gaussian has already taken the amplitude there down.

Both act on one spectrum, so a large micrograph's FFT is computed once (:class:`Spectrum`, over
the micrograph padded with its mean, since a micrograph is not periodic) and every other setting
costs only a multiply, a crop and a small inverse FFT. Particle boxes are filtered as periodic
images, as RELION does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

#: low-pass choices offered (Angstrom); None is off
LOWPASS_CHOICES_A: tuple[float | None, ...] = (None, 10.0, 15.0, 20.0, 30.0, 40.0)
#: binning choices offered; 1 is off
BINNING_CHOICES: tuple[int, ...] = (1, 2, 4)


@dataclass(frozen=True)
class DisplayFilter:
    """A display setting: low-pass resolution (Angstrom, None = off) and binning factor (1 = off)."""

    lowpass_a: float | None = None
    binning: int = 1

    def __post_init__(self) -> None:
        if self.lowpass_a is not None and not (math.isfinite(self.lowpass_a) and self.lowpass_a > 0):
            raise ValueError(f"low-pass resolution must be a positive number of Angstrom, got {self.lowpass_a!r}")
        if isinstance(self.binning, bool) or int(self.binning) != self.binning or self.binning < 1:
            raise ValueError(f"binning must be a whole number >= 1, got {self.binning!r}")

    @property
    def is_off(self) -> bool:
        return self.lowpass_a is None and self.binning == 1

    def describe(self, binning: int | None = None, apix_known: bool = True) -> str:
        """What is applied, e.g. "low-pass 20 Å, bin 2" ("" when nothing is).

        ``binning`` overrides the factor shown (a micrograph binned further to fit the screen);
        ``apix_known=False`` says the low-pass could not be applied.
        """
        parts = []
        if self.lowpass_a is not None:
            parts.append(f"low-pass {self.lowpass_a:g} Å" if apix_known else "no pixel size: low-pass off")
        factor = self.binning if binning is None else binning
        if factor > 1:
            parts.append(f"bin {factor}")
        return ", ".join(parts)


def lowpass_sigma_px(resolution_a: float, apix: float) -> float:
    """Real-space standard deviation (pixels) of the Gaussian whose Fourier amplitude is 1/e at
    1 / ``resolution_a`` for pixels of ``apix`` Angstrom."""
    if not (math.isfinite(apix) and apix > 0):
        raise ValueError(f"pixel size must be a positive number of Angstrom, got {apix!r}")
    return float(resolution_a) / (math.pi * math.sqrt(2.0) * float(apix))


def binned_shape(shape: tuple[int, int], binning: int) -> tuple[int, int]:
    """(h, w) after binning by ``binning`` (at least 1 x 1)."""
    return max(1, shape[0] // binning), max(1, shape[1] // binning)


def _gain(shape: tuple[int, int], out_shape: tuple[int, int], resolution_a: float | None,
          apix: float | None) -> np.ndarray | None:
    """The low-pass on the cropped rfft2 grid of ``out_shape`` (frequencies of the full ``shape``):
    (oh, ow // 2 + 1) float32, or None when there is no low-pass."""
    if resolution_a is None or apix is None:
        return None
    fy = np.fft.fftfreq(out_shape[0], d=1.0)[:, None] * (out_shape[0] / shape[0])  # cycles / full-size pixel
    fx = np.fft.rfftfreq(out_shape[1], d=1.0)[None, :] * (out_shape[1] / shape[1])
    s2 = (fy ** 2 + fx ** 2) / (float(apix) ** 2)  # (1 / Angstrom) ** 2
    return np.exp(-s2 * float(resolution_a) ** 2).astype(np.float32)


def _crop(spectrum: np.ndarray, out_shape: tuple[int, int]) -> np.ndarray:
    """The lowest frequencies of an rfft2 ``spectrum`` (..., h, w // 2 + 1) on the rfft2 grid of ``out_shape``."""
    h = spectrum.shape[-2]
    oh, ow = out_shape
    if oh == h and ow // 2 + 1 == spectrum.shape[-1]:
        return spectrum
    top, bottom = (oh + 1) // 2, oh // 2  # rows of frequency 0 .. top - 1 and -bottom .. -1
    rows = np.concatenate([spectrum[..., :top, :], spectrum[..., h - bottom:, :]], axis=-2) if bottom else \
        spectrum[..., :top, :]
    return rows[..., : ow // 2 + 1]


def _apply(spectrum: np.ndarray, shape: tuple[int, int], display: DisplayFilter, apix: float | None,
           binning: int) -> np.ndarray:
    """Filtered and cropped image(s) (..., h // b, w // b) float32 from an rfft2 ``spectrum`` of ``shape``."""
    out_shape = binned_shape(shape, binning)
    cropped = _crop(spectrum, out_shape)
    gain = _gain(shape, out_shape, display.lowpass_a, apix)
    if gain is not None:
        cropped = cropped * gain
    image = np.fft.irfft2(cropped, s=out_shape)
    scale = (out_shape[0] * out_shape[1]) / (shape[0] * shape[1])  # keeps the mean
    return (image * scale).astype(np.float32, copy=False)


def filter_images(images: np.ndarray, display: DisplayFilter, apix: float | np.ndarray | None) -> np.ndarray:
    """Low-pass and bin particle images for display.

    Parameters
    ----------
    images
        (n, h, w) or (h, w).
    display
        The setting; :attr:`DisplayFilter.is_off` returns ``images`` as float32, not copied.
    apix
        Pixel size in Angstrom: one for all, (n,) one per image, or None (unknown: no low-pass,
        binning still applies). NaN or non-positive entries also mean unknown.

    Returns
    -------
    (n, h // b, w // b) or (h // b, w // b) float32.
    """
    images = np.asarray(images, np.float32)
    if images.ndim not in (2, 3):
        raise ValueError(f"expected (h, w) or (n, h, w) images, got shape {images.shape}")
    if display.is_off or images.size == 0:
        return images
    stack = images[None] if images.ndim == 2 else images
    sizes = _per_image_apix(apix, len(stack))
    out = np.empty((len(stack),) + binned_shape(stack.shape[-2:], display.binning), np.float32)
    spectrum = np.fft.rfft2(np.nan_to_num(stack))  # (n, h, w // 2 + 1)
    for value in np.unique(sizes[np.isfinite(sizes)]).tolist() + ([None] if np.isnan(sizes).any() else []):
        where = np.isnan(sizes) if value is None else sizes == value
        out[where] = _apply(spectrum[where], stack.shape[-2:], display, value, display.binning)
    return out[0] if images.ndim == 2 else out


def _per_image_apix(apix: float | np.ndarray | None, n: int) -> np.ndarray:
    """(n,) float64 pixel sizes, NaN where unknown."""
    if apix is None:
        return np.full(n, np.nan)
    values = np.broadcast_to(np.asarray(apix, np.float64), (n,)).copy()
    values[~(np.isfinite(values) & (values > 0))] = np.nan
    return values


def fast_length(n: int) -> int:
    """The smallest 5-smooth number (only factors 2, 3, 5: a fast FFT length) that is >= ``n``."""
    best = 1 << max(0, (int(n) - 1).bit_length())
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35 << max(0, (-(-int(n) // power35) - 1).bit_length())  # times the least power of 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


class DisplayImage(NamedTuple):
    """A micrograph filtered for display.

    Attributes
    ----------
    image : (h', w') float32
    binning : int
        The binning applied.
    extent : (float, float)
        Height and width in original pixels that ``image`` covers, from the micrograph's corner
        (0, 0): the micrograph's own size to within one binned pixel. Show it over that rectangle.
    """

    image: np.ndarray
    binning: int
    extent: tuple[float, float]


class Spectrum:
    """The rfft2 of one large image (a micrograph), computed once, then filtered and binned cheaply.

    Unlike particle boxes, a micrograph is not periodic: its FFT is taken over the image padded
    below and to the right with its mean, by at least three standard deviations of the widest
    low-pass offered, so a dark blob at one edge does not bleed into the opposite one.

    Parameters
    ----------
    image
        (h, w); NaN and infinities are taken as the mean.
    apix
        Pixel size in Angstrom, or None (no low-pass possible).
    """

    def __init__(self, image: np.ndarray, apix: float | None) -> None:
        image = np.asarray(image, np.float32)
        if image.ndim != 2:
            raise ValueError(f"expected one (h, w) image, got shape {image.shape}")
        self.shape: tuple[int, int] = image.shape
        self.apix = apix if apix is not None and math.isfinite(apix) and apix > 0 else None
        widest = max(a for a in LOWPASS_CHOICES_A if a is not None)
        margin = max(16, math.ceil(3 * lowpass_sigma_px(widest, self.apix))) if self.apix else 16
        self.padded: tuple[int, int] = (fast_length(self.shape[0] + margin), fast_length(self.shape[1] + margin))
        finite = np.isfinite(image)
        self._mean = float(image[finite].mean()) if finite.any() else 0.0
        padded = np.zeros(self.padded, np.float32)
        padded[: self.shape[0], : self.shape[1]] = np.where(finite, image - self._mean, 0.0)
        self._spectrum = np.fft.rfft2(padded)  # (H, W // 2 + 1) complex64

    def image(self, display: DisplayFilter, min_binning: int = 1) -> DisplayImage:
        """The image low-passed and binned by ``max(display.binning, min_binning)``."""
        binning = max(int(display.binning), int(min_binning), 1)
        full = _apply(self._spectrum, self.padded, display, self.apix, binning) + np.float32(self._mean)
        (ph, pw), (oh, ow) = self.padded, full.shape
        rows, cols = max(1, round(self.shape[0] * oh / ph)), max(1, round(self.shape[1] * ow / pw))
        return DisplayImage(np.ascontiguousarray(full[:rows, :cols]), binning, (rows * ph / oh, cols * pw / ow))
