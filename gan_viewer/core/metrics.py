"""Image-quality metrics of denoised particles against the truth: PSNR, CC and FRC.

All functions take (n, h, w) stacks (or single (h, w) images where noted) and work per image,
vectorised over the stack. The denoiser's output and the truth have unrelated scales and
offsets, so PSNR and CC are computed after normalising each image to zero mean and unit
standard deviation inside a circular mask (:func:`normalize_in_mask`), and FRC is invariant to
scale per shell anyway.

Conventions
-----------
- The image centre is pixel ``(box // 2, box // 2)`` (as RELION and :mod:`gan_viewer.sim`).
- Fourier shells are rings of radius ``round(|k| * box)`` with ``k`` in cycles per pixel,
  shells ``0 .. box // 2`` (Nyquist); the corners beyond Nyquist are left out.
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def circular_mask(box: int, radius: float | None = None) -> np.ndarray:
    """(box, box) bool mask of the pixels within ``radius`` (default ``box / 2``) of the centre ``box // 2``."""
    radius = box / 2 if radius is None else radius
    y, x = np.ogrid[:box, :box]
    return (x - box // 2) ** 2 + (y - box // 2) ** 2 <= radius * radius


def soft_mask(box: int, radius: float | None = None, width: float = 3.0) -> np.ndarray:
    """:func:`circular_mask` with a raised-cosine edge ``width`` pixels wide outside ``radius``.

    Used as a window before FRC, where a hard edge would add correlated ringing. (box, box) float64.
    """
    radius = box / 2 - width if radius is None else float(radius)
    y, x = np.ogrid[:box, :box]
    r = np.hypot(y - box // 2, x - box // 2)
    edge = np.clip((r - radius) / max(width, 1e-9), 0.0, 1.0)
    return 0.5 * (1 + np.cos(np.pi * edge))


def taper(images: np.ndarray, width: float = 3.0) -> np.ndarray:
    """Window (n, box, box) images for FRC: subtract the mean of the rim, then apply :func:`soft_mask`.

    The rim is the annulus ``box / 2 - 2 * width < r <= box / 2``. Without subtracting its
    mean, the background level of every image would become the same soft-edged disk, whose
    ringing correlates at all frequencies and inflates the FRC of smooth images.

    Returns
    -------
    float64 array of the input's shape.
    """
    stack, single = _stack(images)
    box = stack.shape[-1]
    y, x = np.ogrid[:box, :box]
    r = np.hypot(y - box // 2, x - box // 2)
    rim = (r > box / 2 - 2 * width) & (r <= box / 2)
    out = (stack - stack[:, rim].mean(axis=1)[:, None, None]) * soft_mask(box, width=width)
    return out[0] if single else out


def _stack(images: np.ndarray) -> tuple[np.ndarray, bool]:
    """(n, h, w) float64 view of a stack or a single image, and whether it was single."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 2:
        return images[np.newaxis], True
    if images.ndim != 3:
        raise ValueError(f"expected (h, w) or (n, h, w) images, got shape {images.shape}")
    return images, False


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    a, single = _stack(a)
    b, _ = _stack(b)
    if a.shape != b.shape:
        raise ValueError(f"image stacks differ in shape: {a.shape} and {b.shape}")
    return a, b, single


def _mask_for(images: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return np.ones(images.shape[-2:], bool)
    mask = np.asarray(mask, bool)
    if mask.shape != images.shape[-2:] or not mask.any():
        raise ValueError(f"mask must be a non-empty {images.shape[-2:]} array, got shape {mask.shape}")
    return mask


def normalize_in_mask(images: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Shift and scale each image so that its pixels inside ``mask`` have mean 0 and std 1.

    Parameters
    ----------
    images
        (n, h, w) or (h, w).
    mask
        (h, w) bool; None for the whole image.

    Returns
    -------
    float64 array of the input's shape (the whole image is transformed, not only the mask).
    A flat image (std 0 in the mask) is only shifted.
    """
    stack, single = _stack(images)
    inside = stack[:, _mask_for(stack, mask)]  # (n, m)
    mean = inside.mean(axis=1)[:, None, None]
    std = inside.std(axis=1)[:, None, None]
    out = (stack - mean) / np.where(std > 0, std, 1.0)
    return out[0] if single else out


def correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | float:
    """Pearson correlation of images ``a`` and ``b`` over the ``mask`` pixels.

    Parameters
    ----------
    a, b
        (h, w) or (n, h, w) images of the same shape.
    mask
        (h, w) bool; all pixels when None.

    Returns
    -------
    A float for single images, else (n,) float64. NaN where an image is flat.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise ValueError(f"need two (h, w) or (n, h, w) arrays of one shape, got {a.shape} and {b.shape}")
    single = a.ndim == 2
    a, b = np.atleast_3d(a.T).T, np.atleast_3d(b.T).T  # (n, h, w)
    if mask is not None:
        a, b = a[:, mask], b[:, mask]  # (n, m)
    a = a.reshape(len(a), -1) - a.reshape(len(a), -1).mean(axis=1, keepdims=True)
    b = b.reshape(len(b), -1) - b.reshape(len(b), -1).mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        cc = np.where(denom > 0, (a * b).sum(axis=1) / denom, np.nan)
    return float(cc[0]) if single else cc


def psnr(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray | float:
    """Peak signal-to-noise ratio in dB, invariant to the scale and offset of either image.

    Both images are normalised inside ``mask`` (:func:`normalize_in_mask`); then

        PSNR = 10 log10(peak^2 / MSE),

    with MSE the mean squared difference of the normalised images inside the mask and peak the
    range (max - min) of the normalised truth inside the mask. Since both have unit variance,
    MSE = 2 (1 - r) with r the Pearson correlation (:func:`correlation`): for a prediction
    ``truth + white noise`` at signal-to-noise ratio ``snr``, r = sqrt(snr / (1 + snr)).

    Parameters
    ----------
    pred, truth
        (n, h, w) stacks or two (h, w) images.
    mask
        (h, w) bool; None for the whole image.

    Returns
    -------
    (n,) float64 (a float for single images); +inf for a perfect prediction.
    """
    pred, truth, single = _pair(pred, truth)
    m = _mask_for(truth, mask)
    p, t = normalize_in_mask(pred, m)[:, m], normalize_in_mask(truth, m)[:, m]  # (n, k)
    mse = ((p - t) ** 2).mean(axis=1)
    peak = t.max(axis=1) - t.min(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 10 * np.log10(peak ** 2 / mse)
    return float(value[0]) if single else value


def rfft_shells(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fourier geometry of ``np.fft.rfft2`` of (h, w) images.

    Returns
    -------
    radius : (h, w // 2 + 1) float64, |k| in cycles per pixel
    shell : (h, w // 2 + 1) int, ``round(radius * min(h, w))`` (shells past Nyquist included)
    weight : (w // 2 + 1,) float64, how many coefficients of the full transform each column
        stands for (1 for column 0 and, for even w, the Nyquist column; 2 for the others)
    """
    ky = np.fft.fftfreq(h)[:, None]
    kx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(ky ** 2 + kx ** 2)
    shell = np.rint(radius * min(h, w)).astype(np.int64)
    weight = np.full(w // 2 + 1, 2.0)
    weight[0] = 1.0
    if w % 2 == 0:
        weight[-1] = 1.0
    return radius, shell, weight


def shell_sums(values: np.ndarray, shell: np.ndarray, weight: np.ndarray, n_shells: int) -> np.ndarray:
    """Weighted sums of (n, h, w//2+1) half-plane ``values`` per shell -> (n, n_shells)."""
    n = values.shape[0]
    keep = shell < n_shells  # (h, w2)
    index = (shell[keep][None, :] + n_shells * np.arange(n)[:, None]).ravel()
    weights = (values * weight)[:, keep].ravel()
    return np.bincount(index, weights=weights, minlength=n * n_shells).reshape(n, n_shells)


def radial_power(images: np.ndarray) -> np.ndarray:
    """Mean |F(k)|^2 per shell, image by image: (n, h, w) -> (n, min(h, w) // 2 + 1)."""
    stack, _ = _stack(images)
    n, h, w = stack.shape
    _, shell, weight = rfft_shells(h, w)
    n_shells = min(h, w) // 2 + 1
    power = np.abs(np.fft.rfft2(stack)) ** 2
    counts = shell_sums(np.ones((1,) + shell.shape), shell, weight, n_shells)
    return shell_sums(power, shell, weight, n_shells) / counts


def frc(a: np.ndarray, b: np.ndarray, apix: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fourier ring correlation of each pair of square images.

    FRC(s) = Re sum_{k in s} A(k) B*(k) / sqrt(sum |A(k)|^2 sum |B(k)|^2) over shell s.
    Apply any mask or window to the images first.

    Parameters
    ----------
    a, b
        (n, box, box) stacks or two (box, box) images.
    apix
        Pixel size in Angstrom; frequencies are in 1/A when given, else in 1/pixel.

    Returns
    -------
    frequencies : (box // 2 + 1,) shell frequencies, 0 to Nyquist
    curves : (n, box // 2 + 1), or (box // 2 + 1,) for single images; NaN where either image
        has no power in a shell (e.g. shell 0 of zero-mean images)
    """
    a, b, single = _pair(a, b)
    n, h, w = a.shape
    if h != w:
        raise ValueError(f"FRC needs square images, got {h} x {w}")
    _, shell, weight = rfft_shells(h, w)
    n_shells = h // 2 + 1
    fa, fb = np.fft.rfft2(a), np.fft.rfft2(b)
    cross = shell_sums((fa * fb.conj()).real, shell, weight, n_shells)
    pa = shell_sums(np.abs(fa) ** 2, shell, weight, n_shells)
    pb = shell_sums(np.abs(fb) ** 2, shell, weight, n_shells)
    tiny = 1e-20 * np.maximum(pa.sum(axis=1, keepdims=True), pb.sum(axis=1, keepdims=True))  # rounding errors
    with np.errstate(divide="ignore", invalid="ignore"):
        curves = np.where((pa > tiny) & (pb > tiny), cross / np.sqrt(pa * pb), np.nan)
    frequencies = np.arange(n_shells) / (h * (apix or 1.0))
    return frequencies, (curves[0] if single else curves)


def frc_resolution(frequencies: np.ndarray, curve: np.ndarray, threshold: float = 0.5) -> float:
    """Resolution where an FRC curve first falls below ``threshold``.

    Shell 0 is skipped; the crossing frequency is interpolated linearly between the last shell
    at or above the threshold and the first below it (shell 0 counts as 1).

    Returns
    -------
    1 / frequency in the units of ``1 / frequencies`` (A or pixels); the Nyquist resolution
    when the curve never falls below the threshold.
    """
    f = np.asarray(frequencies, float)
    c = np.nan_to_num(np.asarray(curve, float), nan=0.0)
    c[0] = 1.0
    below = np.nonzero(c[1:] < threshold)[0]
    if not below.size:
        return float(1 / f[-1])
    k = int(below[0]) + 1
    t = (c[k - 1] - threshold) / (c[k - 1] - c[k])
    crossing = f[k - 1] + t * (f[k] - f[k - 1])
    return float(1 / crossing) if crossing > 0 else float("inf")
