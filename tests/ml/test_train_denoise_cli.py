from __future__ import annotations

import json
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from gan_viewer.cli import main

TINY = ["--box", "32", "--depth", "3", "--base-channels", "4", "--batch-size", "4", "--validate-every", "2",
        "--device", "cpu"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def trained(capsys, tiny_map: Path, tmp_path: Path) -> Path:
    out = tmp_path / "tiny"
    code, stdout, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.05", "0.2", "--ctf", "--steps", "4",
                          *TINY, "--out", out)
    assert code == 0 and "validation PSNR" in stdout
    return out


def test_train_writes_model_card_and_figures(trained: Path) -> None:
    for suffix in (".safetensors", ".json", ".train.pt"):
        assert trained.with_suffix(suffix).is_file()
    assert Path(f"{trained}_examples.png").is_file() and Path(f"{trained}_curves.png").is_file()
    card = json.loads(trained.with_suffix(".json").read_text())
    assert card["pixel_size"] == 2.0 and card["box"] == 32 and card["training"]["steps"] == 4
    assert card["snr"] == [0.05, 0.2] and card["training"]["data"]["recipe"]["snr"] == [0.05, 0.2]
    assert card["training"]["training"]["lambda_l1"] == 100.0
    assert card["format_version"] == 2 and card["boxes"] == [32] and "background" in card["normalisation"]
    assert "psnr_db" in card["validation"] and "mse" in card["validation"]


def test_noise_mix_sets_the_scene_recipe(capsys, tmp_path: Path) -> None:
    """--noise-mix reaches the scenes' recipe (and the card); a mix that cannot be drawn is refused."""
    from gan_viewer.ml.sources import TrainingData, simulated_pairs

    data = TrainingData(phantoms=1, snr=(0.1,), boxes=(32,), apix=3.0, scenes="realistic", noise_mix=(0.0, 1.0, 0.0))
    assert simulated_pairs([], data).sampler.recipe.noise_mix == (0.0, 1.0, 0.0)
    out = tmp_path / "mix"
    code, _, _ = run(capsys, "train", "--phantoms", "1", "--scenes", "realistic", "--noise-mix", "0", "1", "0",
                     "--apix", "3", "--steps", "2", *TINY, "--out", out)
    card = json.loads(out.with_suffix(".json").read_text())
    assert code == 0 and card["training"]["data"]["recipe"]["noise_mix"] == [0.0, 1.0, 0.0]
    code, _, err = run(capsys, "train", "--phantoms", "1", "--scenes", "realistic", "--noise-mix", "-1", "0", "0",
                       "--apix", "3", "--steps", "2", *TINY, "--out", tmp_path / "bad")
    assert code == 2 and "noise mix" in err and not (tmp_path / "bad.safetensors").exists()


def test_scenes_drawn_by_worker_processes_train_a_model_and_a_run_repeats(tmp_path: Path) -> None:
    """gan-viewer train --workers 2, as a command (numba's threading layer is chosen once per
    process: a fresh one, as a user runs it): realistic scenes simulated by two processes; the same
    seed and workers give the same generator."""
    import subprocess
    import sys

    args = [sys.executable, "-m", "gan_viewer", "train", "--phantoms", "2", "--scenes", "realistic", "--apix", "3",
            "--steps", "3", "--workers", "2", *TINY]
    for name in ("a", "b"):
        done = subprocess.run([*args, "--out", str(tmp_path / name)], capture_output=True, text=True, timeout=280)
        assert done.returncode == 0 and "3 steps" in done.stdout, done.stderr[-3000:]
        assert "drawn by 2 worker processes" in done.stderr and "drawn in the training process" not in done.stderr
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_output_name_with_a_dot(capsys, tiny_map: Path, tmp_path: Path) -> None:
    """``--out gen_snr0.05`` names the files gen_snr0.05.*, not gen_snr0.* (".05" is no suffix)."""
    (tmp_path / "models").mkdir()
    out = tmp_path / "models" / "gen_snr0.05"
    code, stdout, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.05", "--steps", "2", *TINY, "--out", out)
    assert code == 0 and stdout.startswith(f"{out}.safetensors: ")
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "gen_snr0.05.json", "gen_snr0.05.safetensors", "gen_snr0.05.train.pt", "gen_snr0.05_curves.png",
        "gen_snr0.05_examples.png"]
    card = json.loads((out.parent / "gen_snr0.05.json").read_text())
    assert card["name"] == "gen_snr0.05" and card["weights"] == "gen_snr0.05.safetensors"
    code, _, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.05", "--steps", "3", *TINY, "--out",
                     f"{out}.safetensors", "--resume")
    assert code == 0 and json.loads((out.parent / "gen_snr0.05.json").read_text())["training"]["steps"] == 3
    assert len(list(out.parent.iterdir())) == 5


