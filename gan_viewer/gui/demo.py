"""The bundled demo: particles simulated once from the bundled map, cached per version.

``gan-viewer gui`` with no file opens this set with the same map as the reference, so a new user
sees every panel at once. Generating it takes a few seconds the first time; later starts reuse
the cached folder (``platformdirs.user_cache_dir("gan-viewer")/demo-<version>``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import platformdirs

from gan_viewer import __version__
from gan_viewer.resources import resource_path

log = logging.getLogger(__name__)

DEMO_MAP = "demo/betagal_5a1a.mrc"
DEMO_N, DEMO_SNR, DEMO_SEED = 300, 0.05, 0
DEMO_DEFOCUS = (10000.0, 25000.0)  # Angstrom


def demo_dir() -> Path:
    """Where the demo set is cached (``GAN_VIEWER_DEMO_DIR`` overrides, e.g. for tests)."""
    override = os.environ.get("GAN_VIEWER_DEMO_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("gan-viewer", appauthor=False)) / f"demo-{__version__}"


def demo_set(folder: Path | None = None) -> tuple[Path, Path]:
    """The demo particles (``particles.star``) and their map, generating them when missing.

    Returns
    -------
    star : Path
    map : Path
    """
    folder = demo_dir() if folder is None else folder
    map_path = resource_path(DEMO_MAP)
    star = folder / "particles.star"
    if not star.is_file():
        _generate(map_path, folder)
    return star, map_path


def _generate(map_path: Path, folder: Path) -> None:
    from gan_viewer.sim.dataset import SimulationSpec, write_simulation
    from gan_viewer.sim.pairs import random_views
    from gan_viewer.sim.project import Projector
    from gan_viewer.sim.reference import map_at

    log.info("simulating the demo set (%d particles, SNR %g) in %s", DEMO_N, DEMO_SNR, folder)
    volume, apix = map_at(map_path, None, None)
    rng = np.random.default_rng([DEMO_SEED, 0])
    views = random_views(DEMO_N, rng, shift_sigma_px=1.0, defocus_range=DEMO_DEFOCUS, astigmatism=500.0)
    spec = SimulationSpec(n=DEMO_N, snrs=[DEMO_SNR], apix=apix, seed=DEMO_SEED, source=f"bundled {DEMO_MAP}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    write_simulation(Projector(volume), views, spec, folder)
