"""Matched-filter scores against a reference: Fourier slices, the CTF on samples, ranking, streaming."""

from __future__ import annotations

import numpy as np
import torch

from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.scores import DEFAULT_SCORE, DEFAULT_SOURCE, band_frequencies, ranking_auc
from gan_viewer.sim.ctf import apply_ctf, ctf_2d, ctf_at
from gan_viewer.sim.project import Projector
from gan_viewer.sim.scoring import ParticleScorer, ScoreInputs, group_noise_power, noise_sample_rows, random_eulers
from tests.conftest import blob_volume


def test_fourier_slices_are_the_projections_transforms() -> None:
    rng = np.random.default_rng(0)
    projector = Projector(blob_volume(32))
    eulers = random_eulers(rng, 6)
    full = np.fft.rfft2(projector.project(eulers)).reshape(6, -1)
    for radius in (None, 9.5):
        pixels = projector.band(radius)
        slices = projector.fourier_slices(eulers, radius)
        inner = np.abs(band_frequencies(pixels, 32)).max(axis=0) < 16  # the Nyquist row is folded by irfft2
        assert np.allclose(slices[:, inner], full[:, pixels][:, inner], atol=1e-3 * np.abs(full).max())


def test_ctf_at_samples_matches_the_grid_ctf() -> None:
    rng = np.random.default_rng(1)
    n, box = 4, 24
    params = CtfParams(rng.uniform(5000, 30000, n), rng.uniform(5000, 30000, n), rng.uniform(-90, 90, n),
                       np.full(n, 300.0), np.full(n, 2.7), np.full(n, 0.07), rng.uniform(0, 90, n),
                       rng.uniform(0, 80, n), np.full(n, 0.8))
    pixels = np.arange(box * (box // 2 + 1))
    grid = ctf_2d(params, box, 1.5).numpy().reshape(n, -1)
    kxy = band_frequencies(pixels, box)
    inner = np.abs(kxy[1]) < box // 2  # the Nyquist row is +k here (as the projector's), -k in torch's grid
    ours = ctf_at(params, kxy, box, 1.5)  # float64 inside; torch-ctf is float32
    assert np.abs(ours - grid)[:, inner].max() < 1e-2


def simulated(n: int, snr: float, seed: int = 0):
    """Particles of the blob map with CTF and origins; the first quarter carries a wrong STAR pose."""
    rng = np.random.default_rng(seed)
    volume = blob_volume(32)
    eulers, origins = random_eulers(rng, n), rng.uniform(-2, 2, (n, 2))
    ctf = CtfParams.uniform(n, rng.uniform(6000, 20000, n))
    clean = apply_ctf(torch.from_numpy(Projector(volume).project(eulers, origins)), ctf, 2.0).numpy()
    images = clean / np.sqrt(clean.var(axis=(1, 2), keepdims=True) / snr) + rng.standard_normal(clean.shape)
    good = np.arange(n) >= n // 4
    star = eulers.copy()
    star[~good] = random_eulers(rng, (~good).sum())
    return volume, ScoreInputs(images.astype(np.float32), star, origins, ctf), good


def test_scores_rank_wrong_poses_last() -> None:
    volume, inputs, good = simulated(80, 0.1)
    scorer = ParticleScorer(volume, 2.0, group_noise_power(inputs.images), resolution=5.0, bank_size=32)
    scores = scorer.score(inputs)
    assert np.array_equal(scores[DEFAULT_SCORE], scores[DEFAULT_SOURCE])
    for name in ("gvMatched", "gvMatchedZ", "gvMatchedPlain"):
        assert ranking_auc(scores[name], good) > 0.95, name
    assert abs(np.median(scores["gvMatchedZ"][~good])) < 1.0  # a wrong pose scores like a random one
    assert np.median(scores["gvMatchedZ"][good]) > 1.5  # (three smooth blobs: random poses overlap a lot)


def test_scores_without_poses_are_nan_and_chunks_agree() -> None:
    volume, inputs, _ = simulated(40, 0.1)
    scorer = ParticleScorer(volume, 2.0, group_noise_power(inputs.images), bank_size=16)
    assert all(np.isnan(v).all() for v in scorer.score(ScoreInputs(inputs.images)).values())
    whole = scorer.score(inputs)
    half = scorer.score(ScoreInputs(inputs.images[:20], inputs.eulers[:20], inputs.origins[:20], inputs.ctf.take(slice(0, 20))))
    assert np.allclose(whole["gvMatchedZ"][:20], half["gvMatchedZ"], rtol=1e-5)


def test_noise_sample_is_the_same_for_every_caller() -> None:
    rows = np.arange(5000)
    assert np.array_equal(noise_sample_rows(rows, 100), noise_sample_rows(rows, 100))
    assert len(noise_sample_rows(rows[:50], 100)) == 50


def test_nearest_interpolation_ranks_like_trilinear() -> None:
    volume, inputs, good = simulated(60, 0.1, seed=2)
    power = group_noise_power(inputs.images)
    fine = ParticleScorer(volume, 2.0, power, bank_size=0).score(inputs)["gvMatched"]
    fast = ParticleScorer(volume, 2.0, power, bank_size=0, interpolation="nearest").score(inputs)["gvMatched"]
    assert np.corrcoef(fine, fast)[0, 1] > 0.98
    assert ranking_auc(fast, good) > 0.95