def test_resume_continues(capsys, trained: Path, tiny_map: Path) -> None:
    code, _, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.1", "--steps", "6", *TINY, "--out", trained,
                     "--resume")
    assert code == 0
    assert json.loads(trained.with_suffix(".json").read_text())["training"]["steps"] == 6


def test_resume_with_pix2pix_decay_ends_at_rate_zero(capsys, trained: Path, tiny_map: Path) -> None:
    """--lr-decay FROM STEPS on a resumed run: the rate falls linearly from FROM (resumed steps count)
    and the card records the schedule; the optimiser's saved rate does not override it."""
    import torch

    code, _, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.1", "--steps", "8", *TINY, "--out", trained,
                     "--resume", "--lr", "1e-3", "--lr-decay", "4", "4")
    assert code == 0
    card = json.loads(trained.with_suffix(".json").read_text())
    assert card["training"]["training"]["decay_from"] == 4 and card["training"]["training"]["decay_steps"] == 4
    assert card["training"]["training"]["lr"] == 1e-3
    state = torch.load(trained.with_suffix(".train.pt"), weights_only=True)
    assert state["step"] == 8
    assert [g["lr"] for g in state["opt_G"]["param_groups"]] == [pytest.approx(1e-3 * 0.25)]  # step 7's rate


def test_init_starts_the_generator_from_a_model(capsys, trained: Path, tiny_map: Path, tmp_path: Path) -> None:
    """--init MODEL fine-tunes: the generator starts from MODEL's weights (a near-zero rate leaves
    them as they were, where a fresh start does not) and the card names MODEL and its sha256."""
    from safetensors.torch import load_file

    out = tmp_path / "tuned"
    code, _, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.1", "--steps", "1", *TINY, "--lr", "1e-12",
                     "--init", trained.with_suffix(".safetensors"), "--out", out)
    assert code == 0
    start = load_file(str(trained.with_suffix(".safetensors")))
    convs = [k for k in start if k.endswith("weight") and start[k].ndim == 4]
    assert convs and all((load_file(str(out.with_suffix(".safetensors")))[k] == start[k]).all() for k in convs)
    code, _, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.1", "--steps", "1", *TINY, "--lr", "1e-12",
                     "--out", tmp_path / "fresh")
    assert code == 0 and not all((load_file(str(tmp_path / "fresh.safetensors"))[k] == start[k]).all() for k in convs)
    card = json.loads(out.with_suffix(".json").read_text())
    init_card = json.loads(trained.with_suffix(".json").read_text())
    assert card["initialised_from"]["sha256"] == init_card["sha256"] and card["initialised_from"]["steps"] == 4
    assert card["training"]["steps"] == 1 and card["generator"] == init_card["generator"]


@pytest.mark.parametrize("args, message", [
    (["--resume"], "give one of them"),
    (["--depth", "4"], "has depth 3, not the 4 asked for"),
])
def test_init_that_cannot_start_the_run_is_refused(capsys, trained: Path, tiny_map: Path, tmp_path: Path,
                                                   args, message) -> None:
    tiny = TINY[:2] + TINY[4:] if "--depth" in args else TINY
    code, _, err = run(capsys, "train", "--map", tiny_map, "--steps", "2", *tiny, *args,
                       "--init", trained.with_suffix(".safetensors"), "--out", tmp_path / "bad")
    assert code == 2 and message in err and "tiny.safetensors" in err
    assert not list(tmp_path.glob("bad*"))
    code, _, err = run(capsys, "train", "--map", tiny_map, "--steps", "2", *TINY,
                       "--init", tmp_path / "none.safetensors", "--out", tmp_path / "bad")
    assert code == 2 and "no such model file" in err and not list(tmp_path.glob("bad*"))


