"""CTF parameters of a particle set, as RELION stores them (no torch: the GUI reads them in its UI thread).

The CTF itself is computed in :mod:`gan_viewer.sim.ctf`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

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

    A parameter with one value for all particles read from a table is a read-only broadcast of
    that value (no memory per particle).

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
            if column.size and np.all(column == column[0]):  # one value (per optics group, usually):
                column = np.broadcast_to(np.float64(column[0]), column.shape)  # no memory per particle
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
