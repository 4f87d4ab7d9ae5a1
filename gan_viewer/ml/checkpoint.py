"""Generator weights (safetensors) with a JSON model card; training state for ``--resume``.

``NAME.safetensors`` holds the generator's tensors (float16 by default: half the size, no
measurable loss at inference) and ``NAME.json`` the model card: the configs, how the input is
normalised, the data it was trained on, pixel size, box, SNR, validation metrics and the sha256
of the weights file. Loading never unpickles: safetensors for weights, and
``torch.load(weights_only=True)`` for the training state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from gan_viewer.core.cards import MODEL_SUFFIXES, card_path, output_file, output_stem  # noqa: F401 (re-exported)
from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_path, atomic_paths, write_bytes, write_text
from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator

log = logging.getLogger(__name__)

NORMALISATION = "per particle: zero mean, unit standard deviation over the whole box (input and target)"


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_generator(path: str | os.PathLike, generator: UNetGenerator, card: dict, *,
                   half: bool = True, overwrite: bool = True) -> Path:
    """Write ``path`` (.safetensors) and its card (.json), both or neither; the card gets the weights' sha256."""
    path = Path(path)
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu()
               for k, v in generator.state_dict().items()}
    weights = save(tensors, metadata={"format": "gan-viewer generator"})
    card = dict({"normalisation": NORMALISATION}, **card, generator=generator.config.to_dict(), weights=path.name,
                weights_dtype="float16" if half else "float32", sha256=hashlib.sha256(weights).hexdigest())
    with atomic_paths([path, card_path(path)], overwrite=overwrite) as (tmp_weights, tmp_card):
        write_bytes(tmp_weights, weights)
        write_text(tmp_card, json.dumps(card, indent=2, default=str) + "\n")
    return path


def update_card(weights: str | os.PathLike, entries: dict) -> dict:
    """Add or replace top-level ``entries`` of the model card of ``weights`` (rewritten atomically;
    the weights and their sha256 stay). Returns the new card."""
    path = card_path(weights)
    try:
        card = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the model card ({exc})", path) from exc
    card.update(entries)
    with atomic_path(path, overwrite=True) as tmp:
        write_text(tmp, json.dumps(card, indent=2, default=str) + "\n")
    return card


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[UNetGenerator, dict]:
    """The generator of ``path`` (.safetensors, with its .json card beside it) in eval mode.

    Raises
    ------
    InputError
        Missing files, a card that does not describe the weights, or a sha256 mismatch.
    """
    path = Path(path)
    if path.suffix == ".json":
        path = output_file(output_stem(path), ".safetensors")
    for required in (path, card_path(path)):
        if not required.is_file():
            raise InputError("no such model file", required)
    try:
        card = json.loads(card_path(path).read_text())
        config = GeneratorConfig.from_dict(card["generator"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not a gan-viewer model card ({exc})", card_path(path)) from exc
    if card.get("sha256") and card["sha256"] != sha256(path):
        raise InputError("sha256 does not match its model card (corrupt or replaced weights)", path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"not a safetensors file ({exc})", path) from exc
    generator = UNetGenerator(config)
    try:
        generator.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except RuntimeError as exc:
        raise InputError(f"weights do not fit the generator described by the card ({str(exc)[:200]})", path) from exc
    return generator.to(device).eval(), card


def save_training_state(path: str | os.PathLike, state: dict) -> None:
    """Write the resumable state (weights, optimiser moments, step) atomically."""
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)  # through a file object, so a full disk is an OSError in the chain


def load_training_state(path: str | os.PathLike) -> dict:
    """Read a training state with ``weights_only=True`` (no code runs from the file)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise InputError("no training state to resume from", path) from exc
    except Exception as exc:
        raise InputError(f"not a gan-viewer training state ({str(exc)[:200]})", path) from exc
