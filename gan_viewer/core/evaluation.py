"""Scoring denoised particles against their truth, beside classical baselines.

Scores: PSNR (dB), CC and FRC of each image against its truth, inside a circular mask of radius
box / 2 after normalising each image there (zero mean, unit std), so scales and offsets do not
matter. PSNR = 10 log10(peak^2 / MSE), peak the range of the normalised truth in the mask. FRC is
taken under a soft-edged mask of the same radius (rim mean removed); its resolution is where the
mean curve falls below :data:`FRC_THRESHOLD`. With the noisy input, the best Gaussian low-pass
(sigma chosen with the truth: an oracle), a blind and an oracle Wiener filter are scored beside
the prediction. ``gan-viewer evaluate`` and :func:`gan_viewer.api.evaluate` call this module.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gan_viewer.core.baselines import best_gaussian_lowpass, wiener_filter
from gan_viewer.core.metrics import circular_mask, correlation, frc, frc_resolution, psnr, taper
from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_paths, check_writable, write_bytes, write_text
from gan_viewer.io.mrc import MrcStack

log = logging.getLogger(__name__)

FRC_THRESHOLD = 0.5
LABELS = {"noisy": "noisy", "lowpass": "low-pass (oracle)", "wiener": "Wiener (blind)",
          "wiener_oracle": "Wiener (oracle)", "prediction": "prediction"}


@dataclass
class Evaluation:
    """The scores of a prediction (and of the baselines) against the truth.

    Attributes
    ----------
    report : dict
        JSON-ready: ``n``, ``box``, ``pixel_size``, ``best_sigma_px``, ``frc_frequencies`` and per
        method (``methods[name]``) ``psnr_db`` (n,), ``cc`` (n,), ``frc_resolution`` (n,),
        ``frc_mean_curve`` and their ``mean``. NaN values are None.
    methods : dict of (n, box, box) arrays
        The images scored, by method: "noisy", "lowpass", "wiener", "wiener_oracle" (with a
        noisy input) and "prediction".
    truth : (n, box, box) array
    frequencies : (k,) array
        FRC shell frequencies, 1/A with a pixel size, else 1/px.
    sigma : float or None
        The oracle low-pass's sigma in pixels (None without a noisy input).
    apix : float or None
        Pixel size in Angstrom.
    """

    report: dict
    methods: dict[str, np.ndarray]
    truth: np.ndarray
    frequencies: np.ndarray
    sigma: float | None
    apix: float | None

    def table(self) -> str:
        """The mean scores as a text table, one method a line."""
        unit = "A" if self.apix else "px"
        lines = [f"{'method':<26} {'PSNR dB':>8} {'CC':>7} {'FRC0.5 ' + unit:>10}"]
        for name, s in self.report["methods"].items():
            m = s["mean"]
            label = LABELS[name] + (f" {self.sigma:.2g} px" if name == "lowpass" else "")
            psnr_text = "-" if m["psnr_db"] is None else f"{m['psnr_db']:.2f}"
            cc = "-" if m["cc"] is None else f"{m['cc']:.3f}"
            lines.append(f"{label:<26} {psnr_text:>8} {cc:>7} {m['frc_resolution']:>10.2f}")
        return "\n".join(lines)

    def write(self, json_path: str | os.PathLike, png_path: str | os.PathLike) -> None:
        """Write the report (JSON) and the figure (PNG, examples and FRC curves): both or neither."""
        write_report(Path(json_path), Path(png_path), self.report, self.figure)

    def figure(self, path: BinaryIO) -> None:
        """Draw the examples and the FRC curves as PNG into the binary file ``path``."""
        _figure(path, self.methods, self.truth, self.report["methods"], self.frequencies, self.sigma, self.apix)


def load_stack(path: str | os.PathLike) -> tuple[np.ndarray, float | None]:
    """(n, h, w) float32 images of a stack, refusing non-finite or non-square images, and its
    pixel size in Angstrom (None when the header gives none)."""
    with MrcStack(path) as stack:
        images, apix = stack.read(slice(None)), stack.pixel_size
    bad = np.flatnonzero(~np.isfinite(images).all(axis=(1, 2)))
    if bad.size:
        raise InputError(f"image {bad[0] + 1} (and {bad.size - 1} more) holds NaN or infinite values", path)
    if images.shape[1] != images.shape[2]:
        raise InputError(f"images must be square, got {images.shape[1]} x {images.shape[2]} px", path)
    return images, apix


def evaluate_stacks(pred: str | os.PathLike, truth: str | os.PathLike, noisy: str | os.PathLike | None = None,
                    apix: float | None = None, command: str = "") -> Evaluation:
    """Score the stack ``pred`` against ``truth`` (same particles, same order); see :func:`evaluate_images`.

    ``apix`` defaults to the truth's header; ``command`` is recorded in the report.

    Raises
    ------
    InputError
        When a stack is unreadable, holds NaN, or differs from the truth in count or box.
    """
    truth_images, truth_apix = load_stack(truth)
    stacks = {"prediction": pred} | ({"noisy": noisy} if noisy else {})
    loaded = {}
    for name, path in stacks.items():
        loaded[name], _ = load_stack(path)
        if loaded[name].shape != truth_images.shape:
            raise InputError(f"holds {len(loaded[name])} images of {loaded[name].shape[-1]} px but the truth "
                             f"{truth} holds {len(truth_images)} of {truth_images.shape[-1]} px", path)
    result = evaluate_images(loaded["prediction"], truth_images, loaded.get("noisy"), apix or truth_apix)
    files = {k: str(Path(v).resolve()) for k, v in {"pred": pred, "truth": truth, "noisy": noisy}.items() if v}
    result.report = {"command": command, "files": files, **result.report}
    return result


def evaluate_images(pred: np.ndarray, truth: np.ndarray, noisy: np.ndarray | None = None,
                    apix: float | None = None) -> Evaluation:
    """Score predictions against the truth, and with ``noisy`` the baselines too.

    Parameters
    ----------
    pred, truth
        (n, box, box) denoised images and their noise-free truth, in the same order.
    noisy
        (n, box, box) the noisy input, or None (no baselines).
    apix
        Pixel size in Angstrom (FRC in 1/A), or None (1/px).

    Returns
    -------
    Evaluation
    """
    pred, truth = np.asarray(pred, np.float32), np.asarray(truth, np.float32)
    if pred.shape != truth.shape or pred.ndim != 3 or pred.shape[1] != pred.shape[2]:
        raise ValueError(f"need (n, box, box) prediction and truth of one shape, got {pred.shape} and {truth.shape}")
    methods, sigma = {}, None
    if noisy is not None:
        noisy = np.asarray(noisy, np.float32)
        if noisy.shape != truth.shape:
            raise ValueError(f"noisy images {noisy.shape} differ from the truth {truth.shape}")
        methods["noisy"] = noisy
        methods["lowpass"], sigma, _ = best_gaussian_lowpass(noisy, truth, mask=circular_mask(truth.shape[-1]))
        methods["wiener"] = wiener_filter(noisy)
        methods["wiener_oracle"] = wiener_filter(noisy, oracle_truth=truth)
    methods["prediction"] = pred
    scores = {name: score_images(images, truth, apix) for name, images in methods.items()}
    freq = scores["prediction"].pop("frc_frequencies")
    for s in scores.values():
        s.pop("frc_frequencies", None)
    report = {"n": len(truth), "box": truth.shape[-1], "pixel_size": apix, "mask_radius_px": truth.shape[-1] / 2,
              "best_sigma_px": sigma, "frc_threshold": FRC_THRESHOLD,
              "frc_frequency_unit": "1/A" if apix else "1/px", "frc_frequencies": freq.tolist(),
              "methods": scores}
    return Evaluation(report, methods, truth, freq, sigma, apix)


def score_images(images: np.ndarray, truth: np.ndarray, apix: float | None) -> dict:
    """PSNR, CC and FRC of (n, box, box) ``images`` against ``truth``: per image, mean, and the
    mean FRC curve with its ``frc_frequencies``."""
    mask = circular_mask(truth.shape[-1])
    p, c = psnr(images, truth, mask), correlation(images, truth, mask)
    freq, curves = frc(taper(images), taper(truth), apix)
    mean_curve = np.nanmean(curves, axis=0) if np.isfinite(curves).any() else curves[0]
    per_image = [frc_resolution(freq, curve, FRC_THRESHOLD) for curve in curves]
    return {"psnr_db": finite_list(p), "cc": finite_list(c), "frc_resolution": finite_list(np.asarray(per_image)),
            "mean": {"psnr_db": _mean(p), "cc": _mean(c),
                     "frc_resolution": frc_resolution(freq, mean_curve, FRC_THRESHOLD)},
            "frc_mean_curve": finite_list(mean_curve), "frc_frequencies": freq}


def finite_list(values) -> list:
    """JSON-safe list: NaN and infinities become None."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, float).ravel()]


