"""The Bayes bound of bench_curation's given-pose sets: how far could any per-particle score go?

An oracle that knows how a set was made scores each particle by its posterior log odds of being
good, given the image and its STAR pose, and its ranking is the best any per-particle score can
rank when the noise is Gaussian. It knows the SNR rule (every image's signal scaled to the set's
SNR), the images' B-factor, the class priors (3/4 good, 1/16 each bad class) and each class's
distribution. It takes the noise as stationary and Gaussian, with the set's own 2D power spectrum,
leaving out the mean: the bench's noise patches are mean-free, so the mean would be noise-free
signal, which real particles never give.

Likelihoods (``log p(x | s) = Re<x, s>_P - |s|_P^2 / 2`` up to a term shared by every hypothesis,
``<., .>_P`` the inner product weighted by 1 / power):

* good: the reference at the STAR pose and origin, with the particle's CTF;
* ``wrong_pose``: the reference at a pose uniform over SO(3), a mean estimated by multiple
  importance sampling: ``k_uniform`` uniform poses shared by all particles, plus ``k_local`` poses
  per particle within ``max_local_deg`` of the four D2-symmetric copies of where its signal
  really is (the oracle's knowledge serves the proposal only; the estimate is unbiased whatever the
  proposal, and without the local poses it misses the peak that decides it);
* ``other``: RNA polymerase II at ``k_uniform`` uniform poses;
* ``empty``: no signal;
* ``off_centre``: the reference at the STAR pose, 15-30 px further at a uniform angle (every shift
  on the pixel grid, weighted uniform in radius).

The noise of a real micrograph is not Gaussian, so on micrograph noise the bound is the Gaussian
one: an oracle of the patches' structure could do better.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.sim.ctf import ctf_2d
from gan_viewer.sim.scoring import random_eulers

#: beta-galactosidase's D2 symmetry as rotations S with projection(S * R) = projection(R) (scipy's
#: intrinsic ZYZ, RELION's angles)
D2 = [Rotation.identity()] + [Rotation.from_matrix(np.diag(d)) for d in ([1., -1, -1], [-1., 1, -1], [-1., -1, 1])]
PRIOR_GOOD = 0.75
PRIOR_EACH_BAD = 0.25 / 4
OFF_CENTRE_PX = (15.0, 30.0)


class _Set:
    """One set's Fourier-space pieces: images X (n, B, B), CTFs with the images' B-factor, the
    phase ramps of the STAR origins, and the noise power (B, B) with the mean left out."""

    def __init__(self, world, data: dict, snr: float, bfactor: float) -> None:
        self.world, self.snr = world, snr
        self.box = box = world.box
        self.n = n = len(data["images"])
        self.X = torch.fft.fft2(torch.from_numpy(data["images"]).double())
        self.power = (self.X.abs() ** 2).mean(0)
        self.power[0, 0] = float("inf")
        ctf = CtfParams(**{**data["ctf"].__dict__, "bfactor": np.full(n, bfactor)})
        self.C = ctf_2d(ctf, box, world.apix, rfft=False).double()
        ky = torch.fft.fftfreq(box, dtype=torch.float64)[:, None]
        kx = torch.fft.fftfreq(box, dtype=torch.float64)[None, :]
        o = torch.from_numpy(np.asarray(data["origins"], np.float64))
        self.ramp = torch.exp(2j * np.pi * (kx[None] * o[:, 0, None, None] + ky[None] * o[:, 1, None, None]))
        self.not_mean = torch.ones(box, box, dtype=torch.float64)
        self.not_mean[0, 0] = 0

    def loglik(self, i: np.ndarray | slice, F: torch.Tensor) -> torch.Tensor:
        """log p(x_i | its template from reference transforms F) for particles i: F (k, B, B), the
        same k templates for each, or F (len(i), k, B, B), each particle's own k; (len(i), k)."""
        m = len(self.X[i])
        weights = (self.X[i].conj() * self.C[i] * self.ramp[i] / self.power).reshape(m, -1, 1)  # (m, F, 1)
        ctf2 = (self.C[i] ** 2).reshape(m, -1, 1)
        flat = F.reshape(*F.shape[:-2], -1)  # (k, F) or (m, k, F)
        power2 = flat.abs() ** 2
        by_energy, by_variance = ctf2 / self.power.reshape(1, -1, 1), ctf2 * self.not_mean.reshape(1, -1, 1)
        if flat.ndim == 2:  # one matrix product for all: (m, F) @ (F, k)
            cross = (weights[..., 0] @ flat.T).real
            energy = by_energy[..., 0] @ power2.T
            variance = by_variance[..., 0] @ power2.T / self.box ** 4
        else:  # (m, k, F) @ (m, F, 1)
            cross = torch.bmm(flat, weights)[..., 0].real
            energy = torch.bmm(power2, by_energy)[..., 0]
            variance = torch.bmm(power2, by_variance)[..., 0] / self.box ** 4
        amplitude = torch.sqrt(self.snr / variance)
        return amplitude * cross - 0.5 * amplitude ** 2 * energy

    def transforms(self, projector, eulers: np.ndarray) -> torch.Tensor:
        """(k, B, B) Fourier transforms of the projections at ``eulers``, centred."""
        return torch.fft.fft2(torch.from_numpy(projector.project(eulers)).double())


