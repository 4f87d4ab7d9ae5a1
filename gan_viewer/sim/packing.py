"""Rigid copies of one subunit packed so that they touch: point groups, rings, stacks, helices.

A copy is a rigid transform ``x -> R @ x + t`` of the subunit's points. The packers search for
the spacing (a radius, a rise, a stacking height) at which copies brought in from afar first
touch: no atom of another copy closer than ``contact`` to an atom of the first, and a spacing
``tol`` smaller overlaps. Only the first copy is tested against the others; for a group (and for
a helix or a stack) every pair of copies is congruent to such a pair.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree
from scipy.spatial.transform import Rotation

from gan_viewer.sim.atomic import AtomicModel

log = logging.getLogger(__name__)

#: Closest approach, in Angstrom, of atoms of different subunits (a van der Waals contact).
CONTACT = 3.0

Transforms = tuple[np.ndarray, np.ndarray]  # rotations (k, 3, 3), shifts (k, 3)


def group_rotations(name: str) -> np.ndarray:
    """The rotations of a point group, identity first.

    Parameters
    ----------
    name
        ``"Cn"`` (n >= 1), ``"Dn"`` (n >= 2), ``"T"`` (12), ``"O"`` (24) or ``"I"`` (60). The main
        axis is z; the 2-fold axes of ``Dn`` lie in the xy plane, one along x (scipy's
        ``Rotation.create_group`` convention).

    Returns
    -------
    (order, 3, 3) float array
    """
    try:
        matrices = Rotation.create_group(name, axis="Z").as_matrix()
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not a point group: {name!r} (Cn, Dn, T, O or I)") from exc
    first = int(np.argmin(np.abs(matrices - np.eye(3)).sum(axis=(1, 2))))
    return np.concatenate([matrices[first:first + 1], np.delete(matrices, first, axis=0)])


def rotation_about_z(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about z."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_z_to(direction: np.ndarray, spin: float = 0.0) -> np.ndarray:
    """(3, 3) rotation taking +z to ``direction`` (3,), after a turn of ``spin`` radians about z."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    axis = np.cross([0.0, 0.0, 1.0], d)
    angle = np.arctan2(np.linalg.norm(axis), d[2])
    tilt = Rotation.from_rotvec(axis / np.linalg.norm(axis) * angle) if np.linalg.norm(axis) > 1e-12 else (
        Rotation.identity() if d[2] > 0 else Rotation.from_rotvec([np.pi, 0.0, 0.0]))
    return tilt.as_matrix() @ rotation_about_z(spin)