@pytest.mark.parametrize("args, message", [
    (["--lr-decay", "-1", "5"], "learning-rate decay"),
    (["--lr-decay", "2", "0"], "learning-rate decay"),
])
def test_bad_decay_is_refused_before_any_work(capsys, tiny_map: Path, tmp_path: Path, args, message) -> None:
    code, _, err = run(capsys, "train", "--map", tiny_map, "--steps", "2", *args, *TINY, "--out", tmp_path / "bad")
    assert code == 2 and message in err
    assert not list(tmp_path.glob("bad*"))


def test_existing_model_needs_force(capsys, trained: Path, tiny_map: Path) -> None:
    code, _, err = run(capsys, "train", "--map", tiny_map, "--steps", "2", *TINY, "--out", trained)
    assert code == 2 and "exists already" in err


def test_given_pairs_mode(capsys, tiny_map: Path, tmp_path: Path) -> None:
    run(capsys, "simulate", "--map", tiny_map, "--n", "40", "--snr", "0.1", "--out", tmp_path / "sim")
    code, _, _ = run(capsys, "train", "--noisy", tmp_path / "sim/particles.mrcs", "--clean",
                     tmp_path / "sim/clean.mrcs", "--steps", "2", *TINY, "--out", tmp_path / "pairs")
    assert code == 0
    assert json.loads((tmp_path / "pairs.json").read_text())["training"]["data"]["kind"] == "stacks"


def test_a_generator_trained_on_half_whitened_inputs_is_run_on_them(capsys, tiny_map: Path, tmp_path: Path) -> None:
    from gan_viewer.ml.inference import Denoiser

    out = tmp_path / "whitened"
    code, _, _ = run(capsys, "train", "--map", tiny_map, "--snr", "0.1", "--steps", "2", "--input-whitening", "0.5",
                     *TINY, "--out", out)
    assert code == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["input_whitening"] == 0.5 and card["training"]["data"]["input_whitening"] == 0.5
    assert Denoiser.load(out.with_suffix(".safetensors"), "cpu").input_whitening == 0.5


def test_star_mode(capsys, tiny_map: Path, tmp_path: Path) -> None:
    run(capsys, "simulate", "--map", tiny_map, "--n", "40", "--snr", "0.1", "--out", tmp_path / "sim")
    code, _, _ = run(capsys, "train", "--star", tmp_path / "sim/particles.star", "--map", tiny_map,
                     "--steps", "2", *TINY, "--out", tmp_path / "real")
    assert code == 0
    assert json.loads((tmp_path / "real.json").read_text())["training"]["data"]["kind"] == "star"
    code, _, err = run(capsys, "train", "--star", tmp_path / "sim/particles.star", "--map", tiny_map,
                       "--input-whitening", "0.5", "--steps", "2", *TINY, "--out", tmp_path / "real_whitened")
    assert code == 2 and "needs simulated scenes" in err and not list(tmp_path.glob("real_whitened*"))


@pytest.mark.parametrize("args, message", [
    (["--snr", "0.1"], "say how long to train"),
    (["--steps", "2", "--box", "36"], "not a multiple of 8"),
    (["--steps", "2", "--snr", "-1"], "SNR must be positive"),
    (["--steps", "2", "--noisy", "x.mrcs"], "choose one kind of training data"),
    (["--steps", "2", "--input-whitening", "1.5"], "--input-whitening must be in (0, 1]"),
    (["--steps", "2", "--workers", "-1"], "--workers must be 0 or more"),
])
def test_train_bad_input(capsys, tiny_map: Path, tmp_path: Path, args, message) -> None:
    tiny = [a for a in TINY]
    if "--box" in args:
        tiny[1] = args[args.index("--box") + 1]
        args = [a for i, a in enumerate(args) if a != "--box" and (i == 0 or args[i - 1] != "--box")]
    code, _, err = run(capsys, "train", "--map", tiny_map, *args, *tiny, "--out", tmp_path / "bad")
    assert code == 2 and message in err
    assert not list(tmp_path.glob("bad*"))


