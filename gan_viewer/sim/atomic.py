"""Atomic model -> 3D density map, for simulating particles.

Every atom is the sum of its five-Gaussian electron scattering factor (International Tables C
4.3.2.2, ``gemmi.Element(name).c4322``), each Gaussian integrated exactly over the cubic voxels
(products of ``erf`` differences: a Gaussian far sharper than a voxel still deposits its exact
mass instead of being point-sampled), weighted by occupancy. A voxel holds the mean density over its volume, so
``volume.sum() * apix**3`` is the summed ``f(0)`` of the atoms inside the box. The grid is
exactly ``(box, box, box)``, not periodic (nothing wraps around), and indexed ``[z, y, x]``:
``volume[z, y, x]`` is the density at model coordinate ``(x, y, z)``, plus the centring shift.

Centring puts the density centroid (atoms weighted by occupancy * f(0), i.e. the centre of mass
of the map) at voxel ``box // 2`` on every axis, the projection convention. ``resolution``
blurs every Gaussian analytically by ``B = 4 * resolution**2`` (Fourier amplitudes fall to 1/e at
``1 / resolution``; UCSF Chimera's ``molmap`` default, sigma = 0.225 * resolution). Atomic
B-factors are ignored.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gemmi
import numpy as np
from scipy.special import erf

from gan_viewer.errors import InputError

log = logging.getLogger(__name__)

#: Gaussians are summed out to this many standard deviations (1D tail mass 6e-5).
_CUTOFF_SIGMAS = 4.0
#: Upper bound on atoms * window voxels per vectorised chunk (memory ~ 8 bytes each, a few times).
_CHUNK_VOXELS = 2**22


@dataclass(frozen=True)
class AtomicModel:
    """Atoms of one model, ready for :func:`atoms_to_map`.

    Attributes
    ----------
    xyz : (n, 3) float64 array
        Cartesian coordinates in Angstrom, columns x, y, z.
    elements : (n,) str array
        Element symbols ("C", "Zn", ...).
    occupancy : (n,) float64 array
    path : Path or None
        The file it came from, for error messages.
    """

    xyz: np.ndarray
    elements: np.ndarray
    occupancy: np.ndarray
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.xyz)


def load_model(path: str | os.PathLike, *, hydrogens: bool = False, waters: bool = False,
               ligands: bool = True) -> AtomicModel:
    """Read the first model of a ``.pdb``, ``.ent``, ``.cif`` or ``.mmcif`` file (gzipped too).

    Parameters
    ----------
    path
        Coordinate file; gemmi picks the format from the extension.
    hydrogens, waters, ligands
        Keep hydrogens (and deuteriums), waters, ligands (non-polymer residues other than water,
        glycans included). Polymer residues are always kept.

    Raises
    ------
    InputError
        The file is missing or unparsable, or no atoms are left.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path)
    try:
        st = gemmi.read_structure(str(path))
    except (RuntimeError, ValueError, OSError) as exc:
        raise InputError(f"not a readable atomic model ({exc})", path) from exc
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise InputError("no atoms in the first model (is it a coordinate file?)", path)
    st.setup_entities()
    xyz, elements, occupancy = [], [], []
    for residue in _kept_residues(st[0], waters, ligands):
        for atom in residue:
            if hydrogens or not atom.is_hydrogen():
                xyz.append(atom.pos.tolist())
                elements.append(atom.element.name)
                occupancy.append(atom.occ)
    if not xyz:
        raise InputError("no atoms left after removing hydrogens / waters / ligands", path)
    occupancy = np.array(occupancy, np.float64)
    if not np.any(occupancy > 0):  # simulation and modelling programs often write 0.00 for every atom
        log.warning("%s: every atom has occupancy 0; taking 1 for all", path)
        occupancy[:] = 1.0
    log.debug("%s: %d atoms kept", path, len(xyz))
    return AtomicModel(np.array(xyz, np.float64), np.array(elements), occupancy, path)


def _kept_residues(model: gemmi.Model, waters: bool, ligands: bool) -> Iterator[gemmi.Residue]:
    polymer = (gemmi.EntityType.Polymer, gemmi.EntityType.Unknown)
    for residue in (residue for chain in model for residue in chain):
        water = residue.is_water() or residue.entity_type == gemmi.EntityType.Water
        if (waters if water else ligands or residue.entity_type in polymer):
            yield residue


