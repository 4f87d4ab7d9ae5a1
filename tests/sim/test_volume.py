"""Reading maps and changing their pixel size and box."""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest
import torch

from gan_viewer.errors import InputError
from gan_viewer.io.maps import load_map
from gan_viewer.sim.volume import resample_map

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def write_map(path: Path, data: np.ndarray, voxel: float = 0.0) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = voxel
    return path


def gaussian(d: int, sigma: float, offset: tuple[float, float, float] = (0, 0, 0)) -> np.ndarray:
    """(d, d, d) Gaussian indexed [z, y, x], centred at voxel d//2 + offset (x, y, z)."""
    r = np.arange(d) - d // 2
    z, y, x = np.meshgrid(r, r, r, indexing="ij")
    dx, dy, dz = offset
    return np.exp(-((x - dx) ** 2 + (y - dy) ** 2 + (z - dz) ** 2) / (2 * sigma**2)).astype(np.float32)


def centre_of_mass(volume: np.ndarray) -> np.ndarray:
    """(z, y, x) centre of mass relative to voxel d//2."""
    r = np.arange(volume.shape[0]) - volume.shape[0] // 2
    w = np.clip(volume, 0, None)
    return np.array([(w.sum((1, 2)) * r).sum(), (w.sum((0, 2)) * r).sum(), (w.sum((0, 1)) * r).sum()]) / w.sum()


def test_load_map_any_mode_and_pixel_size(tmp_path: Path) -> None:
    data = np.arange(4**3, dtype=np.int16).reshape(4, 4, 4)
    volume, apix = load_map(write_map(tmp_path / "int16.mrc", data))
    assert volume.dtype == np.float32 and apix is None
    np.testing.assert_array_equal(volume, data)
    volume[0, 0, 0] = 1  # a writable copy
    _, apix = load_map(write_map(tmp_path / "f32.mrc", data.astype(np.float32), voxel=1.5))
    assert apix == pytest.approx(1.5)


def test_load_map_reorders_axes_from_the_header(tmp_path: Path) -> None:
    data = np.random.default_rng(0).standard_normal((5, 5, 5)).astype(np.float32)
    path = write_map(tmp_path / "zyx_swapped.mrc", data)
    with mrcfile.open(path, mode="r+") as mrc:  # columns are z, rows y, sections x
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 3, 2, 1
    volume, _ = load_map(path)
    np.testing.assert_array_equal(volume, data.transpose(2, 1, 0))


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p.write_bytes(b"not an mrc file at all" * 100), "not a readable MRC"),
    (lambda p: write_map(p, np.zeros((4, 5, 6), np.float32)), "not cubic"),
    (lambda p: write_map(p, np.zeros((4, 4), np.float32)), "3D map"),
    (lambda p: write_map(p, np.full((4, 4, 4), np.nan, np.float32)), "NaN"),
    (lambda p: None, "no such file"),
])
@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_load_map_errors_name_the_file(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "bad.mrc"
    make(path)
    with pytest.raises(InputError, match=message) as info:
        load_map(path)
    assert str(path) in str(info.value)


def test_load_the_shared_ribosome_map() -> None:
    path = DATA / "maps" / "ribosome70S_65px.mrc"
    if not path.is_file():
        pytest.skip("../shared/data is not available")
    volume, apix = load_map(path)
    assert volume.shape == (65, 65, 65) and apix is None


@pytest.mark.parametrize(("d", "m"), [(65, 64), (64, 65), (32, 48), (48, 32)])
def test_fourier_resize_keeps_centre_and_mean(d: int, m: int) -> None:
    volume = gaussian(d, 3.0, (2, -1, 1))
    out = resample_map(volume, 1.0, d / m, m)
    assert out.shape == (m, m, m) and out.dtype == np.float32
    assert out.mean() == pytest.approx(volume.mean(), rel=1e-4)  # the same physical box, same density
    np.testing.assert_allclose(centre_of_mass(out) * d / m, centre_of_mass(volume), atol=0.02)


def test_pixel_size_change_scales_the_object() -> None:
    out = resample_map(gaussian(64, 4.0), 1.0, 2.0, 32)  # sigma 4 px at 1 A = 2 px at 2 A
    np.testing.assert_allclose(out, gaussian(32, 2.0), atol=2e-3)


def test_box_crop_and_pad_keep_the_centre_voxel() -> None:
    volume = gaussian(16, 1.0, (1, 2, 3))
    padded = resample_map(volume, 1.0, 1.0, 21)
    np.testing.assert_array_equal(padded[10 - 8:10 + 8, 10 - 8:10 + 8, 10 - 8:10 + 8], volume)
    assert padded.sum() == pytest.approx(volume.sum())
    cropped = resample_map(padded, 1.0, 1.0, 16)
    np.testing.assert_array_equal(cropped, volume)


def test_torch_in_torch_out() -> None:
    volume = torch.from_numpy(gaussian(20, 2.0))
    out = resample_map(volume, 1.0, 1.25, 16)
    assert isinstance(out, torch.Tensor) and out.shape == (16, 16, 16)
    np.testing.assert_allclose(out.numpy(), resample_map(volume.numpy(), 1.0, 1.25, 16), atol=1e-6)


@pytest.mark.parametrize(("args", "message"), [
    ((np.zeros((4, 4, 5)), 1.0, 1.0, 4), "cubic"),
    ((np.zeros((4, 4, 4)), 0.0, 1.0, 4), "apix_in"),
    ((np.zeros((4, 4, 4)), 1.0, float("nan"), 4), "apix_out"),
    ((np.zeros((4, 4, 4)), 1.0, 1.0, 0), "box_out"),
    ((np.zeros((4, 4, 4)), 1.0, 1.0, 2.5), "box_out"),
])
def test_resample_rejects_bad_arguments(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resample_map(*args)
