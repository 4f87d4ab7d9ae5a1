"""Membrane proteins in a detergent micelle or a lipid nanodisc, as pseudo-atoms.

The protein is a bundle of straight transmembrane helices of pseudo-residues crossing a 35 A
slab about z = 0 (the membrane normal is z), with optional soluble domains above and below. The
detergent or lipid is carbon pseudo-atoms spread uniformly (as many per volume as protein atoms)
at a lower occupancy: the hydrophobic core at ~0.4 of the protein's mean density, the head-group
rim at ~0.6. A micelle is an oblate ellipsoidal belt around the helices; a nanodisc is a lipid
disc ~100 A across held by a protein belt of two helices around its rim.
"""

from __future__ import annotations

import logging

import gemmi
import numpy as np
from scipy.spatial import cKDTree

from gan_viewer.sim.atomic import AtomicModel
from gan_viewer.sim.bodies import ORIENTATIONS, Body
from gan_viewer.sim.packing import model_diameter
from gan_viewer.sim.phantoms import RESIDUE_ATOMS, RESIDUE_VOLUME, residue_atoms

log = logging.getLogger(__name__)

SLAB = 35.0  # hydrophobic thickness of the membrane, Angstrom
HELIX_RISE, HELIX_RADIUS, HELIX_TURN = 1.5, 2.3, np.radians(100.0)  # alpha helix: A/residue, A, per residue
HELIX_SPACING = 10.0  # between the axes of packed helices, Angstrom
HEAD_GROUPS = 6.0  # thickness of the head-group rim, Angstrom
CLEARANCE = 4.0  # no detergent or lipid atom this close to a protein atom, Angstrom
STYLES = ("micelle", "nanodisc")


def _f0(element: str) -> float:
    return float(sum(gemmi.Element(element).c4322.get_coefs()[:5]))


#: Occupancy of a carbon that, at the protein's atom density, matches the protein's mean density.
PROTEIN_EQUIVALENT_CARBON = sum(_f0(e) for e in RESIDUE_ATOMS) / len(RESIDUE_ATOMS) / _f0("C")


def membrane_protein(rng: np.random.Generator, diameter: float, style: str | None = None) -> AtomicModel:
    """A transmembrane helix bundle with soluble domains, in a micelle or a nanodisc.

    Parameters
    ----------
    diameter
        Target diameter in Angstrom (the smallest particle, a few helices in a micelle, is ~60 A).
    style
        ``"micelle"`` or ``"nanodisc"``; random if None. A nanodisc needs a diameter of ~90 A
        or more; below that a micelle is made.

    Returns
    -------
    AtomicModel: protein atoms (occupancy 1) first, then the detergent or lipid carbons
    (occupancy < 1). The membrane normal is z.
    """
    style = style or str(rng.choice(STYLES, p=[0.6, 0.4]))
    if style == "nanodisc" and diameter < 90.0:
        style = "micelle"
    best, budget, seeds = None, diameter, rng.integers(2**63, size=4)
    for _ in range(4):  # the same draws each time, the size budget corrected by the error
        sketch = _membrane(seeds, budget, style, sketch=True)
        size = model_diameter(sketch)
        if best is None or abs(size - diameter) < abs(best[0] - diameter):
            best = size, budget
        if abs(size / diameter - 1) < 0.06:
            break
        budget *= diameter / size
    log.debug("membrane protein in a %s: %.0f A for %.0f A", style, best[0], diameter)
    return _membrane(seeds, best[1], style)


def _membrane(seeds: np.ndarray, diameter: float, style: str, sketch: bool = False) -> AtomicModel:
    """:func:`membrane_protein` sized from ``diameter``, from four seeds: shapes, helices, residues, lipid.

    A ``sketch`` has the same shapes (and occupancy-weighted centroid) at a fraction of the cost:
    one point per residue (occupancy 5) spread through the soluble domains instead of a chain, and
    1 lipid atom in 5 (occupancy 5 times higher).
    """
    shapes, helices, residues, lipid_rng = (np.random.default_rng(s) for s in seeds)  # separate streams:
    # the number of helices changes with the size and must not change the draws of the domains
    half = max(30.0, diameter / 2)
    if style == "micelle":
        outer = min(half * shapes.uniform(0.55, 0.9), 90.0)
        bundle = max(8.0, outer - shapes.uniform(14.0, 22.0))
    else:
        outer = max(35.0, min(half * shapes.uniform(0.75, 0.95), shapes.uniform(45.0, 65.0)))
        bundle = max(8.0, min(outer - 22.0, half * shapes.uniform(0.2, 0.45)))
    ca = [transmembrane_helices(helices, bundle)] + ([belt_helices(outer - 5.0)] if style == "nanodisc" else [])
    for body in soluble_domains(shapes, bundle, half, needed=max(0.0, diameter - 2 * outer)):
        ca.append(body.envelope(residues, int(body.volume / RESIDUE_VOLUME))[0] if sketch else body.residues(residues))
    ca = np.concatenate(ca)
    if sketch:
        atoms = AtomicModel(ca, np.full(len(ca), "C"), np.full(len(ca), float(len(RESIDUE_ATOMS))))
    else:
        atoms = residue_atoms(residues, ca, ORIENTATIONS)
    density = 0.2 if sketch else 1.0
    lipid = (micelle(lipid_rng, atoms.xyz, bundle, outer, density) if style == "micelle"
             else nanodisc(lipid_rng, atoms.xyz, bundle, outer - 10.0, density))
    return AtomicModel(np.concatenate([atoms.xyz, lipid.xyz]), np.concatenate([atoms.elements, lipid.elements]),
                       np.concatenate([atoms.occupancy, lipid.occupancy]))


