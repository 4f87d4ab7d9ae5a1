"""Learning from the curator: a small model that predicts keep or reject from a particle's scores.

After a few dozen decisions, :func:`fit_predict` fits an L2-regularised logistic regression
(numpy, Newton's method: a handful of features, a few thousand decisions at most, milliseconds)
on the decided particles and predicts, for every particle, the probability that the curator
would keep it. Its features are whatever per-particle numbers are known: the agreement scores,
the recovered image's confidence, the generator's bottleneck embedding (:func:`reduce_embedding`)
and the score columns of the STAR file (``gv...`` and RELION's own). A feature unknown for a
particle (NaN) takes the feature's mean, so it counts for nothing either way.

The model only suggests: :func:`most_uncertain` says which undecided particles to look at next
(the ones whose probability is nearest 0.5), and nothing here changes a label.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from gan_viewer.core.curation import Label

log = logging.getLogger(__name__)

#: decisions (and decisions per class) before the model says anything
MIN_DECISIONS = 20
MIN_PER_CLASS = 5
#: components of the reduced bottleneck embedding
EMBED_DIM = 8
#: numeric STAR columns RELION writes per particle that say how well it fits (used as features)
RELION_SCORES = ("rlnMaxValueProbDistribution", "rlnLogLikeliContribution", "rlnNrOfSignificantSamples",
                 "rlnNormCorrection")


def star_score_columns(columns: list[str]) -> list[str]:
    """The columns of a particle table that are scores: ``gv...`` ones and :data:`RELION_SCORES`."""
    return [c for c in columns if c in RELION_SCORES or (c.startswith("gv") and c[2:3].isupper())]


def reduce_embedding(features: np.ndarray, dim: int = EMBED_DIM) -> np.ndarray:
    """(k, C) bottleneck features -> (k, ``dim``) float32, by a fixed random projection (seeded by C:
    the same for every particle and session, so reduced embeddings can be saved and compared) of
    ``log1p`` of the features."""
    features = np.asarray(features, np.float64)
    rng = np.random.default_rng(features.shape[1])
    basis = rng.normal(size=(features.shape[1], dim)) / np.sqrt(features.shape[1])
    return (np.log1p(np.maximum(features, 0)) @ basis).astype(np.float32)


@dataclass
class Prediction:
    """What the model made of the decisions so far.

    Attributes
    ----------
    p_keep : (n,) float32
        Probability that the curator keeps each particle; NaN before the model has enough decisions.
    trained_on : int
        Decisions it learnt from.
    accuracy : float
        Share of those decisions it predicts right when each is left out of its training (5-fold
        cross-validation); NaN when not measured.
    features : list of str
        The features it used.
    reason : str
        Why there is no prediction yet ("" when there is one).
    """

    p_keep: np.ndarray
    trained_on: int = 0
    accuracy: float = float("nan")
    features: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def ready(self) -> bool:
        return not self.reason

    def summary(self) -> str:
        """One line for the window."""
        if not self.ready:
            return self.reason
        acc = "" if not np.isfinite(self.accuracy) else f", right on {self.accuracy:.0%} of them when left out"
        return f"curator model: learnt from {self.trained_on:,} decisions{acc}"


def feature_matrix(features: dict[str, np.ndarray], rows: np.ndarray | None = None
                   ) -> tuple[np.ndarray, list[str]]:
    """Standardised (n, d) float32 features and their names, from name -> (n,) values.

    Features with fewer than 2 distinct known values are dropped; unknown values (NaN) become
    0, the mean. Mean and spread come from ``rows`` (default: every particle).
    """
    columns, names = [], []
    for name, values in features.items():
        values = np.asarray(values, np.float64)
        known = values[rows] if rows is not None else values
        known = known[np.isfinite(known)]
        if known.size < 2 or np.ptp(known) == 0:
            continue
        z = (values - known.mean()) / known.std()
        columns.append(np.where(np.isfinite(z), z, 0.0).astype(np.float32))
        names.append(name)
    n = len(next(iter(features.values()))) if features else 0
    return (np.stack(columns, axis=1) if columns else np.zeros((n, 0), np.float32)), names


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 25) -> np.ndarray:
    """Weights (d + 1,) (last: intercept) of an L2-regularised logistic regression of ``y`` (m,) bool
    on ``x`` (m, d), by Newton's method; the intercept is not penalised."""
    m, d = x.shape
    a = np.concatenate([np.asarray(x, np.float64), np.ones((m, 1))], axis=1)
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    w = np.zeros(d + 1)
    target = np.asarray(y, np.float64)
    for _ in range(iterations):
        p = _sigmoid(a @ w)
        gradient = a.T @ (p - target) + penalty * w
        hessian = (a * (p * (1 - p))[:, None]).T @ a + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-6:
            break
    return w


