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
import math
import os
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from gan_viewer.core.cards import MODEL_SUFFIXES, card_path, output_file, output_stem  # noqa: F401 (re-exported)
from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_path, atomic_paths, write_bytes, write_text
from gan_viewer.io.digest import file_sha256
from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator

log = logging.getLogger(__name__)

NORMALISATION = "per particle: zero mean, unit standard deviation over the whole box (input and target)"


def save_generator(path: str | os.PathLike, generator: UNetGenerator, card: dict, *,
                   half: bool = True, overwrite: bool = True) -> Path:
    """Write ``path`` (.safetensors) and its card (.json), both or neither; the card gets the weights' sha256."""
    path = Path(path)
    tensors = {k: (v.half() if half and v.is_floating_point() else v).contiguous().cpu()
               for k, v in generator.state_dict().items()}
    weights = save(tensors, metadata={"format": "gan-viewer generator"})
    card = {"normalisation": NORMALISATION, **card, "generator": generator.config.to_dict(), "weights": path.name,
            "weights_dtype": "float16" if half else "float32", "sha256": hashlib.sha256(weights).hexdigest()}
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

    The card is checked field by field (:func:`read_card`) and the weights' names and shapes
    against the generator the card describes before that generator is built, so a card or
    weights file that does not fit never makes anything large allocate.

    Raises
    ------
    InputError
        Missing files, a card field of the wrong type or value, weights that do not fit the card
        or are not finite, or a sha256 mismatch.
    """
    path = Path(path)
    if path.suffix == ".json":
        path = output_file(output_stem(path), ".safetensors")
    for required in (path, card_path(path)):
        if not required.is_file():
            raise InputError("no such model file", required)
    card = read_card(path)
    config = GeneratorConfig.from_dict(card["generator"])
    if card.get("sha256") and card["sha256"] != file_sha256(path):
        raise InputError("sha256 does not match its model card (corrupt or replaced weights)", path)
    try:
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"not a safetensors file ({_one_line(exc)[:200]})", path) from exc
    _check_weights(tensors, config, path)
    generator = UNetGenerator(config)
    try:
        generator.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
    except RuntimeError as exc:  # e.g. a tensor type that cannot be copied into a parameter
        raise InputError(f"weights do not fit the generator described by the card ({_one_line(exc)[:200]})",
                         path) from exc
    return generator.to(device).eval(), card


def read_card(weights: str | os.PathLike) -> dict:
    """The model card beside ``weights``, every field that gan-viewer reads checked.

    Raises
    ------
    InputError
        One line naming the card and the field: not JSON, not an object, ``generator`` missing
        or invalid, ``name``/``pixel_size``/``box``/``sha256``/``training`` of the wrong type or value.
    """
    where = card_path(weights)
    try:
        card = json.loads(where.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise InputError(f"not a gan-viewer model card (not JSON: {_one_line(exc)[:120]})", where) from exc
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", where) from exc
    if not isinstance(card, dict):
        raise InputError(f"not a gan-viewer model card (a JSON {type(card).__name__}, not an object)", where)
    if not isinstance(card.get("generator"), dict):
        raise InputError(f"model card field generator is {_short(card.get('generator'))}, expected an object", where)
    try:
        GeneratorConfig.from_dict(card["generator"])
    except (ValueError, TypeError) as exc:
        raise InputError(f"model card field generator: {_one_line(exc)}", where) from exc
    for field, (valid, expected) in _CARD_FIELDS.items():
        value = _field(card, field)
        if value is not None and not valid(value):
            raise InputError(f"model card field {field} is {_short(value)}, expected {expected}", where)
    return card


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


#: the largest ``finer_scale`` a card may ask for: a second pass at a pixel size closer to the
#: model's than this would see nearly the same image (ml/inference.py)
FINER_SCALE_MAX = 0.85

#: card field (dotted path) -> (check, what it should be); absent or null fields pass
_CARD_FIELDS = {
    "name": (lambda v: isinstance(v, str), "text"),
    "sha256": (lambda v: isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None, "64 hex digits"),
    "pixel_size": (lambda v: _is_number(v) and v > 0, "a positive number (Angstrom)"),
    "box": (lambda v: isinstance(v, int) and not isinstance(v, bool) and v > 0, "a positive integer"),
    "finer_scale": (lambda v: _is_number(v) and 0 < v <= FINER_SCALE_MAX,
                    f"a number above 0 and at most {FINER_SCALE_MAX} (a fraction of the pixel size)"),
    "input_whitening": (lambda v: _is_number(v) and 0 < v <= 1,
                        "a number above 0 and at most 1 (how much of the noise's colour to take away)"),
    "training": (lambda v: isinstance(v, dict), "an object"),
    "training.sources": (_is_strings, "a list of file names"),
    "training.data": (lambda v: isinstance(v, dict), "an object"),
    "training.data.sources": (_is_strings, "a list of file names"),
}


def _field(card: dict, dotted: str) -> object:
    """``card["a"]["b"]`` for ``"a.b"``; None when a level is missing (or not an object: the
    level above is checked first)."""
    value: object = card
    for key in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _check_weights(tensors: dict[str, torch.Tensor], config: GeneratorConfig, path: Path) -> None:
    """InputError unless ``tensors`` are exactly the generator's, in shape, and finite.

    The generator is laid out on the ``meta`` device (shapes, no memory) to compare with.
    """
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in UNetGenerator(config).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if got != expected:
        key = next(k for k in sorted(set(got) | set(expected)) if got.get(k) != expected.get(k))
        raise InputError(f"weights do not fit the generator described by the card ({key}: shape "
                         f"{got.get(key, 'missing')} in the file, {expected.get(key, 'none')} in the generator)", path)
    for key, tensor in tensors.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise InputError(f"weights hold NaN or infinite values ({key})", path)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


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
