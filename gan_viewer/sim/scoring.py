"""Matched-filter curation scores of particles against a reference map (the maths: :mod:`gan_viewer.core.scores`).

:class:`ParticleScorer` holds one optics group's reference (a map at the particles' pixel size and
box), its noise spectrum and a bank of projections at random poses; :meth:`ParticleScorer.score`
scores a chunk of particles. Everything happens on Fourier samples within a band (the reference is
sliced in Fourier space, never projected to real space), so a chunk costs one rfft2 of the
particles, one central slice per particle and two matrix products against the bank.
:class:`TableScorer` scores any rows of a STAR file (one scorer per optics group, built on first use;
the inspector's "Score all" uses it chunk by chunk) and :func:`score_table` streams a file through it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.noise import noise_power_spectrum, noise_sample_rows
from gan_viewer.core.normalize import background_std
from gan_viewer.core.scores import (DEFAULT_SCORE, DEFAULT_SOURCE, SCORE_COLUMNS, band_frequencies, centring_phases,
                                    matched_filters,
                                    random_pose_scores, random_pose_zscore, whitening_weights)
from gan_viewer.sim.project import Projector

log = logging.getLogger(__name__)

#: highest resolution (Angstrom) the matched filter uses by default
DEFAULT_RESOLUTION = 10.0
#: projections at random poses per optics group, for the z-score
DEFAULT_BANK = 64


@dataclass
class ScoreInputs:
    """What a chunk of n particles brings: images and, where known, poses and CTF.

    Attributes
    ----------
    images : (n, box, box) raw particles
    eulers : (n, 3) RELION rot, tilt, psi in degrees, or None (no pose: no matched filter)
    origins : (n, 2) origin x, y in pixels, or None (zero)
    ctf : the n particles' CTF parameters, or None (the filter without a CTF)
    """

    images: np.ndarray
    eulers: np.ndarray | None = None
    origins: np.ndarray | None = None
    ctf: CtfParams | None = None


class ParticleScorer:
    """One optics group's reference, noise spectrum and random-pose bank.

    Parameters
    ----------
    volume
        (box, box, box) map at the particles' pixel size and box
        (:func:`gan_viewer.sim.reference.map_at`).
    apix
        The particles' pixel size in Angstrom.
    noise_power
        (box // 2 + 1,) the particles' noise spectrum (:func:`gan_viewer.core.noise.noise_power_spectrum`
        of RELION-normalised particles), or None for white noise (then gvMatched is the unwhitened filter).
    resolution
        Highest resolution used, in Angstrom (clipped to Nyquist).
    bank_size
        Random poses for the z-score (0: no z-score).
    seed
        The random poses' seed: the same seed gives the same bank, so shards agree.
    """

    def __init__(self, volume: np.ndarray, apix: float, noise_power: np.ndarray | None, *,
                 resolution: float = DEFAULT_RESOLUTION, bank_size: int = DEFAULT_BANK, seed: int = 0,
                 device: str = "cpu", interpolation: str = "trilinear") -> None:
        self.projector = Projector(volume, device=device)
        self.box, self.apix = self.projector.size, float(apix)
        self.radius = min(self.box // 2 - 1, self.box * self.apix / float(resolution))
        self.pixels = self.projector.band(self.radius)  # (m,)
        self._band_index = torch.from_numpy(self.pixels)
        self.white = whitening_weights(noise_power, self.box).ravel()[self.pixels].astype(np.float32)  # (m,)
        self.plain = whitening_weights(None, self.box).ravel()[self.pixels].astype(np.float32)
        self.whitened = noise_power is not None
        self.interpolation = interpolation
        self.weights = np.stack([self.white, self.plain], axis=1)  # (m, 2)
        rng = np.random.default_rng(seed)
        self.bank = self.projector.fourier_slices(random_eulers(rng, bank_size), self.radius) if bank_size else None

    def score(self, inputs: ScoreInputs) -> dict[str, np.ndarray]:
        """Scores of n particles: ``dict name -> (n,) float64`` over gvScore, gvMatchedZ, gvMatched,
        gvMatchedPlain (NaN for all of them without poses)."""
        n = len(inputs.images)
        out = {name: np.full(n, np.nan) for name in SCORE_COLUMNS if name.startswith("gvMatched")}
        if inputs.eulers is None or not n:
            out[DEFAULT_SCORE] = out[DEFAULT_SOURCE].copy()
            return out
        # RELION's normalisation is (x - mean) / std of the ring: on the band (no DC) only the division counts
        images = np.asarray(inputs.images, np.float32)
        with torch.inference_mode():
            x = torch.fft.rfft2(torch.from_numpy(images)).reshape(n, -1).index_select(1, self._band_index).numpy()
        x /= background_std(images).astype(np.float32)[:, None]  # (n, m) complex64
        if inputs.origins is not None and np.any(inputs.origins):
            x *= centring_phases(inputs.origins, self.pixels, self.box)
        ctf = None if inputs.ctf is None else ctf_samples(inputs.ctf, self.box, self.apix, self.pixels)
        t = self.projector.fourier_slices(inputs.eulers, self.radius, interpolation=self.interpolation)  # (n, m)
        if ctf is not None:
            t *= ctf
        out["gvMatched"], out["gvMatchedPlain"] = matched_filters(x, t, self.weights).T
        if self.bank is not None:
            out["gvMatchedZ"] = random_pose_zscore(out["gvMatched"], random_pose_scores(x, ctf, self.white, self.bank))
        out[DEFAULT_SCORE] = out[DEFAULT_SOURCE].copy()
        return out


def ctf_samples(params: CtfParams, box: int, apix: float, pixels: np.ndarray) -> np.ndarray:
    """(n, m) float32: each particle's CTF (:func:`gan_viewer.sim.ctf.ctf_at`) on the rfft2 samples ``pixels``."""
    from gan_viewer.sim.ctf import ctf_at

    return ctf_at(params, band_frequencies(pixels, box), box, apix)