def predict_logistic(w: np.ndarray, x: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    """(n,) float32 probabilities of class 1 for ``x`` (n, d), in chunks (bounded memory)."""
    out = np.empty(len(x), np.float32)
    for lo in range(0, len(x), chunk):
        out[lo:lo + chunk] = _sigmoid(x[lo:lo + chunk].astype(np.float64) @ w[:-1] + w[-1])
    return out


def fit_predict(features: dict[str, np.ndarray], labels: np.ndarray, l2: float = 1.0,
                folds: int = 5) -> Prediction:
    """Learn keep / reject from the decided particles of ``labels`` (n,) int8 and predict all.

    Parameters
    ----------
    features
        name -> (n,) float per-particle values (NaN: unknown).
    labels
        (n,) :class:`~gan_viewer.core.curation.Label` values.
    """
    labels = np.asarray(labels)
    n = len(labels)
    nothing = np.full(n, np.nan, np.float32)
    decided = np.flatnonzero(labels != Label.UNDECIDED)
    kept = int((labels[decided] == Label.KEEP).sum())
    rejected = decided.size - kept
    if decided.size < MIN_DECISIONS or min(kept, rejected) < MIN_PER_CLASS:
        return Prediction(nothing, reason=f"curator model: learns after {MIN_DECISIONS} decisions with at least "
                                          f"{MIN_PER_CLASS} kept and {MIN_PER_CLASS} rejected (now {kept} kept, "
                                          f"{rejected} rejected)")
    x, names = feature_matrix(features)
    if not names:
        return Prediction(nothing, reason="curator model: no scores to learn from yet (Tools > Score all)")
    y = labels[decided] == Label.KEEP
    w = fit_logistic(x[decided], y, l2)
    return Prediction(predict_logistic(w, x), decided.size, _cross_validated(x[decided], y, l2, folds), names)


def most_uncertain(p_keep: np.ndarray, labels: np.ndarray, count: int = 1) -> np.ndarray:
    """Indices (k,) of the undecided particles whose predicted probability is nearest 0.5, most
    uncertain first (ties: lowest index); empty without predictions."""
    candidates = np.flatnonzero((np.asarray(labels) == Label.UNDECIDED) & np.isfinite(p_keep))
    if not candidates.size:
        return candidates
    distance = np.abs(p_keep[candidates] - 0.5)
    if count < candidates.size:
        part = np.argpartition(distance, count)[:count]
        candidates, distance = candidates[part], distance[part]
    return candidates[np.lexsort((candidates, distance))][:count]


def predicted_labels(p_keep: np.ndarray, sure: float = 0.8) -> np.ndarray:
    """(n,) int8: KEEP where ``p_keep >= sure``, REJECT where ``<= 1 - sure``, UNDECIDED elsewhere."""
    out = np.full(len(p_keep), Label.UNDECIDED, np.int8)
    with np.errstate(invalid="ignore"):
        out[p_keep >= sure] = Label.KEEP
        out[p_keep <= 1 - sure] = Label.REJECT
    return out


def _cross_validated(x: np.ndarray, y: np.ndarray, l2: float, folds: int) -> float:
    m = len(y)
    if m < 2 * folds:
        return float("nan")
    fold = np.arange(m) % folds
    np.random.default_rng(0).shuffle(fold)
    right = 0
    for k in range(folds):
        test = fold == k
        if y[~test].all() or not y[~test].any():
            return float("nan")
        w = fit_logistic(x[~test], y[~test], l2)
        right += int(((predict_logistic(w, x[test]) >= 0.5) == y[test]).sum())
    return right / m


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
