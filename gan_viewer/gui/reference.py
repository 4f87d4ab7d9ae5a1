"""Reference projections for the triptych's third panel (no Qt; called from worker threads).

:class:`ReferenceMaker` checks up front, in the UI thread and cheaply, whether a reference can be
made at all (a map, angles in the STAR, a known pixel size) and says why not in one line. The
expensive part (resampling the map, building the projector, importing torch) happens on the
first call, in whichever worker thread calls it; a lock makes it safe to share between threads.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np

from gan_viewer.core.particles import ParticleSource

log = logging.getLogger(__name__)


class ReferenceMaker:
    """Projections of a map at each particle's angles and origin, CTF-modulated on request.

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
        self._projector = None
        self._apix: float | None = None
        self._ctf = None
        self.eulers: np.ndarray | None = None  # (n, 3)
        self.origins: np.ndarray | None = None  # (n, 2)
        self.reason = self._check()

    def _check(self) -> str | None:
        if self.map_path is None:
            return "no reference map (open one with File > Open map or --map)"
        table = getattr(self.source, "table", None)
        self.eulers = None if table is None else table.eulers()
        if self.eulers is None:
            return "no reference: the particles have no angles (rlnAngleRot/Tilt/Psi)"
        self._apix = self.source.pixel_size
        if self._apix is None:
            return "no reference: the particles' pixel size is unknown"
        try:
            self.origins = table.origins_px(default_apix=self._apix)
        except Exception as exc:  # noqa: BLE001 - an InputError from odd origins
            return f"no reference: {exc}"
        self.ctf_reason = self._check_ctf(table)
        return None

    def _check_ctf(self, table) -> str | None:
        try:
            from gan_viewer.sim.ctf import CtfParams

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
        with self._lock:
            projector = self._build()
            images = projector.project(self.eulers[idx], self.origins[idx])
            if ctf and self._ctf is not None:
                images = self._apply_ctf(images, idx)
        return np.asarray(images, np.float32)

    def _build(self):
        if self._projector is None:
            from gan_viewer.sim.project import Projector
            from gan_viewer.sim.reference import map_at

            volume, _ = map_at(self.map_path, self._apix, self.source.box, allow_pad=True)
            self._projector = Projector(volume, device=self.device)
            log.info("reference projector for %s at %g A/px, %d px ready", self.map_path.name, self._apix,
                     self.source.box)
        return self._projector

    def _apply_ctf(self, images: np.ndarray, idx: np.ndarray) -> np.ndarray:
        import torch

        from gan_viewer.sim.ctf import apply_ctf

        with torch.inference_mode():
            return apply_ctf(torch.from_numpy(images), self._ctf.take(idx), self._apix).cpu().numpy()
