"""Our generator beside Topaz-Denoise, the field's general-purpose denoiser, on the sets of
``bench_generator.py general``.

    python benchmarks/bench_peers.py --topaz VENV/bin/topaz [--models unet unet-small affine]
                                     [--n 12] [--independent]

Same particles as ``bench_generator.py general`` with the same ``--n`` (unseen structures at 1, 2
and 3 A/px in 256, 128 and 96 px boxes; white noise, and real micrograph noise + RELION's CTF; SNR
0.05 and 0.02), scored the same way: PSNR against the truth in the particle circle, and the gain
over the oracle Gaussian low-pass (sigma chosen with the truth) measured on the same images. Our
one-pass figure is recomputed here; when it equals the stored ``general`` result, the sets are the
same and the stored panel figure applies too. On the same pure-noise fields, the hallucination
score (best CC with views of the unseen structures, minus that of matched low-passed noise).

Topaz (topaz-em, GPL-3.0) runs as its own program in its own environment, exactly as a user
denoises a particle stack: ``topaz denoise --stack IN.mrcs -o OUT.mrcs -m MODEL --arch MODEL -d -1``
(its pretrained models; no pixel size is asked for, so each stack goes in at its own sampling). Nothing
of Topaz is imported here. Its environment, apart from ours:

    python -m venv VENV && VENV/bin/pip install torch==2.13.0 && VENV/bin/pip install topaz-em "setuptools<81"

(topaz-em 0.3.20 finds its pretrained models through ``pkg_resources``, which setuptools 81
dropped.) Its maintainer notes that denoising whole micrographs and then extracting usually works
better than denoising particle stacks; the micrograph-noise cells give it real detector texture
around each particle, but not the micrograph's full context.

Results: ``benchmarks/results/peers_topaz_cpu.json`` (``_independent`` with ``--independent``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench_generator import GEOMETRIES, RESULTS, compare, geometry_sets

#: Topaz's pretrained 2D denoisers that its command line can run: topaz-em 0.3.20 builds the model
#: from ``--arch`` and ignores ``-m`` (so both are given); its "fcnn" has no ``--arch`` name
TOPAZ_MODELS = ("unet", "unet-small", "affine")


def topaz_denoise(topaz: str, images: np.ndarray, apix: float, model: str, workdir: Path) -> tuple[np.ndarray, float]:
    """(n, box, box) images through ``topaz denoise --stack`` with a pretrained ``model``, on the CPU.

    Returns the denoised (n, box, box) images and the command's wall time in seconds.
    """
    from gan_viewer.io.mrc import MrcStack, write_stack

    source, target = workdir / "in.mrcs", workdir / f"out_{model}.mrcs"
    write_stack(source, images, apix, overwrite=True)
    target.unlink(missing_ok=True)
    start = time.perf_counter()
    done = subprocess.run([topaz, "denoise", "--stack", str(source), "-o", str(target), "-m", model, "--arch", model,
                           "-d", "-1"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0 or not target.is_file():
        raise SystemExit(f"topaz denoise -m {model} failed: {done.stderr.strip().splitlines()[-1:]}")
    with MrcStack(target) as stack:
        return np.array(stack.read(np.arange(len(images))), np.float32), seconds


def _combined(entries: list[dict]) -> dict:
    """The mean of the micrograph-noise parts (raw patches, random phases)."""
    return {k: float(np.mean([e[k] for e in entries])) for k in entries[0]}


def peers(args: argparse.Namespace) -> dict:
    import torch

    from gan_viewer.core.baselines import hallucination_report
    from gan_viewer.core.metrics import circular_mask, correlation, psnr
    from gan_viewer.ml.inference import Denoiser

    torch.set_grad_enabled(False)
    denoiser = Denoiser.load(args.model, "cpu")
    stored_path = RESULTS / f"general{'_independent' if args.independent else ''}_cpu.json"
    stored = json.loads(stored_path.read_text()) if stored_path.is_file() else {}
    same_sets = stored.get("n_per_structure") == args.n and stored.get("sha256") == denoiser.card.get("sha256")
    results, hallucination, seconds = {}, {}, {m: [0.0, 0] for m in args.models}
    with tempfile.TemporaryDirectory() as tmp:
        for apix, box in GEOMETRIES:
            sets = geometry_sets(apix, box, args.n, args.independent)
            # one Topaz run per model and geometry: every cell and noise field in one stack
            pieces = [noisy for _, noisy, _ in sets["cells"]] + list(sets["noise"].values())
            stack = np.concatenate(pieces)
            bounds = np.cumsum([0] + [len(p) for p in pieces])
            topaz_out = {}
            for model in args.models:
                out, wall = topaz_denoise(args.topaz, stack, apix, model, Path(tmp))
                topaz_out[model] = [out[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
                seconds[model][0] += wall
                seconds[model][1] += len(stack)
            mask = circular_mask(box)
            for k, (label, noisy, truth) in enumerate(sets["cells"]):
                r = compare(noisy, truth, denoiser.recover(noisy, apix).images)
                for model in args.models:
                    image = topaz_out[model][k]
                    value = float(np.nanmean(psnr(image, truth, mask)))
                    r[f"topaz {model}"] = {"psnr_db": value, "cc": float(np.nanmean(correlation(image, truth, mask))),
                                           "gain_over_lowpass_db": value - r["lowpass_oracle"]["psnr_db"]}
                if same_sets and label in stored.get("results", {}):
                    r["stored_generator_psnr_db"] = stored["results"][label]["generator"]["psnr_db"]
                    r["panel_gain_over_lowpass_db"] = stored["results"][label].get("panel_gain_over_lowpass_db")
                results[label] = r
                best = max(args.models, key=lambda m: r[f"topaz {m}"]["psnr_db"])
                print(f"{label:48s} low-pass {r['lowpass_oracle']['psnr_db']:6.2f}  "
                      f"ours {r['generator']['psnr_db']:6.2f} "
                      f"({r['gain_over_lowpass_db']:+.2f} dB"
                      + (f", stored {r['stored_generator_psnr_db']:6.2f}" if "stored_generator_psnr_db" in r else "")
                      + f")  topaz {args.models[0]} {r[f'topaz {args.models[0]}']['gain_over_lowpass_db']:+.2f} dB, "
                      f"best topaz ({best}) {r[f'topaz {best}']['gain_over_lowpass_db']:+.2f} dB", flush=True)
            n_cells = len(sets["cells"])
            for j, (key, fields) in enumerate(sets["noise"].items()):
                entry = {"ours": hallucination_report(lambda x: denoiser.recover(x, apix).images, sets["references"],
                                                      noise=fields)}
                for model in args.models:
                    entry[f"topaz {model}"] = hallucination_report(
                        lambda x, out=topaz_out[model][n_cells + j]: out, sets["references"], noise=fields)
                hallucination[key] = {name: {"excess_cc": h["excess_cc"], "output_cc": h["output"]["mean"],
                                             "control_cc": h["control"]["mean"],
                                             "fraction_above_control_p99": h["fraction_above_control_p99"]}
                                      for name, h in entry.items()}
            geometry = f"{apix:g} A/px, {box} px"
            parts = [k for k in sets["noise"] if k.startswith(f"{geometry}, micrograph noise")]
            hallucination[f"{geometry}, micrograph noise"] = {
                name: _combined([hallucination[p][name] for p in parts]) for name in hallucination[parts[0]]}
            for key in (f"{geometry}, white noise", f"{geometry}, micrograph noise"):
                print(f"{key:48s} hallucination (excess CC over low-passed noise): " + ", ".join(
                    f"{name} {h['excess_cc']:+.3f}" for name, h in hallucination[key].items()), flush=True)
    summary = {"ours (one pass)": [r["gain_over_lowpass_db"] for r in results.values()]}
    summary.update({f"topaz {m}": [r[f"topaz {m}"]["gain_over_lowpass_db"] for r in results.values()]
                    for m in args.models})
    for name, gains in summary.items():
        print(f"{name:20s} gain over the oracle low-pass: min {min(gains):+.2f}, mean {np.mean(gains):+.2f} dB "
              f"over {len(gains)} cells")
    return {"model": denoiser.name, "sha256": denoiser.card.get("sha256"), "n_per_structure": args.n,
            "noise": "fei-extended.mrc (held out)" if args.independent else "ucsf_1142",
            "topaz": _topaz_version(args.topaz), "topaz_models": list(args.models),
            "topaz_seconds_per_image": {m: s / max(n, 1) for m, (s, n) in seconds.items()},
            "same_sets_as_stored_general": same_sets, "results": results, "hallucination": hallucination}


def _topaz_version(topaz: str) -> str:
    done = subprocess.run([topaz, "--version"], capture_output=True, text=True)
    return (done.stdout or done.stderr).strip() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--topaz", required=True, help="the topaz program of its own environment")
    parser.add_argument("--models", nargs="+", default=list(TOPAZ_MODELS), choices=TOPAZ_MODELS,
                        help="Topaz's pretrained denoisers to run (the first is reported beside ours)")
    parser.add_argument("--model", default=None, help="our generator (default: the bundled one)")
    parser.add_argument("--n", type=int, default=12, help="particles per structure and cell (as general's --n)")
    parser.add_argument("--independent", action="store_true", help="held-out micrograph noise (fei-extended.mrc)")
    args = parser.parse_args()
    result = peers(args)
    out = RESULTS / f"peers_topaz{'_independent' if args.independent else ''}_cpu.json"
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