def transmembrane_helices(rng: np.random.Generator, radius: float) -> np.ndarray:
    """C-alphas of straight helices crossing the slab, axes packed ~10 A apart within ``radius``.

    Returns
    -------
    (m, 3) float array, helix after helix.
    """
    axes = _poisson_disc(rng, max(0.0, radius - HELIX_SPACING / 2), HELIX_SPACING)
    helices = []
    for x, y in axes:
        tilt, azimuth = np.radians(rng.uniform(0, 20)), rng.uniform(0, 2 * np.pi)
        direction = np.array([np.sin(tilt) * np.cos(azimuth), np.sin(tilt) * np.sin(azimuth), np.cos(tilt)])
        length = SLAB / np.cos(tilt) + rng.uniform(4, 12)
        helices.append(helix_residues(np.array([x, y, rng.uniform(-2, 2)]), direction, length,
                                      rng.uniform(0, 2 * np.pi)))
    return np.concatenate(helices)


def helix_residues(centre: np.ndarray, direction: np.ndarray, length: float, phase: float = 0.0) -> np.ndarray:
    """(m, 3) C-alphas of a straight alpha helix: 1.5 A rise and 100 degrees per residue, radius 2.3 A."""
    direction = direction / np.linalg.norm(direction)
    e1, e2 = _across(direction)
    along = np.arange(-length / 2, length / 2, HELIX_RISE)
    angle = phase + HELIX_TURN * np.arange(len(along))
    return (centre + along[:, None] * direction + HELIX_RADIUS * (np.cos(angle)[:, None] * e1
                                                                  + np.sin(angle)[:, None] * e2))


