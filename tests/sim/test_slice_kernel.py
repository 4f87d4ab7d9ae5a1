"""The numba slice kernel computes what the torch interpolator computes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_viewer.core.euler import zyz_matrices
from gan_viewer.sim import slice_kernel
from gan_viewer.sim.project import Projector, _trilinear
from gan_viewer.sim.scoring import random_eulers

pytestmark = pytest.mark.skipif(not slice_kernel.available, reason="numba is not installed")


def blob_map(d: int = 24, seed: int = 0) -> np.ndarray:
    """(d, d, d) a few Gaussian blobs off the centre (no symmetry: a wrong rotation shows)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:d, :d, :d] - d // 2
    vol = np.zeros((d, d, d), np.float32)
    for centre in rng.uniform(-d / 4, d / 4, (5, 3)):
        vol += np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2) / 6.0)
    return vol


def torch_values(projector: Projector, table: torch.Tensor, rot: np.ndarray, k2: torch.Tensor) -> np.ndarray:
    """The torch path of Projector._slice_values before the phases: (b, m, 2)."""
    rot_t = torch.as_tensor(rot, dtype=torch.float32)
    xyz = torch.matmul(k2, rot_t[:, :, :2].transpose(1, 2) * (projector.padded / projector.size))
    sign = 1.0 - 2.0 * (xyz[..., :1] < 0)
    half = projector.padded // 2
    values = _trilinear(table, (xyz * sign).clamp_(-half, half))
    values[..., 1:] *= sign
    return values.numpy()


@pytest.mark.parametrize("band", [None, 7.5])
def test_kernel_equals_torch_trilinear(band) -> None:
    projector = Projector(blob_map())
    k2, table = projector._k2, projector._table
    if band is not None:
        k2 = k2[(k2 ** 2).sum(1) <= band ** 2]
        table = projector._band_table(band)
    rot = zyz_matrices(random_eulers(np.random.default_rng(1), 40)).astype(np.float32)
    rot[0] = np.eye(3)  # samples exactly on the grid, and x < 0 mates on the kx = 0 column
    expected = torch_values(projector, table, rot, k2)
    got = slice_kernel.trilinear_slices(table.numpy(), rot, k2.numpy(), projector.padded / projector.size,
                                        projector.padded // 2)
    assert got.shape == expected.shape == (40, len(k2), 2)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= 1e-5 * scale


def test_projections_agree_with_and_without_the_kernel(monkeypatch) -> None:
    """project() and fourier_slices() give the same images whichever path samples the table."""
    vol = blob_map(seed=3)
    eulers = random_eulers(np.random.default_rng(2), 12)
    origins = np.random.default_rng(4).uniform(-2, 2, (12, 2))
    projector = Projector(vol)
    fast_images = projector.project(eulers, origins)
    fast_slices = projector.fourier_slices(eulers, radius=6.0)
    monkeypatch.setattr(slice_kernel, "available", False)
    slow_images = projector.project(eulers, origins)
    slow_slices = projector.fourier_slices(eulers, radius=6.0)
    assert np.abs(fast_images - slow_images).max() <= 1e-5 * np.abs(slow_images).max()
    assert np.abs(fast_slices - slow_slices).max() <= 1e-5 * np.abs(slow_slices).max()
    # and the slices are the rfft2 of the images at zero origin, on the band
    images = projector.project(eulers)
    band = projector.band(6.0)
    assert np.allclose(np.fft.rfft2(images).reshape(12, -1)[:, band], fast_slices, atol=1e-3 * np.abs(fast_slices).max())


def test_kernel_is_safe_from_two_threads() -> None:
    """The inspector scores in a background thread while another may project: calls serialise."""
    from concurrent.futures import ThreadPoolExecutor

    projector = Projector(blob_map(seed=5))
    eulers = random_eulers(np.random.default_rng(6), 30)
    expected = projector.fourier_slices(eulers)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: projector.fourier_slices(eulers), range(8)))
    for result in results:
        np.testing.assert_array_equal(result, expected)
