"""RELION 3.1 itself as the client of what gan-viewer writes (``apt-get install relion``; .ci/run
installs it). Small on purpose: 32 px boxes, at most 200 particles (and 7 real ones of 320 px).

- relion_star_handler reads the kept, rejected and Select-job exports;
- relion_reconstruct rebuilds the source map from ``simulate``'s particles, with and without CTF;
- relion_project and ``gan-viewer project`` agree image by image on a random set;
- relion_stack_create reads every image of a STAR converted from a cryoSPARC .cs (through the
  .mrcs links), and relion_star_handler selects its half sets by rlnRandomSubset;
- relion_preprocess extracts the picks kept from a micrograph's Topaz picks table, exported as a
  RELION coordinate file, and cuts the windows the inspector showed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd
import pytest

from gan_viewer.cli import main
from gan_viewer.io.star import read_star, table_from_dataframe, write_star

pytestmark = pytest.mark.skipif(shutil.which("relion_reconstruct") is None,
                                reason="RELION is not installed here (apt-get install relion; CI installs it)")


def relion(cwd: Path, *argv) -> str:
    """Run a RELION program in ``cwd``; its output (progress bars included) comes back on failure."""
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{argv[0]} failed ({result.returncode}):\n{result.stderr[-2000:]}"
    return result.stdout + result.stderr


def gan_viewer(capsys, *argv) -> None:
    code = main([str(a) for a in argv])
    assert code == 0, capsys.readouterr().err


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def test_star_handler_reads_our_exports(capsys, tiny_set: Path, tmp_path: Path) -> None:
    folder = tiny_set.parent
    gan_viewer(capsys, "export", tiny_set, "--keep", "1,3,5-7", "--reject", "2", "--out", folder / "kept.star",
               "--rejected", folder / "rejected.star", "--selection", folder / "backup_selection.star")
    source = read_star(tiny_set)
    for name, rows in (("kept", [0, 2, 4, 5, 6]), ("rejected", [1, 3, 7, 8, 9])):
        log = relion(folder, "relion_star_handler", "--i", f"{name}.star", "--o", f"{name}_relion.star")
        assert "previous version" not in log  # read as RELION 3.1, optics table and all
        back = read_star(folder / f"{name}_relion.star")
        assert back.particles["rlnImageName"].tolist() == source.particles["rlnImageName"].iloc[rows].tolist()
        np.testing.assert_allclose(back.optics["rlnImagePixelSize"], source.optics["rlnImagePixelSize"])
        np.testing.assert_allclose(back.eulers(), source.eulers()[rows], atol=1e-4)


def beads_map(path: Path, size: int = 32, apix: float = 2.0) -> Path:
    """(size,)*3 map of 14 beads (Gaussians of 1.2 voxels) at fixed random places, a chiral
    object sharp enough that a one-voxel or mirror error shows in the correlation."""
    rng = np.random.default_rng(3)
    z, y, x = np.meshgrid(*(np.arange(size) - size // 2,) * 3, indexing="ij")
    vol = np.zeros((size,) * 3)
    for cz, cy, cx in rng.uniform(-9, 9, (14, 3)):
        vol += np.exp(-((x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2) / (2 * 1.2 ** 2))
    with mrcfile.new(path) as mrc:
        mrc.set_data(vol.astype(np.float32))
        mrc.voxel_size = apix
    return path


@pytest.mark.parametrize("ctf", [False, True], ids=["no-ctf", "ctf"])
def test_reconstruct_recovers_the_simulated_map(capsys, tmp_path: Path, ctf: bool) -> None:
    """200 views of a 32 px map at SNR 10 with random origins: RELION's reconstruction from
    ``simulate``'s STAR must be the source map (which needs complete optics, and our angle,
    origin and CTF conventions to be RELION's), not its mirror image nor a voxel off."""
    source = beads_map(tmp_path / "beads.mrc")
    out = tmp_path / "sim"
    gan_viewer(capsys, "simulate", "--map", source, "--n", 200, "--snr", 10, "--shift", 1.5, "--seed", 5,
               *(["--ctf", "--defocus", 5000, 10000] if ctf else []), "--out", out)
    relion(out, "relion_reconstruct", "--i", "particles.star", "--o", "rec.mrc", *(["--ctf"] if ctf else []))
    rec, truth = mrcfile.read(out / "rec.mrc"), mrcfile.read(source)
    assert rec.shape == truth.shape and mrcfile.open(out / "rec.mrc").voxel_size.x == pytest.approx(2.0)
    found = correlation(rec, truth)
    print(f"CC {found:.3f}, mirror {correlation(rec, truth[::-1]):.3f}, "
          f"one voxel off {correlation(rec, np.roll(truth, 1, 2)):.3f}")
    assert found > 0.9
    assert found > correlation(rec, truth[::-1]) + 0.4
    assert found > correlation(rec, np.roll(truth, 1, 2)) + 0.1


