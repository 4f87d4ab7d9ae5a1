"""Elongated and flexible particles: helical filaments, rods, chains of domains, beads on a string.

Filaments lie along z and are ``diameter`` long; flexible particles are domains joined by curved
linkers of pseudo-residues. See :mod:`gan_viewer.sim.assemblies` for the other families.
"""

from __future__ import annotations

import logging

import numpy as np

from gan_viewer.sim.atomic import AtomicModel
from gan_viewer.sim.bodies import (MIN_SUBUNIT, ORIENTATIONS, Body, atom_contacts, extent, random_direction,
                                   scaled_to)
from gan_viewer.sim.packing import CONTACT, Contacts, copies, helix, rotation_about_z
from gan_viewer.sim.phantoms import CA_STEP, random_rotations, residue_atoms

log = logging.getLogger(__name__)


FILAMENTS = ("helical", "rod", "chain")


def filament(rng: np.random.Generator, diameter: float, style: str | None = None) -> AtomicModel:
    """Elongated particles along z, ``diameter`` long, aspect ratio (length / width) 2-6.

    Parameters
    ----------
    style
        ``"helical"``: a helical filament of one subunit with random twist, rise (touching) and
        radius; ``"rod"``: one long ellipsoidal domain; ``"chain"``: 2-7 domains in a row, slightly
        bent (an elongated multi-domain protein). Random if None. Subunits and domains stay at
        least :data:`MIN_SUBUNIT` across (the aspect ratio gives way in short filaments).
    """
    style = style or str(rng.choice(FILAMENTS, p=[0.5, 0.2, 0.3]))
    aspect = rng.uniform(2.0, max(2.0, min(6.0, diameter / MIN_SUBUNIT)))
    log.debug("filament %s, aspect %.1f, %.0f A", style, aspect, diameter)
    if style == "helical":
        return _helical(rng, diameter, aspect)
    if style == "rod":
        body = Body.from_domains([0.0, 0.0, 0.0], [1.0, *(rng.uniform(0.7, 1.0, 2) / aspect)])
    else:
        count = int(rng.integers(2, int(np.clip(diameter / MIN_SUBUNIT, 2, 7)) + 1))  # domains >= MIN_SUBUNIT long
        width = count / aspect  # domains ~2 semi-axis units long each, in a row count * 2 long
        centres = np.column_stack([np.arange(count) * 2.0 * rng.uniform(0.85, 1.0),
                                   rng.normal(0, 0.2 * width, (2, count)).T])
        semi = np.column_stack([rng.uniform(0.9, 1.1, count), rng.uniform(0.6, 1.0, (count, 2)) * width])
        body = Body.from_domains(centres - centres.mean(axis=0), semi)
    body = body.turned(_x_to_z(rng))
    return scaled_to(rng, body, diameter)


def _x_to_z(rng: np.random.Generator) -> np.ndarray:
    """A rotation taking +x to +z, with a random spin about z."""
    return rotation_about_z(rng.uniform(0, 2 * np.pi)) @ np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


def _helical(rng: np.random.Generator, diameter: float, aspect: float) -> AtomicModel:
    """A helical filament along z, ``diameter`` long and ``diameter / aspect`` wide.

    1.5-12 subunits per turn (either hand) at a random radius (0-1.2 subunit radii from the axis);
    the rise is the smallest at which the subunits do not overlap (:func:`packing.helix`).
    """
    body = Body.globular(rng, int(rng.integers(1, 3))).turned(random_rotations(rng, 1)[0])
    twist = rng.choice([-1.0, 1.0]) * 2 * np.pi / rng.uniform(1.5, 12.0)
    out = rng.uniform(0.0, 1.2)  # radius of the helix over the subunit's radius
    cloud, _ = body.envelope(rng)
    reach = Contacts(cloud, 1.0).radius
    radius = max(15.0, diameter / (2 * aspect * (1 + out)))  # subunits 30 A or more (a wider filament)
    subunit = body.scaled(radius / reach).atoms(rng)
    contacts = atom_contacts(subunit)
    _, rise = helix(contacts, out * contacts.radius, twist, 60)
    count = int(np.clip(round((diameter - 2 * contacts.radius) / rise) + 1, 2, 600))
    log.debug("helix: %d subunits, twist %.0f deg, rise %.1f A", count, np.degrees(twist), rise)
    return copies(subunit, helix(contacts, out * contacts.radius, twist, count)[0])



def flexible(rng: np.random.Generator, diameter: float) -> AtomicModel:
    """2-7 domains (fewer in small particles) on flexible linkers in random relative poses.

    Each domain (random size, shape and orientation) is placed a random gap away from the previous
    one in a random direction, clear of all the others; consecutive domains are joined by a curved
    linker of pseudo-residues 3.8 A apart.
    """
    count = int(rng.integers(2, int(np.clip(diameter / 35.0, 2, 7)) + 1))  # domains of 25 A or more
    body = _beads(rng, count)
    body = body.scaled(max(1.0, diameter - 2 * CONTACT) / extent(body.envelope(rng)[0]))
    ca = [body.residues(rng)] + [_linker(rng, body, i) for i in range(count - 1)]
    log.debug("flexible: %d domains, %.0f A", count, diameter)
    return residue_atoms(rng, np.concatenate(ca), ORIENTATIONS)


def _beads(rng: np.random.Generator, count: int) -> Body:
    """Domains of radius ~1 placed one after the other, gaps of 0.2-0.8, none overlapping."""
    semi = rng.uniform(0.6, 1.0, (count, 3)) * rng.uniform(0.7, 1.3, (count, 1))
    centres = [np.zeros(3)]
    for i in range(1, count):
        for _ in range(50):
            step = random_direction(rng) * (semi[i - 1].max() + semi[i].max() + rng.uniform(0.2, 0.8))
            candidate = centres[-1] + step
            if all(np.linalg.norm(candidate - c) > semi[i].max() + semi[j].max() + 0.1
                   for j, c in enumerate(centres)):
                break
        centres.append(candidate)
    centres = np.array(centres)
    return Body.from_domains(centres - centres.mean(axis=0), semi, random_rotations(rng, count))


def _linker(rng: np.random.Generator, body: Body, i: int) -> np.ndarray:
    """(m, 3) C-alphas on a curve from domain ``i``'s surface to domain ``i + 1``'s, 3.8 A apart."""
    a, b = body.centres[i], body.centres[i + 1]
    start, end = _surface_towards(body, i, b), _surface_towards(body, i + 1, a)
    gap = np.linalg.norm(end - start)
    control = (start + end) / 2 + rng.normal(size=3) * 0.3 * gap
    t = np.linspace(0, 1, 200)[:, None]
    curve = (1 - t) ** 2 * start + 2 * t * (1 - t) * control + t**2 * end  # (200, 3) quadratic Bezier
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    stops = np.arange(CA_STEP, arc[-1] - CA_STEP / 2, CA_STEP)
    return np.column_stack([np.interp(stops, arc, curve[:, k]) for k in range(3)])


def _surface_towards(body: Body, i: int, target: np.ndarray) -> np.ndarray:
    """The point where the ray from domain ``i``'s centre to ``target`` leaves its ellipsoid."""
    direction = (target - body.centres[i]) / np.linalg.norm(target - body.centres[i])
    local = body.axes[i].T @ direction
    return body.centres[i] + direction / np.sqrt(np.sum((local / body.semi[i]) ** 2))