def test_denoise_streams_any_box(capsys, trained: Path, tmp_path: Path) -> None:
    images = np.random.default_rng(0).standard_normal((10, 30, 30)).astype(np.float32)
    with mrcfile.new(tmp_path / "in.mrcs") as mrc:
        mrc.set_data(images)
        mrc.voxel_size = 4.0
    code, stdout, _ = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "out.mrcs", "--model",
                          trained.with_suffix(".safetensors"), "--chunk", "3", "--batch-size", "2", "--device", "cpu")
    assert code == 0 and "10 particles" in stdout
    with mrcfile.open(tmp_path / "out.mrcs") as mrc:
        assert mrc.data.shape == (10, 30, 30) and abs(float(mrc.voxel_size.x) - 4.0) < 1e-6
        assert np.isfinite(mrc.data).all()


def test_denoise_bad_model(capsys, tmp_path: Path) -> None:
    with mrcfile.new(tmp_path / "in.mrcs") as mrc:
        mrc.set_data(np.zeros((2, 16, 16), np.float32))
    code, _, err = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "o.mrcs", "--model",
                       tmp_path / "missing.safetensors")
    assert code == 2 and "no such model file" in err and not (tmp_path / "o.mrcs").exists()


def test_denoise_missing_stacks_fail_before_any_work(capsys, tiny_set: Path, tmp_path: Path) -> None:
    (tiny_set.parent / "Extract" / "b.mrcs").unlink()
    code, _, err = run(capsys, "denoise", tiny_set, "--out", tmp_path / "o.mrcs", "--model",
                       tmp_path / "never-loaded.safetensors")
    assert code == 2 and "Extract/b.mrcs" in err and "not found" in err
    assert not (tmp_path / "o.mrcs").exists()


def two_pixel_sizes(tmp_path: Path) -> Path:
    """A STAR of 6 particles (30 px) in two optics groups: rows 1-3 at 2 A/px, rows 4-6 at 4 A/px."""
    import pandas as pd

    from gan_viewer.io.star import table_from_dataframe, write_star

    images = np.random.default_rng(3).standard_normal((6, 30, 30)).astype(np.float32)
    with mrcfile.new(tmp_path / "p.mrcs") as mrc:
        mrc.set_data(images)
        mrc.voxel_size = 2.0
    particles = pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@p.mrcs" for i in range(6)],
                              "rlnOpticsGroup": [1, 1, 1, 2, 2, 2]})
    optics = pd.DataFrame({"rlnOpticsGroup": [1, 2], "rlnOpticsGroupName": ["a", "b"],
                           "rlnImagePixelSize": [2.0, 4.0], "rlnImageSize": [30, 30],
                           "rlnVoltage": [300.0, 300.0], "rlnSphericalAberration": [2.7, 2.7],
                           "rlnAmplitudeContrast": [0.1, 0.1], "rlnImageDimensionality": [2, 2]})
    return write_star(table_from_dataframe(particles, optics), tmp_path / "two.star")


def test_denoise_uses_each_optics_groups_pixel_size_and_writes_the_spread(capsys, trained: Path,
                                                                          tmp_path: Path) -> None:
    star = two_pixel_sizes(tmp_path)
    model = trained.with_suffix(".safetensors")
    code, stdout, _ = run(capsys, "denoise", star, "--out", tmp_path / "all.mrcs", "--spread", tmp_path / "sd.mrcs",
                          "--model", model, "--device", "cpu")
    assert code == 0 and "confidence median" in stdout and "background noise" in stdout
    both = mrcfile.read(tmp_path / "all.mrcs")
    spread = mrcfile.read(tmp_path / "sd.mrcs")
    assert both.shape == spread.shape == (6, 30, 30) and spread.min() >= 0 and spread.max() > 0
    # the same particles as a bare stack, told their pixel size: group 2 must have been run at 4 A/px
    for apix, rows in ((2.0, slice(0, 3)), (4.0, slice(3, 6))):
        with mrcfile.new(tmp_path / f"g{apix}.mrcs") as mrc:
            mrc.set_data(mrcfile.read(tmp_path / "p.mrcs")[rows])
        code, _, _ = run(capsys, "denoise", tmp_path / f"g{apix}.mrcs", "--out", tmp_path / f"o{apix}.mrcs",
                         "--apix", apix, "--model", model, "--device", "cpu", "--spread", tmp_path / f"s{apix}.mrcs")
        assert code == 0
        np.testing.assert_allclose(mrcfile.read(tmp_path / f"s{apix}.mrcs"), spread[rows], atol=1e-4)
    # and the pixel size matters: the same particles run at 2 A/px come out otherwise
    for apix in ("2.0", "4.0"):
        code, _, _ = run(capsys, "denoise", tmp_path / "g4.0.mrcs", "--out", tmp_path / f"one{apix}.mrcs", "--apix",
                         apix, "--model", model, "--device", "cpu")
        assert code == 0
    assert not np.allclose(mrcfile.read(tmp_path / "one2.0.mrcs"), mrcfile.read(tmp_path / "one4.0.mrcs"), atol=1e-3)


