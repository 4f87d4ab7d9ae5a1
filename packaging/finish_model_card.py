"""Add benchmark results to a model card (the weights and their sha256 stay).

Usage::

    python packaging/finish_model_card.py MODEL.safetensors --general G.json [--independent I.json]
        [--throughput T.json] [--provenance packaging/training_models.json]
        [--stages packaging/default_model_stages.json]

G.json comes from ``benchmarks/bench_generator.py general`` (unseen structures at their own
sampling, hallucination on pure noise, calibration of the spread; the card takes its inference
too: ``finer_scale`` when the benchmark ran with a second pass at a finer sampling, none when it ran
with ``--single-scale`` or for a model without it), I.json from the same with
``--independent`` (the held-out micrograph), T.json from ``bench_generator.py throughput`` (it
replaces the card's measurement of the same setting: particles, box, pixel size, spread, passes). With
``--provenance``, the card lists the origin and licence of every atomic model of the training
corpus (package, version, licence), as packaging/fetch_training_models.py fetched them. With
``--stages``, the card's ``training`` says how a model trained in several resumed stages was made
(each stage's options, the structures, the last validation), replacing the first stage's command
and recipe, which the snapshot's card would otherwise repeat.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


#: what makes two throughput measurements the same setting
THROUGHPUT_SETTING = ("n", "box", "apix", "spread", "single_scale", "device")


def summary_of_general(bench: dict) -> dict:
    """Gains per cell, hallucination per geometry and noise, calibration per geometry."""
    gains = {label: round(r["gain_over_lowpass_db"], 2) for label, r in bench["results"].items()}
    # the inspector's panel: the mean over the spread's rotations and flips (denoise --samples 4)
    panel = {label: round(r["panel_gain_over_lowpass_db"], 2) for label, r in bench["results"].items()
             if "panel_gain_over_lowpass_db" in r}
    return {
        "script": "benchmarks/bench_generator.py general", "structures": bench["structures"],
        "n_per_structure": bench["n_per_structure"], "noise": bench["noise"],
        "gain_over_oracle_lowpass_db": gains,
        **({"panel_gain_over_oracle_lowpass_db": panel} if panel else {}),
        "psnr_db": {label: {k: round(v["psnr_db"], 2) for k, v in r.items() if isinstance(v, dict)}
                    for label, r in bench["results"].items()},
        "hallucination": {k: {m: round(v, 3) for m, v in r.items()} for k, r in bench["hallucination"].items()},
        "calibration": {g: {m: {k: round(v, 3) for k, v in c.items()} for m, c in methods.items()}
                        for g, methods in bench["calibration"].items()},
    }


def summary_of_corpus(records: list[dict]) -> dict:
    packages = Counter((r["package"], r["version"], r["package_licence"]) for r in records)
    return {"models": len(records), "fetched_by": "packaging/fetch_training_models.py",
            "manifest": "packaging/training_models.json",
            "packages": [{"package": p, "version": v, "licence": lic, "models": n}
                         for (p, v, lic), n in sorted(packages.items())],
            "note": "coordinates from the PDB (CC0), shipped in these packages' test or demo data"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--general", type=Path)
    parser.add_argument("--independent", type=Path)
    parser.add_argument("--throughput", type=Path, nargs="*", default=[])
    parser.add_argument("--provenance", type=Path)
    parser.add_argument("--stages", type=Path)
    args = parser.parse_args()
    card_path = args.model.with_suffix(".json")
    card = json.loads(card_path.read_text())
    if args.general:
        general = json.loads(args.general.read_text())
        card["unseen_structures"] = summary_of_general(general)
        card["confidence_threshold"] = round(general["confidence_threshold"], 3)
        # the figures hold for the inference they were measured with: one pass, or a second at a
        # finer sampling for finer data (ml/inference.py)
        if general.get("finer_scale"):
            card["finer_scale"] = general["finer_scale"]
        else:
            card.pop("finer_scale", None)
        if general.get("input_whitening"):
            card["input_whitening"] = general["input_whitening"]
        else:
            card.pop("input_whitening", None)
    if args.independent:
        card["independent_test"] = summary_of_general(json.loads(args.independent.read_text()))
    for path in args.throughput:  # a new measurement replaces the card's one of the same setting
        result = json.loads(path.read_text())
        same = lambda old: all(old.get(k, False) == result.get(k, False) for k in THROUGHPUT_SETTING)  # noqa: E731
        card["throughput"] = [old for old in card.get("throughput", []) if not same(old)] + [result]
    if args.stages:
        stages = json.loads(args.stages.read_text())
        card["training"] = {**stages, "configs": {k: card["training"][k] for k in ("discriminator", "training")
                                                    if k in card.get("training", {})}}
        card["validation"] = stages["last_validation"]
        card["command"] = stages["recipe"]
        card.pop("recipe", None)
    if args.provenance:
        card["training_corpus"] = summary_of_corpus(json.loads(args.provenance.read_text()))
    card["held_out"] = ("never used for training or tuning: any TRPV1 structure, any apoferritin/ferritin "
                        "structure, the micrograph fei-extended.mrc of the mrcfile sdist; GroEL/GroES (1AON) "
                        "is held out of training for the unseen-structure benchmark")
    card_path.write_text(json.dumps(card, indent=2, allow_nan=False) + "\n")
    print(card_path)


if __name__ == "__main__":
    main()
