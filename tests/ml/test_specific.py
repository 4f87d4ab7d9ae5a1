"""A generator for one particle set and one map (ml.specific): trains, reports, stops, resumes, checks itself."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.cli import main
from gan_viewer.errors import InputError
from gan_viewer.ml.specific import SpecificRecipe, train_for_map
from gan_viewer.ml.train import TrainingStopped

TINY = dict(depth=3, base_channels=4, batch_size=4, validate_every=2, n_validation=8, n_check=8,
            n_hallucination=6, n_references=8, n_estimate=40)


def simulated_set(folder: Path, map_path: Path, *extra: str) -> Path:
    """40 particles of ``map_path`` at SNR 0.1 with a CTF: STAR with angles and CTF values, stacks."""
    assert main(["simulate", "--map", str(map_path), "--n", "40", "--snr", "0.1", "--ctf", "--seed", "3",
                 "--out", str(folder), *extra]) == 0
    return folder / "particles.star"


def test_train_for_map_reports_progress_stops_and_resumes(tiny_map: Path, tmp_path: Path) -> None:
    star = simulated_set(tmp_path / "sim", tiny_map)
    out = tmp_path / "specific"
    seen = []
    with pytest.raises(TrainingStopped) as stopped:
        train_for_map(star, tiny_map, out, recipe=SpecificRecipe(**TINY), steps=4, device="cpu",
                      progress=seen.append, should_stop=lambda: len(seen) >= 2)
    assert stopped.value.step == 2 and [p.step for p in seen] == [1, 2]
    assert seen[0].validation is None and math.isfinite(seen[1].validation["psnr"])
    assert 0 < seen[1].fraction == 0.5
    assert (tmp_path / "specific.train.pt").is_file() and not (tmp_path / "specific.safetensors").exists()

    resumed = []
    card = train_for_map(star, tiny_map, out, recipe=SpecificRecipe(**TINY), steps=4, device="cpu",
                         progress=resumed.append, resume=True)
    assert [p.step for p in resumed if p.phase == "training"] == [3, 4] and resumed[-1].phase == "checking"
    assert card == json.loads((tmp_path / "specific.json").read_text())
    assert card["training"]["steps"] == 4 and card["pixel_size"] == 2.0 and card["box"] == 32
    assert card["specific"]["map"] == str(tiny_map.resolve()) and card["specific"]["mode"] == "simulated"
    check = card["validation"]["held_out_simulated"]
    for key in ("psnr_db", "input_psnr_db", "lowpass_psnr_db", "gain_over_input_db", "gain_over_lowpass_db"):
        assert math.isfinite(check[key])
    assert check["gain_over_lowpass_db"] == pytest.approx(check["psnr_db"] - check["lowpass_psnr_db"])
    for noise in ("white", "particle_noise"):
        h = card["hallucination"][noise]
        assert h["n"] == 6 and h["excess_cc"] == pytest.approx(h["output_cc"] - h["control_cc"])
    data = card["training"]["data"]
    assert data["ctf_pool"]["n"] == 40 and data["recipe"]["ctf_probability"] == 1.0  # the particles' own CTFs
    assert data["recipe"]["boxes"] == [32] and data["recipe"]["apix"] == 2.0  # their own sampling
    assert data["noise"]["spectra"] and data["recipe"]["noise_mix"][3] == pytest.approx(0.9)
    noise = card["specific"]["noise"]
    assert len(noise["spectrum"]) == 17 and 0.05 < noise["snr_estimate"] < 0.2  # the set's SNR is 0.1
    assert noise["snr"] == pytest.approx([noise["snr_estimate"] / 2, noise["snr_estimate"] * 2])

    from gan_viewer.ml.inference import Denoiser  # the card was rewritten, the weights still match it

    denoiser = Denoiser.load(tmp_path / "specific.safetensors", "cpu")
    assert denoiser(np.zeros((1, 32, 32), np.float32), 2.0).shape == (1, 32, 32)


def test_experimental_mode_trains_on_the_particles_padded_to_the_unet(tiny_map: Path, tmp_path: Path) -> None:
    star = simulated_set(tmp_path / "sim", tiny_map, "--box", "24")
    card = train_for_map(star, tiny_map, tmp_path / "real", recipe=SpecificRecipe(**{**TINY, "depth": 4},
                         mode="experimental"), steps=2, device="cpu")
    assert card["specific"]["mode"] == "experimental" and card["specific"]["box"] == 24
    assert card["training"]["data"]["kind"] == "star" and card["training"]["data"]["padded_from"] == 24
    assert card["box"] == 32 and "held_out_simulated" in card["validation"] and "white" in card["hallucination"]


def test_refusals(tiny_map: Path, tmp_path: Path) -> None:
    star = simulated_set(tmp_path / "sim", tiny_map)
    (tmp_path / "taken.safetensors").write_bytes(b"x")
    with pytest.raises(InputError, match="exists already"):
        train_for_map(star, tiny_map, tmp_path / "taken", recipe=SpecificRecipe(**TINY), steps=1, device="cpu")
    with pytest.raises(InputError, match="no training state"):
        train_for_map(star, tiny_map, tmp_path / "new", recipe=SpecificRecipe(**TINY), steps=1, resume=True)
    with pytest.raises(InputError, match="say how long"):
        train_for_map(star, tiny_map, tmp_path / "new", recipe=SpecificRecipe(**TINY))
    with pytest.raises(InputError, match="mode must be"):
        SpecificRecipe(mode="magic")
    with pytest.raises(InputError, match="SNR must be"):
        SpecificRecipe(snr=(0.1, 0.01))
    stack = tmp_path / "sim" / "particles.mrcs"
    from gan_viewer.core.particles import StackParticles

    with pytest.raises(InputError, match="experimental mode needs"):
        train_for_map(StackParticles(stack), tiny_map, tmp_path / "bare",
                      recipe=SpecificRecipe(**TINY, mode="experimental"), steps=1, device="cpu")
    assert not list(tmp_path.glob("new*")) and not list(tmp_path.glob("bare*"))
