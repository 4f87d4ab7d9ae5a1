"""The structures training scenes are made of: maps, atomic models and procedural assemblies at
one pixel size, each centred in the smallest cube that holds it and scaled to a common contrast
(:class:`VolumeBank`), with a pool of projections per structure (:class:`BankEntry`).
:mod:`gan_viewer.sim.scenes` draws its particles and neighbours from it.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gan_viewer.errors import InputError
from gan_viewer.sim.project import Projector
from gan_viewer.sim.volume import crop_pad, resample_map

log = logging.getLogger(__name__)


@dataclass
class BankEntry:
    """One structure of the bank: a map at the bank's pixel size in the smallest box that holds it."""

    name: str
    kind: str
    volume: np.ndarray  # (d, d, d) float32, [z, y, x], centre at d // 2
    diameter: float  # Angstrom
    _projector: Projector | None = field(default=None, repr=False)
    _pool: list[np.ndarray] = field(default_factory=list, repr=False)

    @property
    def projector(self) -> Projector:
        if self._projector is None:
            self._projector = Projector(self.volume)
        return self._projector

    def view(self, rng: np.random.Generator, pool_size: int = 24, refresh: float = 0.3) -> np.ndarray:
        """A (d, d) projection in a random orientation.

        Projections are kept in a pool of ``pool_size``; each call replaces a random member with
        a new view with probability ``refresh`` (always while the pool fills), and returns a
        pool member under a random one of the 8 in-plane rotations and flips of the square.
        A flip is a view of the mirror-image structure: as plausible a particle for a denoiser.
        """
        from scipy.spatial.transform import Rotation

        if len(self._pool) < pool_size or rng.random() < refresh:
            euler = Rotation.random(random_state=rng).as_euler("ZYZ", degrees=True)[None]
            image = self.projector.project(euler)[0]
            if len(self._pool) < pool_size:
                self._pool.append(image)
            else:
                self._pool[int(rng.integers(pool_size))] = image
            return image
        image = self._pool[int(rng.integers(len(self._pool)))]
        image = np.rot90(image, int(rng.integers(4)))
        return np.ascontiguousarray(image[:, ::-1] if rng.random() < 0.5 else image)

    @property
    def nbytes(self) -> int:
        """Memory of the projector (the padded transform dominates)."""
        return 4 * (2 * self.volume.shape[0]) ** 3


def _entry_of(task: tuple) -> BankEntry | Exception | None:
    """The bank entry of one file, (bank pixel size, path, assumed pixel size) -> entry (None: an
    empty map), or the InputError / ValueError reading it raised (:meth:`VolumeBank.add_files`)."""
    apix, path, assumed_apix = task
    bank = VolumeBank(apix)
    try:
        return bank.add_file(path, assumed_apix=assumed_apix)
    except (InputError, ValueError) as exc:
        return exc