def random_set(folder: Path, n: int, box: int, apix: float, rng: np.random.Generator) -> Path:
    """A RELION 3.1 STAR of ``n`` random views with origins and CTF (its images are never read)."""
    particles = pd.DataFrame({
        "rlnImageName": [f"{i + 1:06d}@particles.mrcs" for i in range(n)],
        "rlnAngleRot": rng.uniform(-180, 180, n), "rlnAngleTilt": np.degrees(np.arccos(rng.uniform(-1, 1, n))),
        "rlnAnglePsi": rng.uniform(-180, 180, n),
        "rlnOriginXAngst": rng.normal(0, 2 * apix, n), "rlnOriginYAngst": rng.normal(0, 2 * apix, n),
        "rlnDefocusU": rng.uniform(8000, 20000, n), "rlnDefocusAngle": rng.uniform(-180, 180, n),
        "rlnOpticsGroup": np.ones(n, int),
    }).round(6)
    particles.insert(6, "rlnDefocusV", particles["rlnDefocusU"] - rng.uniform(0, 400, n).round(6))
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnOpticsGroupName": ["opticsGroup1"],
                           "rlnImagePixelSize": [apix], "rlnImageSize": [box], "rlnVoltage": [300.0],
                           "rlnSphericalAberration": [2.7], "rlnAmplitudeContrast": [0.1],
                           "rlnImageDimensionality": [2]})
    return write_star(table_from_dataframe(particles, optics), folder / "random.star")


@pytest.mark.parametrize("ctf", [False, True], ids=["no-ctf", "ctf"])
def test_project_agrees_with_relion_project(capsys, tiny_map: Path, tmp_path: Path, ctf: bool) -> None:
    star = random_set(tmp_path, 60, 32, 2.0, np.random.default_rng(11))
    flag = ["--ctf"] if ctf else []
    relion(tmp_path, "relion_project", "--i", tiny_map, "--ang", star, "--o", "relion", *flag)
    gan_viewer(capsys, "project", "--map", tiny_map, "--star", star, "--out", tmp_path / "ours.mrcs", *flag)
    theirs, ours = mrcfile.read(tmp_path / "relion.mrcs"), mrcfile.read(tmp_path / "ours.mrcs")
    assert theirs.shape == ours.shape == (60, 32, 32)
    per_image = [correlation(a, b) for a, b in zip(theirs, ours)]
    assert min(per_image) > 0.999, per_image


