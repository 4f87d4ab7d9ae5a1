"""Read a 3D density map from an MRC file, as a [z, y, x] array and its voxel size."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mrcfile
import numpy as np

from gan_viewer.errors import InputError
from gan_viewer.io.mrc_check import check_mrc_layout

log = logging.getLogger(__name__)

#: Real-valued MRC modes a map may be stored in (int8, int16, float32, uint16, float16).
MAP_MODES = (0, 1, 2, 6, 12)


def load_map(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """Read a cubic 3D map from an MRC file.

    Parameters
    ----------
    path
        ``.mrc`` / ``.map`` file, any real-valued MRC mode.

    Returns
    -------
    volume : (d, d, d) float32 array indexed [z, y, x]
        Axes are reordered to [z, y, x] when the header's ``mapc/mapr/maps`` say the file
        stores them in another order.
    pixel_size : float or None
        Voxel size in Angstrom from the header, or None when it is 0 (unset).

    Raises
    ------
    InputError
        The file is missing, not MRC, complex-valued, not 3D, not cubic or holds NaN/inf.
    """
    path = Path(path)
    check_mrc_layout(path, MAP_MODES)  # sizes against the file's size, before anything is allocated
    try:
        with mrcfile.open(path, mode="r") as mrc:
            data = np.array(mrc.data, dtype=np.float32)  # a writable copy
            axes = (int(mrc.header.mapc), int(mrc.header.mapr), int(mrc.header.maps))
            voxel = mrc.voxel_size
            sizes = (float(voxel.x), float(voxel.y), float(voxel.z))
    except ValueError as exc:  # mrcfile: bad map ID, truncated data, unknown mode
        raise InputError(f"not a readable MRC file ({' '.join(str(exc).split())})", path) from exc
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", path) from exc
    if data.ndim != 3:
        raise InputError(f"expected a 3D map, found a {data.ndim}D array of shape {data.shape}", path)
    data = _to_zyx(data, axes, path)
    if len(set(data.shape)) != 1:
        raise InputError(f"map is not cubic (z, y, x = {data.shape}); only cubic maps can be projected", path)
    if not np.all(np.isfinite(data)):
        raise InputError("map contains NaN or infinite values", path)
    return np.ascontiguousarray(data), _pixel_size(sizes, path)


def _to_zyx(data: np.ndarray, axes: tuple[int, int, int], path: Path) -> np.ndarray:
    """Reorder (sections, rows, columns) to [z, y, x] using the header's mapc/mapr/maps."""
    if sorted(axes) != [1, 2, 3] or axes == (1, 2, 3):
        if axes != (1, 2, 3):
            log.warning("%s: ignoring invalid axis order mapc/mapr/maps = %s", path, axes)
        return data
    stored = (axes[2], axes[1], axes[0])  # the axis (1=x, 2=y, 3=z) of each array dimension
    return data.transpose([stored.index(a) for a in (3, 2, 1)])


def _pixel_size(sizes: tuple[float, float, float], path: Path) -> float | None:
    if not all(np.isfinite(s) and s > 0 for s in sizes):
        return None
    if max(sizes) - min(sizes) > 1e-3 * max(sizes):
        log.warning("%s: voxel sizes differ per axis %s; using x", path, sizes)
    return sizes[0]
