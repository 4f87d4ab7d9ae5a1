"""Procedural atomic assemblies covering the shapes of real cryo-EM specimens.

Training a general denoiser needs more than globular blobs (:mod:`gan_viewer.sim.phantoms`):
point-group oligomers, hollow shells and cages, rings and barrels, helical filaments and rods,
small proteins, flexible multi-domain particles, membrane proteins in a detergent micelle or a
nanodisc, and empty images. Every generator takes a random generator and a target diameter in
Angstrom and returns an :class:`~gan_viewer.sim.atomic.AtomicModel` of pseudo-residues (five
atoms each, 1 residue per ~130 A^3 inside subunits), ready for
:func:`~gan_viewer.sim.atomic.atoms_to_map`.

An assembly is planned on a cloud of points spread through its subunit's domains (cheap), scaled
so that its diameter matches the request, and only then filled with residues
(:func:`gan_viewer.sim.bodies.packed`): one subunit is filled once and copied by the assembly's
rigid transforms, at the spacing where copies touch without overlapping
(:mod:`gan_viewer.sim.packing`), or cut to its cell of the group (:mod:`gan_viewer.sim.shells`).
Atoms come copy after copy. Filaments and flexible particles live in
:mod:`gan_viewer.sim.elongated`, membrane proteins in :mod:`gan_viewer.sim.membrane`; this module
holds the other families, the family table, :func:`random_assembly` and :func:`assembly_map`.
Symmetry axes, filaments and membrane normals lie along z. The diameter is twice the largest
distance of an atom from the model's occupancy-weighted centroid (:func:`model_diameter`), which
is what must fit in a centred box.

Nothing here is built from a real structure; in particular the held-out test structures
(ferritin/apoferritin, GroEL/GroES, TRPV1) are not imitated: shells, double rings and
channels are generic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from gan_viewer.sim.atomic import AtomicModel, atoms_to_map
from gan_viewer.sim.bodies import MIN_SUBUNIT, Body, packed, scaled_to
from gan_viewer.sim.elongated import FILAMENTS, filament, flexible
from gan_viewer.sim.membrane import membrane_protein
from gan_viewer.sim.packing import group_rotations, model_diameter, pack_group, rotation_about_z, stack
from gan_viewer.sim.phantoms import random_rotations
from gan_viewer.sim.shells import cage, clipped_group, plate_shell

__all__ = ["FAMILIES", "FILAMENTS", "RINGS", "SHELLS", "SMALL", "assembly_map", "empty", "filament", "flexible",
           "membrane_protein", "model_diameter", "point_group_oligomer", "random_assembly", "ring", "shell",
           "small_protein"]

log = logging.getLogger(__name__)


def spread_direction(rng: np.random.Generator, rotations: np.ndarray, candidates: int = 64) -> np.ndarray:
    """A random unit vector (3,) whose images under ``rotations`` (k, 3, 3) are not bunched up.

    A direction close to a symmetry axis gathers the copies around that axis into a tight ring
    far from the others; one of the better-spread half of ``candidates`` random directions (by
    the distance to its nearest image) is taken.
    """
    u = rng.normal(size=(candidates, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    nearest = np.linalg.norm(np.einsum("kij,cj->cki", rotations[1:], u) - u[:, None], axis=2).min(axis=1)
    spread = np.flatnonzero(nearest >= np.median(nearest))
    return u[int(rng.choice(spread))]


def _fits(order: int, diameter: float) -> bool:
    """Whether ``order`` subunits of at least :data:`MIN_SUBUNIT` fit in a shell of ``diameter``."""
    return np.pi * diameter**2 / order >= 0.6 * MIN_SUBUNIT**2 * 4


def random_group(rng: np.random.Generator, diameter: float = np.inf) -> str:
    """A point group for an oligomer of ``diameter`` Angstrom: Cn, Dn, T, O or I."""
    names = [f"C{n}" for n in range(2, 13)] + [f"D{n}" for n in range(2, 9)] + ["T", "O", "I"]
    weights = [0.4 / 11] * 11 + [0.3 / 7] * 7 + [0.1, 0.1, 0.1]
    order = [int(n[1:]) * (2 if n[0] == "D" else 1) if n[0] in "CD" else {"T": 12, "O": 24, "I": 60}[n]
             for n in names]
    ok = np.array([_fits(k, diameter) for k in order])
    if not ok.any():  # too small for any subunit of MIN_SUBUNIT: the smallest oligomer
        return "C2"
    p = np.array(weights) * ok
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def point_group_oligomer(rng: np.random.Generator, diameter: float, group: str | None = None) -> AtomicModel:
    """A random subunit replicated by a point group, neighbours touching, none overlapping.

    Cn: the subunit moved out from the axis until its copies just touch (a ring of subunits).
    Dn, T, O, I: the subunit, a little wider than its cell of the group, cut to it
    (:func:`gan_viewer.sim.shells.clipped_group`): a compact particle whose copies meet across
    flat interfaces, like real oligomers (moving a subunit out until one neighbour touches would
    leave the others apart: rings or pentamers floating free).

    Parameters
    ----------
    group
        ``"Cn"`` (n = 2..12), ``"Dn"`` (n = 2..8), ``"T"``, ``"O"`` or ``"I"``; random if None.
        The main axis is z (:func:`gan_viewer.sim.packing.group_rotations`).
    """
    group = group or random_group(rng, diameter)
    rotations = group_rotations(group)
    body = Body.globular(rng, int(rng.integers(1, 4))).turned(random_rotations(rng, 1)[0])
    log.debug("oligomer %s, %.0f A", group, diameter)
    if group.startswith("C"):
        angle = rng.uniform(0, 2 * np.pi)
        direction = np.array([np.cos(angle), np.sin(angle), 0.0])
        return packed(rng, body, lambda c: pack_group(c, rotations, direction), diameter)
    return clipped_group(rng, body, group, spread_direction(rng, rotations), diameter, rng.uniform(1.1, 1.5))


SHELLS = ("capsid", "shell24", "shell12", "cage")


def shell(rng: np.random.Generator, diameter: float, style: str | None = None) -> AtomicModel:
    """A hollow shell or cage around an empty lumen.

    Parameters
    ----------
    style
        ``"capsid"``: 60 multi-domain plates (icosahedral); ``"shell24"`` / ``"shell12"``: 24 or 12
        plates (octahedral / tetrahedral); plates 7-16 % of the diameter thick (15-50 A) are cut
        to their cells and close up, leaving pores where cells meet. ``"cage"``: rods along the edges of a polyhedron
        (:func:`gan_viewer.sim.shells.cage`). Random if None (capsids only above 180 A).
    """
    if style is None:
        style = str(rng.choice(SHELLS, p=[0.35, 0.25, 0.15, 0.25] if diameter >= 180 else [0, 0.45, 0.3, 0.25]))
    if style == "cage":
        return cage(rng, diameter)
    group = {"capsid": "I", "shell24": "O", "shell12": "T"}[style]
    domains = int(rng.integers(2, 5)) if style == "capsid" else int(rng.integers(1, 4))
    direction = spread_direction(rng, group_rotations(group))
    fatness = rng.uniform(1.3, 1.8) if style == "capsid" else rng.uniform(1.1, 1.5)  # capsid plates: 2-4 domains
    thickness = float(np.clip(diameter * rng.uniform(0.07, 0.16), 15.0, 50.0))
    log.debug("shell %s (%s), %.0f A, %.0f A thick", style, group, diameter, thickness)
    return plate_shell(rng, Body.globular(rng, domains), group, direction, diameter, fatness, thickness,
                       rng.uniform(0, 2 * np.pi))


RINGS = ("ring", "double_ring", "barrel")


def ring(rng: np.random.Generator, diameter: float, style: str | None = None) -> AtomicModel:
    """Rings of 5-40 subunits about z, stacked double rings, and long barrels of stacked rings.

    Parameters
    ----------
    style
        ``"ring"``: one Cn ring (n = 5..40); ``"double_ring"``: two rings (n = 5..16) back to back,
        face to face or staggered; ``"barrel"``: 1-5 stacked rings of subunits elongated along z.
        Random if None. The number of subunits is capped so that each is >= :data:`MIN_SUBUNIT`.
    """
    style = style or str(rng.choice(RINGS, p=[0.4, 0.35, 0.25]))
    most = {"ring": 40, "double_ring": 16, "barrel": 20}[style]
    n = int(rng.integers(5, max(5, min(most, int(np.pi * diameter / (1.3 * MIN_SUBUNIT)))) + 1))
    layers, turn = 1, np.eye(3)
    if style == "ring":
        body = Body.globular(rng, int(rng.integers(1, 3)))
    elif style == "double_ring":
        body, layers = Body.globular(rng, int(rng.integers(1, 4))), 2
        turn = [np.diag([1.0, -1.0, -1.0]), rotation_about_z(np.pi / n), np.eye(3)][int(rng.integers(3))]
    else:
        body = Body.globular(rng, int(rng.integers(1, 3))).squashed(rng.uniform(1.5, 3.0))
        layers = int(rng.integers(1, 6))
        turn = rotation_about_z(np.pi / n) if rng.uniform() < 0.5 else np.eye(3)
    if style != "barrel":
        body = body.turned(random_rotations(rng, 1)[0])
    rotations = group_rotations(f"C{n}")
    log.debug("%s of %d x %d, %.0f A", style, layers, n, diameter)
    return packed(rng, body, lambda c: stack(c, pack_group(c, rotations, [1.0, 0.0, 0.0]), layers, turn), diameter)


SMALL = ("single", "dimer")
#: Diameters asked of small proteins, Angstrom: they come out 25-60 A across, under 100 kDa.
SMALL_DIAMETER = (25.0, 55.0)


def small_protein(rng: np.random.Generator, diameter: float, style: str | None = None) -> AtomicModel:
    """A small protein (< 100 kDa, < 900 residues, 25-60 A across): one or two domains, or a C2 dimer.

    The diameter is clipped to :data:`SMALL_DIAMETER` (a small protein in a large box stays small);
    the rare draw that comes out wider than 60 A is drawn again.
    """
    style = style or str(rng.choice(SMALL, p=[0.7, 0.3]))
    diameter = float(np.clip(diameter, *SMALL_DIAMETER))
    for _ in range(5):
        model = _small(rng, diameter, style)
        if model_diameter(model) <= 60.0:
            break
    return model


def _small(rng: np.random.Generator, diameter: float, style: str) -> AtomicModel:
    if style == "dimer":
        body = Body.globular(rng, 1).turned(random_rotations(rng, 1)[0])
        angle = rng.uniform(0, 2 * np.pi)
        direction, rotations = np.array([np.cos(angle), np.sin(angle), 0.0]), group_rotations("C2")
        return packed(rng, body, lambda c: pack_group(c, rotations, direction), diameter)
    return scaled_to(rng, Body.globular(rng, int(rng.integers(1, 3))), diameter)


def empty(rng: np.random.Generator, diameter: float) -> AtomicModel:
    """No atoms at all (a blank particle image); :func:`atoms_to_map` renders it as zeros."""
    return AtomicModel(np.zeros((0, 3)), np.array([], dtype="<U2"), np.zeros(0))


#: Family name -> generator(rng, diameter) and its weight in :func:`random_assembly`.
FAMILIES: dict[str, tuple[Callable[[np.random.Generator, float], AtomicModel], float]] = {
    "oligomer": (point_group_oligomer, 0.22),
    "shell": (shell, 0.10),
    "ring": (ring, 0.12),
    "filament": (filament, 0.12),
    "small": (small_protein, 0.10),
    "flexible": (flexible, 0.10),
    "membrane": (membrane_protein, 0.20),
    "empty": (empty, 0.04),
}


def random_assembly(rng: np.random.Generator, diameter: float,
                    kind: str | None = None) -> tuple[AtomicModel, str]:
    """An assembly of a family drawn with the weights of :data:`FAMILIES` (or the family ``kind``).

    Returns
    -------
    The model, and its family name (a key of :data:`FAMILIES`).
    """
    if kind is None:
        names = list(FAMILIES)
        weights = np.array([FAMILIES[k][1] for k in names])
        kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    elif kind not in FAMILIES:
        raise ValueError(f"unknown assembly kind {kind!r}; one of {', '.join(FAMILIES)}")
    if not (np.isfinite(diameter) and diameter > 0):
        raise ValueError(f"diameter must be > 0 A, got {diameter}")
    return FAMILIES[kind][0](rng, float(diameter)), kind


def assembly_map(rng: np.random.Generator, apix: float, box: int, kind: str | None = None, *,
                 fill: float = 0.75, resolution: float | None = None) -> tuple[np.ndarray, dict]:
    """A random assembly rendered centred in a (box, box, box) map, like :func:`phantom_map`.

    Parameters
    ----------
    apix
        Voxel size, Angstrom.
    box
        Side of the map in voxels.
    kind
        A family of :data:`FAMILIES`, or None for a random one.
    fill
        The diameter is ``box * apix * fill`` times a random factor in [0.6, 1].
    resolution
        Gaussian low-pass in Angstrom; ``2 * apix`` if None.

    Returns
    -------
    volume : (box, box, box) float32 array indexed [z, y, x]
    info : dict
        ``kind``, ``diameter`` (the model's, Angstrom), ``atoms``, ``apix``, ``resolution``.
    """
    if not 0 < fill <= 0.95:
        raise ValueError(f"fill must be in (0, 0.95], got {fill}")
    target = box * apix * fill * rng.uniform(0.6, 1.0)
    room = (box - 4) * apix  # the model, centred, must stay clear of the edges
    for _ in range(5):
        atoms, kind = random_assembly(rng, target, kind)
        size = model_diameter(atoms)
        if size <= room:
            break
        log.info("%s of %.0f A does not fit %.0f A; drawing a smaller one", kind, size, room)
        target *= 0.85 * room / size
    resolution = resolution or 2 * apix
    volume = atoms_to_map(atoms, apix, box, resolution=resolution)
    return volume, {"kind": kind, "diameter": size, "atoms": len(atoms), "apix": apix, "resolution": resolution}
