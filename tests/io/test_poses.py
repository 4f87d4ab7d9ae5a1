"""2D alignments (a Class2D ``_data.star``) are told apart from 3D poses, and the reference panel
and ``project`` say that a reference needs 3D poses."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from gan_viewer.cli import main
from gan_viewer.core.particles import StarParticles
from gan_viewer.io.poses import two_d_alignment
from gan_viewer.io.star import read_star, write_star

MODEL = "\n# version 30001\n\ndata_model_general\n\n_rlnReferenceDimensionality {dim}\n_rlnDataDimensionality 2\n"


def class_job(tiny_set: Path, folder: str, dim: int | None) -> Path:
    """``tiny_set`` as ``folder/run_it025_data.star`` (class numbers added), with a model beside it."""
    job = tiny_set.parent / folder
    job.mkdir(parents=True)
    table = read_star(tiny_set)
    table.particles["rlnClassNumber"] = np.arange(10) % 3 + 1
    data = write_star(table, job / "run_it025_data.star")
    if dim is not None:
        (job / "run_it025_model.star").write_text(MODEL.format(dim=dim))
    return data


def test_class2d_data_star_with_its_model_is_2d(tiny_set: Path) -> None:
    data = class_job(tiny_set, "External/job010", 2)  # the model, not the folder's name, says so
    assert "run_it025_model.star: rlnReferenceDimensionality 2" in two_d_alignment(read_star(data))


def test_class3d_data_star_is_3d(tiny_set: Path) -> None:
    data = class_job(tiny_set, "Class2D/job011", 3)  # a model that says 3 wins over a folder name
    assert two_d_alignment(read_star(data)) is None
    assert two_d_alignment(read_star(tiny_set)) is None


def test_class2d_folder_or_psi_only_is_2d(tiny_set: Path, tmp_path: Path) -> None:
    assert "Class2D" in two_d_alignment(read_star(class_job(tiny_set, "Class2D/job012", None)))
    table = read_star(tiny_set)
    table.blocks[table.particles_block] = table.particles.drop(columns=["rlnAngleRot", "rlnAngleTilt"]).assign(
        rlnClassNumber=1)
    assert "no rot or tilt" in two_d_alignment(read_star(write_star(table, tmp_path / "psi_only.star")))


def test_reference_panel_needs_3d_poses(tiny_set: Path, tiny_map: Path) -> None:
    from gan_viewer.sim.reference_maker import ReferenceMaker

    data = class_job(tiny_set, "Class2D/job013", 2)
    shutil.copytree(tiny_set.parent / "Extract", data.parent / "Extract")
    maker = ReferenceMaker(StarParticles(read_star(data), data.parent), tiny_map)
    assert not maker.available and "2D alignments" in maker.reason and "3D poses" in maker.reason
    assert ReferenceMaker(StarParticles(read_star(tiny_set), tiny_set.parent), tiny_map).available


def test_project_warns_on_2d_alignments(caplog, tiny_set: Path, tiny_map: Path, tmp_path: Path) -> None:
    data = class_job(tiny_set, "Class2D/job014", 2)
    code = main(["project", "--map", str(tiny_map), "--star", str(data), "--out", str(tmp_path / "r.mrcs")])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert code == 0 and any("2D alignments" in w and "3D poses" in w for w in warnings)