def model_to_map(path: str | os.PathLike, apix: float, box: int, *, hydrogens: bool = False,
                 waters: bool = False, ligands: bool = True, resolution: float | None = None,
                 center: bool = True) -> np.ndarray:
    """Density map of an atomic model file: :func:`load_model` then :func:`atoms_to_map`.

    Returns
    -------
    (box, box, box) float32 array indexed [z, y, x]
    """
    _check_params(Path(path), apix, box, resolution)  # before the (slower) parsing
    atoms = load_model(path, hydrogens=hydrogens, waters=waters, ligands=ligands)
    return atoms_to_map(atoms, apix, box, resolution=resolution, center=center)


def atoms_to_map(atoms: AtomicModel, apix: float, box: int, *, resolution: float | None = None,
                 center: bool = True) -> np.ndarray:
    """Sum the atoms' electron scattering densities on a cubic grid.

    Parameters
    ----------
    atoms
        From :func:`load_model`; with no atoms the map is all zeros.
    apix
        Voxel size in Angstrom.
    box
        Side of the cubic grid in voxels.
    resolution
        Gaussian low-pass in Angstrom (``B = 4 * resolution**2``), or None for none.
    center
        Put the density centroid at voxel ``box // 2``; otherwise coordinate ``(x, y, z)``
        falls at voxel ``(x, y, z) / apix`` (a map whose origin is 0).

    Returns
    -------
    (box, box, box) float32 array indexed [z, y, x]
        Mean density per voxel, in the units of the scattering factors (Angstrom) per cubic Angstrom.

    Raises
    ------
    InputError
        Non-positive ``apix``, ``box`` or ``resolution``, or atoms outside the box.
    """
    _check_params(atoms.path, apix, box, resolution)
    box, start = int(box), time.perf_counter()
    if len(atoms) == 0:  # an empty specimen (a blank particle): nothing to centre, an all-zero map
        return np.zeros((box, box, box), np.float32)
    a, b = _coefficients(atoms.elements)  # (n, 5) each
    a = a * atoms.occupancy[:, None]
    b = b + (4.0 * resolution**2 if resolution else 0.0)
    pos = _voxel_positions(atoms, a.sum(axis=1), apix, box, center)  # (n, 3) x y z
    _check_fits(atoms.path, pos, apix, box, center)
    sigma = np.sqrt(b / (8 * math.pi**2)) / apix  # (n, 5) in voxels
    half = int(math.ceil(_CUTOFF_SIGMAS * sigma.max())) + 1
    padded = np.zeros((box + 2 * half) ** 3)
    chunk = max(1, _CHUNK_VOXELS // (2 * half + 1) ** 3)
    for i in range(0, len(pos), chunk):
        _splat(padded, pos[i:i + chunk] + half, a[i:i + chunk], sigma[i:i + chunk], half)
    side = box + 2 * half
    volume = padded.reshape(side, side, side)[half:-half, half:-half, half:-half] / apix**3
    log.info("%d atoms -> %d^3 map at %.3g A/px in %.2f s", len(pos), box, apix, time.perf_counter() - start)
    return np.ascontiguousarray(volume, dtype=np.float32)


def _check_params(path: Path | None, apix: float, box: int, resolution: float | None) -> None:
    if not (np.isfinite(apix) and apix > 0):
        raise InputError(f"pixel size must be > 0 A, got {apix}", path)
    if int(box) != box or box < 1:
        raise InputError(f"box must be a positive whole number of voxels, got {box}", path)
    if resolution is not None and not (np.isfinite(resolution) and resolution > 0):
        raise InputError(f"resolution must be > 0 A or None, got {resolution}", path)


def suggested_box(path: str | os.PathLike, apix: float, *, padding: float = 1.25, hydrogens: bool = False,
                  waters: bool = False, ligands: bool = True) -> int:
    """An even box that holds the centred model with room to spare.

    Parameters
    ----------
    path, hydrogens, waters, ligands
        As for :func:`load_model`.
    apix
        Voxel size in Angstrom.
    padding
        Factor on the smallest box that holds every atom (>= 1); 1.25 leaves room for the atoms'
        density and a moderate ``resolution`` blur at the edges.
    """
    atoms = load_model(path, hydrogens=hydrogens, waters=waters, ligands=ligands)
    _check_params(atoms.path, apix, 1, None)
    a, _ = _coefficients(atoms.elements)
    smallest = _smallest_box(_voxel_positions(atoms, a.sum(axis=1) * atoms.occupancy, apix, 0, True), 0, True)
    return 2 * math.ceil(max(1.0, padding) * smallest / 2)


def _voxel_positions(atoms: AtomicModel, weights: np.ndarray, apix: float, box: int, center: bool) -> np.ndarray:
    """(n, 3) voxel coordinates x y z; centred: the ``weights``-weighted centroid at ``box // 2``."""
    pos = atoms.xyz / apix
    if center:
        pos = pos - weights @ pos / weights.sum() + box // 2
    return pos


def _smallest_box(pos: np.ndarray, box: int, center: bool) -> int:
    """The smallest box holding voxel positions ``pos`` (laid out for ``box``), in [-0.5, n - 0.5)."""
    below = max(0.0, box // 2 - pos.min() - 0.5) if center else 0.0  # voxels needed below the centre
    above = pos.max() - box // 2 + 0.5 if center else pos.max() + 0.5
    n = max(1, 2 * math.floor(below), math.floor(above))
    while not (n // 2 >= below and n - n // 2 > above):
        n += 1
    return n


def _check_fits(path: Path | None, pos: np.ndarray, apix: float, box: int, center: bool) -> None:
    """Every atom must sit inside the box: voxel positions in [-0.5, box - 0.5)."""
    low, high = pos.min(axis=0), pos.max(axis=0)
    if low.min() >= -0.5 and high.max() < box - 0.5:
        return
    if not center and low.min() < -0.5:
        raise InputError(f"atoms at coordinates down to {low.min() * apix:.1f} A lie outside a box "
                         "that starts at 0; centre the model instead", path)
    need = _smallest_box(pos, box, center)
    raise InputError(f"the model ({np.ptp(pos, axis=0).max() * apix:.1f} A across) does not fit in "
                     f"{box}^3 voxels at {apix:g} A/px; the box must be at least {need}", path)


def _coefficients(elements: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Five-Gaussian a (Angstrom) and b (Angstrom^2) per atom, each (n, 5)."""
    names, inverse = np.unique(elements, return_inverse=True)
    table = np.array([gemmi.Element(str(name)).c4322.get_coefs() for name in names], np.float64)
    unknown = [str(n) for n in names if gemmi.Element(str(n)).atomic_number == 0]
    if unknown:
        log.warning("no scattering factors for elements %s; gemmi's defaults used", unknown)
    return table[inverse, :5], table[inverse, 5:]


def _splat(out: np.ndarray, pos: np.ndarray, a: np.ndarray, sigma: np.ndarray, half: int) -> None:
    """Add voxel-integrated Gaussians to the flat padded cube ``out``.

    pos (m, 3) voxel x y z in the padded grid; a, sigma (m, 5); windows of 2*half+1 voxels per axis.
    """
    side = round(len(out) ** (1 / 3))
    first = np.rint(pos).astype(np.int64) - half  # (m, 3) lowest voxel of each window
    edges = first[:, :, None] + np.arange(2 * half + 2) - 0.5 - pos[:, :, None]  # (m, 3, w + 1)
    cdf = erf(edges[:, None] / (math.sqrt(2) * sigma[:, :, None, None]))  # (m, 5, 3, w + 1)
    mass = 0.5 * np.diff(cdf, axis=-1)  # (m, 5, 3, w): 1D voxel integrals per Gaussian
    wx, wy, wz = mass[:, :, 0], mass[:, :, 1], mass[:, :, 2]  # (m, 5, w)
    values = np.einsum("mt,mtz,mty,mtx->mzyx", a, wz, wy, wx, optimize=True)  # (m, w, w, w)
    steps = np.arange(2 * half + 1)
    index = ((first[:, 2, None, None, None] + steps[:, None, None]) * side
             + first[:, 1, None, None, None] + steps[None, :, None]) * side \
        + first[:, 0, None, None, None] + steps[None, None, :]  # (m, w, w, w)
    out += np.bincount(index.ravel(), weights=values.ravel(), minlength=len(out))
