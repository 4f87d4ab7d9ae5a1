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

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch_ctf import calculate_ctf_2d

from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable

#: STAR label -> (field, default); None means the label is required
_LABELS = {
    "rlnDefocusU": ("defocus_u", None),
    "rlnDefocusV": ("defocus_v", None),
    "rlnDefocusAngle": ("defocus_angle", 0.0),
    "rlnVoltage": ("voltage", None),
    "rlnSphericalAberration": ("cs", None),
    "rlnAmplitudeContrast": ("amplitude_contrast", None),
    "rlnPhaseShift": ("phase_shift", 0.0),
    "rlnCtfBfactor": ("bfactor", 0.0),
    "rlnCtfScalefactor": ("scale", 1.0),
}


@dataclass(frozen=True)
class CtfParams:
    """CTF parameters of n particles, each a (n,) float64 array, in RELION's units.

    Defocus in Angstrom (positive = underfocus), angle and phase shift in degrees, voltage in kV,
    Cs in mm, amplitude contrast as a fraction, B-factor in A^2.
    """

    defocus_u: np.ndarray
    defocus_v: np.ndarray
    defocus_angle: np.ndarray
    voltage: np.ndarray
    cs: np.ndarray
    amplitude_contrast: np.ndarray
    phase_shift: np.ndarray
    bfactor: np.ndarray
    scale: np.ndarray

    def __len__(self) -> int:
        return len(self.defocus_u)

    @classmethod
    def from_table(cls, table: ParticleTable) -> CtfParams:
        """Per-particle CTF parameters from the particle rows and their optics groups.

        Raises
        ------
        InputError
            When a required label (defocus U/V, voltage, Cs, amplitude contrast) is missing or
            a value is impossible.
        """
        values: dict[str, np.ndarray] = {}
        for label, (name, default) in _LABELS.items():
            column = table.optics_values(label)
            if column is None:
                if default is None:
                    raise InputError(f"incomplete CTF parameters: no {label}", table.path)
                column = np.full(len(table), default)
            values[name] = column
        params = cls(**values)
        params.validate(table.path)
        return params

    @classmethod
    def uniform(cls, n: int, defocus_u: np.ndarray, defocus_v: np.ndarray | None = None,
                defocus_angle: np.ndarray | float = 0.0, voltage: float = 300.0, cs: float = 2.7,
                amplitude_contrast: float = 0.1, phase_shift: float = 0.0, bfactor: float = 0.0) -> CtfParams:
        """Parameters for simulation: per-particle defocus, shared microscope settings."""
        full = lambda v: np.broadcast_to(np.asarray(v, np.float64), (n,)).copy()  # noqa: E731
        return cls(full(defocus_u), full(defocus_u if defocus_v is None else defocus_v), full(defocus_angle),
                   full(voltage), full(cs), full(amplitude_contrast), full(phase_shift), full(bfactor), full(1.0))

    def take(self, indices: np.ndarray | slice) -> CtfParams:
        """The parameters of a subset of particles."""
        return CtfParams(**{f.name: getattr(self, f.name)[indices] for f in fields(self)})

    def validate(self, path: object = None) -> None:
        """InputError for non-finite values or impossible voltage, Cs or amplitude contrast."""
        for f in fields(self):
            if not np.all(np.isfinite(getattr(self, f.name))):
                raise InputError(f"CTF parameter {f.name} is not a finite number", path)
        if np.any(self.voltage <= 0):
            raise InputError("voltage must be positive (kV)", path)
        if np.any((self.amplitude_contrast < 0) | (self.amplitude_contrast >= 1)):
            raise InputError("amplitude contrast must be in [0, 1)", path)


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
