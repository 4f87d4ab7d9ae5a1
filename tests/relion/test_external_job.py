"""packaging/relion/gan_viewer_external.py, called the way RELION 3.1 calls an External job (from
the project folder, ``--o JOBDIR/ --in_parts STAR [--LABEL VALUE ...] --j N``), and through
RELION's own relion_pipeliner where RELION is installed."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.io.selection import read_selection, selection_text
from gan_viewer.io.star import read_star

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "packaging" / "relion" / "gan_viewer_external.py"
SELECTED = np.array([1, 1, 0, 0, 1, 0, 0, 1, 1, 0])


def environment() -> dict[str, str]:
    return dict(os.environ, GAN_VIEWER=shlex.join([sys.executable, "-m", "gan_viewer"]), PYTHONPATH=str(ROOT),
                QT_QPA_PLATFORM="offscreen")


def external(project: Path, *argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, argv)], cwd=project, env=environment(),
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(tiny_set: Path) -> Path:
    """A RELION project folder: tiny_set's particles, a Select job's file for them, External/job005/."""
    folder = tiny_set.parent
    (folder / "Select/job004").mkdir(parents=True)
    (folder / "Select/job004/backup_selection.star").write_text(selection_text(SELECTED))
    (folder / "External/job005").mkdir(parents=True)
    return folder


def tiny_generator(folder: Path) -> Path:
    """A small untrained generator for tiny_set's sampling (16 px at 2 A/px): the bundled one is
    trained for 64-128 px boxes at 3 A/px and refuses an 11 px box."""
    import torch

    from gan_viewer.ml.checkpoint import save_generator
    from gan_viewer.ml.networks import GeneratorConfig, UNetGenerator

    torch.manual_seed(0)
    generator = UNetGenerator(GeneratorConfig(depth=3, base_channels=4)).eval()
    return save_generator(folder / "tiny.safetensors", generator, {"name": "tiny", "pixel_size": 2.0, "box": 16})


def test_the_job_writes_relion_nodes(project: Path, tmp_path_factory) -> None:
    model = tiny_generator(tmp_path_factory.mktemp("model"))
    run = external(project, "--o", "External/job005/", "--in_parts", "particles.star",
                   "--labels", "Select/job004/backup_selection.star", "--denoise", "yes", "--model", model,
                   "--device", "cpu", "--j", 1)
    assert run.returncode == 0, run.stderr
    job = project / "External/job005"
    assert (job / "RELION_JOB_EXIT_SUCCESS").is_file() and not (job / "RELION_JOB_EXIT_FAILURE").exists()
    names = read_star(project / "particles.star").particles["rlnImageName"]
    kept = read_star(job / "particles.star")
    assert kept.particles["rlnImageName"].tolist() == names[SELECTED == 1].tolist()
    assert len(read_star(job / "rejected.star")) == 10 - SELECTED.sum()
    assert read_selection(job / "backup_selection.star").tolist() == SELECTED.tolist()
    nodes = read_star(job / "RELION_OUTPUT_NODES.star", require_particles=False).blocks["output_nodes"]
    assert nodes["rlnPipeLineNodeName"].tolist() == ["External/job005/particles.star", "External/job005/rejected.star"]
    assert nodes["rlnPipeLineNodeType"].tolist() == [3, 3]
    import mrcfile

    assert mrcfile.read(job / "denoised.mrcs").shape == (10, 16, 16)


@pytest.mark.parametrize("argv, message, failure_marker", [
    ([], "--o JOBDIR/ is required", False),
    (["--o", "External/job009/", "--in_parts", "particles.star"], "External/job009/: no such job folder", False),
    (["--o", "External/job005/", "--labels", "Select/job004/backup_selection.star"],
     "External/job005/: --in_parts particles.star is required", True),
    (["--o", "External/job005/", "--in_parts", "missing.star", "--gui", "yes"], "missing.star: no such file", True),
    (["--o", "External/job005/", "--in_parts", "particles.star"], "External/job005/: no labels", True),
    (["--o", "External/job005/", "--in_parts", "particles.star", "--colour", "red"], "unrecognized arguments", True),
])
def test_a_call_without_its_required_options_writes_nothing(project: Path, argv, message, failure_marker) -> None:
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    run = external(project, *argv)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert run.stderr.startswith("gan_viewer_external.py: error: ")
    written = sorted(set(p.relative_to(project) for p in project.rglob("*")) - set(before))
    # RELION's pipeline waits for an exit file: the failure marker is the one file an existing job folder gets
    assert written == ([Path("External/job005/RELION_JOB_EXIT_FAILURE")] if failure_marker else [])


def test_a_failed_step_fails_the_job(project: Path) -> None:
    (project / "Select/job004/backup_selection.star").write_text(selection_text(np.ones(7)))
    run = external(project, "--o", "External/job005/", "--in_parts", "particles.star",
                   "--labels", "Select/job004/backup_selection.star")
    job = project / "External/job005"
    assert run.returncode == 2 and "has 7 rows but" in run.stderr
    assert sorted(p.name for p in job.iterdir()) == ["RELION_JOB_EXIT_FAILURE"]


def test_a_session_file_gives_the_labels(project: Path) -> None:
    from gan_viewer.core.session import Session

    session = Session.open(project / "particles.star", journal_path=project / "mine.sqlite")
    session.decide(1, [0, 1, 2])
    session.close()
    run = external(project, "--o", "External/job005", "--in_parts", "particles.star", "--labels", "mine.sqlite",
                   "--undecided", "reject")
    assert run.returncode == 0, run.stderr
    assert len(read_star(project / "External/job005/particles.star")) == 3
    assert "External/job005/particles.star 3" in (project / "External/job005/RELION_OUTPUT_NODES.star").read_text()


def test_with_a_reference_the_job_scores_first(project: Path, tiny_map: Path) -> None:
    run = external(project, "--o", "External/job005/", "--in_parts", "particles.star", "--in_3dref", tiny_map.name,
                   "--labels", "Select/job004/backup_selection.star", "--device", "cpu")
    assert run.returncode == 0, run.stderr
    assert ": score: " in run.stdout and run.stdout.index(": score: ") < run.stdout.index(": export: ")
    job = project / "External/job005"
    scored = read_star(job / "scored.star")
    assert len(scored) == 10 and np.isfinite(scored.particles["gvScore"].to_numpy(float)).all()
    kept = read_star(job / "particles.star")  # the outputs keep the scores
    assert len(kept) == SELECTED.sum() and "gvScore" in kept.columns and "gvMatchedZ" in kept.columns
    np.testing.assert_array_equal(kept.particles["gvScore"].to_numpy(float),
                                  scored.particles["gvScore"].to_numpy(float)[SELECTED == 1])
    nodes = read_star(job / "RELION_OUTPUT_NODES.star", require_particles=False).blocks["output_nodes"]
    assert "External/job005/scored.star" in nodes["rlnPipeLineNodeName"].tolist()


def load_script():
    spec = importlib.util.spec_from_file_location("gan_viewer_external", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_inspector_step_keeps_its_session_in_the_job(project: Path, monkeypatch) -> None:
    """With gui yes the inspector opens on the particles with the job's own session file, starts
    from the selection the first time only, and shows the 3D reference."""
    script = load_script()
    monkeypatch.chdir(project)
    args = script.parse(["--o", "External/job005/", "--in_parts", "particles.star", "--gui", "yes",
                         "--labels", "Select/job004/backup_selection.star", "--in_3dref", "ref.mrc"])
    job = Path("External/job005/")
    gui = script.gui_step(args, job)
    assert gui[:2] == ["gui", str(job / "scored.star")]  # the reference is given: the scored particles
    assert gui[gui.index("--session") + 1] == str(job / "gan-viewer.sqlite")
    assert gui[gui.index("--from-selection") + 1] == "Select/job004/backup_selection.star"
    assert gui[gui.index("--map") + 1] == "ref.mrc"
    export = script.export_step(args, job)
    assert export[:2] == ["export", str(job / "scored.star")]
    assert export[export.index("--session") + 1] == str(job / "gan-viewer.sqlite")
    assert script.score_step(args, job)[:4] == ["score", "particles.star", "--map", "ref.mrc"]
    unscored = script.parse(["--o", "External/job005/", "--in_parts", "particles.star", "--gui", "yes",
                             "--in_3dref", "ref.mrc", "--score", "no"])
    assert script.score_step(unscored, job) is None and script.gui_step(unscored, job)[1] == "particles.star"
    (job / "gan-viewer.sqlite").write_bytes(b"SQLite format 3\x00")  # a continued job: its decisions win
    assert "--from-selection" not in script.gui_step(args, job)


@pytest.mark.skipif(shutil.which("relion_pipeliner") is None,
                    reason="RELION is not installed here (apt-get install relion; CI installs it)")
def test_relion_pipeliner_runs_the_job(project: Path, tiny_map: Path) -> None:
    (project / "default_pipeline.star").write_text(
        "\n# version 30001\n\ndata_pipeline_general\n\n_rlnPipeLineJobCounter 1\n\n")
    options = (f"fn_exe == {SCRIPT};in_part == particles.star;in_3dref == {tiny_map.name};param1_label == labels;"
               "param1_value == Select/job004/backup_selection.star;param2_label == device;param2_value == cpu;")
    env = environment()
    for argv in (["--addJob", "External", "--addJobOptions", options],
                 ["--RunJobs", "External/job001/", "--sec_wait_after", "1"]):
        run = subprocess.run(["relion_pipeliner", *argv], cwd=project, env=env, capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    pipeline = read_star(project / "default_pipeline.star", require_particles=False).blocks
    processes = pipeline["pipeline_processes"]
    assert processes["rlnPipeLineProcessName"].tolist() == ["External/job001/"]
    assert processes["rlnPipeLineProcessStatus"].tolist() == [2]  # PROC_FINISHED_SUCCESS
    assert "External/job001/particles.star" in pipeline["pipeline_nodes"]["rlnPipeLineNodeName"].tolist()
    assert len(read_star(project / "External/job001/particles.star")) == int(SELECTED.sum())
    assert "gvScore" in read_star(project / "External/job001/particles.star").columns  # the score step ran
    assert "External/job001/scored.star" in pipeline["pipeline_nodes"]["rlnPipeLineNodeName"].tolist()
