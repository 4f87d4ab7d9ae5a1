"""cryoSPARC ``.cs`` files through every command: export (to ``.cs`` and to STAR), project, score, denoise.

cryosparc-tools' ``Dataset`` (cryoSPARC's own reader) is the client of the ``.cs`` files written;
RELION reading the converted STAR files is in tests/relion/test_relion_programs.py.
"""

from __future__ import annotations

from pathlib import Path

import mrcfile
import numpy as np
import pytest

from gan_viewer.cli import main
from gan_viewer.core.particles import open_particles
from gan_viewer.io.star import read_star
from tests.conftest import write_cs

dataset = pytest.importorskip("cryosparc.dataset", reason="cryosparc-tools is a test dependency (pip install '.[test]')")
Dataset = dataset.Dataset

#: (stack, index) of each row: two cryoSPARC extraction stacks, rows not in stack order
ROWS = [("a", 0), ("a", 1), ("b", 0), ("a", 3), ("b", 2), ("b", 1)]
SPLIT = np.array([0, 1, 1, 0, 0, 1], np.uint32)


def read_stack(path: Path) -> np.ndarray:
    return mrcfile.read(path)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cs_project(tmp_path: Path) -> Path:
    """A cryoSPARC project folder: ``J3/extract/mic_{a,b}_particles.mrc`` (64 px, 3 A/px, written
    as cryoSPARC does: one MRC "volume" per micrograph) and ``J5/J5_particles.cs`` naming them."""
    rng = np.random.default_rng(3)
    extract = tmp_path / "P12" / "J3" / "extract"
    extract.mkdir(parents=True)
    yy, xx = np.mgrid[-32:32, -32:32]
    blob = np.exp(-(xx ** 2 + yy ** 2) / 60.0).astype(np.float32)
    for name, n in (("a", 4), ("b", 3)):
        images = blob[None] * np.arange(1, n + 1, dtype=np.float32)[:, None, None] + rng.normal(size=(n, 64, 64))
        with mrcfile.new(extract / f"mic_{name}_particles.mrc") as mrc:
            mrc.set_data(images.astype(np.float32))  # a 3D array: an MRC "map", not an image stack
            mrc.voxel_size = 3.0
    n = len(ROWS)
    fields = {
        "uid": np.arange(n, dtype=np.uint64) + 7 * 10**17,
        "blob/path": np.array([f"J3/extract/mic_{s}_particles.mrc".encode() for s, _ in ROWS], "S40"),
        "blob/idx": np.array([i for _, i in ROWS], np.uint32),
        "blob/shape": np.full((n, 2), 64, np.uint32),
        "blob/psize_A": np.full(n, 3.0, np.float32),
        "blob/sign": np.full(n, -1.0, np.float32),
        "ctf/type": np.array([b"spline"] * n, "S9"),
        "ctf/accel_kv": np.full(n, 300, np.float32),
        "ctf/cs_mm": np.full(n, 2.7, np.float32),
        "ctf/amp_contrast": np.full(n, 0.1, np.float32),
        "ctf/df1_A": np.linspace(10000, 15000, n).astype(np.float32),
        "ctf/df2_A": np.linspace(9500, 14500, n).astype(np.float32),
        "ctf/df_angle_rad": np.full(n, 0.5, np.float32),
        "ctf/phase_shift_rad": np.zeros(n, np.float32),
        "ctf/tetra_A": rng.normal(size=(n, 4)).astype(np.float32),  # fields gan-viewer does not read
        "alignments3D/split": SPLIT,
        "alignments3D/pose": rng.normal(size=(n, 3)).astype(np.float32),
        "alignments3D/shift": rng.normal(size=(n, 2)).astype(np.float32),
        "alignments3D/psize_A": np.full(n, 3.0, np.float32),
        "alignments3D/error": rng.random(n).astype(np.float32),
        "alignments3D/class": np.zeros(n, np.uint32),
    }
    (tmp_path / "P12" / "J5").mkdir()
    return write_cs(tmp_path / "P12" / "J5" / "J5_particles.cs", fields)


def stack_images(cs_project: Path) -> np.ndarray:
    """The (6, 64, 64) images of the rows, read from the stacks directly."""
    extract = cs_project.parents[1] / "J3" / "extract"
    stacks = {s: mrcfile.read(extract / f"mic_{s}_particles.mrc") for s in "ab"}
    return np.stack([stacks[s][i] for s, i in ROWS])


