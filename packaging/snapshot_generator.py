"""Write the generator of a running (or stopped) training as a model, without stopping it.

Usage: ``python packaging/snapshot_generator.py RUN OUT`` reads ``RUN.train.pt`` (the checkpoint
``gan-viewer train`` writes at every validation; loaded with ``weights_only=True``) and ``RUN.json``
(the card of the run's last finished stage), and writes ``OUT.safetensors`` + ``OUT.json`` with the
checkpoint's step. For benchmarking a long run while it goes on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gan_viewer.ml.checkpoint import load_training_state, save_generator
from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator


def main() -> None:
    run, out = Path(sys.argv[1]), Path(sys.argv[2])
    state = load_training_state(run.with_suffix(".train.pt"))
    card = json.loads(run.with_suffix(".json").read_text())
    generator = UNetGenerator(GeneratorConfig.from_dict(state["configs"]["generator"]))
    generator.load_state_dict(state["G"])
    card["training"]["steps"] = int(state["step"])
    card["name"] = out.name
    for key in ("sha256", "weights", "unseen_structures", "independent_test", "confidence_threshold", "finer_scale"):
        card.pop(key, None)
    save_generator(out.with_suffix(".safetensors"), generator.eval(), card, overwrite=True)
    print(f"{out.with_suffix('.safetensors')}: step {state['step']}")


if __name__ == "__main__":
    main()
