"""The "Einstein from noise" check: does a generator invent particles in pure noise?

Pure Gaussian noise goes through the generator; the best correlation of each output with
projections of the reference map is compared with that of low-passed noise of the same
smoothness (the control). An honest denoiser scores like the control. ``gan-viewer evaluate
--hallucination`` and :func:`gan_viewer.api.evaluate` call :func:`hallucination_check`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gan_viewer.core.baselines import hallucination_report
from gan_viewer.errors import InputError
from gan_viewer.ml.inference import Denoiser
from gan_viewer.sim.pairs import random_views
from gan_viewer.sim.project import Projector
from gan_viewer.sim.reference import volume_from

log = logging.getLogger(__name__)


@dataclass
class HallucinationCheck:
    """What the generator made of pure noise.

    Attributes
    ----------
    report : dict
        JSON-ready: ``output`` and ``control`` (``best_cc`` (n,), ``mean``, ``std``),
        ``control_sigma``, ``fraction_above_control_p99`` (about 0.01 when nothing is invented),
        ``power``, the model, map and pixel size.
    arrays : dict
        ``noise``, ``output``, ``control`` (n, box, box) and ``best_reference`` (n,) indices.
    references : (k, box, box) array
        The reference projections matched against.
    """

    report: dict
    arrays: dict
    references: np.ndarray

    def figure(self, path: BinaryIO) -> None:
        """The most particle-like outputs and the best-CC histograms, as PNG into ``path``."""
        _figure(path, self.arrays, self.references, self.report)


def card_map(card: dict) -> str | None:
    """The first existing map or model file among the model card's training sources."""
    training = card.get("training") or {}
    sources = training.get("sources") or (training.get("data") or {}).get("sources") or []
    found = [s for s in sources if isinstance(s, str) and Path(s).is_file()]
    return found[0] if found else None


def hallucination_check(denoiser: Denoiser, map_path: str | os.PathLike | None = None, *, n: int = 64,
                        box: int | None = None, references: int = 500, seed: int = 0, apix: float | None = None,
                        command: str = "") -> HallucinationCheck:
    """Feed ``n`` pure-noise images of ``box`` px to ``denoiser`` and match its outputs against
    ``references`` random projections of ``map_path``.

    ``box`` and ``map_path`` default to the model card's; ``apix`` is used when the card gives no
    pixel size. ``command`` is recorded in the report.

    Raises
    ------
    InputError
        When ``n`` < 2, ``references`` < 1, or the box or map is neither given nor in the card.
    """
    if n < 2 or references < 1:
        raise InputError(f"--n must be at least 2 and --references at least 1, got {n} and {references}")
    card = denoiser.card or {}
    box = box or card.get("box")
    if not box:
        raise InputError("the model card records no box: give --box")
    map_path = map_path or card_map(card)
    if map_path is None:
        raise InputError("the model card names no reference map: give --map")
    rng = np.random.default_rng([seed, 1])
    volume, apix = volume_from(map_path, card.get("pixel_size") or apix, int(box))
    projections = Projector(volume).project(random_views(references, rng).eulers)
    result = hallucination_report(lambda x: denoiser(x, apix), projections, n, int(box), rng)
    arrays = result.pop("arrays")
    report = {"command": command, "model": denoiser.name, "map": str(Path(map_path).resolve()),
              "pixel_size": apix, **result}
    return HallucinationCheck(report, arrays, projections)


def _figure(path: BinaryIO, arrays: dict, references, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_viewer.core.figures import draw_image_grid

    best = arrays["best_reference"]
    columns = [("noise", arrays["noise"]), ("output", arrays["output"]), ("best reference", references[best]),
               ("control", arrays["control"])]
    rows = np.argsort(result["output"]["best_cc"])[::-1][:3]  # the most particle-like outputs
    fig = plt.figure(figsize=(2.0 * 4 + 7, 2.0 * len(rows) + 0.9))
    grid = fig.add_gridspec(len(rows), 4 + 2, width_ratios=[1] * 4 + [1.9] * 2)
    draw_image_grid(fig, grid, columns, rows, [f"CC {result['output']['best_cc'][row]:.2f}" for row in rows])
    ax = fig.add_subplot(grid[:, 4])
    bins = np.linspace(min(0.0, *result["control"]["best_cc"], *result["output"]["best_cc"]), 1, 41)
    ax.hist(result["control"]["best_cc"], bins, histtype="step", lw=1.5,
            label=f"control (low-pass {result['control_sigma']:.2g} px)")
    ax.hist(result["output"]["best_cc"], bins, histtype="step", lw=2, label="generator output")
    ax.set_xlabel("best CC with a reference", fontsize=9)
    ax.legend(fontsize=8)
    ax = fig.add_subplot(grid[:, 5])
    ratio = np.asarray(result["power"]["radial_power_ratio"], float)
    ax.semilogy(np.arange(1, ratio.size) / (2 * (ratio.size - 1)), ratio[1:])
    ax.set_xlabel("spatial frequency (1/px)", fontsize=9)
    ax.set_ylabel("power output / input", fontsize=9)
    fig.suptitle(f"{result['model']} on pure noise: {result['fraction_above_control_p99']:.0%} of outputs match a "
                 f"projection better than 99% of the control", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