def test_denoise_samples_without_spread_writes_the_panels_mean(capsys, trained: Path, tmp_path: Path) -> None:
    """``--samples 4`` alone writes the mean image of a ``--spread`` run (what the inspector shows),
    not the one-pass image; a spread needs 2 samples or more."""
    with mrcfile.new(tmp_path / "in.mrcs") as mrc:
        mrc.set_data(np.random.default_rng(3).standard_normal((5, 32, 32)).astype(np.float32))
    model = trained.with_suffix(".safetensors")
    common = ["--model", model, "--device", "cpu", "--apix", "2"]
    code, _, _ = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "spread_run.mrcs", "--spread",
                     tmp_path / "sd.mrcs", *common)
    assert code == 0
    code, stdout, _ = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "mean.mrcs", "--samples", "4",
                          *common)
    assert code == 0 and "mean of 4 rotations/flips" in stdout and "confidence median" in stdout
    code, stdout, _ = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "one.mrcs", *common)
    assert code == 0 and "confidence" not in stdout
    mean = mrcfile.read(tmp_path / "mean.mrcs")
    np.testing.assert_allclose(mean, mrcfile.read(tmp_path / "spread_run.mrcs"), atol=1e-5)
    assert not np.allclose(mean, mrcfile.read(tmp_path / "one.mrcs"), atol=1e-4)
    for bad in (["--samples", "1", "--spread", tmp_path / "s1.mrcs"], ["--samples", "9"], ["--samples", "0"]):
        code, _, err = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "bad.mrcs", *bad, *common)
        assert code == 2 and "--samples must be" in err and not (tmp_path / "bad.mrcs").exists()


def test_denoise_needs_a_pixel_size(capsys, trained: Path, tmp_path: Path) -> None:
    with mrcfile.new(tmp_path / "in.mrcs") as mrc:
        mrc.set_data(np.zeros((2, 32, 32), np.float32))  # no pixel size in the header
    model = trained.with_suffix(".safetensors")
    code, _, err = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "o.mrcs", "--model", model)
    assert code == 2 and "pixel size is unknown" in err and not (tmp_path / "o.mrcs").exists()
    code, _, err = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "o.mrcs", "--model", model,
                       "--apix", "0")
    assert code == 2 and "impossible" in err and not (tmp_path / "o.mrcs").exists()
    code, _, _ = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / "o.mrcs", "--model", model,
                     "--apix", "2", "--device", "cpu")
    assert code == 0


def test_denoise_recovers_finer_particles_at_two_samplings_unless_told_not_to(capsys, trained: Path,
                                                                            tmp_path: Path) -> None:
    """The tiny model works at 2 A/px; 1 A/px particles run at 2 A/px and, when the card has a
    finer_scale, also at 1.5 A/px (0.75 x 2 A)."""
    import json

    model = trained.with_suffix(".safetensors")
    images = np.random.default_rng(4).standard_normal((4, 64, 64)).astype(np.float32)
    with mrcfile.new(tmp_path / "in.mrcs") as mrc:
        mrc.set_data(images)
        mrc.voxel_size = 1.0

    def denoise(name: str, *extra: str) -> np.ndarray:
        code, _, _ = run(capsys, "denoise", tmp_path / "in.mrcs", "--out", tmp_path / name, "--model", model,
                         "--device", "cpu", *extra)
        assert code == 0
        return mrcfile.read(tmp_path / name)

    one = denoise("one.mrcs")
    card = json.loads(model.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**card, "finer_scale": 0.75}))
    both = denoise("both.mrcs")
    single = denoise("single.mrcs", "--single-scale")
    np.testing.assert_allclose(single, one, atol=1e-5)
    assert not np.allclose(both, one, atol=1e-3)
