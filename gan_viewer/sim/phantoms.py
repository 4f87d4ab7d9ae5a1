"""Procedural protein-like phantoms: random multi-domain chains of pseudo-residues.

Each phantom is a few globular domains (ellipsoids of random size, shape and placement, packed
against each other), filled by a random-walk chain of pseudo-residues 3.8 A apart that stays
inside its domain. Every residue is rendered as a backbone-like group of atoms (C, C, N, O and a
side-chain C) with electron scattering factors (:mod:`gan_viewer.sim.atomic`), so the phantoms
have the density, size distribution and domain texture of real proteins without being any real
protein. Used to train a generator that generalises to particles it never saw.

The building blocks (:func:`place_domains`, :func:`fill_domain`, :func:`residue_atoms`) are
shared with :mod:`gan_viewer.sim.assemblies`, which packs such subunits into complexes.
"""

from __future__ import annotations

import numpy as np

from gan_viewer.sim.atomic import AtomicModel, atoms_to_map

RESIDUE_ATOMS = np.array(["C", "C", "N", "O", "C"])
RESIDUE_OFFSETS = np.array([[0, 0, 0], [1.2, 0.8, 0], [-1.1, 0.7, 0.3], [1.6, 1.9, 0.4], [0.2, -1.1, 1.2]])
CA_STEP = 3.8  # Angstrom between consecutive C-alpha atoms
RESIDUE_VOLUME = 130.0  # cubic Angstrom per residue in a folded protein


def phantom_atoms(rng: np.random.Generator, diameter: float) -> AtomicModel:
    """A random multi-domain pseudo-protein about ``diameter`` Angstrom across."""
    n_domains = int(rng.integers(1, 6))
    centres, radii = place_domains(rng, n_domains, diameter)
    chains = [fill_domain(rng, c, r) for c, r in zip(centres, radii)]
    return residue_atoms(rng, np.concatenate(chains))


def phantom_map(rng: np.random.Generator, apix: float, box: int, *, fill: float = 0.75,
                resolution: float | None = None) -> np.ndarray:
    """A phantom rendered in a (box, box, box) map at ``apix``, spanning about ``fill`` of the box."""
    diameter = box * apix * fill * rng.uniform(0.6, 1.0)
    atoms = phantom_atoms(rng, diameter)
    return atoms_to_map(atoms, apix, box, resolution=resolution or 2 * apix)


def residue_atoms(rng: np.random.Generator, ca: np.ndarray, orientations: np.ndarray | None = None) -> AtomicModel:
    """Five atoms (C, C, N, O, C) per pseudo-residue, in a random orientation around each C-alpha.

    Parameters
    ----------
    ca : (m, 3) float array
        C-alpha positions in Angstrom.
    orientations : (k, 3, 3) float array, optional
        Rotations to pick each residue's from at random (much faster for many residues than a
        fresh random rotation per residue, the default).

    Returns
    -------
    AtomicModel with ``5 * m`` atoms, residue by residue, occupancy 1.
    """
    if orientations is None:
        rot = random_rotations(rng, len(ca))  # (m, 3, 3)
    else:
        rot = orientations[rng.integers(len(orientations), size=len(ca))]
    xyz = (ca[:, None, :] + np.einsum("mij,aj->mai", rot, RESIDUE_OFFSETS)).reshape(-1, 3)
    elements = np.tile(RESIDUE_ATOMS, len(ca))
    return AtomicModel(xyz, elements, np.ones(len(xyz)))


def place_domains(rng: np.random.Generator, n: int, diameter: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Ellipsoid centres and semi-axes, each new domain touching a previous one.

    Returns
    -------
    centres, semi_axes : lists of n (3,) arrays in Angstrom, centred on the origin, scaled so that
        the domains' bounding spheres reach ``diameter / 2`` from it.
    """
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


def fill_domain(rng: np.random.Generator, centre: np.ndarray, semi: np.ndarray, *, walks: int = 1) -> np.ndarray:
    """Random walks of C-alphas inside an ellipsoid, at protein density (~1 residue / 130 A^3).

    Parameters
    ----------
    centre, semi : (3,) float arrays
        Centre and semi-axes (along x, y, z) of the ellipsoid, in Angstrom.
    walks
        Number of chains walked side by side (vectorised: a large domain is filled in a fraction
        of the time one chain takes). One chain starts at the centre; more start at random points.

    Returns
    -------
    (m, 3) float array of C-alpha positions, chain after chain, ``m ~ volume / 130``.
    """
    volume = 4 / 3 * np.pi * np.prod(semi)
    n = max(20, int(volume / RESIDUE_VOLUME))
    walks = max(1, min(int(walks), n // 20))
    length = n // walks
    pos = np.zeros((length, walks, 3))
    if walks > 1:
        pos[0] = uniform_in_ellipsoid(rng, semi, walks)
    step = rng.normal(size=(walks, 3))
    for i in range(1, length):
        pos[i] = _walk_step(rng, pos[i - 1], step, semi)
    return pos.transpose(1, 0, 2).reshape(-1, 3) + centre


def _walk_step(rng: np.random.Generator, last: np.ndarray, step: np.ndarray, semi: np.ndarray) -> np.ndarray:
    """Next C-alphas of the walks at ``last`` (w, 3); ``step`` (w, 3) is updated in place.

    Persistence gives secondary-structure-like stretches; a step leaving the ellipsoid is redrawn
    pointing back inside (up to 20 times, then the walk moves 10 % towards the centre).
    """
    new, todo = last * 0.9, None  # todo None: every walk (no fancy indexing on the common path)
    for _ in range(20):
        s, start = (step, last) if todo is None else (step[todo], last[todo])
        s = 0.7 * s / _norm(s) + 0.6 * rng.normal(size=s.shape)
        candidate = start + CA_STEP * s / _norm(s)
        inside = np.add.reduce((candidate / semi) ** 2, axis=1) <= 1
        if todo is None and inside.all():
            step[:] = s
            return candidate
        todo = np.arange(len(last)) if todo is None else todo
        step[todo] = np.where(inside[:, None], s, -candidate)
        new[todo[inside]] = candidate[inside]
        todo = todo[~inside]
        if not len(todo):
            break
    return new


def _norm(v: np.ndarray) -> np.ndarray:
    """(w, 1) Euclidean norms of the rows of ``v`` (w, 3)."""
    return np.sqrt(np.add.reduce(v * v, axis=1))[:, None]


def uniform_in_ellipsoid(rng: np.random.Generator, semi: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) points uniformly distributed in the axis-aligned ellipsoid with semi-axes ``semi``."""
    direction = rng.normal(size=(n, 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return direction * rng.uniform(size=(n, 1)) ** (1 / 3) * semi


def random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3, 3) random rotation matrices (QR of Gaussian matrices, sign-fixed)."""
    q, r = np.linalg.qr(rng.normal(size=(n, 3, 3)))
    q *= np.sign(np.diagonal(r, axis1=1, axis2=2))[:, None, :]
    det = np.linalg.det(q)
    q[det < 0, :, 0] *= -1
    return q
