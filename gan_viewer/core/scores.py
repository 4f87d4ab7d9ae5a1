"""Per-particle curation scores: how well each particle matches the reference at its pose.

Interface (stable; the inspector, ``gan-viewer score`` and ``gan-viewer merge`` rely on it)
------------------------------------------------------------------------------------------
:data:`SCORE_COLUMNS`
    The STAR columns gan-viewer writes, all ``gv``-prefixed, in display order; higher is better
    for every one of them. :data:`DEFAULT_SCORE` (``gvScore``) is the default ranking and is a
    copy of :data:`DEFAULT_SOURCE`, the score that won ``benchmarks/bench_curation.py``.
:data:`RELION_SCORE_COLUMNS`
    RELION's own per-particle columns, read as numbers when the STAR has them
    (:func:`relion_scores`); :data:`HIGHER_IS_BETTER` says which way each one ranks.
:data:`INSPECTOR_COLUMNS`
    The columns the inspector exports its own scores under (the same names where ``gan-viewer
    score`` writes the same score: gvAgreement, gvConfidence).
:data:`DESCRIPTIONS`
    One line per column, for tool tips and the README.
A chunk of particles is scored by :meth:`gan_viewer.sim.scoring.ParticleScorer.score` (projection
and CTF need torch, so it lives in :mod:`gan_viewer.sim`), which returns ``dict name -> (n,)
float64`` over :data:`SCORE_COLUMNS` (NaN where a score cannot be computed: no pose, no CTF, no
generator). The GAN scores (``gvAgreement``, ``gvConfidence``) come from
:func:`gan_viewer.ml.scoring.gan_scores`.

The maths (numpy only; this module imports neither torch nor Qt)
----------------------------------------------------------------
All functions work on Fourier samples: ``x`` (n, m) complex, the rfft2 of n particles at m
half-plane frequencies (a band of :meth:`gan_viewer.sim.project.Projector.band`), ``t`` the
CTF-modulated reference at the particles' poses on the same samples, and ``w`` (m,) or (n, m)
the weight of each sample: its multiplicity in the full plane (1 or 2, :func:`half_plane_weights`)
over the noise power there (:func:`whitening_weights`). With ``w`` the inverse of the noise
power, the matched filter ``Re sum(w conj(t) x) / sqrt(sum(w |t|^2))`` is the log-likelihood
ratio statistic of "the reference at this pose" against "noise only": N(0, 1) for a box of
noise, about ``sqrt(sum(w |t|^2))`` (the particle's whitened SNR amplitude) for a good particle.
Its z-score against the same particle at random poses (:func:`random_pose_zscore`) removes what
any pose would score (the particle's low-resolution blob, a similar-sized contaminant), so 0
means "no better than a wrong pose".
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)

#: the default ranking score's column
DEFAULT_SCORE = "gvScore"
#: the score gvScore copies: the winner of ``benchmarks/bench_curation.py``
DEFAULT_SOURCE = "gvMatched"

#: gv columns, in display order (higher = better for all)
SCORE_COLUMNS = ("gvScore", "gvMatchedZ", "gvMatched", "gvMatchedPlain", "gvAgreement", "gvConfidence")

#: RELION's per-particle columns, read as numbers when present
RELION_SCORE_COLUMNS = ("rlnMaxValueProbDistribution", "rlnLogLikeliContribution",
                        "rlnNrOfSignificantSamples", "rlnNormCorrection")

#: which way each RELION column ranks: True where a higher value is better
HIGHER_IS_BETTER = {"rlnMaxValueProbDistribution": True, "rlnLogLikeliContribution": True,
                    "rlnNrOfSignificantSamples": False, "rlnNormCorrection": True,
                    **{name: True for name in SCORE_COLUMNS}}

#: the STAR columns of the inspector's own scores (File > Export, ``gan-viewer export --scores``): one
#: naming with ``gan-viewer score`` (its --gan columns gvAgreement and gvConfidence are the same scores)
INSPECTOR_COLUMNS = {"agreement score": "gvAgreement", "raw agreement": "gvRawAgreement",
                     "confidence": "gvConfidence", "predicted keep": "gvPredictedKeep"}

DESCRIPTIONS = {
    "gvScore": f"the default ranking score (a copy of {DEFAULT_SOURCE}); higher is better",
    "gvMatchedZ": "whitened CTF matched filter at the particle's pose, as a z-score against the same "
                  "particle at random poses (0: no better than a wrong pose)",
    "gvMatched": "whitened CTF matched filter at the particle's pose, in noise standard deviations "
                 "(0: noise only)",
    "gvMatchedPlain": "baseline: correlation of the raw particle with the CTF-modulated reference "
                      "(not whitened)",
    "gvAgreement": "correlation of the GAN-recovered image with the reference projection (in the "
                   "particle circle; the inspector's \"agreement score\", with the CTF when its toggle is on)",
    "gvConfidence": "how stable the GAN-recovered image is over rotations and flips (0-1)",
    "gvRawAgreement": "inspector export: correlation of the raw particle with the reference projection (in the "
                      "particle circle)",
    "gvPredictedKeep": "inspector export: the curator model's probability that the particle is kept (0-1)",
    "rlnMaxValueProbDistribution": "RELION: the highest pose probability (higher = sharper pose)",
    "rlnLogLikeliContribution": "RELION: the particle's log-likelihood contribution",
    "rlnNrOfSignificantSamples": "RELION: pose samples carrying the probability (fewer = sharper pose)",
    "rlnNormCorrection": "RELION: the particle's scale correction",
}


def half_plane_weights(box: int) -> np.ndarray:
    """(box, box // 2 + 1) float64: how many coefficients of the full 2D transform each rfft2
    sample stands for (1 on column 0 and the Nyquist column of an even box, else 2)."""
    weight = np.full(box // 2 + 1, 2.0)
    weight[0] = 1.0
    if box % 2 == 0:
        weight[-1] = 1.0
    return np.broadcast_to(weight, (box, box // 2 + 1)).copy()


def shell_index(box: int) -> np.ndarray:
    """(box, box // 2 + 1) int64: the Fourier shell ``round(|k| box)`` of every rfft2 sample."""
    ky = np.fft.fftfreq(box)[:, None]
    kx = np.fft.rfftfreq(box)[None, :]
    return np.rint(np.sqrt(ky ** 2 + kx ** 2) * box).astype(np.int64)


def whitening_weights(noise_power: np.ndarray | None, box: int) -> np.ndarray:
    """(box, box // 2 + 1) float64 weight of every rfft2 sample for the matched filter.

    The sample's multiplicity over its Fourier-space noise variance ``box^2 * power(shell)``
    (``noise_power`` is in variance per pixel, as
    :func:`gan_viewer.core.noise.noise_power_spectrum` gives it; None: white noise of variance 1,
    the unwhitened filter). The mean (shell 0) gets weight 0: RELION's normalisation sets it.
    """
    shells = shell_index(box)
    if noise_power is None:
        power = np.ones(box // 2 + 1)
    else:
        power = np.asarray(noise_power, np.float64)
        if power.shape != (box // 2 + 1,) or not np.all(np.isfinite(power)) or np.any(power <= 0):
            raise ValueError(f"noise_power must be ({box // 2 + 1},) positive finite values")
    per_shell = np.concatenate([power, np.full(shells.max() + 1 - len(power), power[-1])])
    weight = half_plane_weights(box) / (box ** 2 * per_shell[shells])
    weight[0, 0] = 0.0
    return weight


def band_frequencies(pixels: np.ndarray, box: int) -> np.ndarray:
    """(2, m) float64 frequencies kx, ky (Fourier pixels) of the rfft2 samples ``pixels`` (flat
    indices in a (box, box // 2 + 1) rfft)."""
    row, col = np.divmod(np.asarray(pixels, np.int64), box // 2 + 1)
    return np.stack([col, np.where(row <= box // 2, row, row - box)]).astype(np.float64)


def centring_phases(origins_px: np.ndarray, pixels: np.ndarray, box: int) -> np.ndarray:
    """(n, m) complex64 factors that shift n particles by plus their origins (centring them).

    RELION's particle is the projection shifted by minus its origin; multiplying its rfft2 samples
    ``pixels`` (flat indices in a (box, box // 2 + 1) rfft) by these factors undoes that, so it
    can be compared with projections at zero origin. Separable: exp(-2 pi i (kx ox + ky oy) / box)
    is a product of one factor per column and one per row.
    """
    origins = np.asarray(origins_px, np.float64)
    row, col = np.divmod(np.asarray(pixels, np.int64), box // 2 + 1)
    ky = np.fft.fftfreq(box, 1.0 / box)
    kx = np.arange(box // 2 + 1)
    fx = np.exp((-2j * np.pi / box) * origins[:, :1] * kx[None]).astype(np.complex64)  # (n, box // 2 + 1)
    fy = np.exp((-2j * np.pi / box) * origins[:, 1:] * ky[None]).astype(np.complex64)  # (n, box)
    return fx[:, col] * fy[:, row]


def matched_filter(x: np.ndarray, t: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``Re sum(w conj(t) x) / sqrt(sum(w |t|^2))`` per particle.

    Parameters
    ----------
    x, t
        (n, m) complex: particles and CTF-modulated references on the same samples.
    w
        (m,) or (n, m) non-negative weights (:func:`whitening_weights` at the samples).

    Returns
    -------
    (n,) float64; NaN where the reference is zero on every weighted sample.
    """
    num = (w * (t.real * x.real + t.imag * x.imag)).sum(axis=1, dtype=np.float64)
    norm = (w * (t.real ** 2 + t.imag ** 2)).sum(axis=1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, num / np.sqrt(norm), np.nan)


def matched_filters(x: np.ndarray, t: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """:func:`matched_filter` with several weightings at once: (n, m), (n, m), (m, k) -> (n, k) float64.

    Two matrix products (the products of x and t, and |t|^2, against the weights), not k passes.
    """
    weights = np.asarray(weights, np.float32)
    num = (t.real * x.real + t.imag * x.imag) @ weights  # (n, k)
    norm = (t.real * t.real + t.imag * t.imag) @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, num / np.sqrt(np.maximum(norm, 1e-30)), np.nan).astype(np.float64)


def random_pose_scores(x: np.ndarray, ctf: np.ndarray | None, w: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """:func:`matched_filter` of every particle against every reference of a bank (random poses).

    Two matrix products, not a loop: the CTF is real, so it moves to the particle's side.

    Parameters
    ----------
    x
        (n, m) complex particles, centred (:func:`centring_phases`).
    ctf
        (n, m) real CTF of each particle on the samples, or None (no CTF).
    w
        (m,) or (n, m) weights.
    bank
        (r, m) complex projections at zero origin, without CTF.

    Returns
    -------
    (n, r) float64 scores.
    """
    cw = np.broadcast_to(w, x.shape) if ctf is None else w * ctf  # (n, m)
    y = (cw * x).astype(np.complex64)
    num = y.real @ bank.real.T + y.imag @ bank.imag.T  # (n, r)
    c2w = cw * (1.0 if ctf is None else ctf)  # w * ctf^2
    norm = c2w.astype(np.float32) @ (bank.real ** 2 + bank.imag ** 2).T  # (n, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, num / np.sqrt(np.maximum(norm, 1e-30)), np.nan).astype(np.float64)


def random_pose_zscore(score: np.ndarray, random_scores: np.ndarray) -> np.ndarray:
    """(score - mean) / std of each particle's scores at random poses: (n,), (n, r) -> (n,) float64."""
    mean = np.nanmean(random_scores, axis=1)
    std = np.nanstd(random_scores, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(std > 0, (score - mean) / std, np.nan)


def relion_scores(particles, rows: np.ndarray | slice | None = None) -> dict[str, np.ndarray]:
    """RELION's per-particle columns that the particle loop has, as (n,) float64 (NaN where a value
    is not a number).

    Parameters
    ----------
    particles
        The particle loop (``ParticleTable.particles``, a DataFrame).
    rows
        The rows to read (default all).
    """
    import pandas as pd

    frame = particles if rows is None else particles.iloc[rows]
    return {label: pd.to_numeric(frame[label], errors="coerce").to_numpy(np.float64)
            for label in RELION_SCORE_COLUMNS if label in frame.columns}


def rank_values(name: str, values: np.ndarray) -> np.ndarray:
    """``values`` turned so that higher is better (RELION's rlnNrOfSignificantSamples is negated)."""
    values = np.asarray(values, np.float64)
    return values if HIGHER_IS_BETTER.get(name, True) else -values


def ranking_auc(score: np.ndarray, good: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` (higher = good) separating ``good`` from bad particles:
    the chance that a random good particle scores above a random bad one (ties count half; NaN
    scores count as the lowest). NaN without both classes."""
    from scipy.stats import rankdata

    score = np.where(np.isfinite(score), score, -np.inf)
    good = np.asarray(good, bool)
    n_good, n_bad = int(good.sum()), int((~good).sum())
    if not n_good or not n_bad:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[good].sum() - n_good * (n_good + 1) / 2) / (n_good * n_bad))


def precision_at_bad_fraction(score: np.ndarray, good: np.ndarray) -> float:
    """Share of bad particles among the lowest-scored ``k``, ``k`` the number of bad particles
    (NaN scores are the lowest; ties broken by order). NaN without bad particles."""
    good = np.asarray(good, bool)
    k = int((~good).sum())
    if not k:
        return float("nan")
    order = np.argsort(np.where(np.isfinite(score), score, -np.inf), kind="stable")
    return float((~good[order[:k]]).mean())
