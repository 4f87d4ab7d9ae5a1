"""A model's files and what its card says: whether it was trained for one map, and how well it did.

No torch, no Qt: the inspector reads cards and names model files in its UI thread.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

#: the files of a model named ``NAME``: ``NAME.safetensors``, ``NAME.json``, ``NAME.train.pt``
MODEL_SUFFIXES = (".safetensors", ".json", ".train.pt")


def output_stem(path: str | os.PathLike) -> Path:
    """``path`` without a model file suffix (.safetensors, .json, .train.pt) when it has one.

    Only these are taken off: ``gen_snr0.05`` stays ``gen_snr0.05`` (``Path.with_suffix`` would
    take ``.05`` for a suffix).
    """
    path = Path(path)
    for suffix in MODEL_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return path.with_name(path.name[:-len(suffix)])
    return path


def output_file(stem: str | os.PathLike, suffix: str) -> Path:
    """``stem`` + ``suffix`` (``gen_snr0.05`` + ``.json`` is ``gen_snr0.05.json``)."""
    return Path(f"{stem}{suffix}")


def card_path(weights: str | os.PathLike) -> Path:
    """The model card beside the weights file ``weights``."""
    return output_file(output_stem(weights), ".json")


def specific_model_path(star_path: str | os.PathLike, map_path: str | os.PathLike) -> Path:
    """``particles.<map>.generator.safetensors`` beside the STAR file ``particles.star``."""
    star, name = Path(star_path), Path(map_path).name
    for suffix in (".gz", ".mrc", ".map", ".pdb", ".cif", ".ent", ".mmcif"):
        name = name.removesuffix(suffix)
    return star.with_name(f"{star.stem}.{name}.generator.safetensors")


MODE_TEXT = {
    "simulated": "simulated from the map (the particles' pixel size, box, CTF and noise)",
    "experimental": "experimental: the particles with reference projections at their angles",
}

SPECIFIC_WARNING = ("structure-specific generator: it draws the reference's shape; judge particles by the raw "
                    "image and scores, not by the recovered image")


def trained_for_map(card: dict | None) -> dict | None:
    """The card's ``specific`` entry ({"map": ..., "mode": ...}) when it was trained for one map, else None."""
    specific = (card or {}).get("specific")
    return specific if isinstance(specific, dict) and specific.get("map") else None


def specific_warning(card: dict | None) -> str | None:
    """The warning to show beside a structure-specific generator's images, or None."""
    specific = trained_for_map(card)
    if specific is None:
        return None
    return f"{SPECIFIC_WARNING} (trained for {Path(str(specific['map'])).name})"


def summary_lines(card: dict) -> list[str]:
    """A few lines on a trained generator: what it was trained for, its gain on held-out simulated
    particles over the noisy input and the oracle low-pass, and how much it draws on pure noise."""
    lines = []
    specific = trained_for_map(card)
    steps = (card.get("training") or {}).get("steps")
    if specific is not None:
        lines.append(f"trained for {Path(str(specific['map'])).name}, "
                     f"{MODE_TEXT.get(specific.get('mode'), specific.get('mode'))}; {steps} steps")
    check = (card.get("validation") or {}).get("held_out_simulated")
    if check:
        lines.append(f"{check['n']} held-out simulated particles: PSNR {_db(check['psnr_db'])}, "
                     f"{_gain(check['gain_over_input_db'])} over the noisy input ({_db(check['input_psnr_db'])}), "
                     f"{_gain(check['gain_over_lowpass_db'])} over the best Gaussian low-pass "
                     f"({_db(check['lowpass_psnr_db'])})")
    hallucination = card.get("hallucination") or {}
    for key, label in (("white", "white noise"), ("particle_noise", "noise like the particles'")):
        h = hallucination.get(key)
        if h:
            lines.append(f"hallucination on pure {label}: best CC with the map's projections {h['output_cc']:.2f} "
                         f"vs {h['control_cc']:.2f} for matched low-passed noise (excess {h['excess_cc']:+.2f})")
    return lines


def _db(value: float) -> str:
    return f"{value:.2f} dB" if math.isfinite(value) else "-"


def _gain(value: float) -> str:
    return f"{value:+.2f} dB" if math.isfinite(value) else "-"