class Contacts:
    """Clash tests of one point set against rigid copies of itself.

    Parameters
    ----------
    points : (n, 3) float array
        The subunit's atoms (or envelope points), in Angstrom.
    contact
        Copies clash when two of their points are closer than this.
    group
        The points come in consecutive groups of this many (the atoms of a residue), each group
        within a small distance of its first point (its anchor). Copies are screened by anchors
        first, and only the atoms of anchors close enough to matter are tested.
    coarse
        A subset of the points with the same contact distance (e.g. the anchors), to scout with:
        its clashes are clashes of the full set.
    """

    def __init__(self, points: np.ndarray, contact: float, *, group: int = 1, coarse: Contacts | None = None) -> None:
        self.points = np.asarray(points, float)
        self.contact, self.group, self.coarse = float(contact), int(group), coarse
        self.anchors = self.points[::self.group]  # (n / group, 3)
        spread = np.linalg.norm(self.points.reshape(-1, self.group, 3) - self.anchors[:, None], axis=2).max()
        self.screen = self.contact + 2 * float(spread)  # anchors farther apart than this cannot clash
        self.tree = cKDTree(self.points)
        self.anchor_tree = cKDTree(self.anchors) if self.group > 1 else self.tree
        self.centre = self.points.mean(axis=0)
        self.radius = float(np.sqrt(((self.points - self.centre) ** 2).sum(axis=1).max()))
        # cells of side `screen` holding an anchor, grown by one cell: an anchor closer than
        # `screen` to one of ours lies in such a cell, so only those few need exact queries
        self.origin = self.anchors.min(axis=0) - 2 * self.screen
        cells = np.floor((self.anchors - self.origin) / self.screen).astype(np.intp)
        self.occupied = np.zeros(tuple(cells.max(axis=0) + 3), bool)
        self.occupied[tuple(cells.T)] = True
        self.occupied = ndimage.binary_dilation(self.occupied, np.ones((3, 3, 3), bool))

    def clash(self, rotations: np.ndarray, shifts: np.ndarray) -> bool:
        """Whether any copy ``points @ R.T + t`` comes within ``contact`` of ``points``.

        Parameters
        ----------
        rotations : (k, 3, 3) float array
        shifts : (k, 3) float array
        """
        centres = rotations @ self.centre + shifts  # (k, 3)
        near = np.linalg.norm(centres - self.centre, axis=1) < 2 * self.radius + self.contact
        return any(self._clash_one(rot, shift) for rot, shift in zip(rotations[near], shifts[near]))

    def _clash_one(self, rot: np.ndarray, shift: np.ndarray) -> bool:
        moved = self.anchors @ rot.T + shift  # (m, 3)
        cells = np.floor((moved - self.origin) / self.screen).astype(np.intp)
        inside = np.all((cells >= 0) & (cells < self.occupied.shape), axis=1)
        candidates = np.flatnonzero(inside)[self.occupied[tuple(cells[inside].T)]]
        if not len(candidates):
            return False
        distance = self.anchor_tree.query(moved[candidates], distance_upper_bound=self.screen)[0]
        candidates = candidates[np.isfinite(distance)]
        if self.group == 1 or not len(candidates):
            return bool(len(candidates))
        atoms = self.points.reshape(-1, self.group, 3)[candidates].reshape(-1, 3) @ rot.T + shift
        return bool(np.isfinite(self.tree.query(atoms, distance_upper_bound=self.contact)[0]).any())


def smallest_free(contacts: Contacts, assembly: Callable[[float], Transforms], high: float,
                  tol: float = 0.25, steps: int = 32) -> float:
    """The spacing at which copies ``assembly(s)`` first touch when brought in from ``high``.

    The spacing is lowered from ``high`` in ``steps`` even steps until the copies clash, then
    bisected: the result is free of clashes, and so is every spacing above it on the grid, while
    ``tol`` less clashes. (A plain bisection could settle in a smaller free spacing, with copies
    threaded through each other.) The descent uses ``contacts.coarse`` when there is one.
    Copy 0 is tested against all the others, so every copy must be congruent to copy 0 within
    the assembly (true of groups, rings, stacks of rings and helices).

    Parameters
    ----------
    contacts
        The subunit.
    assembly
        Spacing -> the transforms of every copy, copy 0 first.
    high
        A spacing at which they do not clash (doubled until true).
    tol
        Bisection stops when the bracket is this narrow (Angstrom).
    steps
        Grid of the descent from ``high``.
    """
    def clash(s: float, test: Contacts) -> bool:
        rotations, shifts = assembly(s)
        back = rotations[0].T
        return test.clash(back @ rotations[1:], (shifts[1:] - shifts[0]) @ back.T)

    scout = contacts.coarse or contacts
    for _ in range(30):
        if not clash(high, scout):
            break
        high *= 2.0
    else:
        raise RuntimeError("copies clash at every spacing tried")
    step = high / steps
    while high > step and not clash(high - step, scout):
        high -= step
    low = max(0.0, high - step)
    while clash(high, contacts):  # the fine test may still clash where the coarse one did not
        low, high = high, high + step
    while high - low > tol:
        mid = 0.5 * (low + high)
        low, high = (mid, high) if clash(mid, contacts) else (low, mid)
    return high


