from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

from gan_viewer.cli import main
from gan_viewer.io.star import read_star


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_simulate_writes_noisy_clean_and_star(capsys, tiny_map: Path, tmp_path: Path) -> None:
    out = tmp_path / "sim"
    code, _ = run(capsys, "simulate", "--map", tiny_map, "--n", 12, "--snr", 0.05, "--ctf", "--shift", 1.5,
                  "--seed", 3, "--out", out)
    assert code == 0
    table = read_star(out / "particles.star")
    assert len(table) == 12 and table.version == 30001
    assert table.pixel_size()[0] == 2.0 and table.box_size()[0] == 32
    assert {"rlnAngleRot", "rlnOriginXAngst", "rlnDefocusU"} <= set(table.columns)
    noisy, clean = mrcfile.read(out / "particles.mrcs"), mrcfile.read(out / "clean.mrcs")
    assert noisy.shape == clean.shape == (12, 32, 32)
    assert abs(mrcfile.open(out / "particles.mrcs").voxel_size.x - 2.0) < 1e-6
    # reproducible
    code, _ = run(capsys, "simulate", "--map", tiny_map, "--n", 12, "--snr", 0.05, "--ctf", "--shift", 1.5,
                  "--seed", 3, "--out", tmp_path / "again")
    np.testing.assert_array_equal(mrcfile.read(tmp_path / "again" / "particles.mrcs"), noisy)


@pytest.mark.parametrize("ctf", [[], ["--ctf"]])
def test_optics_name_the_microscope_with_and_without_ctf(capsys, tiny_map: Path, tmp_path: Path, ctf) -> None:
    """RELION's reconstruct, refine and project refuse an optics table without voltage, Cs and
    amplitude contrast, even when they are told to ignore the CTF."""
    code, _ = run(capsys, "simulate", "--map", tiny_map, "--n", 3, "--snr", 0.1, "--voltage", 200, "--cs", 1.4,
                  "--amplitude-contrast", 0.07, *ctf, "--out", tmp_path / "s")
    assert code == 0
    optics = read_star(tmp_path / "s/particles.star").optics.iloc[0]
    assert (optics["rlnVoltage"], optics["rlnSphericalAberration"], optics["rlnAmplitudeContrast"]) == (
        200.0, 1.4, 0.07)
    has_defocus = "rlnDefocusU" in read_star(tmp_path / "s/particles.star").columns
    assert has_defocus == bool(ctf)


def test_snr_is_per_image_variance_ratio(capsys, tiny_map: Path, tmp_path: Path) -> None:
    run(capsys, "simulate", "--map", tiny_map, "--n", 40, "--snr", 0.1, "--out", tmp_path / "s")
    noisy, clean = mrcfile.read(tmp_path / "s/particles.mrcs"), mrcfile.read(tmp_path / "s/clean.mrcs")
    snr = clean.var(axis=(1, 2)) / (noisy - clean).var(axis=(1, 2))
    assert snr.mean() == pytest.approx(0.1, rel=0.05)


def test_noise_panel_shares_views(capsys, tiny_map: Path, tmp_path: Path) -> None:
    code, _ = run(capsys, "simulate", "--map", tiny_map, "--n", 5, "--snr", 0.1, 0.01, "--out", tmp_path / "p")
    assert code == 0
    a, b = tmp_path / "p/snr_0.1", tmp_path / "p/snr_0.01"
    np.testing.assert_array_equal(mrcfile.read(a / "clean.mrcs"), mrcfile.read(b / "clean.mrcs"))
    assert read_star(a / "particles.star").particles.equals(read_star(b / "particles.star").particles)
    noise_a = (mrcfile.read(a / "particles.mrcs") - mrcfile.read(a / "clean.mrcs")).std()
    noise_b = (mrcfile.read(b / "particles.mrcs") - mrcfile.read(b / "clean.mrcs")).std()
    assert noise_b / noise_a == pytest.approx(np.sqrt(10), rel=0.1)


@pytest.mark.parametrize("with_ctf", [False, True])
def test_project_reproduces_clean_stack(capsys, tiny_map: Path, tmp_path: Path, with_ctf: bool) -> None:
    run(capsys, "simulate", "--map", tiny_map, "--n", 8, "--snr", 1, "--shift", 2, "--ctf", "--out", tmp_path / "s")
    refs = tmp_path / "refs.mrcs"
    args = ["--ctf"] if with_ctf else []
    code, _ = run(capsys, "project", "--map", tiny_map, "--star", tmp_path / "s/particles.star", "--out", refs, *args)
    assert code == 0
    clean = mrcfile.read(tmp_path / "s/clean.mrcs")
    projected = mrcfile.read(refs)
    if not with_ctf:
        np.testing.assert_allclose(projected, clean, atol=1e-4 * np.abs(clean).max())
    else:  # the CTF changes the images but keeps them correlated with the clean ones
        cc = [np.corrcoef(p.ravel(), c.ravel())[0, 1] for p, c in zip(projected, clean)]
        assert not np.allclose(projected, clean) and min(cc) > 0.2


