"""Reference projections of particles at their poses, one projector per optics group's pixel size.

:class:`ReferenceMaker` checks up front and cheaply (the inspector does it in its UI thread)
whether a reference can be made at all (a map, angles in the STAR, a known pixel size) and says why not in one line. The
expensive part (resampling the map, building the projector, importing torch) happens on the
first call, in whichever worker thread calls it; a lock makes it safe to share between threads.
Particles of optics groups with different pixel sizes get the map resampled to their own (sizes
within :data:`SAME_APIX` of each other share one: the images differ by under a pixel).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from gan_viewer.core.particles import ParticleSource
from gan_viewer.io.poses import two_d_alignment

log = logging.getLogger(__name__)

#: projectors kept at once (one per pixel size; each holds the map's padded transform, 0.5 GB at 196 px)
MAX_PROJECTORS = 2
#: pixel sizes closer than this (relative) share a projector: 1 % scales a 196 px image by 1 px at its edge
SAME_APIX = 0.01


class ReferenceMaker:
    """Projections of a map at each particle's angles and origin, CTF-modulated on request.

    2D alignments (a Class2D ``_data.star``: a new psi beside an older rot and tilt) get no
    reference, and ``reason`` says so (:func:`~gan_viewer.io.poses.two_d_alignment`).

    Parameters
    ----------
    source
        The particle set (its table gives angles, origins and CTF; its box and pixel size the sampling).
    map_path
        The reference map, or None.
    device
        Torch device for the projector.

    Attributes
    ----------
    reason : str or None
        Why no reference can be made (shown in the panel), None when it can.
    ctf_reason : str or None
        Why the CTF cannot be applied, None when it can.
    """

    def __init__(self, source: ParticleSource, map_path: str | os.PathLike | None, device: str = "cpu") -> None:
        self.source = source
        self.map_path = None if map_path is None else Path(map_path)
        self.device = device
        self.ctf_reason: str | None = "no CTF parameters"
        self._lock = threading.Lock()
        self._projectors: OrderedDict[float, object] = OrderedDict()  # pixel size -> Projector
        self._apix: np.ndarray | None = None  # (n,) Angstrom per pixel
        self._ctf = None
        self.eulers: np.ndarray | None = None  # (n, 3)
        self.origins: np.ndarray | None = None  # (n, 2)
        self.reason = self._check()

    def _check(self) -> str | None:
        if self.map_path is None:
            return "no reference map (open one with File > Open map or --map)"
        table = getattr(self.source, "table", None)
        two_d = None if table is None else two_d_alignment(table)
        if two_d is not None:
            log.warning("%s: %s; no reference projections", table.path, two_d)
            return f"no reference: {two_d}. The reference panel needs 3D poses (Refine3D, Class3D)"
        self.eulers = None if table is None else table.eulers()
        if self.eulers is None:
            return "no reference: the particles have no angles (rlnAngleRot/Tilt/Psi)"
        try:
            first = self.source.pixel_size
            if first is None:
                return "no reference: the particles' pixel size is unknown"
            apix = table.pixel_size()
            self._apix = np.full(len(self.source), first) if apix is None else np.round(apix, 4)
            self.origins = table.origins_px(default_apix=first)
        except Exception as exc:  # noqa: BLE001 - an InputError from odd origins or pixel sizes
            return f"no reference: {exc}"
        self.ctf_reason = self._check_ctf(table)
        return None

    def _check_ctf(self, table) -> str | None:
        try:
            from gan_viewer.core.ctf_params import CtfParams

            self._ctf = CtfParams.from_table(table)
        except Exception as exc:  # noqa: BLE001
            return f"no CTF: {exc}"
        return None

    @property
    def available(self) -> bool:
        return self.reason is None

    def __call__(self, indices: np.ndarray, ctf: bool = False) -> np.ndarray:
        """Reference images (k, box, box) float32 of the particles at ``indices``."""
        if self.reason is not None:
            raise RuntimeError(self.reason)
        idx = np.asarray(indices, np.int64)
        apix = self._apix[idx]
        out = np.empty((idx.size, self.source.box, self.source.box), np.float32)
        with self._lock:
            for value in np.unique(apix).tolist():
                where = np.flatnonzero(apix == value)
                images = self._projector(value).project(self.eulers[idx[where]], self.origins[idx[where]])
                if ctf and self._ctf is not None:
                    images = self._apply_ctf(images, idx[where], value)
                out[where] = images
        return out

    def adopt(self, other: ReferenceMaker) -> None:
        """Reuse the projectors ``other`` built (same map and box), e.g. those of a preview."""
        if other.map_path == self.map_path and other.source.box == self.source.box:
            with other._lock:
                for apix, projector in other._projectors.items():
                    self._projectors.setdefault(apix, projector)

    def _projector(self, apix: float):
        apix = next((a for a in self._projectors if abs(a - apix) <= SAME_APIX * a), apix)
        projector = self._projectors.get(apix)
        if projector is None:
            from gan_viewer.sim.project import Projector
            from gan_viewer.sim.reference import map_at

            volume, _ = map_at(self.map_path, apix, self.source.box, allow_pad=True)
            projector = self._projectors[apix] = Projector(volume, device=self.device)
            while len(self._projectors) > MAX_PROJECTORS:
                self._projectors.popitem(last=False)
            log.info("reference projector for %s at %g A/px, %d px ready", self.map_path.name, apix,
                     self.source.box)
        self._projectors.move_to_end(apix)
        return projector

    def _apply_ctf(self, images: np.ndarray, idx: np.ndarray, apix: float) -> np.ndarray:
        import torch

        from gan_viewer.sim.ctf import apply_ctf

        with torch.inference_mode():
            return apply_ctf(torch.from_numpy(np.asarray(images)), self._ctf.take(idx), apix).cpu().numpy()
