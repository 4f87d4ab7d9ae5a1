"""Subunit bodies: unions of ellipsoidal domains, filled with pseudo-residues on demand.

A :class:`Body` is cheap to move and scale (a few numbers per domain); its :meth:`Body.envelope`
is a cloud of points used to plan an assembly before any residue exists, and :meth:`Body.atoms`
fills it at protein density (:func:`gan_viewer.sim.phantoms.fill_domain`) once its size is final.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gan_viewer.sim.atomic import AtomicModel
from gan_viewer.sim.phantoms import (RESIDUE_VOLUME, fill_domain, place_domains, random_rotations, residue_atoms,
                                     uniform_in_ellipsoid)

#: Residues per chain when a domain is filled by several walks side by side.
RESIDUES_PER_WALK = 100
#: (4096, 3, 3) residue orientations drawn from by :meth:`Body.atoms` (random, fixed: fast for many residues).
ORIENTATIONS = random_rotations(np.random.default_rng(20240601), 4096)


@dataclass(frozen=True)
class Body:
    """Ellipsoidal domains of one subunit.

    Attributes
    ----------
    centres : (k, 3) float array
        Domain centres in Angstrom.
    semi : (k, 3) float array
        Semi-axes of each domain along its own axes.
    axes : (k, 3, 3) float array
        Rotation of each domain: a point ``p`` of the axis-aligned ellipsoid lies at ``axes @ p + centre``.
    """

    centres: np.ndarray
    semi: np.ndarray
    axes: np.ndarray

    @classmethod
    def from_domains(cls, centres: list[np.ndarray] | np.ndarray, semi: list[np.ndarray] | np.ndarray,
                     axes: np.ndarray | None = None) -> Body:
        centres, semi = np.asarray(centres, float).reshape(-1, 3), np.asarray(semi, float).reshape(-1, 3)
        axes = np.repeat(np.eye(3)[None], len(centres), axis=0) if axes is None else np.asarray(axes, float)
        return cls(centres, semi, axes)

    @classmethod
    def globular(cls, rng: np.random.Generator, domains: int, diameter: float = 1.0) -> Body:
        """``domains`` packed globular domains about ``diameter`` across (a phantom's layout)."""
        return cls.from_domains(*place_domains(rng, domains, diameter))

    @property
    def volume(self) -> float:
        return float(4 / 3 * np.pi * np.prod(self.semi, axis=1).sum())

    def scaled(self, factor: float) -> Body:
        return Body(self.centres * factor, self.semi * factor, self.axes)

    def squashed(self, factor: float) -> Body:
        """Flattened along z by ``factor`` (domain centres and z semi-axes; domains axis-aligned)."""
        scale = np.array([1.0, 1.0, factor])
        return Body(self.centres * scale, self.semi * scale, self.axes)

    def turned(self, rotation: np.ndarray, shift: np.ndarray | None = None) -> Body:
        """Rotated by ``rotation`` (3, 3) about the origin, then moved by ``shift`` (3,)."""
        shift = np.zeros(3) if shift is None else shift
        return Body(self.centres @ rotation.T + shift, self.semi, rotation @ self.axes)

    def envelope(self, rng: np.random.Generator, n: int = 1500) -> tuple[np.ndarray, float]:
        """Points spread uniformly through the domains, and their mean spacing.

        Returns
        -------
        (m, 3) float array of points (m ~ n), and the spacing ``(volume / m) ** (1 / 3)`` in Angstrom.
        """
        volumes = np.prod(self.semi, axis=1)
        counts = np.maximum(8, np.round(n * volumes / volumes.sum())).astype(int)
        parts = [uniform_in_ellipsoid(rng, s, c) @ a.T + x
                 for x, s, a, c in zip(self.centres, self.semi, self.axes, counts)]
        points = np.concatenate(parts)
        return points, (self.volume / len(points)) ** (1 / 3)

    def residues(self, rng: np.random.Generator) -> np.ndarray:
        """(m, 3) C-alpha positions filling every domain at ~1 residue per 130 A^3."""
        parts = []
        for centre, semi, axes in zip(self.centres, self.semi, self.axes):
            # enough walks, from random starts, to reach the far ends of elongated domains too
            walks = max(int(4 / 3 * np.pi * np.prod(semi) / RESIDUE_VOLUME) // RESIDUES_PER_WALK,
                        round(4 * semi.max() / semi.min()))
            parts.append(fill_domain(rng, np.zeros(3), semi, walks=walks) @ axes.T + centre)
        return np.concatenate(parts)

    def atoms(self, rng: np.random.Generator) -> AtomicModel:
        """The filled body as atoms (five per residue, :func:`gan_viewer.sim.phantoms.residue_atoms`)."""
        return residue_atoms(rng, self.residues(rng), ORIENTATIONS)
