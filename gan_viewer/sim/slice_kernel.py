"""The CPU kernel of :class:`gan_viewer.sim.project.Projector`: central slices of the padded
transform by trilinear interpolation, compiled with numba.

The torch version (:func:`gan_viewer.sim.project._trilinear`) materialises eight corner values and
their blends for every sample; this loop reads the eight corners and blends them in registers,
one particle per thread, about four times faster on two cores
(``benchmarks/bench_curation.py throughput``). It computes the same numbers (float32, the same
rounding of the sample positions; ``tests/sim/test_slice_kernel.py``). Other devices, and a
Python without numba, use the torch version.

The compiled code is cached on disk (numba's ``cache=True``: next to this file, or in the user's
cache folder when that is read-only), so only the first run on a machine pays the compilation
(about 3 s). Calls are serialised by a lock: numba's fallback threading layer ("workqueue") must
not be entered by two threads at once, and the inspector scores in a background thread.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

log = logging.getLogger(__name__)

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; a Python it does not support yet falls back
    numba = None

_lock = threading.Lock()

available = numba is not None


def _kernel(flat, rows, planes, centre, rot, k2, scale, half_box, out):  # pragma: no cover - compiled
    n = out.shape[0]
    m = out.shape[1]
    offset = centre * (planes + rows)
    bound = np.float32(half_box)
    for i in numba.prange(n):
        r00 = rot[i, 0, 0] * scale
        r01 = rot[i, 0, 1] * scale
        r10 = rot[i, 1, 0] * scale
        r11 = rot[i, 1, 1] * scale
        r20 = rot[i, 2, 0] * scale
        r21 = rot[i, 2, 1] * scale
        for j in range(m):
            kx = k2[j, 0]
            ky = k2[j, 1]
            x = r00 * kx + r01 * ky
            y = r10 * kx + r11 * ky
            z = r20 * kx + r21 * ky
            sign = np.float32(1.0)
            if x < 0:  # the Friedel mate: the table holds x >= 0 only
                x = -x
                y = -y
                z = -z
                sign = np.float32(-1.0)
            x = min(max(x, -bound), bound)
            y = min(max(y, -bound), bound)
            z = min(max(z, -bound), bound)
            xi = int(np.floor(x))
            yi = int(np.floor(y))
            zi = int(np.floor(z))
            fx = x - np.float32(xi)
            fy = y - np.float32(yi)
            fz = z - np.float32(zi)
            k = xi + yi * rows + zi * planes + offset
            a_re = flat[k, 0] + (flat[k + 1, 0] - flat[k, 0]) * fx
            a_im = flat[k, 1] + (flat[k + 1, 1] - flat[k, 1]) * fx
            k += rows
            b_re = flat[k, 0] + (flat[k + 1, 0] - flat[k, 0]) * fx
            b_im = flat[k, 1] + (flat[k + 1, 1] - flat[k, 1]) * fx
            k += planes - rows
            c_re = flat[k, 0] + (flat[k + 1, 0] - flat[k, 0]) * fx
            c_im = flat[k, 1] + (flat[k + 1, 1] - flat[k, 1]) * fx
            k += rows
            d_re = flat[k, 0] + (flat[k + 1, 0] - flat[k, 0]) * fx
            d_im = flat[k, 1] + (flat[k + 1, 1] - flat[k, 1]) * fx
            e_re = a_re + (b_re - a_re) * fy
            e_im = a_im + (b_im - a_im) * fy
            f_re = c_re + (d_re - c_re) * fy
            f_im = c_im + (d_im - c_im) * fy
            out[i, j, 0] = e_re + (f_re - e_re) * fz
            out[i, j, 1] = sign * (e_im + (f_im - e_im) * fz)


def _compile():
    """The jitted kernel (compiled at its first call), cached on disk where numba can place a cache
    (not in a frozen app, whose modules have no source file: there it compiles at every start)."""
    if numba is None:
        return None
    try:
        return numba.njit(parallel=True, cache=True, boundscheck=False)(_kernel)
    except RuntimeError as exc:  # "cannot cache function ...: no locator available"
        log.debug("numba cannot cache the slice kernel (%s); compiling it at every start", exc)
        return numba.njit(parallel=True, boundscheck=False)(_kernel)


_compiled = _compile()


def trilinear_slices(table: np.ndarray, rot: np.ndarray, k2: np.ndarray, scale: float, half_box: int) -> np.ndarray:
    """Central slices of a padded transform, trilinearly interpolated.

    Parameters
    ----------
    table
        (z, y, x) complex64 C-contiguous table of :func:`gan_viewer.sim.project._padded_transform`
        (or the part of it a band reaches): frequency (x, y, z) at [z + c, y + c, x],
        ``c = (z - 2) // 2``.
    rot
        (b, 3, 3) float32 rotation matrices.
    k2
        (m, 2) float32 slice frequencies kx, ky in image Fourier pixels.
    scale
        Padded-transform voxels per image Fourier pixel (``padded / d``).
    half_box
        ``padded // 2``: sample positions are clamped to it (float32 rounding at the rim).

    Returns
    -------
    (b, m, 2) float32 real and imaginary parts: the value at ``scale * M @ (kx, ky, 0)``, the
    complex conjugate of the value at minus that where its x is negative.
    """
    if _compiled is None:
        raise RuntimeError("numba is not installed")
    table = np.ascontiguousarray(table, np.complex64)
    flat = table.view(np.float32).reshape(-1, 2)  # (voxels, 2) re, im
    out = np.empty((len(rot), len(k2), 2), np.float32)
    with _lock:
        _compiled(flat, table.shape[2], table.shape[1] * table.shape[2], (table.shape[0] - 2) // 2,
                  np.ascontiguousarray(rot, np.float32), np.ascontiguousarray(k2, np.float32), np.float32(scale),
                  int(half_box), out)
    return out
