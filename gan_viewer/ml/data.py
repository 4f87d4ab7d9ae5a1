"""Training pairs (noisy, clean) for the generator, from three kinds of source.

* :class:`SimulatedPairs`: random views of one or more volumes, optional CTF, noise at an SNR
  drawn per particle (the paper's synthetic workflow; fresh pairs at every step).
* :class:`StackPairs`: given noisy and clean stacks of the same particles.
* :class:`StarPairs`: real particles from a STAR file paired with reference projections of a
  map at their STAR angles and origins (the paper's experimental workflow).

Every source hands out standardised pairs: each image shifted and scaled to zero mean and unit
standard deviation over the box (:func:`gan_viewer.core.normalize.standardize`), the same
normalisation the denoiser applies at inference.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gan_viewer.core.normalize import standardize
from gan_viewer.core.particles import StarParticles
from gan_viewer.errors import InputError
from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import ParticleTable
from gan_viewer.sim.pairs import add_noise, random_views, render
from gan_viewer.sim.project import Projector

log = logging.getLogger(__name__)


@dataclass
class SimulationRecipe:
    """How simulated pairs vary: SNR range (log-uniform), CTF probability and defocus, shifts."""

    snr: tuple[float, float] = (0.03, 0.03)
    ctf_probability: float = 0.0
    defocus: tuple[float, float] = (10000.0, 25000.0)
    shift_sigma_px: float = 0.0

    def __post_init__(self) -> None:
        low, high = self.snr
        if not (0 < low <= high and math.isfinite(high)):
            raise InputError(f"SNR must be positive (and min <= max), got {self.snr}")
        if not 0 <= self.ctf_probability <= 1:
            raise InputError(f"CTF probability must be in [0, 1], got {self.ctf_probability}")


@dataclass
class SimulatedPairs:
    """Fresh simulated pairs from volumes of one box and pixel size.

    Parameters
    ----------
    volumes
        name -> (box, box, box) map indexed [z, y, x], all at ``apix``.
    apix
        Pixel size in Angstrom.
    recipe
        SNR, CTF and shift distributions.
    """

    volumes: dict[str, np.ndarray]
    apix: float
    recipe: SimulationRecipe = field(default_factory=SimulationRecipe)
    device: str = "cpu"

    def __post_init__(self) -> None:
        if not self.volumes:
            raise InputError("no volumes to simulate from")
        sizes = {v.shape[0] for v in self.volumes.values()}
        if len(sizes) != 1:
            raise InputError(f"volumes must share one box, got {sorted(sizes)}")
        self.box = sizes.pop()
        self._projectors = [Projector(v, device=self.device) for v in self.volumes.values()]

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(noisy, clean), each (n, box, box) float32 standardised."""
        which = rng.integers(0, len(self._projectors), n)
        noisy = np.empty((n, self.box, self.box), np.float32)
        clean = np.empty_like(noisy)
        for k in np.unique(which):
            rows = np.flatnonzero(which == k)
            noisy[rows], clean[rows] = self._render(self._projectors[k], len(rows), rng)
        return standardize(noisy), standardize(clean)

    def _render(self, projector: Projector, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        r = self.recipe
        with_ctf = rng.random() < r.ctf_probability
        views = random_views(n, rng, shift_sigma_px=r.shift_sigma_px, defocus_range=r.defocus if with_ctf else None,
                             astigmatism=500.0)
        truth, observed = render(projector, views, self.apix)
        snrs = np.exp(rng.uniform(np.log(r.snr[0]), np.log(r.snr[1]), n))
        noisy = np.stack([add_noise(observed[i:i + 1], float(s), rng)[0] for i, s in enumerate(snrs)])
        return noisy, truth

    def describe(self) -> dict:
        r = self.recipe
        real = [k for k in self.volumes if not k.startswith("phantom ")]
        return {"kind": "simulated", "sources": real, "phantoms": len(self.volumes) - len(real),
                "apix": self.apix, "box": self.box,
                "snr": list(r.snr), "ctf_probability": r.ctf_probability, "defocus_A": list(r.defocus),
                "shift_sigma_px": r.shift_sigma_px}


class StackPairs:
    """Pairs from given noisy and clean stacks (same count, box and order)."""

    def __init__(self, noisy: str | Path, clean: str | Path, rows: np.ndarray | None = None) -> None:
        self.noisy, self.clean = MrcStack(noisy), MrcStack(clean)
        if self.noisy.shape != self.clean.shape:
            raise InputError(f"holds {self.clean.shape} images but the noisy stack {self.noisy.shape}", clean)
        if self.noisy.shape[1] != self.noisy.shape[2]:
            raise InputError("images must be square", noisy)
        self.box = self.noisy.shape[1]
        self.apix = self.noisy.pixel_size
        self.rows = np.arange(len(self.noisy)) if rows is None else rows

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        idx = np.sort(rng.choice(self.rows, n, replace=len(self.rows) < n))
        return _checked_pair(self.noisy.read(idx), self.clean.read(idx), self.noisy.path)

    def split(self, n_val: int, seed: int = 0) -> tuple[StackPairs, StackPairs]:
        """Disjoint training and validation pairs (at most a fifth for validation)."""
        order = np.random.default_rng(seed).permutation(self.rows)
        n_val = min(n_val, max(1, len(order) // 5))
        return (StackPairs(self.noisy.path, self.clean.path, np.sort(order[n_val:])),
                StackPairs(self.noisy.path, self.clean.path, np.sort(order[:n_val])))

    def describe(self) -> dict:
        return {"kind": "stacks", "noisy": str(self.noisy.path), "clean": str(self.clean.path),
                "n": int(len(self.rows)), "apix": self.apix, "box": self.box}


class StarPairs:
    """Real particles paired with reference projections at their STAR angles and origins.

    Build with :meth:`from_table`; :meth:`split` shares the particles and the projector.
    """

    def __init__(self, source: StarParticles, eulers: np.ndarray, origins: np.ndarray, projector: Projector,
                 apix: float | None, map_name: str, rows: np.ndarray) -> None:
        self.source, self.eulers, self.origins, self.projector = source, eulers, origins, projector
        self.box, self.apix, self.map_name, self.rows = source.box, apix, map_name, rows

    @classmethod
    def from_table(cls, table: ParticleTable, volume: np.ndarray, apix: float | None, map_name: str,
                   project_dir: str | Path | None = None) -> StarPairs:
        source = StarParticles(table, project_dir)
        eulers = table.eulers()
        if eulers is None:
            raise InputError("has no angles; real particles need them to be paired with projections", table.path)
        if volume.shape[0] != source.box:
            raise ValueError(f"map box {volume.shape[0]} != particle box {source.box}")
        return cls(source, eulers, table.origins_px(default_apix=apix), Projector(volume), apix, map_name,
                   np.arange(len(table)))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        idx = np.sort(rng.choice(self.rows, n, replace=len(self.rows) < n))
        clean = self.projector.project(self.eulers[idx], self.origins[idx])
        return _checked_pair(self.source.images(idx), clean, self.source.path)

    def split(self, n_val: int, seed: int = 0) -> tuple[StarPairs, StarPairs]:
        """Disjoint training and validation particles (at most a fifth for validation)."""
        order = np.random.default_rng(seed).permutation(self.rows)
        n_val = min(n_val, max(1, len(order) // 5))
        shared = (self.source, self.eulers, self.origins, self.projector, self.apix, self.map_name)
        return StarPairs(*shared, np.sort(order[n_val:])), StarPairs(*shared, np.sort(order[:n_val]))

    def describe(self) -> dict:
        return {"kind": "star", "star": str(self.source.path), "map": self.map_name, "n": int(len(self.rows)),
                "apix": self.apix, "box": self.box}


def _checked_pair(noisy: np.ndarray, clean: np.ndarray, path) -> tuple[np.ndarray, np.ndarray]:
    if not (np.isfinite(noisy).all() and np.isfinite(clean).all()):
        raise InputError("training images contain NaN or infinite values", path)
    return standardize(noisy), standardize(clean)


def fixed_batch(source, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A reproducible batch (for validation): the same ``n`` pairs for the same seed."""
    return source.sample(n, np.random.default_rng([seed, 99]))
