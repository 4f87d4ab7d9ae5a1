"""Score denoised particles against the truth, beside classical baselines; or test a generator on noise.

Scores: PSNR (dB), CC and FRC of each image against its truth, inside a circular mask of radius
box / 2 after normalising each image there (zero mean, unit std), so scales and offsets do not
matter. PSNR = 10 log10(peak^2 / MSE), peak the range of the normalised truth in the mask. FRC is
taken under a soft-edged mask of the same radius (rim mean removed); its resolution is where the
mean curve falls below 0.5. FRC cannot tell linear filters from the noisy input (they only scale
each shell): it is there for non-linear denoisers. With --noisy, the noisy input, the best Gaussian low-pass (sigma chosen with the
truth: an oracle), a blind and an oracle Wiener filter are scored beside the prediction.
Writes PREFIX.json (all numbers) and PREFIX.png (examples and FRC curves).

--hallucination feeds pure Gaussian noise to a generator and compares the best correlation of
its outputs with projections of the reference map against that of low-passed noise of the same
smoothness ("Einstein from noise"): an honest denoiser scores like the control.

examples:
  gan-viewer evaluate --pred denoised.mrcs --truth sim/clean.mrcs --noisy sim/particles.mrcs
  gan-viewer evaluate --hallucination --model mymodel.safetensors --map emd_1234.mrc --n 64
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shlex
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

FRC_THRESHOLD = 0.5
HALLUCINATION_KEYS = ("hallucination", "model", "map", "n", "box", "references", "seed", "device", "apix", "out",
                      "force")
LABELS = {"noisy": "noisy", "lowpass": "low-pass (oracle)", "wiener": "Wiener (blind)",
          "wiener_oracle": "Wiener (oracle)", "prediction": "prediction"}


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pred", type=Path, metavar="P.mrcs", help="denoised particles to score")
    parser.add_argument("--truth", type=Path, metavar="T.mrcs", help="their noise-free truth, same order")
    parser.add_argument("--noisy", type=Path, metavar="N.mrcs", help="the noisy input, for the baselines")
    parser.add_argument("--apix", type=float, help="pixel size in A (default: the truth's header)")
    parser.add_argument("--out", type=Path, metavar="PREFIX",
                        help="write PREFIX.json and PREFIX.png (default: 'evaluation' next to --pred, "
                             "'hallucination' next to --model)")
    parser.add_argument("--force", action="store_true", help="overwrite existing outputs")
    group = parser.add_argument_group("hallucination check")
    group.add_argument("--hallucination", action="store_true", help="feed pure noise to a generator instead")
    group.add_argument("--model", help="generator file or bundled name (default: the bundled default)")
    group.add_argument("--map", type=Path, help="reference map or model (default: the model card's)")
    group.add_argument("--n", type=int, default=64, help="noise images (default 64)")
    group.add_argument("--box", type=int, help="box in pixels (default: the model card's)")
    group.add_argument("--references", type=int, default=500, help="random projections to match (default 500)")
    group.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    group.add_argument("--device", default="auto", help="torch device (auto, cpu, cuda, mps)")


def main(args: argparse.Namespace) -> int:
    from gan_viewer.errors import InputError

    if args.hallucination:
        return _hallucination(args)
    if args.pred is None or args.truth is None:
        raise InputError("give --pred and --truth (or --hallucination)")
    return _evaluate(args)


def _outputs(args: argparse.Namespace, default: Path) -> tuple[Path, Path]:
    from gan_viewer.io.atomic import check_writable

    prefix = str(args.out or default)
    paths = Path(prefix + ".json"), Path(prefix + ".png")
    for path in paths:
        check_writable(path, args.force)
    return paths


def _load(path: Path):
    """(n, h, w) float32 images of a stack, refusing non-finite images, and its pixel size."""
    import numpy as np

    from gan_viewer.errors import InputError
    from gan_viewer.io.mrc import MrcStack

    with MrcStack(path) as stack:
        images, apix = stack.read(slice(None)), stack.pixel_size
    bad = np.flatnonzero(~np.isfinite(images).all(axis=(1, 2)))
    if bad.size:
        raise InputError(f"image {bad[0] + 1} (and {bad.size - 1} more) holds NaN or infinite values", path)
    if images.shape[1] != images.shape[2]:
        raise InputError(f"images must be square, got {images.shape[1]} x {images.shape[2]} px", path)
    return images, apix


def _evaluate(args: argparse.Namespace) -> int:
    from gan_viewer.core.baselines import best_gaussian_lowpass, wiener_filter
    from gan_viewer.errors import InputError

    json_path, png_path = _outputs(args, args.pred.parent / "evaluation")
    truth, truth_apix = _load(args.truth)
    stacks = {"prediction": args.pred} | ({"noisy": args.noisy} if args.noisy else {})
    loaded = {}
    for name, path in stacks.items():
        loaded[name], _ = _load(path)
        if loaded[name].shape != truth.shape:
            raise InputError(f"holds {len(loaded[name])} images of {loaded[name].shape[-1]} px but the truth "
                             f"{args.truth} holds {len(truth)} of {truth.shape[-1]} px", path)
    apix = args.apix or truth_apix
    methods, sigma = {}, None
    if args.noisy:
        noisy = loaded["noisy"]
        methods["noisy"] = noisy
        methods["lowpass"], sigma, _ = best_gaussian_lowpass(noisy, truth, mask=_mask(truth))
        methods["wiener"] = wiener_filter(noisy)
        methods["wiener_oracle"] = wiener_filter(noisy, oracle_truth=truth)
    methods["prediction"] = loaded["prediction"]
    scores = {name: _score(images, truth, apix) for name, images in methods.items()}
    freq = scores["prediction"].pop("frc_frequencies")
    for s in scores.values():
        s.pop("frc_frequencies", None)
    _print_table(scores, sigma, apix)
    report = {"command": _command_line(args), "files": {k: str(Path(v).resolve()) for k, v in
                                                        {"pred": args.pred, "truth": args.truth,
                                                         "noisy": args.noisy}.items() if v},
              "n": len(truth), "box": truth.shape[-1], "pixel_size": apix, "mask_radius_px": truth.shape[-1] / 2,
              "best_sigma_px": sigma, "frc_threshold": FRC_THRESHOLD,
              "frc_frequency_unit": "1/A" if apix else "1/px", "frc_frequencies": freq.tolist(),
              "methods": scores}
    _write(json_path, png_path, report, lambda path: _figure(path, methods, truth, scores, freq, sigma, apix))
    return 0


def _mask(images):
    from gan_viewer.core.metrics import circular_mask

    return circular_mask(images.shape[-1])


def _score(images, truth, apix) -> dict:
    import numpy as np

    from gan_viewer.core.metrics import correlation, frc, frc_resolution, psnr, taper

    mask = _mask(truth)
    p, c = psnr(images, truth, mask), correlation(images, truth, mask)
    freq, curves = frc(taper(images), taper(truth), apix)
    mean_curve = np.nanmean(curves, axis=0) if np.isfinite(curves).any() else curves[0]
    per_image = [frc_resolution(freq, curve, FRC_THRESHOLD) for curve in curves]
    return {"psnr_db": _finite(p), "cc": _finite(c), "frc_resolution": _finite(np.asarray(per_image)),
            "mean": {"psnr_db": _mean(p), "cc": _mean(c),
                     "frc_resolution": frc_resolution(freq, mean_curve, FRC_THRESHOLD)},
            "frc_mean_curve": _finite(mean_curve), "frc_frequencies": freq}


def _finite(values) -> list:
    """JSON-safe list: NaN and infinities become null."""
    import numpy as np

    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, float).ravel()]


def _mean(values) -> float | None:
    import numpy as np

    values = np.asarray(values, float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else None


def _print_table(scores: dict, sigma: float | None, apix: float | None) -> None:
    unit = "A" if apix else "px"
    print(f"{'method':<26} {'PSNR dB':>8} {'CC':>7} {'FRC0.5 ' + unit:>10}")
    for name, s in scores.items():
        m = s["mean"]
        label = LABELS[name] + (f" {sigma:.2g} px" if name == "lowpass" else "")
        psnr = "-" if m["psnr_db"] is None else f"{m['psnr_db']:.2f}"
        cc = "-" if m["cc"] is None else f"{m['cc']:.3f}"
        print(f"{label:<26} {psnr:>8} {cc:>7} {m['frc_resolution']:>10.2f}")


def _command_line(args: argparse.Namespace) -> str:
    parts = ["gan-viewer", "evaluate"]
    keys = HALLUCINATION_KEYS if args.hallucination else ("pred", "truth", "noisy", "apix", "out", "force")
    for key, value in vars(args).items():
        if key not in keys or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)


def _write(json_path: Path, png_path: Path, report: dict, draw) -> None:
    """Both files or neither: each goes to a temporary file; both are renamed once both are complete.

    ``draw(file)`` saves the figure as PNG into a binary file object.
    """
    import io

    from gan_viewer.io.atomic import atomic_paths, write_bytes, write_text

    text = json.dumps(report, indent=1, allow_nan=False)
    text = re.sub(r"\[\s+([^\[\]{}\"]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    png = io.BytesIO()
    draw(png)
    with atomic_paths([json_path, png_path], overwrite=True) as (tmp_json, tmp_png):
        write_text(tmp_json, text + "\n")  # lists of numbers on one line each
        write_bytes(tmp_png, png.getbuffer())
    print(f"wrote {json_path} and {png_path}")


def _figure(path: BinaryIO, methods: dict, truth, scores: dict, freq, sigma, apix) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

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


def _hallucination(args: argparse.Namespace) -> int:
    import numpy as np

    from gan_viewer.core.baselines import hallucination_report
    from gan_viewer.errors import InputError
    from gan_viewer.ml.inference import Denoiser
    from gan_viewer.sim.pairs import random_views
    from gan_viewer.sim.project import Projector
    from gan_viewer.sim.reference import volume_from

    if args.n < 2 or args.references < 1:
        raise InputError(f"--n must be at least 2 and --references at least 1, got {args.n} and {args.references}")
    model_dir = Path(args.model).parent if args.model and Path(args.model).exists() else Path.cwd()
    json_path, png_path = _outputs(args, model_dir / "hallucination")
    denoiser = Denoiser.load(args.model, device=args.device)
    card = denoiser.card or {}
    box = args.box or card.get("box")
    if not box:
        raise InputError("the model card records no box: give --box")
    map_path = args.map or _card_map(card)
    if map_path is None:
        raise InputError("the model card names no reference map: give --map")
    rng = np.random.default_rng([args.seed, 1])
    volume, apix = volume_from(map_path, card.get("pixel_size") or args.apix, int(box))
    references = Projector(volume).project(random_views(args.references, rng).eulers)
    result = hallucination_report(lambda x: denoiser(x, apix), references, args.n, int(box), rng)
    arrays = result.pop("arrays")
    result = {"command": _command_line(args), "model": denoiser.name, "map": str(Path(map_path).resolve()),
              "pixel_size": apix, **result}
    print(f"{args.n} noise images of {box} px, {args.references} reference views of {Path(map_path).name}")
    print(f"best CC with a reference: output {result['output']['mean']:.3f} +- {result['output']['std']:.3f}, "
          f"control (low-pass sigma {result['control_sigma']:.2g} px) {result['control']['mean']:.3f} "
          f"+- {result['control']['std']:.3f}")
    print(f"outputs above the control's 99th percentile: {result['fraction_above_control_p99']:.0%} "
          f"(about 1% when nothing is invented); output/input variance {result['power']['mean_variance_ratio']:.3g}")
    _write(json_path, png_path, result, lambda path: _hallucination_figure(path, arrays, references, result))
    return 0


def _card_map(card: dict) -> str | None:
    """The first existing map or model file among the card's training sources."""
    training = card.get("training") or {}
    sources = training.get("sources") or (training.get("data") or {}).get("sources") or []
    found = [s for s in sources if isinstance(s, str) and Path(s).is_file()]
    return found[0] if found else None


def _hallucination_figure(path: BinaryIO, arrays: dict, references, result: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

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