def test_relion_reads_star_files_converted_from_cryosparc(capsys, tmp_path: Path) -> None:
    """A real cryoSPARC .cs with its .mrc stack (EMPIAR-10076, 7 particles, 320 px), given half sets:
    RELION reads every image of the converted STAR through its .mrcs links, selects the half sets
    by rlnRandomSubset, and refuses the same STAR with the .mrc names left as they are."""
    from gan_viewer.io.cryosparc import read_cryosparc
    from tests.conftest import SHARED_DATA, write_cs

    empiar = SHARED_DATA / "particles" / "real_empiar10076"
    if not (empiar / "empiar_10076_7.cs").is_file():
        pytest.skip("../shared/data is not available")
    project = tmp_path / "cryosparc"
    project.mkdir()
    shutil.copy(empiar / "empiar_10076_7.mrc", project)
    raw = np.load(empiar / "empiar_10076_7.cs", allow_pickle=False)
    split = np.array([0, 1, 1, 0, 1, 0, 0], np.uint32)
    cs = write_cs(project / "particles.cs", {**{name: raw[name] for name in raw.dtype.names}, "alignments3D/split": split,
                                             "alignments3D/pose": np.zeros((7, 3), np.float32)})
    out = tmp_path / "relion"
    out.mkdir()
    gan_viewer(capsys, "export", cs, "--keep", "1-5", "--reject", "6-7", "--out", out / "kept.star",
               "--rejected", out / "rejected.star")
    relion(out, "relion_stack_create", "--i", "kept.star", "--o", "kept_images")
    original = mrcfile.read(project / "empiar_10076_7.mrc")
    np.testing.assert_array_equal(mrcfile.read(out / "kept_images.mrcs"), original[:5])
    for half, rows in ((1, [1, 4]), (2, [2, 3, 5])):  # split 0 is RELION's half 1
        relion(out, "relion_star_handler", "--i", "kept.star", "--o", f"half{half}.star", "--select",
               "rlnRandomSubset", "--minval", half, "--maxval", half)
        assert read_star(out / f"half{half}.star").particles["rlnImageName"].tolist() == [
            f"{row:06d}@kept_stacks/empiar_10076_7.mrcs" for row in rows]
    np.testing.assert_array_equal(read_star(out / "rejected.star").particles["rlnRandomSubset"], [1, 1])
    # the control: cryoSPARC's .mrc stack named as it is
    write_star(read_cryosparc(cs), project / "as_is.star")
    result = subprocess.run(["relion_stack_create", "--i", "as_is.star", "--o", "as_is"], cwd=project,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "should have extension .mrcs" in result.stdout + result.stderr


def test_relion_extracts_the_kept_picks_of_a_micrograph_as_the_inspector_cut_them(tmp_path: Path) -> None:
    from gan_viewer import api
    from gan_viewer.core.curation import Label
    from gan_viewer.core.micrograph_particles import MicrographParticles

    (tmp_path / "MotionCorr").mkdir()
    image = np.random.default_rng(0).normal(size=(200, 240)).astype(np.float32)
    picks = [(40, 50), (120, 60), (200, 150), (60, 160)]
    for k, (x, y) in enumerate(picks):
        image[y, x] = 50.0 + 10 * k
    with mrcfile.new(tmp_path / "MotionCorr" / "mic1.mrc") as mrc:
        mrc.set_data(image)
        mrc.voxel_size = 1.5
    (tmp_path / "predicted_particles_all.txt").write_text(
        "image_name\tx_coord\ty_coord\tscore\n"
        + "".join(f"mic1\t{x}\t{y}\t{3.5 - k}\n" for k, (x, y) in enumerate(picks))
        + "mic2\t10\t10\t9.0\n")
    source = MicrographParticles(tmp_path / "MotionCorr" / "mic1.mrc", tmp_path / "predicted_particles_all.txt", 32)
    labels = np.array([Label.KEEP, Label.REJECT, Label.KEEP, Label.UNDECIDED], np.int8)
    (tmp_path / "Picks" / "MotionCorr").mkdir(parents=True)
    api.export(source, labels, tmp_path / "Picks" / "MotionCorr" / "mic1_kept.star")
    (tmp_path / "micrographs.star").write_text(
        "# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroupName #1\n_rlnOpticsGroup #2\n"
        "_rlnMicrographPixelSize #3\n_rlnVoltage #4\n_rlnSphericalAberration #5\n_rlnAmplitudeContrast #6\n"
        "opticsGroup1 1 1.5 300 2.7 0.1\n\n# version 30001\n\ndata_micrographs\n\nloop_\n"
        "_rlnMicrographName #1\n_rlnOpticsGroup #2\nMotionCorr/mic1.mrc 1\n")
    relion(tmp_path, "relion_preprocess", "--i", "micrographs.star", "--coord_dir", "Picks/", "--coord_suffix",
           "_kept.star", "--extract", "--extract_size", 32, "--part_star", "particles.star", "--part_dir",
           "Extract/")
    extracted = read_star(tmp_path / "particles.star").particles
    np.testing.assert_allclose(extracted[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float), [picks[0], picks[2]])
    np.testing.assert_allclose(extracted["rlnAutopickFigureOfMerit"].to_numpy(float), [3.5, 1.5])  # Topaz's score
    relion_windows = mrcfile.read(tmp_path / "Extract" / "MotionCorr" / "mic1.mrcs")
    np.testing.assert_array_equal(relion_windows, source.images([0, 2]))  # the windows the inspector showed
