"""Poses for ``bench_curation.py``: the refined-pose search (what a 3D refinement would give every
particle, junk included), poses a few degrees off (near misses), and the angle between two poses
over beta-galactosidase's D2 symmetry."""

from __future__ import annotations

import numpy as np

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.noise import noise_power_spectrum
from gan_viewer.sim.project import Projector
from gan_viewer.sim.scoring import ParticleScorer, ScoreInputs


def fibonacci_views(n_dir: int, psi_step: float) -> np.ndarray:
    """(n_dir * 360 / psi_step, 3) Euler angles: near-uniform directions times in-plane steps."""
    i = np.arange(n_dir) + 0.5
    tilt = np.degrees(np.arccos(1 - 2 * i / n_dir))
    rot = (np.degrees(np.pi * (1 + 5 ** 0.5) * i) + 180) % 360 - 180
    psi = np.arange(-180, 180, psi_step)
    return np.stack([np.repeat(rot, len(psi)), np.repeat(tilt, len(psi)), np.tile(psi, n_dir)], 1)


class PoseSearch:
    """Exhaustive orientation search at low resolution, best shift of the best views, local refinement."""

    def __init__(self, world, resolution: float = 20.0, n_dir: int = 600, psi_step: float = 10.0) -> None:
        self.scorer = ParticleScorer(world.volume, world.apix, None, resolution=resolution, bank_size=0)
        self.views = fibonacci_views(n_dir, psi_step)
        self.bank = self.scorer.projector.fourier_slices(self.views, self.scorer.radius)  # (v, m)
        self.full = Projector(world.volume)
        self.volume, self.box, self.apix = world.volume, world.box, world.apix

    def refine(self, images: np.ndarray, ctf: CtfParams, max_shift: float = 8.0, top: int = 4,
               local: int = 36, coarse_shift: float = 3.0, coarse_step: float = 3.0,
               rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Best (eulers (n, 3), origins (n, 2)) of every particle against the reference."""
        from gan_viewer.core.normalize import relion_normalize
        from gan_viewer.core.scores import centring_phases, half_plane_weights, random_pose_scores, whitening_weights
        from gan_viewer.sim.scoring import ctf_samples

        rng = rng or np.random.default_rng(0)
        n, box = len(images), self.box
        normalised, _, _ = relion_normalize(images)
        power = noise_power_spectrum(images)
        sc = self.scorer
        ft = np.fft.rfft2(normalised)  # (n, box, box // 2 + 1)
        c = ctf_samples(ctf, box, self.apix, sc.pixels)
        white = whitening_weights(power, box).ravel()[sc.pixels].astype(np.float32)
        best = np.empty((n, top), np.int64)
        grid = np.arange(-coarse_shift, coarse_shift + 1e-9, coarse_step)
        grid = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)  # (s, 2) origins tried at low resolution
        for lo in range(0, n, 256):
            x = ft.reshape(n, -1)[lo:lo + 256, sc.pixels]
            s = np.full((len(x), len(self.views)), -np.inf, np.float32)
            for origin in grid:  # the best over the shifts of each view
                centred = x * centring_phases(np.broadcast_to(origin, (len(x), 2)), sc.pixels, box)
                np.maximum(s, random_pose_scores(centred, c[lo:lo + 256], white, self.bank), out=s)
            best[lo:lo + 256] = np.argsort(-s, axis=1)[:, :top]
        # best shift of each candidate: whitened cross-correlation maps over the whole band
        weight = whitening_weights(power, box)  # (box, box // 2 + 1), multiplicity included
        per_coefficient = weight / half_plane_weights(box)
        full_ctf = ctf_samples(ctf, box, self.apix, np.arange(box * (box // 2 + 1))).reshape(n, box, box // 2 + 1)
        yy, xx = np.mgrid[:box, :box]
        dy, dx = (yy + box // 2) % box - box // 2, (xx + box // 2) % box - box // 2
        window = dx ** 2 + dy ** 2 <= max_shift ** 2
        eulers = np.empty((n, 3))
        origins = np.empty((n, 2))
        best_value = np.full(n, -np.inf)
        for k in range(top):
            views = self.views[best[:, k]]
            ref = np.fft.rfft2(self.full.project(views)) * full_ctf  # (n, box, w)
            norm = np.sqrt((weight * np.abs(ref) ** 2).sum(axis=(1, 2)))
            cc = np.fft.irfft2(per_coefficient * np.conj(ref) * ft, s=(box, box)) * box ** 2  # (n, box, box)
            cc = np.where(window, cc, -np.inf)
            flat = cc.reshape(n, -1).argmax(1)
            value = cc.reshape(n, -1)[np.arange(n), flat] / norm
            better = value > best_value
            best_value[better] = value[better]
            eulers[better] = views[better]
            # the CC peaks at the particle's displacement d; the image is the projection shifted by minus
            # the origin, so the origin is -d
            origins[better] = -np.stack([dx.ravel()[flat], dy.ravel()[flat]], 1)[better]
        # local refinement of the orientation at that shift
        scorer = ParticleScorer(self.volume, self.apix, power, resolution=8.0, bank_size=0)
        current = scorer.score(ScoreInputs(images, eulers, origins, ctf))["gvMatched"]
        for step in (6.0, 3.0, 1.5):
            for _ in range(local // 3):
                trial = eulers + rng.normal(0, step, eulers.shape)
                value = scorer.score(ScoreInputs(images, trial, origins, ctf))["gvMatched"]
                better = value > current
                eulers[better], current[better] = trial[better], value[better]
        return eulers, origins


def near_miss_eulers(eulers: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) RELION angles ``degrees`` away from ``eulers`` (a rotation about a random axis)."""
    from scipy.spatial.transform import Rotation

    axes = rng.standard_normal((len(eulers), 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    turned = Rotation.from_euler("ZYZ", eulers, degrees=True) * Rotation.from_rotvec(np.radians(degrees) * axes)
    return turned.as_euler("ZYZ", degrees=True)


def angular_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) rotation angle in degrees between two sets of RELION Euler angles, the least over beta-gal's
    D2 symmetry (two-fold axes x, y, z of the map: the same projection)."""
    from gan_viewer.core.euler import zyz_matrices

    ma, mb = zyz_matrices(a), zyz_matrices(b)
    best = np.full(len(a), np.inf)
    for sym in (np.eye(3), np.diag([1, -1, -1]), np.diag([-1, 1, -1]), np.diag([-1, -1, 1])):
        r = np.einsum("nji,jk,nkl->nil", ma, sym, mb)
        best = np.minimum(best, np.degrees(np.arccos(np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1, 1))))
    return best
