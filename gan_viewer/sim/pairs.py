"""Simulated particles: random views of a map, optional CTF, Gaussian noise at a given SNR.

SNR is defined image by image as ``var(clean image over the whole box) / var(noise)``, where the
clean image is what the detector would see without noise (the CTF-modulated projection when a CTF
is applied). The *truth* kept for training and evaluation is the projection without CTF and
without noise: the particle's shape, which the generator learns to recover.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from gan_viewer.errors import InputError
from gan_viewer.sim.ctf import CtfParams, apply_ctf
from gan_viewer.sim.project import Projector


@dataclass
class Views:
    """n particle views: RELION angles, origins and (optionally) CTF parameters."""

    eulers: np.ndarray  # (n, 3) rot, tilt, psi in degrees
    origins_px: np.ndarray  # (n, 2) x, y in pixels
    ctf: CtfParams | None

    def __len__(self) -> int:
        return len(self.eulers)


def random_views(n: int, rng: np.random.Generator, *, shift_sigma_px: float = 0.0,
                 defocus_range: tuple[float, float] | None = None, astigmatism: float = 0.0,
                 voltage: float = 300.0, cs: float = 2.7, amplitude_contrast: float = 0.1) -> Views:
    """Orientations uniform on SO(3), Gaussian origins, and per-particle defocus.

    Parameters
    ----------
    n
        Number of views.
    rng
        Random generator (the only source of randomness, for reproducibility).
    shift_sigma_px
        Standard deviation of the origins in pixels (0: centred particles).
    defocus_range
        (min, max) defocus in Angstrom, uniform; None for no CTF.
    astigmatism
        Maximum difference between defocus U and V in Angstrom (uniform in [0, max]).
    """
    if n < 1:
        raise InputError(f"number of particles must be at least 1, got {n}")
    if shift_sigma_px < 0 or not np.isfinite(shift_sigma_px):
        raise InputError(f"shift must be a non-negative number of pixels, got {shift_sigma_px}")
    eulers = Rotation.random(n, random_state=rng).as_euler("ZYZ", degrees=True)  # (n, 3)
    origins = rng.normal(0.0, shift_sigma_px, (n, 2)) if shift_sigma_px else np.zeros((n, 2))
    ctf = None
    if defocus_range is not None:
        low, high = defocus_range
        if not (0 < low <= high and np.isfinite(high)):
            raise InputError(f"defocus range must be 0 < min <= max (Angstrom), got {low} {high}")
        mean = rng.uniform(low, high, n)
        delta = rng.uniform(0, astigmatism, n) if astigmatism else np.zeros(n)
        ctf = CtfParams.uniform(n, mean + delta / 2, mean - delta / 2, rng.uniform(-180, 180, n),
                                voltage=voltage, cs=cs, amplitude_contrast=amplitude_contrast)
    return Views(eulers, origins, ctf)


def noise_sigma(clean: np.ndarray, snr: float) -> np.ndarray:
    """Per-image noise standard deviation for ``snr``; clean is (n, h, w), returns (n,)."""
    if not (np.isfinite(snr) and snr > 0):
        raise InputError(f"SNR must be a positive number, got {snr}")
    variance = clean.reshape(len(clean), -1).var(axis=1, dtype=np.float64)
    if np.any(variance <= 0):
        raise InputError("a clean image is flat (zero variance); the map may be empty or outside the box")
    return np.sqrt(variance / snr)


def add_noise(clean: np.ndarray, snr: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` (n, h, w) plus white Gaussian noise at ``snr``, image by image, float32."""
    sigma = noise_sigma(clean, snr)
    noise = rng.standard_normal(clean.shape, dtype=np.float32) * sigma[:, None, None].astype(np.float32)
    return clean.astype(np.float32) + noise


def render(projector: Projector, views: Views, apix: float) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free images of ``views``.

    Returns
    -------
    truth : (n, d, d) float32
        Projections shifted by minus the origins, no CTF.
    observed : (n, d, d) float32
        The same with the CTF applied (identical to ``truth`` when ``views.ctf`` is None).
    """
    truth = projector.project(views.eulers, views.origins_px)
    if views.ctf is None:
        return truth, truth
    with torch.inference_mode():
        observed = apply_ctf(torch.from_numpy(truth), views.ctf, apix).numpy()
    return truth, observed
