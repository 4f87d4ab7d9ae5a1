"""Closed point-group assemblies: subunits cut to their cell of the group, shells and cages.

A direction ``u`` and its images ``g u`` under a point group divide space into cones (the
spherical Voronoi cells of the orbit, through the centre). A subunit placed along ``u`` and a
little wider than its cone is cut by the planes that bisect ``u`` and each image, keeping the
atoms that lie :data:`MARGIN` or more inside every plane: the copies fill their cells, touch
across flat interfaces and never overlap (atoms of different copies >= 1.5 A apart).
Compact D/T/O/I oligomers come from globular subunits, closed shells from plates, cages from rods
along the edges of a polyhedron.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy.spatial.transform import Rotation

from gan_viewer.sim.atomic import AtomicModel
from gan_viewer.sim.bodies import ORIENTATIONS, Body
from gan_viewer.sim.packing import copies, group_rotations, rotation_z_to
from gan_viewer.sim.phantoms import RESIDUE_OFFSETS, residue_atoms

log = logging.getLogger(__name__)

#: Least distance of every atom from the planes between cells, Angstrom: atoms of different copies
#: stay 1.5 A apart (a wider gap shows as dark lines along the interfaces in projections).
MARGIN = 0.75
#: Cages: polyhedron named by its group and the symmetry axes its vertices sit on.
POLYHEDRA = {("I", 5): "icosahedron", ("I", 3): "dodecahedron", ("I", 2): "icosidodecahedron",
             ("O", 4): "octahedron", ("O", 3): "cube", ("O", 2): "cuboctahedron"}


def cell_planes(rotations: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """(m, 3) unit normals of the planes bounding the cell of ``direction`` (3,) among its images.

    The planes pass through the origin and bisect ``direction`` and each of its distinct images
    under ``rotations`` (k, 3, 3); the normals point into the cell.
    """
    u = np.asarray(direction, float) / np.linalg.norm(direction)
    gaps = u - rotations @ u  # (k, 3)
    gaps = gaps[np.linalg.norm(gaps, axis=1) > 1e-6]
    return np.unique(np.round(gaps / np.linalg.norm(gaps, axis=1, keepdims=True), 9), axis=0)


def cut_to_cell(atoms: AtomicModel, normals: np.ndarray, margin: float = MARGIN) -> AtomicModel:
    """The atoms of ``atoms`` lying ``margin`` or more inside every plane.

    Atoms are cut one by one, not residue by residue: whole residues would leave a residue-wide
    gap along each interface (dark lines in projections), where a real interface is packed.

    Parameters
    ----------
    atoms
        The subunit's atoms.
    normals : (m, 3) float array
        Unit normals of planes through the origin, pointing inside.
    """
    keep = np.all(atoms.xyz @ normals.T >= margin, axis=1)
    return AtomicModel(atoms.xyz[keep], atoms.elements[keep], atoms.occupancy[keep])


def clipped_group(rng: np.random.Generator, body: Body, group: str, direction: np.ndarray, diameter: float,
                  fatness: float) -> AtomicModel:
    """Copies under ``group`` of ``body`` placed along ``direction``, cut to its cell, ``diameter`` across.

    Parameters
    ----------
    body
        The subunit at any size, oriented as it will sit (its centre at the origin).
    group
        Point group (:func:`gan_viewer.sim.packing.group_rotations`).
    direction : (3,)
        Where the subunit sits, seen from the centre.
    diameter
        Target of :func:`gan_viewer.sim.packing.model_diameter`, Angstrom.
    fatness
        Width of the subunit (that of a disc with the same spread across ``direction``) over the
        width of its cell at its centre (that of the circular cone with the cell's solid angle):
        > 1, cut on most sides, the copies close up; < 1, gaps between them.
    """
    u = np.asarray(direction, float) / np.linalg.norm(direction)
    rotations = distinct_images(group_rotations(group), u)
    normals = cell_planes(rotations, u)
    half_angle = np.arccos(1 - 2 / len(rotations))  # of the cone with the cell's solid angle, 4 pi / k
    cloud, _ = body.envelope(rng)
    along = cloud @ u
    lateral = np.linalg.norm(cloud - along[:, None] * u, axis=1)
    across = np.sqrt(2 * np.mean(lateral**2))  # the radius of a disc as spread out (gaps between domains count)
    ratio = fatness * np.tan(half_angle) / across  # body scale per unit of the centre's radius
    radius = (diameter / 2 - 2.0) / (1 + along.max() * ratio)
    return _cut_copies(rng, lambda f: body.scaled(ratio * radius * f).turned(np.eye(3), radius * f * u),
                       rotations, normals, diameter)


def plate_shell(rng: np.random.Generator, plate: Body, group: str, direction: np.ndarray, diameter: float,
                fatness: float, thickness: float, spin: float = 0.0) -> AtomicModel:
    """A closed shell of ``plate`` copies, ``thickness`` A thick, by :func:`clipped_group`.

    Parameters
    ----------
    plate
        The subunit with its face across z, at any size and thickness: it is flattened along z to
        the requested ``thickness`` (at the size it will have) and turned to face ``direction``
        after a turn of ``spin`` radians about its normal.
    """
    u = np.asarray(direction, float) / np.linalg.norm(direction)
    order = len(distinct_images(group_rotations(group), u))
    cloud, _ = plate.envelope(rng)
    across = np.sqrt(2 * np.mean(cloud[:, 0] ** 2 + cloud[:, 1] ** 2))
    ratio = fatness * np.tan(np.arccos(1 - 2 / order)) / across  # as in clipped_group
    radius = max(1.0, diameter / 2 - thickness / 2 - 2.0)
    plate = plate.squashed(thickness / 2 / (np.abs(cloud[:, 2]).max() * ratio * radius))
    return clipped_group(rng, plate.turned(rotation_z_to(u, spin)), group, u, diameter, fatness)


def _cut_copies(rng: np.random.Generator, place: Callable[[float], Body], rotations: np.ndarray,
                normals: np.ndarray, diameter: float) -> AtomicModel:
    """The body ``place(factor)``, filled, cut to its cell and copied; ``factor`` corrected for ``diameter``.

    The diameter is twice the largest distance from the centre (the centroid of the copies),
    estimated from the C-alphas (+2 A) with the same random draws at each try; atoms are made once.
    """
    seed, best, factor = int(rng.integers(2**63)), None, 1.0
    reach = float(np.linalg.norm(RESIDUE_OFFSETS, axis=1).max())  # of an atom from its C-alpha
    for _ in range(3):
        fill = np.random.default_rng(seed)
        ca = place(factor).residues(fill)
        ca = ca[np.all(ca @ normals.T >= MARGIN - reach, axis=1)]  # residues with an atom inside the cell
        error = diameter / max(2 * (np.linalg.norm(ca, axis=1).max(initial=0.0) + 2.0), 1.0)
        if best is None or abs(np.log(error)) < abs(np.log(best[0])):
            best = error, ca, fill
        if abs(error - 1) < 0.05:
            break
        factor *= error
    _, ca, fill = best
    subunit = cut_to_cell(residue_atoms(fill, ca, ORIENTATIONS), normals)
    return copies(subunit, (rotations, np.zeros((len(rotations), 3))))


def cage(rng: np.random.Generator, diameter: float, group: str | None = None, vertex_fold: int | None = None,
         ) -> AtomicModel:
    """Rods along the edges of a polyhedron (icosahedron, dodecahedron, cube, ...), gaps between.

    Parameters
    ----------
    group
        ``"I"`` or ``"O"``; random if None.
    vertex_fold
        The symmetry axes the vertices sit on (I: 5, 3 or 2; O: 4, 3 or 2); random if None.
        Each rod is cut to the cell of its edge's midpoint, so rods meet at the vertices without
        overlapping.
    """
    group = group or str(rng.choice(["I", "O"]))
    folds = [k for g, k in POLYHEDRA if g == group]
    vertex_fold = vertex_fold or int(rng.choice(folds))
    rotations = group_rotations(group)
    vertices = symmetry_axes(rotations, vertex_fold)  # (v, 3) unit vectors
    start, end = _first_edge(vertices)
    middle = (start + end) / 2
    length = np.linalg.norm(end - start)  # per unit circumradius
    aspect = rng.uniform(3.0, 6.0)
    domains = int(rng.integers(1, 4))
    semi = np.column_stack([np.full(domains, length / (2 * domains)) * rng.uniform(1.0, 1.2, domains),
                            np.full((domains, 2), length / (2 * aspect)) * rng.uniform(0.7, 1.0, (domains, 2))])
    along = (end - start) / length
    centres = np.outer((np.arange(domains) + 0.5) / domains - 0.5, along * length)
    spin = rng.uniform(0, 2 * np.pi)
    axes = np.repeat(_frame(along, middle, spin)[None], domains, axis=0)
    body = Body.from_domains(centres, semi, axes)
    log.debug("cage: %s %s, rods of aspect %.1f", group, POLYHEDRA[(group, vertex_fold)], aspect)
    return _cage_model(rng, body, rotations, middle, diameter)


def _cage_model(rng: np.random.Generator, body: Body, rotations: np.ndarray, middle: np.ndarray,
                diameter: float) -> AtomicModel:
    """Rods (``body``, at unit circumradius with its centre at the origin) copied to every edge."""
    rotations = distinct_images(rotations, middle)
    normals = cell_planes(rotations, middle)
    scale = (diameter / 2 - 2.0) / np.linalg.norm(body.envelope(rng)[0] + middle, axis=1).max()
    return _cut_copies(rng, lambda f: body.scaled(scale * f).turned(np.eye(3), scale * f * middle),
                       rotations, normals, diameter)


def distinct_images(rotations: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The first rotation of ``rotations`` (k, 3, 3) for each distinct image of ``direction`` (3,).

    A direction on a symmetry axis is fixed by some rotations; copying a subunit by all of them
    would stack copies on one another.
    """
    images = np.round(rotations @ (direction / np.linalg.norm(direction)), 6)
    _, first = np.unique(images, axis=0, return_index=True)
    return rotations[np.sort(first)]


def symmetry_axes(rotations: np.ndarray, fold: int) -> np.ndarray:
    """(v, 3) unit vectors along the ``fold``-fold axes of a group, both ends of each axis.

    An axis is n-fold when the smallest rotation about it is 2 pi / n (the half-turn about a
    4-fold axis does not make it a 2-fold axis).
    """
    rotvecs = Rotation.from_matrix(rotations).as_rotvec()  # (k, 3), angle in [0, pi]
    angles = np.linalg.norm(rotvecs, axis=1)
    turning = angles > 1e-6
    axes, angles = rotvecs[turning] / angles[turning, None], angles[turning]
    axes *= np.where(np.round(axes, 9) @ [1.0, 1e-3, 1e-6] < 0, -1.0, 1.0)[:, None]  # one sign per axis
    unique, which = np.unique(np.round(axes, 6), axis=0, return_inverse=True)
    smallest = np.full(len(unique), np.inf)
    np.minimum.at(smallest, which.ravel(), angles)
    chosen = unique[np.isclose(smallest, 2 * np.pi / fold, atol=1e-4)]
    chosen /= np.linalg.norm(chosen, axis=1, keepdims=True)
    return np.concatenate([chosen, -chosen])


def _first_edge(vertices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertex 0 and its nearest neighbour among ``vertices`` (v, 3)."""
    distance = np.linalg.norm(vertices - vertices[0], axis=1)
    distance[0] = np.inf
    return vertices[0], vertices[int(np.argmin(distance))]


def _frame(along: np.ndarray, middle: np.ndarray, spin: float) -> np.ndarray:
    """(3, 3) columns: ``along``, then two unit vectors across it (radial first), turned by ``spin``."""
    radial = middle - (middle @ along) * along
    radial /= np.linalg.norm(radial)
    third = np.cross(along, radial)
    c, s = np.cos(spin), np.sin(spin)
    return np.column_stack([along, c * radial + s * third, -s * radial + c * third])