def _mean(values) -> float | None:
    values = np.asarray(values, float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def report_paths(prefix: str | os.PathLike, force: bool = False) -> tuple[Path, Path]:
    """``prefix.json`` and ``prefix.png``, checked writable (InputError when one exists without ``force``)."""
    paths = Path(str(prefix) + ".json"), Path(str(prefix) + ".png")
    for path in paths:
        check_writable(path, force)
    return paths


def write_report(json_path: Path, png_path: Path, report: dict, draw: Callable[[BinaryIO], None]) -> None:
    """Both files or neither: each goes to a temporary file; both are renamed once both are complete.

    ``draw(file)`` saves the figure as PNG into a binary file object.
    """
    text = json.dumps(report, indent=1, allow_nan=False)
    text = re.sub(r"\[\s+([^\[\]{}\"]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    png = io.BytesIO()
    draw(png)
    with atomic_paths([json_path, png_path], overwrite=True) as (tmp_json, tmp_png):
        write_text(tmp_json, text + "\n")  # lists of numbers on one line each
        write_bytes(tmp_png, png.getbuffer())
    log.info("wrote %s and %s", json_path, png_path)


def _figure(path: BinaryIO, methods: dict, truth, scores: dict, freq, sigma, apix) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_viewer.core.figures import draw_image_grid

    shown = [k for k in ("noisy", "lowpass", "wiener_oracle", "prediction") if k in methods]
    columns = [(LABELS[k] + (f"\nsigma {sigma:.2g} px" if k == "lowpass" else "") +
                f"\n{scores[k]['mean']['psnr_db'] or float('nan'):.1f} dB", methods[k]) for k in shown]
    columns.append(("truth", truth))
    rows = np.unique(np.linspace(0, len(truth) - 1, min(4, len(truth))).round().astype(int))
    fig = plt.figure(figsize=(1.7 * len(columns) + 5.0, 1.7 * len(rows) + 0.9))
    grid = fig.add_gridspec(len(rows), len(columns) + 3)
    draw_image_grid(fig, grid, columns, rows, [f"#{row + 1}" for row in rows])
    ax = fig.add_subplot(grid[:, len(columns):])
    for name, s in scores.items():
        label = f"{LABELS[name]}: {s['mean']['frc_resolution']:.3g} {'A' if apix else 'px'}"
        ax.plot(freq[1:], np.asarray(s["frc_mean_curve"][1:], float), label=label,
                lw=2.2 if name == "prediction" else 1.4)
    ax.axhline(FRC_THRESHOLD, color="grey", lw=0.8, ls="--")
    ax.set_xlabel(f"spatial frequency ({'1/A' if apix else '1/px'})", fontsize=9)
    ax.set_ylabel("FRC with the truth (mean)", fontsize=9)
    ax.set_ylim(-0.1, 1.02)
    ax.legend(fontsize=8, title=f"FRC = {FRC_THRESHOLD} at", title_fontsize=8)
    box = truth.shape[-1]
    fig.suptitle(f"{len(truth)} particles, {box} px{f' at {apix:g} A' if apix else ''}; PSNR and CC inside a "
                 f"{box / 2:g} px radius after per-image normalisation", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
