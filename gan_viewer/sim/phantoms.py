"""Procedural protein-like phantoms: random multi-domain chains of pseudo-residues.

Each phantom is a few globular domains (ellipsoids of random size, shape and placement, packed
against each other), filled by a random-walk chain of pseudo-residues 3.8 A apart that stays
inside its domain. Every residue is rendered as a backbone-like group of atoms (C, C, N, O and a
side-chain C) with electron scattering factors (:mod:`gan_viewer.sim.atomic`), so the phantoms
have the density, size distribution and domain texture of real proteins without being any real
protein. Used to train a generator that generalises to particles it never saw.
"""

from __future__ import annotations

import numpy as np

from gan_viewer.sim.atomic import AtomicModel, atoms_to_map

RESIDUE_ATOMS = np.array(["C", "C", "N", "O", "C"])
RESIDUE_OFFSETS = np.array([[0, 0, 0], [1.2, 0.8, 0], [-1.1, 0.7, 0.3], [1.6, 1.9, 0.4], [0.2, -1.1, 1.2]])
CA_STEP = 3.8  # Angstrom between consecutive C-alpha atoms


def phantom_atoms(rng: np.random.Generator, diameter: float) -> AtomicModel:
    """A random multi-domain pseudo-protein about ``diameter`` Angstrom across."""
    n_domains = int(rng.integers(1, 6))
    centres, radii = _place_domains(rng, n_domains, diameter)
    chains = [_fill_domain(rng, c, r) for c, r in zip(centres, radii)]
    ca = np.concatenate(chains)  # (m, 3)
    rot = _random_rotations(rng, len(ca))
    xyz = (ca[:, None, :] + np.einsum("mij,aj->mai", rot, RESIDUE_OFFSETS)).reshape(-1, 3)
    elements = np.tile(RESIDUE_ATOMS, len(ca))
    return AtomicModel(xyz, elements, np.ones(len(xyz)))


def phantom_map(rng: np.random.Generator, apix: float, box: int, *, fill: float = 0.75,
                resolution: float | None = None) -> np.ndarray:
    """A phantom rendered in a (box, box, box) map at ``apix``, spanning about ``fill`` of the box."""
    diameter = box * apix * fill * rng.uniform(0.6, 1.0)
    atoms = phantom_atoms(rng, diameter)
    return atoms_to_map(atoms, apix, box, resolution=resolution or 2 * apix)


def _place_domains(rng: np.random.Generator, n: int, diameter: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Ellipsoid centres and semi-axes, each new domain touching a previous one."""
    size = diameter / (1.0 + 0.8 * (n - 1) ** 0.5)
    centres, radii = [np.zeros(3)], [size / 2 * rng.uniform(0.6, 1.0, 3)]
    for _ in range(n - 1):
        anchor = centres[int(rng.integers(len(centres)))]
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        semi = size / 2 * rng.uniform(0.5, 1.0, 3)
        centres.append(anchor + direction * (size * rng.uniform(0.6, 0.9)))
        radii.append(semi)
    centre = np.mean(centres, axis=0)
    scale = diameter / 2 / max(np.linalg.norm(c - centre) + r.max() for c, r in zip(centres, radii))
    return [(c - centre) * scale for c in centres], [r * scale for r in radii]


def _fill_domain(rng: np.random.Generator, centre: np.ndarray, semi: np.ndarray) -> np.ndarray:
    """A random walk of C-alphas inside an ellipsoid, at protein density (~1 residue / 130 A^3)."""
    volume = 4 / 3 * np.pi * np.prod(semi)
    n = max(20, int(volume / 130))
    pos = np.zeros((n, 3))
    step = rng.normal(size=3)
    for i in range(1, n):
        for _ in range(20):  # persistence: secondary-structure-like stretches, reflected at the wall
            step = 0.7 * step / np.linalg.norm(step) + 0.6 * rng.normal(size=3)
            candidate = pos[i - 1] + CA_STEP * step / np.linalg.norm(step)
            if np.sum((candidate / semi) ** 2) <= 1:
                break
            step = -candidate
        else:
            candidate = pos[i - 1] * 0.9
        pos[i] = candidate
    return pos + centre


def _random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3, 3) random rotation matrices (QR of Gaussian matrices, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q *= np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    det = np.linalg.det(q)
    q[det < 0, :, 0] *= -1
    return q
