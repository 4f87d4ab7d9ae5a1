"""The projector against relion_project output, and the conventions on tiny synthetic maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates
from scipy.spatial.transform import Rotation

from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import read_star
from gan_viewer.sim.project import Projector, project
from gan_viewer.io.maps import load_map
from gan_viewer.sim.volume import resample_map

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RELION = DATA / "particles" / "relion_projections_70S"
SETS = ["rln_proj_64_centered", "rln_proj_64_shifted", "rln_proj_65_centered", "rln_proj_65_shifted",
        "rln_proj_65"]


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image Pearson correlation of (n, h, w) stacks -> (n,)."""
    a = a - a.mean(axis=(1, 2), keepdims=True)
    b = b - b.mean(axis=(1, 2), keepdims=True)
    return (a * b).sum(axis=(1, 2)) / np.sqrt((a * a).sum(axis=(1, 2)) * (b * b).sum(axis=(1, 2)))


# -- relion_project ground truth ----------------------------------------------------------------
@pytest.fixture(scope="module")
def projectors() -> dict[int, Projector]:
    """The 65^3 map as it is, and Fourier-cropped to 64^3 for the 64 px sets.

    The 64 px sets were made (by ASPIRE's tests) from the map downsampled to 64 voxels in Fourier
    space with the centre voxel kept, i.e. the map's pixel size is 64/65 of the images' 1 A.
    """
    if not RELION.is_dir():
        pytest.skip("../shared/data is not available")
    volume, apix = load_map(DATA / "maps" / "ribosome70S_65px.mrc")
    assert volume.shape == (65, 65, 65) and apix is None
    return {65: Projector(volume), 64: Projector(resample_map(volume, 64 / 65, 1.0, 64))}


