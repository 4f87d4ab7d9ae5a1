"""Training pairs (noisy, target) for the generator, from three kinds of source.

* :class:`ScenePairs`: simulated scenes of one or many structures (:mod:`gan_viewer.sim.scenes`),
  fresh at every step (the paper's synthetic workflow, and the general generator's data).
* :class:`StackPairs`: given noisy and clean stacks of the same particles.
* :class:`StarPairs`: real particles from a STAR file paired with reference projections of a
  map at their STAR angles and origins (the paper's experimental workflow).

Every source hands out pairs as the denoiser sees them (model card format 2): the noisy image
RELION-normalised (background ring mean 0, standard deviation 1,
:func:`gan_viewer.core.normalize.relion_normalize`), and the target, the particle without noise
or CTF, in the same units, so that an empty box's target is flat and a faint particle's faint.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from gan_viewer.core.normalize import relion_normalize
from gan_viewer.core.particles import StarParticles
from gan_viewer.errors import InputError
from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import ParticleTable
from gan_viewer.ml.whitening import half_plane_filters, whiten_normalised
from gan_viewer.sim.project import Projector
from gan_viewer.sim.scenes import SceneSampler

log = logging.getLogger(__name__)


class ScenePairs:
    """Fresh simulated scenes (:mod:`gan_viewer.sim.scenes`): particles with neighbours, CTF,
    white, coloured or real micrograph noise, RELION-normalised; targets in the input's units.

    Parameters
    ----------
    sampler
        The volume bank, noise bank and recipe.
    validation_box
        The box of validation batches (default: the recipe's middle box).
    input_whitening
        Take this share (0-1) of each scene's noise colour away from its input, as the denoiser
        does for a card with ``input_whitening`` (:mod:`gan_viewer.ml.whitening`), with the scene's
        own noise spectrum; the target is brought to the whitened input's units. None: inputs as
        simulated.
    """

    def __init__(self, sampler: SceneSampler, validation_box: int | None = None,
                 input_whitening: float | None = None) -> None:
        if input_whitening is not None and not 0 < input_whitening <= 1:
            raise InputError(f"--input-whitening must be in (0, 1], got {input_whitening}")
        self.sampler = sampler
        boxes = sorted(sampler.recipe.boxes)
        self.box = validation_box or boxes[len(boxes) // 2]
        self.boxes = tuple(boxes)
        self.apix = sampler.recipe.apix
        self.input_whitening = input_whitening

    def sample(self, n: int, rng: np.random.Generator, box: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(noisy, target), each (n, box, box) float32; one of the recipe's boxes unless given."""
        scenes = self.sampler.sample(n, rng, box)
        if self.input_whitening is None:
            return scenes.noisy, scenes.target
        size = scenes.noisy.shape[-1]
        filters = half_plane_filters(scenes.noise_power, size, self.input_whitening)
        noisy, std = whiten_normalised(scenes.noisy, filters)
        return noisy, (scenes.target / std[:, None, None]).astype(np.float32)

    def prepare_for_workers(self) -> None:
        """Build every structure's projector now (:class:`~gan_viewer.ml.batches.TrainingBatches`
        calls this before it forks): forked workers then share them, instead of each building
        its own on first use (the recipe's 346 structures: 2.7 GB and minutes of CPU, per worker)."""
        entries = self.sampler.bank.entries
        log.info("building the projectors of %d structures before the workers fork", len(entries))
        for entry in entries:
            entry.projector  # noqa: B018 - built and kept on first access

    def describe(self) -> dict:
        whitening = {} if self.input_whitening is None else {"input_whitening": self.input_whitening}
        return {**self.sampler.describe(), "box": self.box, "boxes": list(self.boxes), **whitening}


class StackPairs:
    """Pairs from given noisy and clean stacks (same count, box and order).

    The clean images must be in the units of the noisy ones (``noisy = CTF * clean + noise``, as
    ``gan-viewer simulate`` writes them): both are divided by the noisy image's background
    standard deviation.
    """

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
        return _checked_pair(self.noisy.read(idx), self.clean.read(idx), self.noisy.path, 1.0)

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

    The map's units are not the particles': the projections are scaled by one factor, fitted by
    least squares to the RELION-normalised particles (with each particle's CTF applied for the
    fit when the STAR file has CTF parameters), so targets are in the particles' noise units.
    Build with :meth:`from_table`; :meth:`split` shares the particles, projector and factor.
    """

    def __init__(self, source: StarParticles, eulers: np.ndarray, origins: np.ndarray, projector: Projector,
                 apix: float | None, map_name: str, rows: np.ndarray, scale: float | None = None) -> None:
        self.source, self.eulers, self.origins, self.projector = source, eulers, origins, projector
        self.box, self.apix, self.map_name, self.rows = source.box, apix, map_name, rows
        self.scale = self._fit_scale() if scale is None else scale

    def _fit_scale(self, n: int = 256) -> float:
        """Least-squares factor from projections (CTF-modulated when known) to normalised particles."""
        idx = np.sort(np.random.default_rng(0).choice(self.rows, min(n, len(self.rows)), replace=False))
        particles = relion_normalize(self.source.images(idx))[0]
        model = self.projector.project(self.eulers[idx], self.origins[idx])
        try:
            from gan_viewer.core.ctf_params import CtfParams
            from gan_viewer.sim.ctf import apply_ctf

            params = CtfParams.from_table(self.source.table).take(idx)
            model = apply_ctf(model, params, self.apix or 1.0).numpy()
        except InputError:
            log.info("no CTF parameters: the projections are scaled to the particles without a CTF")
        p = particles - particles.mean(axis=(1, 2), keepdims=True)
        m = model - model.mean(axis=(1, 2), keepdims=True)
        denominator = float((m * m).sum())
        if not denominator > 0:
            raise InputError("the reference projections are empty at these angles", self.source.path)
        scale = float((p * m).sum()) / denominator
        if scale <= 0:
            log.warning("the particles correlate negatively with the reference (inverted contrast?); "
                        "targets keep the reference's contrast")
            scale = abs(scale) or 1.0
        log.info("reference projections scaled by %.4g to the particles' noise units", scale)
        return scale

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

    @classmethod
    def from_map(cls, table: ParticleTable, map_path: str | Path, project_dir: str | Path | None = None) -> StarPairs:
        """The particles of ``table`` paired with projections of the map or atomic model
        ``map_path``, resampled to the particles' pixel size and box."""
        from gan_viewer.sim.reference import volume_from

        source = StarParticles(table, project_dir)
        volume, apix = volume_from(map_path, source.pixel_size, source.box, allow_pad=True)
        return cls.from_table(table, volume, apix, str(map_path), project_dir=project_dir)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        idx = np.sort(rng.choice(self.rows, n, replace=len(self.rows) < n))
        clean = self.projector.project(self.eulers[idx], self.origins[idx])
        return _checked_pair(self.source.images(idx), clean, self.source.path, self.scale)

    def split(self, n_val: int, seed: int = 0) -> tuple[StarPairs, StarPairs]:
        """Disjoint training and validation particles (at most a fifth for validation)."""
        order = np.random.default_rng(seed).permutation(self.rows)
        n_val = min(n_val, max(1, len(order) // 5))
        shared = (self.source, self.eulers, self.origins, self.projector, self.apix, self.map_name)
        return (StarPairs(*shared, np.sort(order[n_val:]), self.scale),
                StarPairs(*shared, np.sort(order[:n_val]), self.scale))

    def describe(self) -> dict:
        return {"kind": "star", "star": str(self.source.path), "map": self.map_name, "n": int(len(self.rows)),
                "apix": self.apix, "box": self.box, "reference_scale": self.scale}


class PaddedPairs:
    """Another source's pairs padded to ``box`` (centred as the denoiser pads at inference): the
    normalised input with background noise (standard deviation 1), the target with zeros.

    For particles whose box the U-Net cannot take (not a multiple of ``2 ** depth``).
    """

    def __init__(self, source, box: int) -> None:
        if box < source.box:
            raise ValueError(f"cannot pad {source.box} px pairs to {box} px")
        self.source, self.box, self.boxes, self.apix = source, int(box), (int(box),), source.apix

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        noisy, clean = self.source.sample(n, rng)
        lo, size = (self.box - self.source.box) // 2, self.source.box
        padded_noisy = rng.standard_normal((len(noisy), self.box, self.box), dtype=np.float32)
        padded_clean = np.zeros_like(padded_noisy)
        padded_noisy[:, lo:lo + size, lo:lo + size] = noisy
        padded_clean[:, lo:lo + size, lo:lo + size] = clean
        return padded_noisy, padded_clean

    def describe(self) -> dict:
        return {**self.source.describe(), "box": self.box, "padded_from": self.source.box}


def _checked_pair(noisy: np.ndarray, clean: np.ndarray, path, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """RELION-normalised noisy images and ``scale * clean`` in the same units, (n, box, box) each."""
    if not (np.isfinite(noisy).all() and np.isfinite(clean).all()):
        raise InputError("training images contain NaN or infinite values", path)
    normalised, _, std = relion_normalize(noisy)
    return normalised, (clean * (scale / std)[:, None, None]).astype(np.float32)


def fixed_batch(source, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A reproducible batch (for validation): the same ``n`` pairs for the same seed (scenes: at
    the source's validation box)."""
    rng = np.random.default_rng([seed, 99])
    if isinstance(source, ScenePairs):
        return source.sample(n, rng, source.box)
    return source.sample(n, rng)
