"""RELION's contrast transfer function, per particle, applied to projections.

The CTF itself is teamtomo's ``torch-ctf`` (``calculate_ctf_2d``), which evaluates RELION's
formula: ``CTF(u) = -sin(K1 dz(u) u^2 + K2 u^4 - phase_shift - atan(Q / sqrt(1 - Q^2)))`` with
``K1 = pi lambda``, ``K2 = pi/2 Cs lambda^3`` and the astigmatic defocus ``dz`` = minus the
defocus along the direction of ``u``, ``rlnDefocusAngle`` measured from the x axis. This module
adds what RELION multiplies on top (the envelope ``scale * exp(-B u^2 / 4)``), reads the
parameters from a STAR file (particle row first, then its optics group), and applies the CTF to
batches of images in Fourier space. ``tests/sim/test_ctf.py`` checks it against an independent
evaluation of RELION's formula.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_ctf import calculate_ctf_2d

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.errors import InputError

__all__ = ["CtfParams", "apply_ctf", "ctf_2d"]


def ctf_2d(params: CtfParams, box: int, apix: float | np.ndarray, *, rfft: bool = True,
           device: str | torch.device = "cpu") -> torch.Tensor:
    """The CTF of every particle on the FFT grid of a (box, box) image.

    Parameters
    ----------
    params
        n particles' parameters.
    box
        Image side in pixels.
    apix
        Pixel size in Angstrom, one for all or (n,).
    rfft
        Half transform (``torch.fft.rfft2`` layout) instead of the full one.

    Returns
    -------
    (n, box, box // 2 + 1) float32 tensor (or (n, box, box) with ``rfft=False``), unshifted.
    """
    if box < 2:
        raise ValueError(f"box must be at least 2 pixels, got {box}")
    apix_arr = np.broadcast_to(np.asarray(apix, np.float64), (len(params),))
    if not np.all(apix_arr > 0):
        raise InputError("pixel size must be positive")
    t = lambda a: torch.tensor(np.asarray(a), dtype=torch.float32, device=device)  # noqa: E731
    # torch-ctf wants U >= V (it returns NaN otherwise): swapping U and V and turning the
    # angle by 90 degrees describes the same astigmatism
    swap = params.defocus_u < params.defocus_v
    high = np.where(swap, params.defocus_v, params.defocus_u)
    low = np.where(swap, params.defocus_u, params.defocus_v)
    ctf = calculate_ctf_2d(
        defocus=t((high + low) / 2e4),  # micrometres
        astigmatism=t((high - low) / 2e4),
        astigmatism_angle=t(params.defocus_angle + 90.0 * swap), voltage=t(params.voltage), spherical_aberration=t(params.cs),
        amplitude_contrast=t(params.amplitude_contrast), phase_shift=t(params.phase_shift),
        pixel_size=t(apix_arr), image_shape=(box, box), rfft=rfft, fftshift=False,
    )  # (n, box, w)
    if np.any(params.bfactor) or np.any(params.scale != 1):
        ky = torch.fft.fftfreq(box, device=device)[:, None]  # cycles per pixel
        kx = (torch.fft.rfftfreq if rfft else torch.fft.fftfreq)(box, device=device)[None, :]
        s2 = (kx**2 + ky**2)[None] / t(apix_arr)[:, None, None] ** 2  # (n, box, w) in 1/A^2
        envelope = t(params.scale)[:, None, None] * torch.exp(-t(params.bfactor)[:, None, None] * s2 / 4)
        ctf = ctf * envelope
    return ctf


def apply_ctf(images: torch.Tensor | np.ndarray, params: CtfParams, apix: float | np.ndarray) -> torch.Tensor:
    """Multiply each image's transform by its CTF.

    Parameters
    ----------
    images
        (n, box, box) real images.
    params
        n particles' parameters.
    apix
        Pixel size in Angstrom, one for all or (n,).

    Returns
    -------
    (n, box, box) float32 tensor on the images' device.
    """
    images = torch.as_tensor(images, dtype=torch.float32)
    if images.ndim != 3 or images.shape[1] != images.shape[2] or len(images) != len(params):
        raise ValueError(f"need (n, box, box) images for {len(params)} CTFs, got {tuple(images.shape)}")
    box = images.shape[-1]
    ctf = ctf_2d(params, box, apix, device=images.device)
    return torch.fft.irfft2(torch.fft.rfft2(images) * ctf, s=(box, box))


def ctf_at(params: CtfParams, kxy: np.ndarray, box: int, apix: float | np.ndarray) -> np.ndarray:
    """RELION's CTF of n particles at given frequencies only (numpy; :func:`ctf_2d` fills whole grids).

    RELION's ``CTF::getCTF``: ``-sin(K1 dz u^2 + K2 u^4 - phase_shift - atan(Q / sqrt(1 - Q^2)))``
    times ``scale * exp(-B u^2 / 4)``, with the defocus along the frequency's direction
    ``dz = -(U + V) / 2 - (U - V) / 2 * cos(2 (azimuth - angle))``.

    Parameters
    ----------
    params
        n particles' parameters.
    kxy
        (2, m) frequencies kx, ky in Fourier pixels of a ``box`` image (``k / box`` cycles per pixel).
    apix
        Pixel size in Angstrom, one for all or (n,).

    Returns
    -------
    (n, m) float32.
    """
    n = len(params)
    apix_arr = np.broadcast_to(np.asarray(apix, np.float64), (n,))
    if not np.all(apix_arr > 0):
        raise InputError("pixel size must be positive")
    col = lambda a: np.asarray(a, np.float64)[:, None]  # noqa: E731 - (n, 1)
    volts = col(params.voltage) * 1e3
    wavelength = 12.2643247 / np.sqrt(volts * (1 + volts * 0.978466e-6))  # Angstrom
    kx, ky = np.asarray(kxy, np.float64)
    k2 = (kx ** 2 + ky ** 2).astype(np.float32)[None]  # (1, m) in Fourier pixels^2
    azimuth = np.arctan2(ky, kx)
    cos2, sin2 = np.cos(2 * azimuth).astype(np.float32)[None], np.sin(2 * azimuth).astype(np.float32)[None]
    # per particle: u^2 = k2 * s, and the defocus along the azimuth is a + b cos 2az + c sin 2az
    s = 1.0 / (box * col(apix_arr)) ** 2  # (n, 1) 1/A^2 per Fourier pixel^2
    angle = np.radians(col(params.defocus_angle))
    half_diff = (col(params.defocus_u) - col(params.defocus_v)) / 2
    k1 = np.pi * wavelength * s  # times deltaf * k2
    a = (k1 * -(col(params.defocus_u) + col(params.defocus_v)) / 2).astype(np.float32)
    b = (k1 * -half_diff * np.cos(2 * angle)).astype(np.float32)
    c = (k1 * -half_diff * np.sin(2 * angle)).astype(np.float32)
    k2term = (np.pi / 2 * col(params.cs) * 1e7 * wavelength ** 3 * s ** 2).astype(np.float32)
    q = col(params.amplitude_contrast)
    offset = (np.radians(col(params.phase_shift)) + np.arctan(q / np.sqrt(1 - q ** 2))).astype(np.float32)
    gamma = (a + b * cos2 + c * sin2) * k2 + k2term * (k2 * k2) - offset  # (n, m) float32
    out = -np.sin(gamma)
    out *= col(params.scale).astype(np.float32)
    if np.any(params.bfactor):
        out *= np.exp((-col(params.bfactor) * s / 4).astype(np.float32) * k2)
    return out.astype(np.float32)