def bad_map(tmp_path: Path) -> Path:
    path = tmp_path / "text.mrc"
    path.write_text("not a map " * 200)
    return path


def flat_map(tmp_path: Path) -> Path:
    path = tmp_path / "rect.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((8, 16, 16), np.float32))
    return path


@pytest.mark.parametrize("case, message", [
    ("not_mrc", "not a readable MRC"),
    ("non_cubic", "not cubic"),
    ("snr_zero", "SNR must be a positive number"),
    ("snr_nan", "SNR must be a positive number"),
    ("box_too_big", "larger than the map can fill"),
    ("n_zero", "at least 1"),
    ("voltage_zero", "--voltage > 0 kV"),
])
def test_simulate_bad_input(capsys, tiny_map: Path, tmp_path: Path, case: str, message: str) -> None:
    args = {"map": tiny_map, "snr": "0.1", "n": "4", "extra": []}
    if case == "not_mrc":
        args["map"] = bad_map(tmp_path)
    elif case == "non_cubic":
        args["map"] = flat_map(tmp_path)
    elif case == "snr_zero":
        args["snr"] = "0"
    elif case == "snr_nan":
        args["snr"] = "nan"
    elif case == "box_too_big":
        args["extra"] = ["--box", "64"]
    elif case == "n_zero":
        args["n"] = "0"
    elif case == "voltage_zero":
        args["extra"] = ["--voltage", "0"]
    out = tmp_path / "out"
    code, err = run(capsys, "simulate", "--map", args["map"], "--n", args["n"], "--snr", args["snr"],
                    *args["extra"], "--out", out)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_project_needs_angles(capsys, tiny_map: Path, tiny_set: Path, tmp_path: Path) -> None:
    text = tiny_set.read_text()
    for label in ("_rlnAngleRot", "_rlnAngleTilt"):
        text = text.replace(label, label.replace("Angle", "Xangle"))
    no_angles = tmp_path / "noangles.star"
    no_angles.write_text(text)
    code, err = run(capsys, "project", "--map", tiny_map, "--star", no_angles, "--out", tmp_path / "r.mrcs")
    assert code == 2 and "has no angles" in err
    assert not (tmp_path / "r.mrcs").exists()


def test_project_refuses_to_overwrite(capsys, tiny_map: Path, tmp_path: Path) -> None:
    run(capsys, "simulate", "--map", tiny_map, "--n", 2, "--snr", 1, "--out", tmp_path / "s")
    target = tmp_path / "s" / "clean.mrcs"
    before = target.read_bytes()
    code, err = run(capsys, "project", "--map", tiny_map, "--star", tmp_path / "s/particles.star", "--out", target)
    assert code == 2 and "exists already" in err and target.read_bytes() == before


@pytest.mark.parametrize("name, extra, threshold", [
    ("rln_proj_64_shifted", [], 0.99),  # the 64 px set was made from a Fourier-cropped map: 0.994 with a real crop
    ("rln_proj_65_shifted", ["--relion-odd-centre"], 0.9999),
    ("rln_proj_65", ["--relion-odd-centre"], 0.9999),
])
def test_project_cli_matches_relion_project(capsys, shared_data: Path, tmp_path: Path, name, extra, threshold) -> None:
    folder = shared_data / "particles/relion_projections_70S"
    out = tmp_path / "refs.mrcs"
    code, _ = run(capsys, "project", "--map", shared_data / "maps/ribosome70S_65px.mrc", "--star",
                  folder / f"{name}.star", "--out", out, *extra)
    assert code == 0
    ours, theirs = mrcfile.read(out), mrcfile.read(folder / f"{name}.mrcs")
    cc = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(ours, theirs)]
    assert min(cc) > threshold


def test_project_pads_a_map_smaller_than_the_particles(capsys, tiny_map: Path, tmp_path: Path) -> None:
    # the particles' box (32 px at 4 A = 128 A) is larger than the 64 A map: the reference is padded
    run(capsys, "simulate", "--map", tiny_map, "--n", 3, "--snr", 1, "--apix", 4, "--box", 16, "--out", tmp_path / "s")
    star = tmp_path / "s/particles.star"
    star.write_text(star.read_text().replace("\t16\t", "\t32\t"))
    code, err = run(capsys, "project", "--map", tiny_map, "--star", star, "--out", tmp_path / "r.mrcs")
    assert code == 0, err
    assert mrcfile.read(tmp_path / "r.mrcs").shape == (3, 32, 32)
