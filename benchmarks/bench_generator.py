"""Generator figures: recovery against the oracle Gaussian low-pass, and inference throughput.

Subcommands (each prints its figures; all run on this machine's CPU unless --device says):

``specific [--minutes 15]``
    Structure-specific: train on the beta-galactosidase map (``maps/betagal_relion_tutorial.mrc``)
    at SNR 0.03, 96 px, for a time budget, then test on 200 fresh projections at the same SNR.
    Target: at least +3 dB PSNR over the best Gaussian low-pass chosen with the truth.
``default [--model PATH]``
    The bundled default generator on structures it never saw: GroEL/GroES (PDB 1AON, held out
    of its training) and fresh procedural phantoms (unseen seeds), at SNR 0.1 and 0.03, with and
    without CTF. Target: at least +1.5 dB over the oracle low-pass at SNR 0.1 and 0.03.
``throughput [--n 1000] [--box 128]``
    Wall time of the whole ``gan-viewer denoise`` command (start-up included) on n particles.
    Target: at least 50 particles/s at 128 px on the CPU.

Results are also written to ``benchmarks/results/*.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from gan_viewer.core.baselines import best_gaussian_lowpass, wiener_filter
from gan_viewer.core.metrics import circular_mask, correlation, psnr

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


def gan_viewer(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "gan_viewer", *map(str, args)], check=True)


def compare(noisy: np.ndarray, truth: np.ndarray, recovered: np.ndarray) -> dict:
    """Mean PSNR / CC of the noisy input, the oracle low-pass, Wiener and the generator."""
    mask = circular_mask(truth.shape[-1])
    lowpass, sigma, _ = best_gaussian_lowpass(noisy, truth, mask=mask)
    methods = {"noisy": noisy, "lowpass_oracle": lowpass, "wiener": wiener_filter(noisy), "generator": recovered}
    out = {name: {"psnr_db": float(np.nanmean(psnr(img, truth, mask))),
                  "cc": float(np.nanmean(correlation(img, truth, mask)))} for name, img in methods.items()}
    out["lowpass_sigma_px"] = sigma
    out["gain_over_lowpass_db"] = out["generator"]["psnr_db"] - out["lowpass_oracle"]["psnr_db"]
    return out


def print_row(label: str, r: dict) -> None:
    print(f"{label:34s} noisy {r['noisy']['psnr_db']:6.2f}  low-pass {r['lowpass_oracle']['psnr_db']:6.2f} "
          f"(sigma {r['lowpass_sigma_px']:.2f})  Wiener {r['wiener']['psnr_db']:6.2f}  "
          f"generator {r['generator']['psnr_db']:6.2f}  gain {r['gain_over_lowpass_db']:+.2f} dB  "
          f"CC {r['generator']['cc']:.3f}")


def specific(args: argparse.Namespace) -> dict:
    import mrcfile

    work = Path(tempfile.mkdtemp(prefix="bench_specific_"))
    ref = DATA / "maps" / "betagal_relion_tutorial.mrc"
    model = work / "betagal"
    t0 = time.perf_counter()
    gan_viewer("train", "--map", ref, "--snr", "0.03", "--box", "96", "--minutes", args.minutes, "--device",
               args.device, "--seed", "0", "--out", model)
    train_s = time.perf_counter() - t0
    gan_viewer("simulate", "--map", ref, "--n", "200", "--snr", "0.03", "--box", "96", "--seed", "12345",
               "--out", work / "test")
    gan_viewer("denoise", work / "test/particles.mrcs", "--out", work / "rec.mrcs", "--model",
               model.with_suffix(".safetensors"), "--device", args.device)
    result = compare(mrcfile.read(work / "test/particles.mrcs"), mrcfile.read(work / "test/clean.mrcs"),
                     mrcfile.read(work / "rec.mrcs"))
    result.update(training_seconds=train_s, model=str(model), test="200 fresh views, SNR 0.03, 96 px, seed 12345")
    print_row("beta-gal map, SNR 0.03 (specific)", result)
    return result


def default(args: argparse.Namespace) -> dict:
    import torch

    from gan_viewer.ml.inference import Denoiser
    from gan_viewer.sim.pairs import add_noise, random_views, render
    from gan_viewer.sim.phantoms import phantom_map
    from gan_viewer.sim.project import Projector
    from gan_viewer.sim.reference import volume_from

    torch.set_grad_enabled(False)
    denoiser = Denoiser.load(args.model, args.device)
    apix, box = float(denoiser.card["pixel_size"]), int(denoiser.card["box"])
    rng = np.random.default_rng(2024)
    volumes = {"GroEL/GroES 1AON (held out)": volume_from(DATA / "structures" / "1aon.pdb.gz", apix, box,
                                                          allow_pad=True)[0]}
    volumes.update({f"phantom {k} (unseen seed)": phantom_map(rng, apix, box) for k in range(4)})
    results = {}
    for snr in (0.1, 0.03):
        for ctf in (False, True):
            noisy_all, truth_all = [], []
            for volume in volumes.values():
                views = random_views(50, rng, defocus_range=(10000, 25000) if ctf else None, astigmatism=500.0)
                truth, observed = render(Projector(volume), views, apix)
                noisy_all.append(add_noise(observed, snr, rng))
                truth_all.append(truth)
            noisy, truth = np.concatenate(noisy_all), np.concatenate(truth_all)
            label = f"unseen, SNR {snr:g}, {'CTF' if ctf else 'no CTF'}"
            results[label] = compare(noisy, truth, denoiser(noisy, apix))
            print_row(label, results[label])
    return {"model": denoiser.name, "sha256": denoiser.card.get("sha256"), "structures": list(volumes),
            "n_per_structure": 50, "results": results}


def throughput(args: argparse.Namespace) -> dict:
    from gan_viewer.io.mrc import write_stack

    work = Path(tempfile.mkdtemp(prefix="bench_throughput_"))
    images = np.random.default_rng(0).standard_normal((args.n, args.box, args.box)).astype(np.float32)
    write_stack(work / "in.mrcs", images, 3.0)
    t0 = time.perf_counter()
    gan_viewer("denoise", work / "in.mrcs", "--out", work / "out.mrcs", "--device", args.device)
    seconds = time.perf_counter() - t0
    import torch

    result = {"n": args.n, "box": args.box, "seconds": seconds, "particles_per_s": args.n / seconds,
              "device": args.device, "torch_threads": torch.get_num_threads()}
    print(f"denoise {args.n} x {args.box} px, start-up included: {seconds:.1f} s = "
          f"{args.n / seconds:.0f} particles/s ({args.device})")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("specific")
    p.add_argument("--minutes", type=float, default=15.0)
    p = sub.add_parser("default")
    p.add_argument("--model", default=None)
    p = sub.add_parser("throughput")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--box", type=int, default=128)
    for p in sub.choices.values():
        p.add_argument("--device", default="cpu")
    args = parser.parse_args()
    result = {"specific": specific, "default": default, "throughput": throughput}[args.what](args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.what}_{args.device}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
