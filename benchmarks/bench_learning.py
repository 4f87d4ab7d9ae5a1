"""Learning from the curator: decisions needed to reach 98 % precision, against sorting by a score.

A simulated set with known bad particles (25 %: a wrong pose in the STAR, another structure,
an empty box, a particle 12 px off its origin), projected from the bundled beta-galactosidase
map at 3 A/px in 64 px boxes, with RELION's CTF (defocus 1-2.5 um) and white noise at SNR 0.01.
A simulated curator labels whatever it is shown correctly (keep = good). Two ways to curate:

* **score alone**: the particles in ascending order of the CTF matched filter (the raw image's
  correlation with the CTF-modulated reference at the STAR pose, in a circular mask); after d
  decisions the kept set is every particle not rejected;
* **curator model** (``gan_viewer.core.learning``): the 10 lowest- and 10 highest-scored
  particles first, then "next most uncertain", the model retrained every 5 decisions on the
  matched filter, the raw and recovered agreement without CTF, the generator's confidence and
  its bottleneck embedding; after d decisions the kept set is the particles kept plus the
  undecided ones the model predicts keep.

Reports, for each, the decisions needed until the kept set is 98 % good (and stays so), and the
share of the good particles kept then. Writes ``benchmarks/results/learning.json``.

usage: OMP_NUM_THREADS=1 python benchmarks/bench_learning.py [--n 1000] [--snr 0.01] [--seed 0]
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

from gan_viewer.core.curation import Label
from gan_viewer.core.learning import fit_predict, most_uncertain
from gan_viewer.core.metrics import circular_mask, correlation
from gan_viewer.ml.inference import Denoiser
from gan_viewer.resources import resource_path
from gan_viewer.sim.ctf import CtfParams, apply_ctf
from gan_viewer.sim.pairs import add_noise
from gan_viewer.sim.phantoms import phantom_map
from gan_viewer.sim.project import Projector
from gan_viewer.sim.reference import map_at

log = logging.getLogger("bench_learning")
APIX, BOX, TARGET = 3.0, 64, 0.98
KINDS = ("good", "wrong pose", "other structure", "empty", "off-centre")


def random_eulers(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) uniformly distributed RELION angles (rot, tilt, psi) in degrees."""
    return np.stack([rng.uniform(-180, 180, n), np.rad2deg(np.arccos(rng.uniform(-1, 1, n))),
                     rng.uniform(-180, 180, n)], axis=1)


def simulate(n: int, snr: float, rng: np.random.Generator) -> dict:
    """Raw images, the STAR's poses, CTF, the reference at those poses and the truth."""
    volume, _ = map_at(resource_path("demo/betagal_5a1a.mrc"), APIX, BOX, allow_pad=True)
    projector = Projector(volume)
    other = Projector(phantom_map(rng, APIX, BOX))
    kind = np.zeros(n, np.int64)
    bad = rng.permutation(n)[: n // 4]
    kind[bad] = 1 + np.arange(bad.size) % 4
    star = random_eulers(rng, n)  # the poses the STAR gives
    true = star.copy()
    true[kind == 1] = random_eulers(rng, int((kind == 1).sum()))
    shifts = np.zeros((n, 2))
    angle = rng.uniform(0, 2 * np.pi, n)
    shifts[kind == 4] = 12.0 * np.stack([np.cos(angle), np.sin(angle)], 1)[kind == 4]
    clean = projector.project(true, shifts)
    clean[kind == 2] = other.project(true[kind == 2])
    ctf = _ctf(rng, n)
    modulated = apply_ctf(torch.from_numpy(clean), ctf, APIX).numpy()
    signal = modulated[kind != 3]
    sigma = np.sqrt(signal.reshape(len(signal), -1).var(axis=1).mean() / snr)
    raw = (modulated * (kind != 3)[:, None, None] + rng.normal(0, sigma, modulated.shape)).astype(np.float32)
    reference = projector.project(star)
    return {"raw": raw, "reference": reference, "reference_ctf": apply_ctf(torch.from_numpy(reference), ctf,
                                                                           APIX).numpy(),
            "kind": kind, "good": kind == 0, "ctf": ctf, "eulers": star}


def _ctf(rng: np.random.Generator, n: int) -> CtfParams:
    defocus = rng.uniform(10000, 25000, n)
    return CtfParams(defocus, defocus * rng.uniform(0.97, 1.0, n), rng.uniform(0, 180, n), np.full(n, 300.0),
                     np.full(n, 2.7), np.full(n, 0.1), np.zeros(n), np.zeros(n), np.ones(n))


def features(data: dict, batch: int = 64) -> dict[str, np.ndarray]:
    """The inspector's per-particle numbers: matched filter, agreements, confidence, embedding."""
    mask = circular_mask(BOX)
    out = {"matched filter": correlation(data["raw"], data["reference_ctf"], mask).astype(np.float32),
           "raw agreement": correlation(data["raw"], data["reference"], mask).astype(np.float32)}
    denoiser = Denoiser.load(None, device="cpu")
    recovered, confidence, embedding = [], [], []  # the default generator, as the inspector runs it
    for lo in range(0, len(data["raw"]), batch):
        rec = denoiser.recover(data["raw"][lo:lo + batch], APIX, spread=True)
        recovered.append(rec.images)
        confidence.append(rec.confidence)
        embedding.append(rec.embedding)
    from gan_viewer.core.learning import reduce_embedding

    out["agreement score"] = correlation(np.concatenate(recovered), data["reference"], mask).astype(np.float32)
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
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--snr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "learning.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    data = simulate(args.n, args.snr, rng)
    feats = features(data)
    log.info("simulated and scored %d particles in %.0f s", args.n, time.perf_counter() - start)
    good, score = data["good"], feats["matched filter"]
    rows = {}
    for name, curve in (("score alone (matched filter)", by_score(score, good)),
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
    result = {"n": args.n, "snr": args.snr, "seed": args.seed, "bad_fraction": float(1 - good.mean()),
              "box": BOX, "apix": APIX, "target_precision": TARGET, "strategies": rows,
              "command": "OMP_NUM_THREADS=1 python benchmarks/bench_learning.py " + " ".join(sys.argv[1:])}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