def pack_group(contacts: Contacts, rotations: np.ndarray, direction: np.ndarray) -> Transforms:
    """Every copy of the subunit under a point group, at the radius where neighbours touch.

    Parameters
    ----------
    rotations : (k, 3, 3)
        From :func:`group_rotations`, identity first.
    direction : (3,)
        Unit vector along which the subunit is moved out from the group's centre.

    Returns
    -------
    rotations (k, 3, 3), shifts (k, 3): copy ``i`` is ``points @ rotations[i].T + shifts[i]``.
    """
    direction = np.asarray(direction, float) / np.linalg.norm(direction)

    def assembly(s: float) -> Transforms:
        return rotations, rotations @ (s * direction)

    return assembly(smallest_free(contacts, assembly, 2 * contacts.radius + contacts.contact))


def stack(contacts: Contacts, layer: Transforms, layers: int, turn: np.ndarray) -> Transforms:
    """``layers`` copies of a ``layer`` (a ring) stacked along z, touching.

    Parameters
    ----------
    contacts
        The subunit.
    layer
        The subunit's copies in one layer (e.g. from :func:`pack_group` with a Cn group).
    layers
        Number of layers.
    turn : (3, 3)
        Rotation of each layer from the one below: identity, a stagger about z, or a 2-fold flip
        about x for back-to-back rings (two layers only: with more, the interfaces alternate
        and are not congruent).

    Returns
    -------
    rotations (layers * k, 3, 3), shifts (layers * k, 3): layer after layer, centred on z = 0.
    """
    turns = [np.eye(3)]
    for _ in range(layers - 1):
        turns.append(turn @ turns[-1])
    turns = np.array(turns)  # (layers, 3, 3)
    rise = np.arange(layers) - (layers - 1) / 2

    def assembly(h: float) -> Transforms:
        return compose((turns, np.outer(rise, [0.0, 0.0, h])), layer)

    if layers == 1:
        return layer
    return assembly(smallest_free(contacts, assembly, 2 * contacts.radius + contacts.contact))


def helix(contacts: Contacts, radius: float, twist: float, count: int) -> tuple[Transforms, float]:
    """``count`` copies on a helix about z: copy k turned by ``k * twist`` and raised by ``k * rise``.

    The subunit is first moved ``radius`` along +x; the rise is the smallest at which the copies
    do not clash.

    Returns
    -------
    (rotations (count, 3, 3), shifts (count, 3)) centred on z = 0, and the rise in Angstrom.
    """
    k = np.arange(count)
    rotations = np.array([rotation_about_z(twist * i) for i in k])  # (count, 3, 3)
    out = np.array([radius, 0.0, 0.0])

    def assembly(rise: float) -> Transforms:
        return rotations, rotations @ out + np.outer(k - (count - 1) / 2, [0.0, 0.0, rise])

    rise = smallest_free(contacts, assembly, 2 * contacts.radius + contacts.contact)
    return assembly(rise), rise


def apply(points: np.ndarray, transforms: Transforms) -> np.ndarray:
    """(k * n, 3) points of every copy, copy after copy, from ``points`` (n, 3)."""
    rotations, shifts = transforms
    return (np.matmul(points[None], rotations.transpose(0, 2, 1)) + shifts[:, None, :]).reshape(-1, 3)


def compose(outer: Transforms, inner: Transforms) -> Transforms:
    """Transforms of ``inner`` copies placed by each ``outer`` transform (outer-major order)."""
    (ro, so), (ri, si) = outer, inner
    rotations = np.einsum("aij,bjk->abik", ro, ri).reshape(-1, 3, 3)
    shifts = (np.einsum("aij,bj->abi", ro, si) + so[:, None, :]).reshape(-1, 3)
    return rotations, shifts


def copies(atoms: AtomicModel, transforms: Transforms) -> AtomicModel:
    """Every rigid copy of ``atoms``, copy after copy, as one model."""
    count = len(transforms[0])
    return AtomicModel(apply(atoms.xyz, transforms), np.tile(atoms.elements, count),
                       np.tile(atoms.occupancy, count))


def model_diameter(atoms: AtomicModel) -> float:
    """Twice the largest distance of an atom from the occupancy-weighted centroid (0 for no atoms)."""
    if not len(atoms):
        return 0.0
    centre = atoms.occupancy @ atoms.xyz / atoms.occupancy.sum()
    return 2.0 * float(np.sqrt(((atoms.xyz - centre) ** 2).sum(axis=1).max()))
