"""Subunit bodies: unions of ellipsoidal domains, filled with pseudo-residues on demand.

A :class:`Body` is cheap to move and scale (a few numbers per domain); its :meth:`Body.envelope`
is a cloud of points used to plan an assembly before any residue exists, and :meth:`Body.atoms`
fills it at protein density (:func:`gan_viewer.sim.phantoms.fill_domain`) once its size is final.
:func:`packed` does both: it plans copies of a body on its envelope, scales the body to the
requested diameter, fills it and packs the filled copies (:mod:`gan_viewer.sim.packing`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gan_viewer.sim.atomic import AtomicModel
from gan_viewer.sim.packing import CONTACT, Contacts, Transforms, apply, copies, model_diameter
from gan_viewer.sim.phantoms import (RESIDUE_ATOMS, RESIDUE_VOLUME, fill_domain, place_domains, random_rotations, residue_atoms,
                                     uniform_in_ellipsoid)

log = logging.getLogger(__name__)

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


#: Smallest subunit (Angstrom across) an assembly is allowed to use.
MIN_SUBUNIT = 24.0


def packed(rng: np.random.Generator, body: Body, arrange: Callable[[Contacts], Transforms],
           diameter: float, tolerance: float = 0.08) -> AtomicModel:
    """Copies of a filled ``body`` placed by ``arrange``, the body scaled to give ``diameter``.

    The scale is planned on the body's envelope; when the filled copies miss ``diameter`` by more
    than ``tolerance`` (their touching points differ from the envelope's), the body is scaled by
    the error and filled again with the same random draws, at most twice, and the closest of the
    tries is kept.

    Parameters
    ----------
    body
        The subunit, at any size (its shape matters, not its scale).
    arrange
        Subunit -> transforms of every copy; must scale with the subunit (no fixed lengths).
    diameter
        Target of :func:`gan_viewer.sim.packing.model_diameter`, Angstrom.
    """
    cloud, spacing = body.envelope(rng)
    planned = apply(cloud, arrange(Contacts(cloud, 0.5 * spacing)))
    body = body.scaled(max(1.0, diameter - 2 * CONTACT) / extent(planned))
    seed, best = int(rng.integers(2**63)), None
    for _ in range(3):
        subunit = body.atoms(np.random.default_rng(seed))  # the same draws each time: a smooth correction
        model = copies(subunit, arrange(atom_contacts(subunit)))
        error = diameter / model_diameter(model)
        if best is None or abs(np.log(error)) < abs(np.log(best[0])):
            best = error, model
        if abs(error - 1) <= tolerance:
            break
        log.debug("diameter %.0f A for %.0f A: scaling the subunit by %.2f", diameter / error, diameter, error)
        body = body.scaled(error)
    return best[1]


def atom_contacts(atoms: AtomicModel) -> Contacts:
    """Clash tests on every atom (3 A contacts), screened and scouted by the first atom of each residue.

    The scout's clashes are clashes of the atoms too (a subset of them, the same contact), so an
    assembly whose subunits already touch (a ring being stacked) does not clash at every spacing.
    """
    per_residue = len(RESIDUE_ATOMS)
    return Contacts(atoms.xyz, CONTACT, group=per_residue, coarse=Contacts(atoms.xyz[::per_residue], CONTACT))


def extent(points: np.ndarray) -> float:
    """Twice the largest distance of ``points`` (n, 3) from their centroid."""
    return 2 * float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).max()))


def random_direction(rng: np.random.Generator) -> np.ndarray:
    """A random unit vector (3,), uniform on the sphere."""
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def scaled_to(rng: np.random.Generator, body: Body, diameter: float) -> AtomicModel:
    """One body, scaled so that its atoms span ``diameter``."""
    return packed(rng, body, lambda c: (np.eye(3)[None], np.zeros((1, 3))), diameter)