def _local_density(centres: Rotation, rotations: Rotation, max_angle: float) -> np.ndarray:
    """(k,) density of the local proposal (an angle uniform in [0, max_angle] about a uniform axis,
    from one of ``centres`` chosen evenly) at ``rotations``, relative to the uniform density on SO(3)
    (whose rotation angle w has density (1 - cos w) / pi)."""
    out = np.zeros(len(rotations))
    for centre in centres:
        angle = (centre.inv() * rotations).magnitude()
        inside = angle <= max_angle
        out[inside] += np.pi / (max_angle * np.maximum(1 - np.cos(angle[inside]), 1e-12)) / len(centres)
    return out


def _wrong_pose_marginal(s: _Set, data: dict, uniform: Rotation, uniform_ll: torch.Tensor, k_local: int,
                         max_angle: float, rng: np.random.Generator, chunk: int = 16) -> np.ndarray:
    """(n,) log of the mean over SO(3) of p(x | reference at that pose), by multiple importance
    sampling (the balance heuristic) of the uniform poses and each particle's local ones."""
    truth = Rotation.from_euler("ZYZ", data["true_eulers"], degrees=True)
    k_uniform = len(uniform)
    out = np.empty(s.n)
    for lo in range(0, s.n, chunk):
        rows = np.arange(lo, min(s.n, lo + chunk))
        local = []
        for i in rows:
            axes = rng.standard_normal((k_local, 3))
            axes /= np.linalg.norm(axes, axis=1, keepdims=True)
            turns = Rotation.from_rotvec(rng.uniform(0, max_angle, k_local)[:, None] * axes)
            which = rng.integers(0, len(D2), k_local)
            local.append(Rotation.concatenate([D2[w] * truth[i] * turns[j] for j, w in enumerate(which)]))
        eulers = np.concatenate([r.as_euler("ZYZ", degrees=True) for r in local])
        F = s.transforms(s.world.truth, eulers).reshape(len(rows), k_local, s.box, s.box)
        local_ll = s.loglik(rows, F).numpy()
        for j, i in enumerate(rows):
            centres = [sym * truth[i] for sym in D2]
            def log_q(rotations: Rotation) -> np.ndarray:  # the mixture's density times k_uniform + k_local
                return np.log(k_uniform + k_local * _local_density(centres, rotations, max_angle))

            terms = np.r_[uniform_ll[i].numpy() - log_q(uniform), local_ll[j] - log_q(local[j])]
            out[i] = np.logaddexp.reduce(terms)
    return out


def _off_centre_marginal(s: _Set, given: torch.Tensor) -> torch.Tensor:
    """(n,) log of the mean over shifts 15-30 px (uniform radius and angle) of p(x | the given
    template shifted), from each particle's cross-correlation map."""
    S = s.C * given * s.ramp
    amplitude = torch.sqrt(s.snr * s.box ** 4 / (S.abs() ** 2 * s.not_mean).sum((1, 2)))
    energy = (S.abs() ** 2 / s.power).sum((1, 2))
    correlation = torch.fft.ifft2(s.X * S.conj() / s.power).real * s.box ** 2  # (n, B, B) over shifts
    shift = np.fft.fftfreq(s.box, 1 / s.box)
    radius = np.hypot(*np.meshgrid(shift, shift, indexing="ij"))
    ring = (radius >= OFF_CENTRE_PX[0]) & (radius <= OFF_CENTRE_PX[1])
    weight = np.where(ring, 1.0 / np.maximum(radius, 1.0), 0.0)
    log_weight = torch.from_numpy(np.log(np.maximum(weight / weight.sum(), 1e-300)))
    ll = amplitude[:, None, None] * correlation - 0.5 * (amplitude ** 2 * energy)[:, None, None]
    return torch.logsumexp(ll + log_weight[None], (1, 2))


def bayes_bound(world, data: dict, snr: float, bfactor: float, *, k_uniform: int = 512, k_local: int = 128,
                max_local_deg: float = 15.0, seed: int = 99, chunk: int = 250) -> dict[str, np.ndarray]:
    """The oracle's scores of one given-pose set of :func:`bench_curation.simulate`.

    Returns
    -------
    dict
        ``bayesOracle``: (n,) posterior log odds of good (the bound); ``bayesGivenPose``: (n,) the
        log likelihood at the STAR pose alone (the oracle without the bad classes' alternatives).
    """
    rng = np.random.default_rng(seed)
    s = _Set(world, data, snr, bfactor)
    with torch.inference_mode():
        given = s.transforms(world.truth, data["eulers"])
        given_ll = torch.cat([s.loglik(slice(lo, lo + chunk), given[lo:lo + chunk, None])[:, 0]
                              for lo in range(0, s.n, chunk)])
        uniform_eulers = random_eulers(rng, k_uniform)
        pools = {}
        for name, projector in (("wrong_pose", world.truth), ("other", world.impostor)):
            F = s.transforms(projector, uniform_eulers if name == "wrong_pose" else random_eulers(rng, k_uniform))
            pools[name] = torch.cat([s.loglik(slice(lo, lo + chunk), F) for lo in range(0, s.n, chunk)])
        uniform = Rotation.from_euler("ZYZ", uniform_eulers, degrees=True)
        wrong = _wrong_pose_marginal(s, data, uniform, pools["wrong_pose"], k_local, np.radians(max_local_deg), rng)
        other = torch.logsumexp(pools["other"], 1) - np.log(k_uniform)
        alternatives = torch.stack([torch.from_numpy(wrong), other, torch.zeros(s.n, dtype=torch.float64),
                                    _off_centre_marginal(s, given)])
        bad = torch.logsumexp(alternatives, 0) + np.log(PRIOR_EACH_BAD)
        odds = np.log(PRIOR_GOOD) + given_ll - bad
    return {"bayesOracle": odds.numpy(), "bayesGivenPose": given_ll.numpy()}