def relion_set(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = read_star(RELION / f"{name}.star")
    with MrcStack(RELION / f"{name}.mrcs") as stack:
        images = stack.read(slice(None))
    return table.eulers(), table.origins_px(default_apix=1.0), images


@pytest.mark.parametrize("name", SETS)
def test_matches_relion_project(projectors: dict[int, Projector], name: str) -> None:
    eulers, origins, images = relion_set(name)
    ours = projectors[images.shape[-1]].project(eulers, origins, relion_odd_centre=True)
    cc = pearson(ours, images)
    assert cc.min() > 0.9999, cc  # measured: min 0.999999 (65 px), 1.000000 (64 px)
    error = np.linalg.norm(ours - images, axis=(1, 2)) / np.linalg.norm(images, axis=(1, 2))
    assert error.max() < 0.003, error  # same scale too: measured 0.0009 (64 px), 0.0012 (65 px)


@pytest.mark.parametrize("name", SETS)
def test_wrong_views_do_not_match(projectors: dict[int, Projector], name: str) -> None:
    eulers, origins, images = relion_set(name)
    projector = projectors[images.shape[-1]]
    rng = np.random.default_rng(7)
    n = len(eulers)
    random = np.column_stack([rng.uniform(0, 360, 5 * n), np.degrees(np.arccos(rng.uniform(-1, 1, 5 * n))),
                              rng.uniform(0, 360, 5 * n)])
    cc_random = pearson(projector.project(random, np.tile(origins, (5, 1)), relion_odd_centre=True),
                        np.tile(images, (5, 1, 1)))
    assert cc_random.max() < 0.8, cc_random  # measured max 0.62 over 80 random views
    transposed = eulers[:, ::-1] * -1  # (-psi, -tilt, -rot): the matrix M^T instead of M
    assert pearson(projector.project(transposed, origins, relion_odd_centre=True), images).max() < 0.6
    if np.any(origins):
        plus = projector.project(eulers, -origins, relion_odd_centre=True)  # shifted the wrong way
        assert pearson(plus, images).max() < 0.5


@pytest.mark.parametrize("name", ["rln_proj_65_centered", "rln_proj_65"])
def test_relion_project_odd_box_is_one_pixel_off(projectors: dict[int, Projector], name: str) -> None:
    """relion_project centres odd images at n//2 + 1; without the flag we centre them at n//2."""
    eulers, origins, images = relion_set(name)
    plain = projectors[65].project(eulers, origins)
    assert pearson(plain, images).max() < 0.95  # measured 0.82 - 0.90
    rolled = np.roll(plain, (1, 1), axis=(1, 2))
    assert pearson(rolled, images).min() > 0.9999


# -- conventions on synthetic maps --------------------------------------------------------------
def blob(d: int, offset_xyz: tuple[float, float, float], sigma: float = 1.5) -> np.ndarray:
    """(d, d, d) Gaussian indexed [z, y, x] centred at voxel d//2 + offset."""
    r = np.arange(d) - d // 2
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    dx, dy, dz = offset_xyz
    return np.exp(-((x - dx) ** 2 + (y - dy) ** 2 + (z - dz) ** 2) / (2 * sigma**2)).astype(np.float32)


def centroid_xy(image: np.ndarray) -> np.ndarray:
    """Centroid (x, y) of an image relative to pixel (d//2, d//2)."""
    d = image.shape[-1]
    r = np.arange(d) - d // 2
    weights = np.clip(image, 0, None)
    return np.array([(weights.sum(0) * r).sum(), (weights.sum(1) * r).sum()]) / weights.sum()


@pytest.mark.parametrize(("eulers", "expected_xy"), [
    ((0, 0, 0), (5, -3)),  # P(x, y) = sum_z V(x, y, z)
    ((0, 90, 0), (-2, -3)),  # M = Ry(90): r = M^T b = (-bz, by, bx)
    ((90, 0, 0), (-3, -5)),  # M = Rz(90): r = (by, -bx, bz)
    ((0, 0, 90), (-3, -5)),  # tilt 0: rot and psi add up
    ((90, 90, 0), (-2, -5)),  # M = Rz(90) Ry(90): r = (-bz, -bx, by)
])
def test_blob_lands_where_the_convention_says(eulers: tuple, expected_xy: tuple) -> None:
    volume = blob(32, (5, -3, 2))  # blob at x = +5, y = -3, z = +2 from the centre voxel
    image = project(volume, np.array(eulers, float))[0]
    np.testing.assert_allclose(centroid_xy(image), expected_xy, atol=0.05)


@pytest.mark.parametrize("d", [24, 25])
def test_matches_a_real_space_line_integral(d: int) -> None:
    """P(x, y) = sum_z V(M r) with r from voxel d//2, computed the slow way."""
    rng = np.random.default_rng(3)
    volume = sum(blob(d, tuple(rng.uniform(-5, 5, 3)), sigma=2.0) * rng.uniform(0.5, 1) for _ in range(4))
    eulers = np.array([[30.0, 50.0, 70.0], [200.0, 120.0, 300.0]])
    r = np.arange(d) - d // 2
    grid = np.stack(np.meshgrid(r, r, r, indexing="ij")[::-1], -1).reshape(-1, 3)  # (x, y, z), z slowest
    expected = []
    for matrix in Rotation.from_euler("ZYZ", eulers, degrees=True).as_matrix():
        xyz = grid @ matrix.T + d // 2  # M r, as array coordinates
        values = map_coordinates(volume, xyz[:, ::-1].T, order=3, mode="constant")
        expected.append(values.reshape(d, d, d).sum(0))  # sum over z
    ours = project(volume, eulers)
    assert pearson(ours, np.array(expected)).min() > 0.999
    # the DC term is not interpolated, so like RELION the sum is that of the gridding-corrected map
    radius = np.sqrt((grid.astype(float) ** 2).sum(-1)).reshape(d, d, d)
    np.testing.assert_allclose(ours.sum(axis=(1, 2)), (volume / np.sinc(radius / (2 * d)) ** 2).sum(), rtol=1e-4)


def test_origin_shifts_the_image_by_minus_the_origin() -> None:
    projector = Projector(blob(32, (2, 1, 0)))
    eulers = np.array([[10.0, 20.0, 30.0]] * 3)
    origins = np.array([[0.0, 0.0], [3.0, -2.0], [0.5, 0.25]])
    centred, shifted, subpixel = projector.project(eulers, origins)
    np.testing.assert_allclose(shifted, np.roll(centred, (2, -3), axis=(0, 1)), atol=1e-6 * centred.max())
    np.testing.assert_allclose(centroid_xy(subpixel) - centroid_xy(centred), [-0.5, -0.25], atol=0.01)


def test_odd_centre_flag_moves_odd_boxes_only() -> None:
    for d, move in ((17, 1), (16, 0)):
        projector = Projector(blob(d, (0, 0, 0)))
        plain = projector.project([0, 0, 0])[0]
        flagged = projector.project([0, 0, 0], relion_odd_centre=True)[0]
        np.testing.assert_allclose(flagged, np.roll(plain, (move, move), axis=(0, 1)), atol=1e-6)


def test_batches_and_inputs_do_not_change_the_result() -> None:
    volume = blob(20, (1, 2, 3))
    rng = np.random.default_rng(0)
    eulers, origins = rng.uniform(0, 180, (7, 3)), rng.uniform(-2, 2, (7, 2))
    reference = project(volume, eulers, origins)
    assert reference.shape == (7, 20, 20) and reference.dtype == np.float32
    np.testing.assert_allclose(project(torch.from_numpy(volume), eulers, origins, batch_size=3), reference,
                               atol=1e-5)
    projector = Projector(volume)
    np.testing.assert_allclose(project(projector, eulers, origins, batch_size=1), reference, atol=1e-5)
    assert projector.project(np.zeros((0, 3))).shape == (0, 20, 20)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"volume": np.zeros((8, 8, 9))}, "cubic"),
    ({"volume": np.full((8, 8, 8), np.nan)}, "finite"),
    ({"eulers_deg": np.zeros((2, 2))}, "eulers_deg"),
    ({"origins_px": np.zeros((3, 2))}, "origins_px"),
    ({"eulers_deg": [np.inf, 0, 0]}, "finite"),
    ({"batch_size": 0}, "batch_size"),
    ({"pad": 0.5}, "pad"),
    ({"device": "no-such-device"}, "device"),
])
def test_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    arguments = {"volume": np.zeros((8, 8, 8)), "eulers_deg": np.zeros((2, 3)), "origins_px": None} | kwargs
    with pytest.raises(ValueError, match=message):
        project(**arguments)