def test_export_cs_writes_cs_with_every_field_for_cryosparc(capsys, cs_project: Path, tmp_path: Path) -> None:
    kept, rejected = tmp_path / "kept.cs", tmp_path / "rejected.cs"
    code, out, _ = run(capsys, "export", cs_project, "--keep", "2,4-5", "--reject", "1", "--out", kept,
                       "--rejected", rejected)
    assert code == 0 and f"kept 3 -> {kept}" in out and f"not kept 3 -> {rejected}" in out
    source = Dataset.load(cs_project)
    for path, rows in ((kept, [1, 3, 4]), (rejected, [0, 2, 5])):
        written = Dataset.load(path)  # cryoSPARC's own reader
        assert written.fields() == source.fields() and len(written) == len(rows)
        for name in source.fields():
            np.testing.assert_array_equal(written[name], source[name][rows], err_msg=name)
    assert not list(tmp_path.glob("*_stacks"))  # no STAR output, no links


def test_export_cs_to_star_for_relion(capsys, cs_project: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "relion"
    out_dir.mkdir()
    code, out, _ = run(capsys, "export", cs_project, "--keep", "1-4", "--out", out_dir / "kept.star",
                       "--rejected", out_dir / "rejected.star", "--selection", out_dir / "backup_selection.star")
    assert code == 0 and f"-> {out_dir / 'kept_stacks'}" in out
    kept, rejected = read_star(out_dir / "kept.star"), read_star(out_dir / "rejected.star")
    assert kept.version == 30001 and len(kept) == 4 and len(rejected) == 2
    # the half sets: split 0/1 -> rlnRandomSubset 1/2
    assert kept.particles["rlnRandomSubset"].tolist() == (SPLIT[:4] + 1).tolist()
    assert rejected.particles["rlnRandomSubset"].tolist() == (SPLIT[4:] + 1).tolist()
    # image names point to .mrcs links (RELION reads stacks only from .mrcs) beside the STAR file
    names = kept.particles["rlnImageName"].tolist()
    assert names == ["000001@kept_stacks/J3/extract/mic_a_particles.mrcs",
                     "000002@kept_stacks/J3/extract/mic_a_particles.mrcs",
                     "000001@kept_stacks/J3/extract/mic_b_particles.mrcs",
                     "000004@kept_stacks/J3/extract/mic_a_particles.mrcs"]
    link = out_dir / "kept_stacks" / "J3" / "extract" / "mic_a_particles.mrcs"
    assert link.is_symlink() and link.resolve() == (cs_project.parents[1] / "J3/extract/mic_a_particles.mrc").resolve()
    images = stack_images(cs_project)
    np.testing.assert_array_equal(open_particles(out_dir / "kept.star").images(np.arange(4)), images[:4])
    np.testing.assert_array_equal(open_particles(out_dir / "rejected.star").images(np.arange(2)), images[4:])
    np.testing.assert_array_equal(open_particles(cs_project).images(np.arange(6)), images)


def test_export_cs_finds_stacks_through_project_dir(capsys, cs_project: Path, tmp_path: Path) -> None:
    moved = tmp_path / "elsewhere" / "J5_particles.cs"
    moved.parent.mkdir()
    moved.write_bytes(cs_project.read_bytes())
    code, _, err = run(capsys, "export", moved, "--keep", "1", "--out", tmp_path / "k.star")
    assert code == 2 and "2 of 2 stack(s) named in it were not found" in err
    assert str(moved) in err and "--project-dir" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "k.star").exists() and not (tmp_path / "k_stacks").exists()
    code, _, _ = run(capsys, "export", moved, "--keep", "1", "--out", tmp_path / "k.star",
                     "--project-dir", cs_project.parents[1])
    assert code == 0
    np.testing.assert_array_equal(open_particles(tmp_path / "k.star").images([0]), stack_images(cs_project)[:1])