def random_eulers(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) RELION Euler angles of uniformly random rotations (rot, psi uniform, cos(tilt) uniform)."""
    rot = rng.uniform(-180, 180, n)
    tilt = np.degrees(np.arccos(rng.uniform(-1, 1, n)))
    psi = rng.uniform(-180, 180, n)
    return np.stack([rot, tilt, psi], axis=1)


def group_noise_power(images: np.ndarray) -> np.ndarray:
    """(box // 2 + 1,) noise spectrum of a sample of one group's particles (their background ring)."""
    return noise_power_spectrum(images)


class TableScorer:
    """The scores of any rows of a STAR file's particles: one :class:`ParticleScorer` per optics
    group (pixel size, box, group), built on first use. The noise spectrum of each group is
    measured on a sample of the whole group (:func:`noise_sample_rows`), so every caller (a shard,
    a chunk of the inspector's "Score all") gets the same scores for the same particle. Safe to
    call from one thread at a time.

    Parameters
    ----------
    table
        The :class:`~gan_viewer.io.star.ParticleTable`.
    read
        ``read(rows) -> (k, box, box)`` raw images of particle rows (``source.images``).
    map_path
        The reference map; resampled to each optics group's pixel size and box. InputError when
        it cannot cover a group's box.
    extra
        ``extra(images, references, apix, noise_power) -> dict name -> (k,)`` for more scores per
        chunk of one optics group (the GAN's, :func:`gan_viewer.ml.scoring.gan_scores`);
        ``references`` are the projections at the particles' poses (None without poses),
        ``noise_power`` the group's noise spectrum (:meth:`noise_power`).

    Attributes
    ----------
    eulers : (n, 3) or None
        The particles' angles (None: no matched filter, every gvMatched score is NaN).
    """

    def __init__(self, table, read: Callable[[np.ndarray], np.ndarray], map_path: str | os.PathLike, *,
                 resolution: float = DEFAULT_RESOLUTION, bank_size: int = DEFAULT_BANK, whiten: bool = True,
                 device: str = "cpu", extra: Callable | None = None, interpolation: str = "trilinear") -> None:
        from gan_viewer.sim.reference import particle_sampling

        self.table, self.read, self.map_path, self.extra = table, read, map_path, extra
        self.options = dict(resolution=resolution, bank_size=bank_size, device=device, interpolation=interpolation)
        self.whiten = whiten
        apix, box = particle_sampling(table, None)
        if apix is None:
            apix = np.full(len(table), 1.0)
            log.warning("%s: no pixel size in the STAR or its stacks: taking the map's voxels as pixels", table.path)
        self.apix = apix
        self.eulers = table.eulers()
        self.origins = table.origins_px(default_apix=float(apix[0]))
        try:
            self.ctf = CtfParams.from_table(table)
        except Exception as exc:  # noqa: BLE001 - no CTF is not an error: score without it
            self.ctf = None
            log.warning("%s: no CTF (%s): the matched filter runs without one", table.path, exc)
        if self.eulers is None:
            log.warning("%s: no angles (rlnAngleRot/Tilt/Psi): %s cannot be computed", table.path,
                        ", ".join(n for n in SCORE_COLUMNS if n.startswith("gvMatched") or n == DEFAULT_SCORE))
        self.keys = np.stack([apix, box, table.optics_groups()], axis=1)  # (n, 3)
        self.scorers: dict[tuple, ParticleScorer] = {}
        self._noise: dict[tuple, np.ndarray] = {}

    def noise_power(self, key: tuple) -> np.ndarray:
        """The noise spectrum of the optics group ``key``, from a sample of the whole group
        (:func:`~gan_viewer.core.noise.noise_sample_rows`), measured once."""
        if key not in self._noise:
            members = np.flatnonzero(np.all(self.keys == np.asarray(key), axis=1))
            self._noise[key] = group_noise_power(self.read(noise_sample_rows(members)))
        return self._noise[key]

    def scorer(self, key: tuple) -> ParticleScorer:
        """The scorer of the optics group ``key`` (pixel size, box, group), built on first use."""
        from gan_viewer.sim.reference import map_at

        if key not in self.scorers:
            volume, group_apix = map_at(
                self.map_path, float(key[0]), int(key[1]),
                hint="the reference must cover the particles' box: give a map of a larger extent")
            noise = self.noise_power(key) if self.whiten else None
            self.scorers[key] = ParticleScorer(volume, group_apix, noise, **self.options)
        return self.scorers[key]

    def prepare(self, rows: np.ndarray) -> None:
        """Build the scorers of every optics group among ``rows`` now (a map that cannot cover a
        group's box fails here, before anything is scored)."""
        if self.eulers is not None:
            for key in np.unique(self.keys[np.asarray(rows, np.int64)], axis=0):
                self.scorer(tuple(key.tolist()))

    def score(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Scores of particle ``rows`` (k,): dict name -> (k,) float64 over the gvMatched scores and
        gvScore (NaN where they cannot be computed), and what ``extra`` adds."""
        part = np.asarray(rows, np.int64)
        out = {name: np.full(len(part), np.nan) for name in SCORE_COLUMNS if name.startswith("gvMatched")}
        out[DEFAULT_SCORE] = np.full(len(part), np.nan)
        if self.eulers is None and self.extra is None:
            return out
        for key in np.unique(self.keys[part], axis=0):
            key = tuple(key.tolist())
            where = np.flatnonzero(np.all(self.keys[part] == np.asarray(key), axis=1))
            sub = part[where]
            images = self.read(sub)
            if self.eulers is None:  # no poses: the extra scores only
                got = self.extra(images, None, float(key[0]), self.noise_power(key))
            else:
                scorer = self.scorer(key)
                got = scorer.score(ScoreInputs(images, self.eulers[sub], self.origins[sub],
                                               None if self.ctf is None else self.ctf.take(sub)))
                if self.extra is not None:
                    got.update(self.extra(images, scorer.projector.project(self.eulers[sub], self.origins[sub]),
                                          scorer.apix, self.noise_power(key)))
            for name, values in got.items():
                out.setdefault(name, np.full(len(part), np.nan))[where] = values
        return out


def score_table(table, source, map_path: str | os.PathLike, rows: np.ndarray, *, chunk: int = 2048,
                resolution: float = DEFAULT_RESOLUTION, bank_size: int = DEFAULT_BANK, whiten: bool = True,
                device: str = "cpu", extra: Callable | None = None, interpolation: str = "trilinear"
                ) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Score ``rows`` of a STAR file's particles, chunk by chunk (memory bounded by ``chunk``), with a
    :class:`TableScorer`.

    Parameters
    ----------
    table
        The :class:`~gan_viewer.io.star.ParticleTable`.
    source
        Its images (:class:`~gan_viewer.core.particles.StarParticles`).
    map_path
        The reference map; resampled to each optics group's pixel size and box. InputError when
        it cannot cover a group's box.
    rows
        (k,) sorted particle rows to score (a shard); the noise spectrum of each optics group is
        measured on a sample of the whole group, so shards agree.
    extra
        As :class:`TableScorer`'s.

    Yields
    ------
    (rows, scores): the rows of a chunk and ``dict name -> (len(rows),) float64``.
    """
    scorer = TableScorer(table, source.images, map_path, resolution=resolution, bank_size=bank_size, whiten=whiten,
                         device=device, extra=extra, interpolation=interpolation)
    scorer.prepare(rows)
    for lo in range(0, len(rows), chunk):
        part = np.asarray(rows[lo:lo + chunk], np.int64)
        yield part, scorer.score(part)


def collect_scores(table, source, map_path: str | os.PathLike, rows: np.ndarray,
                   progress: Callable[[int, int], None] | None = None, **options) -> dict[str, np.ndarray]:
    """All the scores of ``rows`` (see :func:`score_table`, which takes ``options``), gathered into
    ``dict name -> (len(rows),) float64`` (NaN where a chunk had no value); ``progress(done, total)``
    after each chunk."""
    columns: dict[str, np.ndarray] = {}
    done = 0
    for part, scores in score_table(table, source, map_path, rows, **options):
        for name, values in scores.items():
            columns.setdefault(name, np.full(len(rows), np.nan))[done:done + len(part)] = values
        done += len(part)
        if progress is not None:
            progress(done, len(rows))
    return columns


def score_star(star: str | os.PathLike, map_path: str | os.PathLike, out: str | os.PathLike, *,
               shard: tuple[int, int] | None = None, chunk: int = 2048, resolution: float = DEFAULT_RESOLUTION,
               project_dir: str | os.PathLike | None = None, device: str = "cpu", extra: Callable | None = None,
               interpolation: str = "trilinear", overwrite: bool = False) -> tuple[int, list[str]]:
    """Score a STAR file's particles (or one shard of them) and write them with the score columns.

    ``star`` may also be a cryoSPARC ``.cs`` file: the output is then its RELION 3.1 conversion
    (``alignments3D/split`` as ``rlnRandomSubset``) with the score columns; its image names are the
    cryoSPARC stacks' (``export`` writes ``.mrcs`` links for RELION).

    Every block, column and value of the input is kept; the gv columns that could be computed
    (:data:`gan_viewer.core.scores.SCORE_COLUMNS`) are added (replaced when the input has them).
    With ``shard=(k, n)`` only the k-th of n slices of the rows is scored and written, marked with
    :func:`gan_viewer.core.shards.shard_comment` for ``gan-viewer merge``. Nothing is written
    when anything fails (InputError for bad input).

    Returns
    -------
    (number of particles scored, names of the score columns written)
    """
    from gan_viewer.core.particles import StarParticles
    from gan_viewer.core.shards import Shard, shard_bounds, shard_comment, shard_rows
    from gan_viewer.io.atomic import check_writable
    from gan_viewer.io.digest import file_sha256
    from gan_viewer.io.star import write_star
    from gan_viewer.io.tables import read_table

    check_writable(out, overwrite)
    table = read_table(star)  # a STAR file, or a cryoSPARC .cs read as a RELION 3.1 table
    source = StarParticles(table, project_dir)
    rows = np.arange(len(table)) if shard is None else shard_rows(len(table), *shard)
    columns = collect_scores(table, source, map_path, rows, chunk=chunk, resolution=resolution, device=device,
                             extra=extra, interpolation=interpolation,
                             progress=lambda done, total: log.info("scored %d / %d particles", done, total))
    written = [name for name in SCORE_COLUMNS if name in columns and np.isfinite(columns[name]).any()]
    missing = [name for name in SCORE_COLUMNS if name not in written]
    if missing:
        log.warning("%s: not computed: %s", star, ", ".join(missing))
    from gan_viewer.io.star import ParticleTable

    particles = (table.particles if shard is None else table.particles.iloc[rows]).reset_index(drop=True)
    particles = particles.assign(**{name: np.round(columns[name], 6) for name in written})
    blocks = {**table.blocks, table.particles_block: particles}
    result = ParticleTable(blocks, table.particles_block, table.optics_block, table.version, None,
                           list(table.header_comments))
    comments = [f"gan-viewer score: {len(rows)} particles of {Path(star).name} against {Path(map_path).name}, "
                f"resolution {resolution:g} A; {DEFAULT_SCORE} = {DEFAULT_SOURCE}"]
    if shard is not None:
        lo, hi = shard_bounds(len(table), *shard)
        comments.insert(0, shard_comment(Shard(shard[0], shard[1], lo, hi, len(table), file_sha256(star))))
    write_star(result, out, overwrite=overwrite, comments=comments)
    return len(rows), written

