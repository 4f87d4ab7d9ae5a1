"""Angular coverage: equal-area direction cells, incremental counts, emptied directions."""

from __future__ import annotations

import numpy as np

from gan_viewer.core.coverage import Coverage, direction_cells, tilt_edges
from gan_viewer.core.curation import Curation, Label


def test_cells_have_equal_areas_and_wrap_rot() -> None:
    rng = np.random.default_rng(0)
    n = 200_000
    v = rng.normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    tilt, rot = np.rad2deg(np.arccos(v[:, 2])), np.rad2deg(np.arctan2(v[:, 1], v[:, 0]))
    counts = np.bincount(direction_cells(rot, tilt, 8, 4), minlength=32)
    assert abs(counts.min() / counts.mean() - 1) < 0.05 and abs(counts.max() / counts.mean() - 1) < 0.05
    assert direction_cells(np.array([-180.0, 180.0, 540.0, np.nan]), np.array([0, 0, 0, 10.0]), 8, 4).tolist() == [
        0, 0, 0, -1]
    assert direction_cells(np.array([0.0]), np.array([180.0]), 8, 4)[0] == 3 * 8 + 4
    np.testing.assert_allclose(tilt_edges(2), [0, 90, 180])


def test_coverage_follows_decisions_one_at_a_time() -> None:
    rng = np.random.default_rng(1)
    eulers = np.stack([rng.uniform(-180, 180, 500), rng.uniform(0, 180, 500), rng.uniform(-180, 180, 500)], 1)
    eulers[7] = np.nan
    curation = Curation(500)
    coverage = Coverage(eulers, curation.labels)
    curation.changed.connect(coverage.update)
    for _ in range(50):
        idx = rng.choice(500, size=rng.integers(1, 20), replace=False)
        curation.set(idx, int(rng.integers(0, 3)))
    curation.undo()
    again = Coverage(eulers, curation.labels)
    np.testing.assert_array_equal(coverage.counts, again.counts)
    assert coverage.total().sum() == 499  # particle 7 has no direction


def test_a_rejection_that_empties_a_direction_is_flagged_before_it_is_made() -> None:
    eulers = np.array([[0, 10, 0], [1, 10, 0], [0, 170, 0], [90, 90, 0]], float)
    coverage = Coverage(eulers, np.array([0, 2, 0, 1], np.int8), rot_bins=4, tilt_bins=2)
    north = coverage.cell_of(0)
    assert coverage.cell_of(1) == north and not coverage.emptied().any()
    assert coverage.would_empty(np.array([0])).tolist() == [north]  # its last particle left
    assert coverage.would_empty(np.array([1])).size == 0  # already rejected
    assert coverage.would_empty(np.array([3])).tolist() == [coverage.cell_of(3)]
    coverage.update(np.array([0]), np.array([Label.REJECT], np.int8))
    assert coverage.grid(coverage.emptied()).sum() == 1 and coverage.emptied()[north]
    assert coverage.remaining(kept_only=True)[coverage.cell_of(3)] == 1
    assert coverage.describe(north).startswith("rot 0° to 90°, tilt 0° to 90°")