def test_export_cs_refuses_bad_input_writing_nothing(capsys, cs_project: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    no_blobs = write_cs(tmp_path / "no_blobs.cs", {"uid": np.arange(3, dtype=np.uint64),
                                                   "ctf/df1_A": np.ones(3, np.float32)})
    code, _, err = run(capsys, "export", no_blobs, "--keep", "1", "--out", out / "k.cs")
    assert code == 2 and err.startswith(f"gan-viewer export: error: {no_blobs}: no particle image paths")
    assert len(err.strip().splitlines()) == 1
    star = tmp_path / "p.star"
    run(capsys, "export", cs_project, "--keep", "1-6", "--out", star)
    code, _, err = run(capsys, "export", star, "--keep", "1", "--out", out / "k.cs")  # .cs needs a .cs input
    assert code == 2 and f"{out / 'k.cs'}: a .cs output needs particles read from a cryoSPARC .cs file" in err
    selection = tmp_path / "backup_selection.star"
    selection.write_text("data_\nloop_\n_rlnSelected #1\n1\n0\n1\n")  # 3 rows for 6 particles
    code, _, err = run(capsys, "export", cs_project, "--from-selection", selection, "--out", out / "k.cs")
    assert code == 2 and str(selection) in err and "3" in err and "6" in err and len(err.strip().splitlines()) == 1
    (out / "k_stacks").mkdir()
    (out / "k_stacks" / "mine.txt").write_text("not gan-viewer's")
    code, _, err = run(capsys, "export", cs_project, "--keep", "1", "--out", out / "k.star")
    assert code == 2 and "k_stacks: exists already" in err and "--force" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["k_stacks", "k_stacks/mine.txt"]
    code, _, _ = run(capsys, "export", cs_project, "--keep", "1", "--out", out / "k.star", "--force")
    assert code == 0 and not (out / "k_stacks" / "mine.txt").exists()
    assert (out / "k_stacks" / "J3" / "extract" / "mic_a_particles.mrcs").is_symlink()


def test_project_takes_cs(capsys, cs_project: Path, tiny_map: Path, tmp_path: Path) -> None:
    star = tmp_path / "p.star"
    assert run(capsys, "export", cs_project, "--keep", "1-6", "--out", star)[0] == 0
    for name, source in (("from_cs", cs_project), ("from_star", star)):
        code, out, _ = run(capsys, "project", "--map", tiny_map, "--star", source, "--out", tmp_path / f"{name}.mrcs",
                           "--ctf")
        assert code == 0 and "6 projections" in out
    from_cs, from_star = read_stack(tmp_path / "from_cs.mrcs"), read_stack(tmp_path / "from_star.mrcs")
    assert from_cs.shape == (6, 64, 64) and from_cs.std() > 0
    np.testing.assert_allclose(from_cs, from_star, atol=1e-5 * np.abs(from_star).max())


def test_score_takes_cs(capsys, cs_project: Path, tmp_path: Path) -> None:
    star = tmp_path / "p.star"
    assert run(capsys, "export", cs_project, "--keep", "1-6", "--out", star)[0] == 0
    z, y, x = np.mgrid[-32:32, -32:32, -32:32]
    reference = tmp_path / "ref.mrc"  # 64 voxels at 3 A: covers the particles' 64 px box at 3 A/px
    with mrcfile.new(reference) as mrc:
        mrc.set_data(np.exp(-(x ** 2 + y ** 2 + z ** 2) / 60.0).astype(np.float32))
        mrc.voxel_size = 3.0
    for name, source in (("from_cs", cs_project), ("from_star", star)):
        code, out, err = run(capsys, "score", source, "--map", reference, "--out", tmp_path / f"{name}.star")
        assert code == 0, err
    from_cs, from_star = read_star(tmp_path / "from_cs.star"), read_star(tmp_path / "from_star.star")
    assert len(from_cs) == 6 and from_cs.particles["rlnRandomSubset"].tolist() == (SPLIT + 1).tolist()
    np.testing.assert_allclose(from_cs.particles["gvScore"].to_numpy(float), from_star.particles["gvScore"].to_numpy(float))


def test_denoise_and_info_take_cs(capsys, cs_project: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "info", cs_project)
    assert code == 0 and "cryoSPARC .cs" in out and "rlnRandomSubset" in out
    star = tmp_path / "p.star"
    assert run(capsys, "export", cs_project, "--keep", "1-6", "--out", star)[0] == 0
    for name, source in (("from_cs", cs_project), ("from_star", star)):
        code, out, err = run(capsys, "denoise", source, "--out", tmp_path / f"{name}.mrcs", "--device", "cpu")
        assert code == 0, err
        assert "6 particles" in out
    np.testing.assert_array_equal(read_stack(tmp_path / "from_cs.mrcs"), read_stack(tmp_path / "from_star.mrcs"))