class VolumeBank:
    """Structures at one pixel size, each centred in the smallest cube that holds it.

    Every volume is scaled so that its dense voxels (above a fifth of its maximum) average 1, so
    particles from maps and from atomic models have comparable contrast as neighbours.

    Parameters
    ----------
    apix
        Pixel size in Angstrom.
    """

    def __init__(self, apix: float) -> None:
        self.apix = float(apix)
        self.entries: list[BankEntry] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add_volume(self, name: str, volume: np.ndarray, apix: float, kind: str = "map") -> BankEntry | None:
        """Add a (d, d, d) map at ``apix``; resampled, cropped to its support and scaled. None if empty."""
        volume = np.asarray(volume, np.float32)
        if abs(apix - self.apix) > 1e-3 * self.apix:
            size = max(2, round(volume.shape[0] * apix / self.apix))
            volume = resample_map(volume, apix, self.apix, size)
        volume = np.clip(volume, 0, None)  # negative density of filtered maps is not particle
        if not np.any(volume > 0):
            return None
        volume[volume < 0.02 * volume.max()] = 0  # reconstruction noise around the particle
        radius = support_radius(volume)
        side = min(volume.shape[0], 2 * math.ceil(radius + 3))
        volume = crop_pad(torch.from_numpy(volume), side).numpy() * _soft_sphere(side, radius)
        dense = volume > 0.2 * volume.max()
        volume = volume / float(volume[dense].mean())
        entry = BankEntry(name, kind, np.ascontiguousarray(volume), 2 * radius * self.apix)
        self.entries.append(entry)
        return entry

    def add_file(self, path: str | os.PathLike, kind: str = "map", assumed_apix: float | None = None) -> BankEntry | None:
        """Add a map or an atomic model file (a map without a pixel size takes ``assumed_apix``)."""
        from gan_viewer.sim.reference import is_model
        from gan_viewer.io.maps import load_map

        if is_model(path):
            from gan_viewer.sim.atomic import load_model

            atoms = load_model(path)
            return self.add_atoms(Path(path).name, atoms, kind="model")
        volume, apix = load_map(path)
        apix = apix or assumed_apix
        if apix is None:
            raise InputError("has no pixel size in its header; give one", path)
        return self.add_volume(Path(path).name, volume, apix, kind)

    def add_files(self, paths: list, assumed_apix: float | None = None, workers: int = 0,
                  skip_errors: bool = False) -> None:
        """:meth:`add_file` for each of ``paths``, in that order; with ``workers`` > 1, the maps are
        made by that many forked processes (atomic models are rendered there: most of the time a
        large corpus takes), the bank is the same. ``skip_errors``: a file that cannot be read
        (InputError, ValueError) is logged and left out, else its error is raised."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        paths = list(paths)
        if workers > 1 and len(paths) > 1 and "fork" in multiprocessing.get_all_start_methods():
            with ProcessPoolExecutor(min(workers, len(paths)), mp_context=multiprocessing.get_context("fork"),
                                     initializer=torch.set_num_threads, initargs=(1,)) as pool:
                made = list(pool.map(_entry_of, [(self.apix, p, assumed_apix) for p in paths]))
        else:
            made = [_entry_of((self.apix, p, assumed_apix)) for p in paths]
        for path, entry in zip(paths, made):
            if isinstance(entry, Exception):
                if not skip_errors:
                    raise entry
                log.warning("skipped %s: %s", path, entry)
            elif entry is not None:
                self.entries.append(entry)

    def add_atoms(self, name: str, atoms, kind: str = "model") -> BankEntry | None:
        """Add an :class:`~gan_viewer.sim.atomic.AtomicModel` (centred, at Nyquist resolution)."""
        from gan_viewer.sim.atomic import atoms_to_map

        if len(atoms) == 0:
            return None
        radius = float(np.linalg.norm(atoms.xyz - atoms.xyz.mean(axis=0), axis=1).max())  # about the centroid
        box = 2 * math.ceil(radius / self.apix + 6)  # the density centroid differs a little: room to spare
        volume = atoms_to_map(atoms, self.apix, box, resolution=2 * self.apix)
        return self.add_volume(name, volume, self.apix, kind)

    def pick(self, rng: np.random.Generator, diameter: tuple[float, float] | None = None) -> BankEntry:
        """A random entry, preferably one whose diameter (A) lies in ``diameter``."""
        if not self.entries:
            raise InputError("the volume bank is empty")
        if diameter is not None:
            fits = [e for e in self.entries if diameter[0] <= e.diameter <= diameter[1]]
            if fits:
                return fits[int(rng.integers(len(fits)))]
            target = math.sqrt(diameter[0] * diameter[1])
            return min(self.entries, key=lambda e: abs(math.log(e.diameter / target)))
        return self.entries[int(rng.integers(len(self.entries)))]

    def replace(self, index: int, entry: BankEntry) -> None:
        """Put a freshly made entry (the last one added) in place of entry ``index``."""
        self.entries[index] = entry
        if self.entries[-1] is entry and index != len(self.entries) - 1:
            self.entries.pop()

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries)

    def describe(self) -> dict:
        kinds: dict[str, int] = {}
        for e in self.entries:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
        diameters = [e.diameter for e in self.entries]
        return {"entries": len(self.entries), "kinds": kinds,
                "diameter_A": [round(min(diameters), 1), round(max(diameters), 1)] if diameters else None,
                "named": sorted({e.name for e in self.entries if e.kind in ("map", "model")})}


def support_radius(volume: np.ndarray, fraction: float = 0.99) -> float:
    """Radius (voxels) around the centre voxel holding ``fraction`` of the positive density."""
    d = volume.shape[0]
    c = d // 2
    z, y, x = np.indices(volume.shape, sparse=True)
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2).ravel()
    mass = np.clip(volume, 0, None).ravel()
    order = np.argsort(r)
    cumulative = np.cumsum(mass[order])
    k = int(np.searchsorted(cumulative, fraction * cumulative[-1]))
    return float(r[order][min(k, len(r) - 1)]) + 0.5


def _soft_sphere(side: int, radius: float, edge: float = 3.0) -> np.ndarray:
    """(side, side, side) float32: 1 inside ``radius`` voxels of the centre, a raised-cosine edge."""
    c = side // 2
    z, y, x = np.indices((side,) * 3, sparse=True)
    r = np.sqrt((z - c) ** 2 + (y - c) ** 2 + (x - c) ** 2)
    t = np.clip((r - radius) / edge, 0, 1)
    return (0.5 * (1 + np.cos(np.pi * t))).astype(np.float32)
