"""Reference projections of a map at RELION angles and origins (Fourier-slice theorem), batched.

Conventions (checked against ``relion_project`` output, see ``tests/sim/test_project.py``):

* A projection is ``P(x, y) = sum_z V(M r)`` with ``r = (x, y, z)`` measured from the centre
  voxel ``n // 2`` and ``M = Rz(rot) Ry(tilt) Rz(psi)`` (:func:`~gan_viewer.core.euler.zyz_matrices`,
  scipy's ``Rotation.from_euler("ZYZ", ...)``), i.e. the transpose of RELION's ``Euler_angles2matrix``.
* The particle is the projection shifted by **minus** its origin (``rlnOriginX/Y`` in pixels),
  applied as a Fourier phase shift, so sub-pixel origins are exact.
* The algorithm is RELION's ``Projector``: the map is divided by the radial sinc^2 of the
  trilinear interpolator (gridding correction), zero-padded ``pad`` times, Fourier transformed
  once, and every projection is a central slice of that transform sampled by trilinear
  interpolation inside the circle of radius ``n // 2``. Image values are line integrals in
  voxel units (the image sum equals the corrected map's sum), as in ``relion_project``.

``relion_project`` puts the centre of odd-sized images at ``n // 2 + 1`` because RELION's
``CenterFFT`` shifts by ``n // 2`` in both directions; ``relion_odd_centre=True`` reproduces
that. RELION itself extracts even boxes only, where both conventions agree.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import torch

from gan_viewer.core.euler import zyz_matrices
from gan_viewer.sim import slice_kernel

log = logging.getLogger(__name__)

#: Target number of slice samples per batch when ``batch_size`` is not given.
_SAMPLES_PER_BATCH = 2**18


class Projector:
    """The padded, gridding-corrected 3D transform of one map, ready for any number of views.

    Building it costs one FFT of the padded map; it holds about ``4 * (pad * d)^3`` bytes
    (67 MB for a 128 px map at pad 2, 0.54 GB for 256 px) and about three times that while it
    is built. Keep the object and call :meth:`project` for every new batch of views.

    Parameters
    ----------
    volume
        (d, d, d) map indexed [z, y, x], numpy array or torch tensor.
    pad
        Padding factor (>= 1); the padded box is rounded up to an even size, as RELION does.
    device
        Torch device for the transform and all projection work ("cpu", "cuda", ...).
    """

    def __init__(self, volume: np.ndarray | torch.Tensor, *, pad: float = 2.0,
                 device: str | torch.device = "cpu") -> None:
        device = _device(device)
        vol = volume if isinstance(volume, torch.Tensor) else torch.from_numpy(np.array(volume))
        if vol.ndim != 3 or len(set(vol.shape)) != 1 or vol.shape[0] < 2:
            raise ValueError(f"volume must be a cubic (d, d, d) array with d >= 2, got shape {tuple(vol.shape)}")
        if vol.is_complex() or not torch.isfinite(vol).all():
            raise ValueError("volume must be real and finite")
        if not (math.isfinite(pad) and pad >= 1):
            raise ValueError(f"pad must be a number >= 1, got {pad!r}")
        self.size = int(vol.shape[0])
        self.padded = round(pad * self.size) + round(pad * self.size) % 2  # even, like RELION
        self.device = device
        start = time.perf_counter()
        self._table = _padded_transform(vol.to(device, torch.float32), self.padded)  # (p+2, p+2, p//2+2)
        self._k2, self._pixels = _slice_grid(self.size, device)  # (m, 2) kx, ky; (m,)
        log.debug("projector for a %d^3 map (padded %d) ready in %.2f s", self.size, self.padded,
                  time.perf_counter() - start)

    def project(self, eulers_deg: np.ndarray, origins_px: np.ndarray | None = None, *,
                batch_size: int | None = None, relion_odd_centre: bool = False) -> np.ndarray:
        """Projections at RELION Euler angles, shifted by minus the origins.

        Parameters
        ----------
        eulers_deg
            (n, 3) or (3,) rot, tilt, psi in degrees.
        origins_px
            (n, 2) or (2,) origin x, y in pixels (``ParticleTable.origins_px``), or None.
        batch_size
            Views per batch; by default about 260k Fourier samples (31 views at 128 px).
        relion_odd_centre
            For odd boxes, centre the image at ``n // 2 + 1`` like ``relion_project``.

        Returns
        -------
        (n, d, d) float32 array.
        """
        eulers, origins = _check_views(eulers_deg, origins_px)
        n, d = len(eulers), self.size
        if batch_size is None:
            batch_size = max(1, _SAMPLES_PER_BATCH // (d * (d // 2 + 1)))
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        shifts = -origins + (1.0 if relion_odd_centre and d % 2 else 0.0)  # (n, 2) x, y
        matrices = zyz_matrices(eulers)  # (n, 3, 3)
        out = np.empty((n, d, d), np.float32)
        with torch.inference_mode():
            for lo in range(0, n, int(batch_size)):
                hi = min(n, lo + int(batch_size))
                rot = torch.as_tensor(matrices[lo:hi], dtype=torch.float32, device=self.device)
                shift = torch.as_tensor(shifts[lo:hi], dtype=torch.float32, device=self.device)
                out[lo:hi] = self._project_batch(rot, shift).cpu().numpy()
        return out

    def band(self, radius: float | None = None) -> np.ndarray:
        """Flat indices (m,) int64, in a (d, d // 2 + 1) rfft, of the samples with |k| <= ``radius``
        (Fourier pixels; default and at most d // 2), in the order :meth:`fourier_slices` returns them."""
        pixels = self._pixels.cpu().numpy()
        if radius is None or radius >= self.size // 2:
            return pixels
        k2 = self._k2.cpu().numpy()
        return pixels[(k2 ** 2).sum(1) <= float(radius) ** 2]

    def fourier_slices(self, eulers_deg: np.ndarray, radius: float | None = None, *,
                       batch_size: int | None = None, interpolation: str = "trilinear") -> np.ndarray:
        """The rfft2 of the projections at zero origin, on the samples of :meth:`band`.

        ``np.fft.rfft2(project(eulers))`` at those samples, without the inverse FFT: what a
        matched filter in Fourier space needs (no real-space image, no forward FFT).

        Parameters
        ----------
        eulers_deg
            (n, 3) RELION rot, tilt, psi in degrees.
        radius
            Highest frequency kept, in Fourier pixels (default d // 2, the whole circle).
        interpolation
            "trilinear" (RELION's) or "nearest": the nearest sample of the padded transform, at
            most a quarter of a voxel off at the default padding of 2 (a matched filter loses a
            few percent of its value, the same for every view). On the CPU trilinear runs in the
            compiled kernel (:mod:`gan_viewer.sim.slice_kernel`) and is as fast; on a GPU nearest
            is about four times faster.

        Returns
        -------
        (n, m) complex64 array, m = ``len(self.band(radius))``.
        """
        eulers, _ = _check_views(eulers_deg, None)
        if interpolation not in ("trilinear", "nearest"):
            raise ValueError(f"interpolation must be 'trilinear' or 'nearest', got {interpolation!r}")
        k2, table = self._k2, self._table
        if radius is not None and radius < self.size // 2:
            k2 = k2[(k2 ** 2).sum(1) <= float(radius) ** 2]  # (m, 2), same order as band()
            table = self._band_table(float(radius))
        if batch_size is None:
            batch_size = max(1, _SAMPLES_PER_BATCH // max(1, len(k2)))
        matrices = zyz_matrices(eulers)  # (n, 3, 3)
        out = np.empty((len(eulers), len(k2)), np.complex64)
        with torch.inference_mode():
            centre = _phase_shifts(torch.zeros((1, 2), device=self.device), k2, self.size)  # (1, m), once
            for lo in range(0, len(eulers), int(batch_size)):
                rot = torch.as_tensor(matrices[lo:lo + int(batch_size)], dtype=torch.float32, device=self.device)
                out[lo:lo + len(rot)] = self._slice_values(rot, None, k2, table, interpolation, centre).cpu().numpy()
        return out

    def _band_table(self, radius: float) -> torch.Tensor:
        """The part of the padded transform that slices within ``radius`` reach, in the layout of
        :func:`_padded_transform` (a small table: the gathers stay in cache). Cached per radius."""
        cache = self.__dict__.setdefault("_band_tables", {})
        if radius not in cache:
            c = self.padded // 2
            h = min(c, math.ceil(radius * self.padded / self.size) + 1)
            cache[radius] = self._table[c - h:c + h + 2, c - h:c + h + 2, :h + 2].contiguous()
        return cache[radius]

    def _slice_values(self, rot: torch.Tensor, shift: torch.Tensor | None, k2: torch.Tensor,
                      table: torch.Tensor | None = None, interpolation: str = "trilinear",
                      centre: torch.Tensor | None = None) -> torch.Tensor:
        """(b, 3, 3) rotations, (b, 2) image shifts x, y in pixels, (m, 2) frequencies kx, ky
        -> (b, m) complex64 rfft2 samples of the shifted projections (from ``table``, by default
        the whole padded transform). ``shift`` None: no shift, with ``centre`` the (1, m) phases
        of a zero shift (:func:`_phase_shifts`) when the caller has them."""
        d = self.size
        table = self._table if table is None else table
        half_box = self.padded // 2  # |xyz| <= half_box; clamp float32 rounding at the rim
        if interpolation == "trilinear" and rot.device.type == "cpu" and slice_kernel.available:
            values = torch.from_numpy(slice_kernel.trilinear_slices(
                table.numpy(), rot.numpy(), k2.numpy(), self.padded / d, half_box))  # (b, m, 2) re, im
        else:
            # 3D frequency of each slice sample in padded-transform voxels: pad * M @ (kx, ky, 0)
            xyz = torch.matmul(k2, rot[:, :, :2].transpose(1, 2) * (self.padded / d))  # (b, m, 3)
            sign = 1.0 - 2.0 * (xyz[..., :1] < 0)  # (b, m, 1): -1 where x < 0
            sample = _nearest if interpolation == "nearest" else _trilinear
            values = sample(table, (xyz * sign).clamp_(-half_box, half_box))  # (b, m, 2) re, im
            values[..., 1:] *= sign  # the Friedel mate of x < 0 samples: conjugate
        if shift is None:
            phases = _phase_shifts(torch.zeros((1, 2), device=rot.device), k2, d) if centre is None else centre
        else:
            phases = _phase_shifts(shift, k2, d)
        return torch.view_as_complex(values) * phases

    def _project_batch(self, rot: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        """(b, 3, 3) rotations, (b, 2) image shifts x, y in pixels -> (b, d, d) images."""
        d = self.size
        half = torch.zeros((rot.shape[0], d * (d // 2 + 1)), dtype=torch.complex64, device=rot.device)
        half[:, self._pixels] = self._slice_values(rot, shift, self._k2)
        return torch.fft.irfft2(half.view(-1, d, d // 2 + 1), s=(d, d))  # (b, d, d)


def project(volume: np.ndarray | torch.Tensor | Projector, eulers_deg: np.ndarray,
            origins_px: np.ndarray | None = None, *, device: str | torch.device = "cpu",
            batch_size: int | None = None, pad: float = 2.0, relion_odd_centre: bool = False) -> np.ndarray:
    """Project a map at RELION Euler angles and origins.

    Parameters
    ----------
    volume
        (d, d, d) map indexed [z, y, x], or a :class:`Projector` built earlier (then ``device``
        and ``pad`` are the projector's and the padded transform is not recomputed).
    eulers_deg
        (n, 3) or (3,) RELION rot, tilt, psi in degrees.
    origins_px
        (n, 2) or (2,) origins x, y in pixels; the image is shifted by minus the origin.
    device, batch_size, pad, relion_odd_centre
        See :class:`Projector` and :meth:`Projector.project`.

    Returns
    -------
    (n, d, d) float32 array.
    """
    _check_views(eulers_deg, origins_px)  # fail before the 3D FFT
    projector = volume if isinstance(volume, Projector) else Projector(volume, pad=pad, device=device)
    return projector.project(eulers_deg, origins_px, batch_size=batch_size, relion_odd_centre=relion_odd_centre)


def _check_views(eulers_deg: np.ndarray, origins_px: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    eulers = np.asarray(eulers_deg, dtype=np.float64)
    eulers = eulers[None] if eulers.ndim == 1 else eulers
    if eulers.ndim != 2 or eulers.shape[1] != 3:
        raise ValueError(f"eulers_deg must have shape (n, 3), got {np.shape(eulers_deg)}")
    if origins_px is None:
        origins = np.zeros((len(eulers), 2))
    else:
        origins = np.asarray(origins_px, dtype=np.float64)
        origins = origins[None] if origins.ndim == 1 else origins
        if origins.shape != (len(eulers), 2):
            raise ValueError(f"origins_px must have shape ({len(eulers)}, 2), got {np.shape(origins_px)}")
    if not (np.isfinite(eulers).all() and np.isfinite(origins).all()):
        raise ValueError("eulers_deg and origins_px must be finite")
    return eulers, origins


def _device(device: str | torch.device) -> torch.device:
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"not a torch device: {device!r}") from exc


def _padded_transform(vol: torch.Tensor, padded: int) -> torch.Tensor:
    """Gridding-corrected, zero-padded rfft of (d, d, d) as a (p + 2, p + 2, p//2 + 2) table.

    DC sits at [p//2, p//2, 0]: frequency (x, y, z) in padded voxels is at [z + p//2, y + p//2, x].
    Plane p repeats plane 0 (frequency +p/2 is -p/2); the extra last plane, row and column are
    zero-weight margins, so the eight corners of any sample with |k| <= p/2 are in bounds.
    """
    d = vol.shape[0]
    r = torch.arange(d, device=vol.device, dtype=torch.float32) - d // 2
    radius = torch.sqrt(r[:, None, None] ** 2 + r[None, :, None] ** 2 + r[None, None, :] ** 2)
    vol = vol / torch.sinc(radius / padded) ** 2  # RELION griddingCorrect, trilinear
    index = r.long() % padded  # centre voxel -> 0, negative offsets wrap (an ifftshift)
    big = vol.new_zeros((padded, padded, padded))
    big[index[:, None, None], index[None, :, None], index[None, None, :]] = vol
    ft = torch.fft.rfftn(big)  # (p, p, p//2 + 1) complex64, DC at [0, 0, 0]
    del big
    c, w = padded // 2, padded // 2 + 1
    table = ft.new_zeros((padded + 2, padded + 2, w + 1))
    for dst, src in ((slice(c, padded), slice(0, c)), (slice(0, c), slice(c, padded))):  # fftshift z
        table[dst, c:padded, :w] = ft[src, :c]
        table[dst, :c, :w] = ft[src, c:]
    table[padded] = table[0]
    table[:, padded] = table[:, 0]
    return table


def _slice_grid(d: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Frequencies (kx, ky) of the half-plane samples with kx^2 + ky^2 <= (d//2)^2.

    Rows ``0..d//2`` are ky = 0..d//2 and the rest negative, as RELION indexes them.

    Returns
    -------
    k2 : (m, 2) float32 kx, ky
    pixels : (m,) int64 flat indices of the samples in a (d, d//2 + 1) rfft
    """
    ky = torch.arange(d, device=device)
    ky = torch.where(ky <= d // 2, ky, ky - d)
    kx = torch.arange(d // 2 + 1, device=device)
    grid_y, grid_x = torch.meshgrid(ky, kx, indexing="ij")  # (d, d//2 + 1)
    pixels = torch.nonzero((grid_x**2 + grid_y**2 <= (d // 2) ** 2).flatten()).flatten()
    k2 = torch.stack([grid_x.flatten()[pixels], grid_y.flatten()[pixels]], -1).float()
    return k2, pixels


def _phase_shifts(shift: torch.Tensor, k2: torch.Tensor, d: int) -> torch.Tensor:
    """(b, 2) image shifts x, y in pixels, (m, 2) frequencies -> (b, m) complex64 factors that
    shift by (shift + d // 2): the origin moves from pixel 0 to the centre pixel d // 2."""
    phase = torch.matmul(shift + d // 2, k2.T) * (-2 * math.pi / d)  # (b, m)
    return torch.polar(torch.ones_like(phase), phase)


def _nearest(table: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
    """Like :func:`_trilinear`, but the nearest sample of the table: (b, m, 3) -> (b, m, 2)."""
    c = (table.shape[0] - 2) // 2
    row, plane = table.shape[2], table.shape[1] * table.shape[2]
    index = torch.round(xyz).long()
    flat = index[..., 0] + index[..., 1] * row + index[..., 2] * plane + c * (plane + row)  # (b, m)
    return torch.view_as_real(table.reshape(-1).index_select(0, flat.reshape(-1))).view(*flat.shape, 2)


def _trilinear(table: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
    """Sample the table of :func:`_padded_transform` at (b, m, 3) frequencies with x >= 0.

    One ``index_select`` of the eight corners (a third of the time of advanced indexing) and
    the three linear blends written out on the gathered block (faster than ``torch.lerp`` on
    its strided halves); ``benchmarks/bench_curation.py throughput`` times it.

    Returns (b, m, 2) float32: real and imaginary parts.
    """
    c = (table.shape[0] - 2) // 2
    row, plane = table.shape[2], table.shape[1] * table.shape[2]
    corners = torch.tensor([0, 1, row, row + 1, plane, plane + 1, plane + row, plane + row + 1],
                           device=xyz.device)  # (8,) z-major, then y, then x
    base = torch.floor(xyz)
    frac = xyz - base  # (b, m, 3)
    strides = torch.tensor([1, row, plane], device=xyz.device)
    first = (base.long() * strides).sum(-1) + c * (plane + row)  # (b, m)
    flat = (first[..., None] + corners).reshape(-1)
    values = torch.view_as_real(table.reshape(-1).index_select(0, flat)).view(*first.shape, 4, 2, 2)  # (b, m, zy, x, 2)
    values = values[..., 0, :] + (values[..., 1, :] - values[..., 0, :]) * frac[..., 0, None, None]  # (b, m, zy, 2)
    values = values[..., 0::2, :] + (values[..., 1::2, :] - values[..., 0::2, :]) * frac[..., 1, None, None]  # (b, m, z, 2)
    return values[..., 0, :] + (values[..., 1, :] - values[..., 0, :]) * frac[..., 2, None]  # (b, m, 2)
