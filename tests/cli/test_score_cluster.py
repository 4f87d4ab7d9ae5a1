"""The cluster path of packaging/slurm_score.py, run through submitit's LocalExecutor (no SLURM)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.cli import main
from gan_viewer.io.star import read_star
from tests.cli.test_score import scored_set  # noqa: F401 - the fixture

submitit = pytest.importorskip("submitit")
ROOT = Path(__file__).resolve().parents[2]


def load_script():
    import sys

    import cloudpickle

    spec = importlib.util.spec_from_file_location("slurm_score", ROOT / "packaging" / "slurm_score.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["slurm_score"] = module
    spec.loader.exec_module(module)
    cloudpickle.register_pickle_by_value(module)  # the tasks' processes cannot import it by name
    return module


def test_job_array_through_the_local_executor_merges_to_the_whole(scored_set, tmp_path) -> None:  # noqa: F811
    star, ref, _ = scored_set
    script = load_script()
    executor = submitit.LocalExecutor(folder=tmp_path / "jobs" / "logs")
    executor.update_parameters(timeout_min=10)
    out = script.run(star, ref, tmp_path / "cluster.star", 3, tmp_path / "jobs", executor)
    whole = tmp_path / "whole.star"
    assert main(["score", str(star), "--map", str(ref), "--out", str(whole)]) == 0
    a, b = read_star(whole).particles, read_star(out).particles
    assert list(a.columns) == list(b.columns) and len(b) == len(a)
    assert np.allclose(a["gvScore"], b["gvScore"], atol=1e-5)
    assert sorted(p.name for p in (tmp_path / "jobs").glob("shard.*.star")) == [f"shard.{k}.star" for k in (1, 2, 3)]
