"""Density maps: change their pixel size and box (reading them: :func:`gan_viewer.io.maps.load_map`).

Arrays are indexed ``[z, y, x]`` and the centre of a box of side ``n`` is voxel ``n // 2`` on
every axis, as in RELION (``setXmippOrigin``). Both functions keep that centre where it is:
resampling never shifts the map.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import numpy as np
import torch

log = logging.getLogger(__name__)

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


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
