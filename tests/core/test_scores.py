"""The curation scores' maths (numpy): whitening, the matched filter's scale, centring, shards."""

from __future__ import annotations

import numpy as np
import pytest

from gan_viewer.core.scores import (DEFAULT_SCORE, DEFAULT_SOURCE, SCORE_COLUMNS, centring_phases, matched_filter,
                                    precision_at_bad_fraction, random_pose_scores, random_pose_zscore, ranking_auc,
                                    relion_scores, whitening_weights)
from gan_viewer.core.shards import parse_shard, shard_bounds
from gan_viewer.errors import InputError

BOX = 32


def test_interface() -> None:
    assert SCORE_COLUMNS[0] == DEFAULT_SCORE and DEFAULT_SOURCE in SCORE_COLUMNS
    assert all(name.startswith("gv") for name in SCORE_COLUMNS)


def test_matched_filter_is_unit_normal_on_noise_of_the_measured_spectrum() -> None:
    """Whitened by the true spectrum, noise alone scores N(0, 1) against any template."""
    rng = np.random.default_rng(0)
    k = np.arange(BOX // 2 + 1) / BOX
    power = 1 + 6 * np.exp(-(k / 0.08) ** 2)  # variance per pixel per shell
    shells = np.rint(np.hypot(np.fft.fftfreq(BOX)[:, None], np.fft.rfftfreq(BOX)[None]) * BOX).astype(int)
    amplitude = np.sqrt(np.concatenate([power, np.full(40, power[-1])])[shells])
    noise = np.fft.rfft2(rng.standard_normal((4000, BOX, BOX))) * amplitude  # (n, BOX, w)
    y, x = np.mgrid[:BOX, :BOX] - BOX // 2
    template = np.fft.rfft2(np.exp(-(x ** 2 + y ** 2) / 18.0)[None] + 0.1 * rng.standard_normal((1, BOX, BOX)))
    w = whitening_weights(power, BOX).ravel()
    score = matched_filter(noise.reshape(4000, -1), np.broadcast_to(template.reshape(1, -1), (4000, w.size)), w)
    assert abs(score.mean()) < 0.06 and 0.95 < score.std() < 1.05
    plain = matched_filter(noise.reshape(4000, -1), np.broadcast_to(template.reshape(1, -1), (4000, w.size)),
                           whitening_weights(None, BOX).ravel())
    assert plain.std() > 1.5  # not whitened: the low-frequency excess inflates it


def test_centring_phases_undo_the_origin_shift() -> None:
    rng = np.random.default_rng(1)
    image = rng.standard_normal((BOX, BOX))
    shift = np.array([3.0, -2.0])  # x, y in pixels: the particle is the image shifted by minus its origin
    shifted = np.roll(image, (-2, 3), axis=(0, 1))  # moved by (x=+3, y=-2): origin (-3, +2)
    pixels = np.arange(BOX * (BOX // 2 + 1))
    back = np.fft.rfft2(shifted).ravel() * centring_phases(-shift[None], pixels, BOX)[0]
    assert np.allclose(back, np.fft.rfft2(image).ravel(), atol=1e-3)


def test_random_pose_scores_equal_the_matched_filter_per_bank_entry() -> None:
    rng = np.random.default_rng(2)
    m, n, r = 50, 4, 3
    x = (rng.standard_normal((n, m)) + 1j * rng.standard_normal((n, m))).astype(np.complex64)
    bank = (rng.standard_normal((r, m)) + 1j * rng.standard_normal((r, m))).astype(np.complex64)
    ctf = rng.uniform(-1, 1, (n, m)).astype(np.float32)
    w = rng.uniform(0.5, 2, m).astype(np.float32)
    got = random_pose_scores(x, ctf, w, bank)
    for j in range(r):
        assert np.allclose(got[:, j], matched_filter(x, bank[j] * ctf, w), rtol=1e-4)
    z = random_pose_zscore(got[:, 0], got)
    assert np.allclose(z, (got[:, 0] - got.mean(1)) / got.std(1))


def test_auc_and_precision() -> None:
    good = np.array([True, True, True, False, False])
    assert ranking_auc(np.array([5, 4, 3, 2, 1.0]), good) == 1.0
    assert ranking_auc(np.array([1, 2, 3, 4, 5.0]), good) == 0.0
    assert ranking_auc(np.array([5, 4, 1, 2, 3.0]), good) == pytest.approx(4 / 6)
    assert precision_at_bad_fraction(np.array([5, 4, 1, 2, 3.0]), good) == 0.5
    assert precision_at_bad_fraction(np.array([5, 4, 3, np.nan, 1.0]), good) == 1.0


def test_relion_columns_are_read_as_numbers() -> None:
    import pandas as pd

    frame = pd.DataFrame({"rlnMaxValueProbDistribution": ["0.5", "x"], "rlnNormCorrection": [1.0, 0.9],
                          "rlnImageName": ["1@a.mrcs", "2@a.mrcs"]})
    got = relion_scores(frame)
    assert set(got) == {"rlnMaxValueProbDistribution", "rlnNormCorrection"}
    assert got["rlnMaxValueProbDistribution"][0] == 0.5 and np.isnan(got["rlnMaxValueProbDistribution"][1])


@pytest.mark.parametrize("total,n", [(10, 3), (7, 7), (3, 5), (1000, 16)])
def test_shards_tile_the_rows(total: int, n: int) -> None:
    bounds = [shard_bounds(total, k, n) for k in range(1, n + 1)]
    assert bounds[0][0] == 0 and bounds[-1][1] == total
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert max(hi - lo for lo, hi in bounds) - min(hi - lo for lo, hi in bounds) <= 1


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "-1/2", ""])
def test_bad_shard_specs(text: str) -> None:
    with pytest.raises(InputError):
        parse_shard(text)


def test_background_std_is_relion_normalize_divisor() -> None:
    from gan_viewer.core.normalize import background_std, relion_normalize

    rng = np.random.default_rng(4)
    images = (1000 + rng.uniform(1, 9, (5, 1, 1)) * rng.standard_normal((5, BOX, BOX))).astype(np.float32)
    images[2] = 7.0  # flat: divisor 1
    _, _, std = relion_normalize(images)
    assert np.allclose(background_std(images), std, rtol=1e-4)