def _across(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to the unit vector ``d`` (3,) and to each other."""
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = helper - (helper @ d) * d
    e1 /= np.linalg.norm(e1)
    e2 = np.array([d[1] * e1[2] - d[2] * e1[1], d[2] * e1[0] - d[0] * e1[2], d[0] * e1[1] - d[1] * e1[0]])
    return e1, e2


def belt_helices(radius: float) -> np.ndarray:
    """(m, 3) C-alphas of two helices wound once around z at ``radius``, at z = -5.5 and +5.5 A."""
    count = int(round(2 * np.pi * radius / HELIX_RISE))
    theta = 2 * np.pi * np.arange(count) / count
    radial = np.column_stack([np.cos(theta), np.sin(theta), np.zeros(count)])
    turns = HELIX_TURN * np.arange(count)
    belts = []
    for z in (-5.5, 5.5):
        axis = radius * radial + [0.0, 0.0, z]
        belts.append(axis + HELIX_RADIUS * (np.cos(turns)[:, None] * radial + np.sin(turns)[:, None] * [0, 0, 1]))
    return np.concatenate(belts)


def soluble_domains(rng: np.random.Generator, bundle: float, half: float, *, needed: float = 0.0) -> list[Body]:
    """Globular domains above and/or below the slab, or none.

    Their heights share a length budget of ``2 * half`` with the slab; their widths are
    0.7-1.5 times the helix bundle's radius, and at least a third of their heights. When the
    draw gives none but the particle must grow by ``needed`` A beyond its micelle or disc, one
    domain about that tall is added above (growing with ``needed``, so that sizes stay in step
    with the request).
    """
    choice = int(np.searchsorted(np.cumsum([0.35, 0.15, 0.3, 0.2]), rng.uniform()))
    sides = [[1], [-1], [1, -1], [1] if needed > 0 else []][choice]  # the same draws whether needed or not
    bodies = []
    for side in sides:
        gap = rng.uniform(2.0, 6.0)
        width = max(12.0, bundle * rng.uniform(0.7, 1.5))
        height = (2 * half - SLAB - 2 * gap) / (len(sides) + 0.5) * rng.uniform(0.5, 1.0)
        if choice == 3:
            height = min(height, 1.2 * needed)
        if height < 15.0:
            continue
        width = max(width, height / 3)  # a tall domain is wide too (random walks do not fill needles)
        body = Body.globular(rng, int(rng.integers(1, 4)), 2 * width).squashed(height / (2 * width))
        nearest = (side * body.envelope(rng, 400)[0][:, 2]).min()  # the domain's face towards the membrane
        bodies.append(body.turned(np.eye(3), np.array([0.0, 0.0, side * (SLAB / 2 + gap - nearest)])))
    return bodies


def micelle(rng: np.random.Generator, protein: np.ndarray, bundle: float, outer: float,
            density: float = 1.0) -> AtomicModel:
    """Detergent carbons filling an oblate ellipsoid around the helix bundle.

    Parameters
    ----------
    protein : (n, 3) float array
        Protein atoms, kept clear of the detergent.
    bundle
        Radius of the helix bundle's footprint (no detergent inside), Angstrom.
    outer
        Equatorial semi-axis of the micelle; the polar semi-axis is 20-25 A.
    density
        Fraction of the protein's atom density (occupancy divided by it: the same mean density).
    """
    thickness = rng.uniform(20.0, 25.0)
    semi = np.array([outer, outer * rng.uniform(0.85, 1.0), thickness])
    points = _uniform_points(rng, semi, density)
    points = points[np.sum((points / semi) ** 2, axis=1) <= 1]
    rim = np.sum((points / (semi - HEAD_GROUPS)) ** 2, axis=1) > 1  # the outer 6 A
    return _amphiphile(rng, points, rim, protein, bundle, density)


def nanodisc(rng: np.random.Generator, protein: np.ndarray, bundle: float, radius: float,
             density: float = 1.0) -> AtomicModel:
    """Lipid carbons in a disc of ``radius`` across the slab, head groups 6 A thick on both faces.

    Parameters as for :func:`micelle`.
    """
    half_height = SLAB / 2 + HEAD_GROUPS / 2
    points = _uniform_points(rng, np.array([radius, radius, half_height]), density)
    points = points[np.hypot(points[:, 0], points[:, 1]) <= radius]
    rim = np.abs(points[:, 2]) > half_height - HEAD_GROUPS
    return _amphiphile(rng, points, rim, protein, bundle, density)


def _amphiphile(rng: np.random.Generator, points: np.ndarray, rim: np.ndarray, protein: np.ndarray,
                bundle: float, density: float) -> AtomicModel:
    """Carbons at ``points`` clear of the protein; core at ~0.4, rim at ~0.6 of the protein's density."""
    clear = np.hypot(points[:, 0], points[:, 1]) > bundle - 1.0
    reach = np.abs(points[:, 2]).max() + CLEARANCE  # only protein atoms in the lipid's slab can touch it
    near = protein[np.abs(protein[:, 2]) < reach]
    if len(near):
        clear[clear] = ~np.isfinite(cKDTree(near).query(points[clear], distance_upper_bound=CLEARANCE)[0])
    occupancy = np.where(rim, rng.uniform(0.55, 0.65), rng.uniform(0.35, 0.45)) * PROTEIN_EQUIVALENT_CARBON / density
    return AtomicModel(points[clear], np.full(int(clear.sum()), "C"), occupancy[clear])


def _uniform_points(rng: np.random.Generator, semi: np.ndarray, density: float) -> np.ndarray:
    """Points uniform in the box ``[-semi, semi]`` (3,), ``density`` times as many per volume as protein atoms."""
    count = rng.poisson(np.prod(2 * semi) * density * len(RESIDUE_ATOMS) / RESIDUE_VOLUME)
    return rng.uniform(-semi, semi, (count, 3))


def _poisson_disc(rng: np.random.Generator, radius: float, spacing: float, tries: int = 400) -> np.ndarray:
    """(k, 2) points in a disc of ``radius``, at least ``spacing`` apart (dart throwing; k >= 1)."""
    r, phi = radius * np.sqrt(rng.uniform(size=tries)), rng.uniform(0, 2 * np.pi, tries)
    darts = np.column_stack([r * np.cos(phi), r * np.sin(phi)])
    points = darts[:1]
    for p in darts[1:]:
        if np.min(np.hypot(*(points - p).T)) >= spacing:
            points = np.vstack([points, p])
    return points
