"""Shared fixtures: tiny synthetic particle sets made on the fly, and the shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest

from gan_viewer.io.star import table_from_dataframe, write_star

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime in ns) of every file under ``folder``, (0, 0) for a folder
    (whose mtime a probe for writability, a file made and removed at once, changes)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            out[str((Path(root) / name).relative_to(folder))] = (0, 0)
        for name in files:
            info = (Path(root) / name).lstat()
            out[str((Path(root) / name).relative_to(folder))] = (info.st_size, info.st_mtime_ns)
    return out


@pytest.fixture(scope="session", autouse=True)
def shared_data_untouched(tmp_path_factory):
    """Tests leave ``../shared/data`` as it was, writable or not, and keep their sessions out of
    the user's data folder: session files of read-only data go to a temporary XDG_DATA_HOME, and
    anything a test run adds to, removes from or changes in ``../shared/data`` fails the run."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg_data")))
    before = _listing(SHARED_DATA) if SHARED_DATA.is_dir() else {}
    yield
    patch.undo()
    after = _listing(SHARED_DATA) if SHARED_DATA.is_dir() else {}
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"the tests changed {SHARED_DATA}: {changed[:10]}"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` (real STAR files, particles, maps); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not available")
    return SHARED_DATA


def write_mrcs(path: Path, images: np.ndarray, pixel_size: float = 0.0) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(images))
        mrc.set_image_stack()
        if pixel_size:
            mrc.voxel_size = pixel_size
    return path


#: (x, y) picks made on a copy of a 64 x 80 px micrograph (:func:`write_topaz_picks`'s) binned by 2:
#: all of them in its top-left 40 x 32 px, as picks read without their scale are
BIN2_PICKS = [(5, 4), (12, 20), (20, 8), (27, 28), (34, 14), (38, 30), (9, 25), (16, 12), (23, 18), (30, 5),
              (36, 22), (18, 29)]


def write_topaz_picks(folder: Path, picks: dict[str, list[tuple]], micrographs: tuple[str, ...] | None = None,
                      name: str = "predicted_particles_all.txt", pixel_size: float = 0.0) -> Path:
    """Topaz's picks table as ``topaz extract`` writes it: a tab-separated header, then a row
    ``image_name x y score`` per pick (``picks``: micrograph name -> [(x, y, score), ...]), and a
    blank 64 x 80 px ``NAME.mrc`` beside it for each of ``micrographs`` (default: every name)."""
    for micrograph in picks if micrographs is None else micrographs:
        with mrcfile.new(folder / f"{micrograph}.mrc", overwrite=True) as mrc:
            mrc.set_data(np.zeros((64, 80), np.float32))
            if pixel_size:
                mrc.voxel_size = pixel_size
    rows = "".join(f"{mic}\t{x:g}\t{y:g}\t{score}\n" for mic, xys in picks.items() for x, y, score in xys)
    path = folder / name
    path.write_text("image_name\tx_coord\ty_coord\tscore\n" + rows)
    return path


def write_cs(path: Path, fields: dict[str, np.ndarray]) -> Path:
    """Save a structured array like cryoSPARC does (np.save, no pickle); ``path`` is returned."""
    n = len(next(iter(fields.values())))
    dtype = [(name, arr.dtype, arr.shape[1:]) for name, arr in fields.items()]
    rec = np.zeros(n, dtype=dtype)
    for name, arr in fields.items():
        rec[name] = arr
    with open(path, "wb") as fh:  # np.save(str) would append ".npy"
        np.save(fh, rec, allow_pickle=False)
    return path


def numbered_images(n: int, box: int) -> np.ndarray:
    """(n, box, box) float32 images whose pixels all equal their 1-based index plus a ramp."""
    ramp = np.linspace(0, 0.5, box * box, dtype=np.float32).reshape(box, box)
    return np.stack([np.full((box, box), i + 1, np.float32) + ramp for i in range(n)])


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """A RELION 3.1 STAR naming 10 particles (16 px) spread over two stacks in a subfolder.

    Particle ``i`` (0-based row) has all pixels near ``i + 1``.
    """
    (tmp_path / "Extract").mkdir()
    images = numbered_images(10, 16)
    write_mrcs(tmp_path / "Extract" / "a.mrcs", images[:6], 2.0)
    write_mrcs(tmp_path / "Extract" / "b.mrcs", images[6:], 2.0)
    names = [f"{i + 1:06d}@Extract/a.mrcs" for i in range(6)] + [f"{i + 1:06d}@Extract/b.mrcs" for i in range(4)]
    particles = pd.DataFrame({
        "rlnImageName": names,
        "rlnMicrographName": ["mic1.mrc"] * 6 + ["mic2.mrc"] * 4,
        "rlnAngleRot": np.linspace(0, 90, 10), "rlnAngleTilt": np.linspace(10, 80, 10),
        "rlnAnglePsi": np.linspace(-30, 30, 10),
        "rlnOriginXAngst": np.arange(10) * 2.0, "rlnOriginYAngst": -np.arange(10) * 1.0,
        "rlnDefocusU": 15000.5 + np.arange(10), "rlnDefocusV": 14000.25 + np.arange(10),
        "rlnOpticsGroup": [1] * 10,
        "rlnUnknownCustomLabel": ["x"] * 10,
    })
    optics = pd.DataFrame({
        "rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnImagePixelSize": [2.0],
        "rlnImageSize": [16], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
        "rlnAmplitudeContrast": [0.1], "rlnImageDimensionality": [2],
    })
    return write_star(table_from_dataframe(particles, optics), tmp_path / "particles.star")


def blob_volume(size: int = 32) -> np.ndarray:
    """(size,)*3 float32 asymmetric density: three Gaussian blobs of different sizes [z, y, x]."""
    z, y, x = np.meshgrid(*(np.arange(size) - size // 2,) * 3, indexing="ij")
    blobs = [((0, 0, 5), 3.0, 1.0), ((0, 4, -3), 2.0, 0.8), ((-4, -2, 0), 2.5, 0.6)]
    vol = sum(w * np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * s * s))
              for (cz, cy, cx), s, w in blobs)
    return vol.astype(np.float32)


@pytest.fixture
def tiny_map(tmp_path: Path) -> Path:
    """A 32^3 map of three blobs at 2 A/voxel."""
    path = tmp_path / "blobs.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(blob_volume(32))
        mrc.voxel_size = 2.0
    return path


def blob_images(n: int, box: int, rng: np.random.Generator) -> np.ndarray:
    """(n, box, box) smooth 'particles': three Gaussian blobs near the centre of each image."""
    y, x = np.mgrid[:box, :box]
    out = np.zeros((n, box, box))
    for i in range(n):
        for _ in range(3):
            cy, cx = rng.uniform(box * 0.3, box * 0.7, 2)
            s = rng.uniform(1.5, 3.5)
            out[i] += rng.uniform(0.5, 1.5) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))
    return out
