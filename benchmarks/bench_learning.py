"""Learning from the curator: decisions needed to reach 98 % precision, against sorting by gvScore.

The sets are ``bench_curation.py``'s (its generator, reused): beta-galactosidase at 2.806 A/px in
128 px boxes, RELION's CTF, a quarter of bad particles (a wrong pose in the STAR, another
structure, an empty box, a particle 15-30 px off its origin), white or real-micrograph noise.
With ``--poses refined`` every particle's pose and origin, junk included, comes from
``bench_curation``'s search against the reference, as after a 3D refinement (a wrong-pose particle
is then a good particle with its refined pose). A simulated curator labels whatever it is shown
correctly (keep = good). Two ways to curate:

* **gvScore alone** (the baseline): the particles in ascending order of ``gvScore`` (the
  inspector's default sort key, the whitened CTF matched filter of ``gan-viewer score``); after d
  decisions the kept set is every particle not rejected;
* **curator model** (``gan_viewer.core.learning``): the 10 lowest- and 10 highest-scored
  particles first, then "next most uncertain", the model retrained every 5 decisions on what the
  inspector gives it: gvScore, gvMatchedZ, gvMatchedPlain, the raw and GAN-recovered agreement with
  the reference (no CTF), the generator's confidence and its bottleneck embedding; after d
  decisions the kept set is the particles kept plus the undecided ones the model predicts keep.

Reports, for each, the decisions needed until the kept set is 98 % good (and stays so), and the
share of the good particles kept then. Writes ``benchmarks/results/learning_<poses>_<noise>_<snr>.json``.

usage: OMP_NUM_THREADS=1 python benchmarks/bench_learning.py [--poses given|refined] [--noise white|micrograph]
       [--snr 0.005] [--n 800] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

import bench_curation as sets
from gan_viewer.core.curation import Label
from gan_viewer.core.learning import fit_predict, most_uncertain, reduce_embedding
from gan_viewer.core.metrics import circular_mask, correlation
from gan_viewer.core.noise import noise_sample_rows
from gan_viewer.ml.inference import Denoiser
from gan_viewer.sim.scoring import DEFAULT_RESOLUTION

log = logging.getLogger("bench_learning")
TARGET = 0.98


def features(world, data: dict, batch: int = 64) -> dict[str, np.ndarray]:
    """The inspector's per-particle numbers: gvScore and the other matched filters (as Score all
    computes them), the raw and recovered agreement, the confidence and the embedding."""
    out = {name: np.asarray(values, np.float32) for name, values in
           sets.score_set(world, data, DEFAULT_RESOLUTION).items() if name != "gvMatched"}
    mask = circular_mask(world.box)
    reference = world.truth.project(data["eulers"], data["origins"])
    out["raw agreement"] = correlation(data["images"], reference, mask).astype(np.float32)
    denoiser = Denoiser.load(None, device="cpu")
    recovered, confidence, embedding = [], [], []  # the default generator, as the inspector runs it
    spectrum = denoiser.noise_power(data["images"][noise_sample_rows(np.arange(len(data["images"])))])
    for lo in range(0, len(data["images"]), batch):
        rec = denoiser.recover(data["images"][lo:lo + batch], world.apix, spread=True, noise_power=spectrum)
        recovered.append(rec.images)
        confidence.append(rec.confidence)
        embedding.append(rec.embedding)
    out["agreement score"] = correlation(np.concatenate(recovered), reference, mask).astype(np.float32)
    out["confidence"] = np.concatenate(confidence).astype(np.float32)
    for k, column in enumerate(reduce_embedding(np.concatenate(embedding)).T):
        out[f"embedding {k + 1}"] = column
    return out


def kept_precision(kept: np.ndarray, good: np.ndarray) -> tuple[float, float]:
    """(share of good among kept, share of the good kept)."""
    return float(good[kept].mean()) if kept.any() else 0.0, float(kept[good].sum() / good.sum())


def by_score(score: np.ndarray, good: np.ndarray) -> list[tuple[int, float, float]]:
    """(decisions, precision, recall) after each decision, curating in ascending score order."""
    labels = np.zeros(len(good), np.int8)
    curve = []
    for d, index in enumerate(np.argsort(score, kind="stable"), 1):
        labels[index] = Label.KEEP if good[index] else Label.REJECT
        curve.append((d, *kept_precision(labels != Label.REJECT, good)))
    return curve


def by_model(feats: dict[str, np.ndarray], score: np.ndarray, good: np.ndarray, budget: int,
             retrain: int = 5) -> list[tuple[int, float, float]]:
    """(decisions, precision, recall) after each decision with the curator model."""
    labels = np.zeros(len(good), np.int8)
    order = np.argsort(score, kind="stable")
    seed = np.concatenate([order[:10], order[-10:]])
    curve, p = [], None
    for d in range(1, budget + 1):
        if d <= seed.size:
            index = seed[d - 1]
        else:
            if p is None or (d - seed.size - 1) % retrain == 0:
                prediction = fit_predict(feats, labels)
                p = prediction.p_keep if prediction.ready else None
            ask = most_uncertain(p, labels, 1) if p is not None else np.zeros(0, np.int64)
            if not ask.size:
                break
            index = int(ask[0])
        labels[index] = Label.KEEP if good[index] else Label.REJECT
        predicted = np.isfinite(p) & (p >= 0.5) if p is not None else np.ones(len(good), bool)
        kept = (labels == Label.KEEP) | ((labels == Label.UNDECIDED) & predicted)
        curve.append((d, *kept_precision(kept, good)))
    return curve


def needed(curve: list[tuple[int, float, float]]) -> tuple[int | None, float | None]:
    """Decisions after which the precision reaches TARGET and stays there; the recall then."""
    ok = np.array([c[1] >= TARGET for c in curve])
    if not ok[-1]:
        return None, None
    last_bad = np.flatnonzero(~ok)
    at = 0 if not last_bad.size else last_bad[-1] + 1
    return curve[at][0], curve[at][2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--poses", choices=("given", "refined"), default="given")
    parser.add_argument("--noise", choices=("white", "micrograph"), default="micrograph")
    parser.add_argument("--snr", type=float, default=0.005)
    parser.add_argument("--n", type=int, default=800)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    world = sets.World(2.806, 128)
    seed = args.seed + int(args.snr * 1e5) + (7 if args.noise == "micrograph" else 0)  # bench_curation's sets
    data = sets.simulate(world, args.n, args.snr, args.noise, seed)
    if args.poses == "refined":
        data["eulers"], data["origins"] = sets.PoseSearch(world).refine(data["images"], data["ctf"])
        data["kind"] = np.where(data["kind"] == "wrong_pose", "good", data["kind"])  # refined: real particles
    feats = features(world, data)
    log.info("simulated%s and scored %d particles in %.0f s", " and refined" if args.poses == "refined" else "",
             args.n, time.perf_counter() - start)
    good, score = data["kind"] == "good", feats["gvScore"]
    rows = {}
    for name, curve in (("gvScore alone", by_score(score, good)),
                        ("curator model", by_model(feats, score, good, args.n)),
                        ("curator model, scores only (no embedding)",
                         by_model({k: v for k, v in feats.items() if not k.startswith("embedding")}, score, good,
                                  args.n))):
        decisions, recall = needed(curve)
        rows[name] = {"decisions": decisions, "good_kept": recall,
                      "precision_after_100": next((c[1] for c in curve if c[0] == 100), None)}
        log.info("%-45s decisions to %.0f %% precision: %s (good kept %s); precision after 100: %.3f", name,
                 TARGET * 100, decisions, "-" if recall is None else f"{recall:.1%}",
                 rows[name]["precision_after_100"] or float("nan"))
    result = {"n": args.n, "poses": args.poses, "noise": args.noise, "snr": args.snr, "seed": args.seed,
              "bad_fraction": float(1 - good.mean()), "box": world.box, "apix": world.apix,
              "target_precision": TARGET, "strategies": rows, "seconds": time.perf_counter() - start,
              "command": "OMP_NUM_THREADS=1 python benchmarks/bench_learning.py " + " ".join(sys.argv[1:])}
    out = args.out or Path(__file__).parent / "results" / f"learning_{args.poses}_{args.noise}_{args.snr:g}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
