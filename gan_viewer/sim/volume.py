"""Density maps: read an MRC map, change its pixel size and box.

Arrays are indexed ``[z, y, x]`` and the centre of a box of side ``n`` is voxel ``n // 2`` on
every axis, as in RELION (``setXmippOrigin``). Both functions keep that centre where it is:
resampling never shifts the map.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TypeVar

import mrcfile
import numpy as np
import torch

from gan_viewer.errors import InputError
from gan_viewer.io.mrc_check import check_mrc_layout

log = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

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


def resample_map(volume: ArrayT, apix_in: float, apix_out: float, box_out: int) -> ArrayT:
    """Change a map's pixel size (Fourier crop or pad), then its box (real-space crop or pad).

    The Fourier step resizes the box from ``d`` to ``m = round(d * apix_in / apix_out)``
    voxels, keeping the centre voxel and the mean density (values are scaled by ``(m/d)^3``
    after the unnormalised transform pair). The pixel size reached is ``apix_in * d / m``; a
    warning is logged when that misses ``apix_out`` by more than 0.1 %. The real-space step
    then crops or zero-pads ``m`` to ``box_out`` around the centre voxel.

    Parameters
    ----------
    volume
        (d, d, d) map indexed [z, y, x], numpy array or torch tensor.
    apix_in, apix_out
        Pixel sizes in Angstrom of the input and of the wanted output.
    box_out
        Side of the output box in voxels.

    Returns
    -------
    (box_out, box_out, box_out) float32 map of the same type (and torch device) as ``volume``.
    """
    for name, value in (("apix_in", apix_in), ("apix_out", apix_out)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    if int(box_out) != box_out or box_out < 1:
        raise ValueError(f"box_out must be a positive integer, got {box_out!r}")
    is_numpy = not isinstance(volume, torch.Tensor)
    vol = torch.from_numpy(np.array(volume, np.float32)) if is_numpy else volume.to(torch.float32)
    if vol.ndim != 3 or len(set(vol.shape)) != 1:
        raise ValueError(f"volume must be a cubic (d, d, d) array, got shape {tuple(vol.shape)}")
    d = vol.shape[0]
    m = max(1, round(d * apix_in / apix_out))
    reached = apix_in * d / m
    if abs(reached - apix_out) > 1e-3 * apix_out:
        log.warning("resampling %d -> %d voxels gives %.4f A/px instead of %.4f A/px", d, m, reached, apix_out)
    if m != d:
        vol = fourier_resize(vol, m)
    out = crop_pad(vol, int(box_out))
    return out.cpu().numpy() if is_numpy else out


def fourier_resize(volume: torch.Tensor, size: int) -> torch.Tensor:
    """Crop or zero-pad the centred 3D spectrum of ``volume`` (d, d, d) to (size, size, size).

    The centre voxel ``d // 2`` maps to ``size // 2``; the mean density is kept.
    """
    d = volume.shape[-1]
    dims = (-3, -2, -1)
    spectrum = torch.fft.fftshift(torch.fft.fftn(torch.fft.ifftshift(volume, dim=dims), dim=dims), dim=dims)
    spectrum = crop_pad(spectrum, size)  # the centred spectrum has DC at index d // 2, too
    out = torch.fft.fftshift(torch.fft.ifftn(torch.fft.ifftshift(spectrum, dim=dims), dim=dims), dim=dims)
    return out.real.to(torch.float32) * (size / d) ** 3  # (size, size, size)


def crop_pad(volume: torch.Tensor, size: int) -> torch.Tensor:
    """Crop or zero-pad a (d, d, d) tensor to (size, size, size), voxel ``d//2`` -> ``size//2``."""
    d = volume.shape[-1]
    offset = size // 2 - d // 2  # output index = input index + offset
    lo_out, hi_out = max(0, offset), min(size, d + offset)
    src = slice(lo_out - offset, hi_out - offset)
    out = volume.new_zeros((size, size, size))
    out[lo_out:hi_out, lo_out:hi_out, lo_out:hi_out] = volume[src, src, src]
    return out
