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
import shlex
from pathlib import Path

HALLUCINATION_KEYS = ("hallucination", "model", "map", "n", "box", "references", "seed", "device", "apix", "out",
                      "force")


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


def _evaluate(args: argparse.Namespace) -> int:
    from gan_viewer.core.evaluation import evaluate_stacks, report_paths

    json_path, png_path = report_paths(args.out or args.pred.parent / "evaluation", args.force)
    result = evaluate_stacks(args.pred, args.truth, args.noisy, args.apix, command=_command_line(args))
    print(result.table())
    result.write(json_path, png_path)
    print(f"wrote {json_path} and {png_path}")
    return 0


def _hallucination(args: argparse.Namespace) -> int:
    from gan_viewer.core.evaluation import report_paths, write_report
    from gan_viewer.errors import InputError
    from gan_viewer.ml.hallucination import hallucination_check
    from gan_viewer.ml.inference import Denoiser

    if args.n < 2 or args.references < 1:
        raise InputError(f"--n must be at least 2 and --references at least 1, got {args.n} and {args.references}")
    model_dir = Path(args.model).parent if args.model and Path(args.model).exists() else Path.cwd()
    json_path, png_path = report_paths(args.out or model_dir / "hallucination", args.force)
    denoiser = Denoiser.load(args.model, device=args.device)
    check = hallucination_check(denoiser, args.map, n=args.n, box=args.box, references=args.references,
                                seed=args.seed, apix=args.apix, command=_command_line(args))
    result = check.report
    print(f"{args.n} noise images of {check.references.shape[-1]} px, {args.references} reference views of "
          f"{Path(result['map']).name}")
    print(f"best CC with a reference: output {result['output']['mean']:.3f} +- {result['output']['std']:.3f}, "
          f"control (low-pass sigma {result['control_sigma']:.2g} px) {result['control']['mean']:.3f} "
          f"+- {result['control']['std']:.3f}")
    print(f"outputs above the control's 99th percentile: {result['fraction_above_control_p99']:.0%} "
          f"(about 1% when nothing is invented); output/input variance {result['power']['mean_variance_ratio']:.3g}")
    write_report(json_path, png_path, result, check.figure)
    print(f"wrote {json_path} and {png_path}")
    return 0


def _command_line(args: argparse.Namespace) -> str:
    parts = ["gan-viewer", "evaluate"]
    keys = HALLUCINATION_KEYS if args.hallucination else ("pred", "truth", "noisy", "apix", "out", "force")
    for key, value in vars(args).items():
        if key not in keys or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join(parts)
