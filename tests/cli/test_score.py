"""gan-viewer score and merge: columns added and every original kept, shards, bad input, RELION reads it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest
import torch

from gan_viewer.cli import main
from gan_viewer.core.ctf_params import CtfParams
from gan_viewer.core.scores import DEFAULT_SCORE, ranking_auc
from gan_viewer.io.star import read_star, table_from_dataframe, write_star
from gan_viewer.sim.ctf import apply_ctf
from gan_viewer.sim.project import Projector
from gan_viewer.sim.scoring import random_eulers
from tests.conftest import blob_volume, write_mrcs

N, BOX, APIX = 48, 32, 2.0


@pytest.fixture
def scored_set(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """(STAR, map, good): 48 blob particles at SNR 0.2 with CTF; every fourth has a wrong STAR pose."""
    rng = np.random.default_rng(3)
    volume = blob_volume(BOX)
    eulers, origins = random_eulers(rng, N), rng.uniform(-2, 2, (N, 2))
    defocus = rng.uniform(8000, 20000, N)
    clean = apply_ctf(torch.from_numpy(Projector(volume).project(eulers, origins)), CtfParams.uniform(N, defocus),
                      APIX).numpy()
    images = clean / np.sqrt(clean.var(axis=(1, 2), keepdims=True) / 0.2) + rng.standard_normal(clean.shape)
    good = np.arange(N) % 4 != 0
    eulers[~good] = random_eulers(rng, (~good).sum())
    write_mrcs(tmp_path / "parts.mrcs", images.astype(np.float32), APIX)
    particles = pd.DataFrame({
        "rlnImageName": [f"{i + 1:06d}@parts.mrcs" for i in range(N)],
        "rlnAngleRot": eulers[:, 0], "rlnAngleTilt": eulers[:, 1], "rlnAnglePsi": eulers[:, 2],
        "rlnOriginXAngst": origins[:, 0] * APIX, "rlnOriginYAngst": origins[:, 1] * APIX,
        "rlnDefocusU": defocus, "rlnDefocusV": defocus, "rlnDefocusAngle": 0.0, "rlnOpticsGroup": 1,
        "rlnMaxValueProbDistribution": rng.uniform(0, 1, N), "rlnMyOwnLabel": ["keep me"] * N,
    })
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"], "rlnImagePixelSize": [APIX],
                           "rlnImageSize": [BOX], "rlnVoltage": [300.0], "rlnSphericalAberration": [2.7],
                           "rlnAmplitudeContrast": [0.1], "rlnImageDimensionality": [2]})
    star = write_star(table_from_dataframe(particles, optics), tmp_path / "particles.star")
    with mrcfile.new(tmp_path / "ref.mrc") as mrc:
        mrc.set_data(volume)
        mrc.voxel_size = APIX
    return star, tmp_path / "ref.mrc", good


def test_score_adds_columns_and_keeps_everything(scored_set, tmp_path, capsys) -> None:
    star, ref, good = scored_set
    out = tmp_path / "scored.star"
    assert main(["score", str(star), "--map", str(ref), "--out", str(out)]) == 0
    before, after = read_star(star), read_star(out)
    assert after.version == before.version and after.optics.equals(before.optics)
    new = [c for c in after.columns if c not in before.columns]
    assert set(new) == {"gvScore", "gvMatched", "gvMatchedZ", "gvMatchedPlain"}
    assert after.particles[before.columns].equals(before.particles)
    assert ranking_auc(after.particles[DEFAULT_SCORE].to_numpy(), good) > 0.95
    assert main(["score", str(star), "--map", str(ref), "--out", str(out)]) == 2  # no overwrite without --force


def test_shards_merge_to_the_whole(scored_set, tmp_path) -> None:
    star, ref, _ = scored_set
    whole = tmp_path / "whole.star"
    assert main(["score", str(star), "--map", str(ref), "--out", str(whole)]) == 0
    shards = [tmp_path / f"s{k}.star" for k in (1, 2, 3)]
    for k, path in zip((3, 1, 2), shards[::-1]):
        assert main(["score", str(star), "--map", str(ref), "--shard", f"{k}/3", "--out", str(path)]) == 0
    assert len(read_star(shards[0])) == 16
    merged = tmp_path / "merged.star"
    assert main(["merge", *map(str, shards[::-1]), "--out", str(merged)]) == 0
    a, b = read_star(whole).particles, read_star(merged).particles
    assert list(a.columns) == list(b.columns) and a.drop(columns=[c for c in a if c.startswith("gv")]).equals(
        b.drop(columns=[c for c in b if c.startswith("gv")]))
    for column in ("gvScore", "gvMatched"):
        assert np.allclose(a[column], b[column], atol=1e-5)


def test_merge_refuses_gaps_repeats_and_other_inputs(scored_set, tmp_path, capsys) -> None:
    star, ref, _ = scored_set
    for k in (1, 2, 3):
        assert main(["score", str(star), "--map", str(ref), "--shard", f"{k}/3", "--out", str(tmp_path / f"s{k}.star")]) == 0
    other = tmp_path / "other.star"
    table = read_star(star)
    write_star(table.subset(np.arange(N - 1)), other)
    assert main(["score", str(other), "--map", str(ref), "--shard", "3/3", "--out", str(tmp_path / "o3.star")]) == 0
    out = tmp_path / "merged.star"
    capsys.readouterr()
    for shards, message in (
            (["s1", "s3"], "do not tile"), (["s1", "s2", "s2", "s3"], "repeats shard 2/3"),
            (["s1", "s2", "o3"], "different input"), (["s1", "s2", "particles"], "not a shard")):
        assert main(["merge", *(str(tmp_path / f"{s}.star") for s in shards), "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
        assert not out.exists()


def test_a_map_too_small_for_the_box_is_one_line(scored_set, tmp_path, capsys) -> None:
    star, _, _ = scored_set
    small = tmp_path / "small.mrc"
    with mrcfile.new(small) as mrc:
        mrc.set_data(blob_volume(16))
        mrc.voxel_size = APIX
    out = tmp_path / "scored.star"
    assert main(["score", str(star), "--map", str(small), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "small.mrc" in err and "larger than the map" in err and len(err.splitlines()) == 1
    assert "--box" not in err and "larger extent" in err  # score has no --box option to point to
    assert not out.exists()


def test_a_star_without_angles_or_ctf_says_what_is_missing(scored_set, tmp_path, caplog) -> None:
    star, ref, _ = scored_set
    table = read_star(star)
    bare = table.particles.drop(columns=["rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnDefocusU", "rlnDefocusV"])
    path = write_star(table_from_dataframe(bare, table.optics), tmp_path / "bare.star")
    out = tmp_path / "scored.star"
    assert main(["score", str(path), "--map", str(ref), "--out", str(out)]) == 0
    assert "no angles" in caplog.text and "not computed: gvScore" in caplog.text
    assert read_star(out).particles.equals(read_star(path).particles)
    nocft = table.particles.drop(columns=["rlnDefocusU", "rlnDefocusV"])
    path = write_star(table_from_dataframe(nocft, table.optics), tmp_path / "noctf.star")
    assert main(["score", str(path), "--map", str(ref), "--out", str(tmp_path / "noctf_scored.star")]) == 0
    assert "no CTF" in caplog.text and "gvScore" in read_star(tmp_path / "noctf_scored.star").columns


@pytest.mark.skipif(shutil.which("relion_star_handler") is None, reason="RELION is not installed")
def test_relion_reads_the_scored_file(scored_set, tmp_path) -> None:
    star, ref, _ = scored_set
    out = tmp_path / "scored.star"
    assert main(["score", str(star), "--map", str(ref), "--out", str(out)]) == 0
    # gv labels are not RELION's: it warns and keeps their values
    done = subprocess.run(["relion_star_handler", "--i", out.name, "--o", "relion.star"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    back = read_star(tmp_path / "relion.star")
    assert len(back) == N
    assert np.allclose(back.particles["rlnAngleRot"], read_star(star).particles["rlnAngleRot"], atol=1e-3)
    assert np.allclose(back.particles["gvScore"], read_star(out).particles["gvScore"], atol=1e-4)
