"""The curator model: logistic regression on the scores, uncertainty sampling, no labels changed."""

from __future__ import annotations

import numpy as np

from gan_viewer.core.curation import Label
from gan_viewer.core.learning import (MIN_DECISIONS, feature_matrix, fit_logistic, fit_predict, most_uncertain,
                                      predicted_labels, reduce_embedding, star_score_columns)


def simulated(n: int = 2000, seed: int = 0):
    """Scores of a set with 25 % bad particles: a score that separates them and one that does not."""
    rng = np.random.default_rng(seed)
    bad = rng.random(n) < 0.25
    good_score = np.where(bad, rng.normal(-1, 1, n), rng.normal(1.5, 1, n))
    noise = rng.normal(0, 1, n)
    return bad, {"agreement score": good_score.astype(np.float32), "useless": noise.astype(np.float32)}


def test_logistic_regression_recovers_the_separating_direction() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4000, 2))
    y = rng.random(4000) < 1 / (1 + np.exp(-(2.0 * x[:, 0] - 0.5)))
    w = fit_logistic(x, y, l2=1e-3)
    np.testing.assert_allclose(w, [2.0, 0.0, -0.5], atol=0.2)


def test_no_prediction_before_enough_decisions_of_both_kinds() -> None:
    bad, features = simulated()
    labels = np.zeros(len(bad), np.int8)
    labels[np.flatnonzero(~bad)[:MIN_DECISIONS]] = Label.KEEP  # many decisions, one class only
    prediction = fit_predict(features, labels)
    assert not prediction.ready and np.isnan(prediction.p_keep).all() and "0 rejected" in prediction.reason


def test_the_model_learns_the_curator_and_changes_no_label() -> None:
    bad, features = simulated()
    labels = np.zeros(len(bad), np.int8)
    asked = np.random.default_rng(5).choice(len(bad), 40, replace=False)
    labels[asked] = np.where(bad[asked], Label.REJECT, Label.KEEP)
    before = labels.copy()
    prediction = fit_predict(features, labels)
    assert prediction.ready and prediction.trained_on == 40 and prediction.accuracy > 0.8
    assert prediction.features == ["agreement score", "useless"]
    right = ((prediction.p_keep >= 0.5) == ~bad).mean()
    assert right > 0.9
    np.testing.assert_array_equal(labels, before)
    assert "learnt from 40 decisions" in prediction.summary()
    # the most uncertain undecided particles sit at the boundary, and are undecided
    ask = most_uncertain(prediction.p_keep, labels, 10)
    assert len(ask) == 10 and (labels[ask] == 0).all()
    distances = np.sort(np.abs(prediction.p_keep[labels == 0] - 0.5))
    assert np.abs(prediction.p_keep[ask] - 0.5).max() <= distances[9] + 1e-7
    assert np.abs(prediction.p_keep[ask[0]] - 0.5) <= np.abs(prediction.p_keep[ask[-1]] - 0.5)
    sure = predicted_labels(prediction.p_keep, 0.8)
    assert set(np.unique(sure)) <= {0, 1, 2} and (sure[prediction.p_keep >= 0.8] == Label.KEEP).all()


def test_unknown_feature_values_count_for_nothing() -> None:
    values = np.array([1.0, 2.0, np.nan, 3.0])
    x, names = feature_matrix({"a": values, "constant": np.ones(4), "unknown": np.full(4, np.nan)})
    assert names == ["a"] and x[2, 0] == 0 and abs(x[[0, 1, 3], 0].mean()) < 1e-6


def test_embedding_reduction_is_fixed_and_star_scores_are_found() -> None:
    features = np.random.default_rng(0).random((5, 32))
    a, b = reduce_embedding(features), reduce_embedding(features[2:3])
    assert a.shape == (5, 8) and np.allclose(a[2], b[0])
    assert star_score_columns(["rlnImageName", "gvScore", "gvAgreementScore", "gvx", "rlnNormCorrection",
                               "rlnMaxValueProbDistribution"]) == [
        "gvScore", "gvAgreementScore", "rlnNormCorrection", "rlnMaxValueProbDistribution"]
