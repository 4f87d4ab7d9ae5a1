from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from gan_viewer.core.euler import zyz_matrices


def test_zyz_matrices_match_scipy_intrinsic_zyz() -> None:
    rng = np.random.default_rng(0)
    eulers = np.column_stack([rng.uniform(-180, 180, 200), rng.uniform(0, 180, 200), rng.uniform(-180, 180, 200)])
    expected = Rotation.from_euler("ZYZ", eulers, degrees=True).as_matrix()
    np.testing.assert_allclose(zyz_matrices(eulers), expected, atol=1e-12)
    np.testing.assert_allclose(zyz_matrices(np.array([0.0, 90.0, 0.0]))[0], [[0, 0, 1], [0, 1, 0], [-1, 0, 0]],
                               atol=1e-12)  # tilt turns z towards x
