"""Add benchmark and hallucination results to a model card (the weights and their sha256 stay).

Usage: ``python packaging/finish_model_card.py MODEL.safetensors --benchmark B.json --hallucination H.json``
where B.json comes from ``benchmarks/bench_generator.py default`` and H.json from
``gan-viewer evaluate --hallucination``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def summary_of_benchmark(bench: dict) -> dict:
    rows = {}
    for label, r in bench["results"].items():
        rows[label] = {"psnr_db": {k: round(v["psnr_db"], 2) for k, v in r.items() if isinstance(v, dict)},
                       "gain_over_oracle_lowpass_db": round(r["gain_over_lowpass_db"], 2)}
    return {"structures": bench["structures"], "n_per_structure": bench["n_per_structure"],
            "script": "benchmarks/bench_generator.py default", "results": rows}


def summary_of_hallucination(report: dict) -> dict:
    keep = ("n", "control_sigma", "verdict", "fraction_above_control_p99")
    out = {k: report[k] for k in keep if k in report}
    for side in ("output", "control"):
        if side in report:
            out[side] = {k: v for k, v in report[side].items() if not isinstance(v, list)}
    out["command"] = report.get("command", "gan-viewer evaluate --hallucination")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", type=Path)
    parser.add_argument("--benchmark", type=Path)
    parser.add_argument("--hallucination", type=Path)
    args = parser.parse_args()
    card_path = args.model.with_suffix(".json")
    card = json.loads(card_path.read_text())
    if args.benchmark:
        card["unseen_structures"] = summary_of_benchmark(json.loads(args.benchmark.read_text()))
    if args.hallucination:
        card["hallucination"] = summary_of_hallucination(json.loads(args.hallucination.read_text()))
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(card_path)


if __name__ == "__main__":
    main()
