from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gan_viewer.core.curation import Label
from gan_viewer.core.export import export_curated, labels_from_rows, parse_rows
from gan_viewer.errors import InputError
from gan_viewer.io.star import read_star


def test_parse_rows() -> None:
    assert parse_rows("1,3,5-9", 10).tolist() == [0, 2, 4, 5, 6, 7, 8]
    assert parse_rows(" 2 , 2-3 ", 3).tolist() == [1, 2]
    for bad in ("0", "11", "a", "3-2", "1-"):
        with pytest.raises(InputError):
            parse_rows(bad, 10)


def test_labels_from_rows() -> None:
    assert labels_from_rows(4, np.array([0]), None).tolist() == [1, 0, 0, 0]
    assert labels_from_rows(4, None, np.array([1])).tolist() == [0, 2, 0, 0]
    assert labels_from_rows(4, np.array([0]), np.array([3])).tolist() == [1, 0, 0, 2]
    with pytest.raises(InputError, match="both kept and rejected"):
        labels_from_rows(4, np.array([0]), np.array([0]))


def test_export_keeps_everything_but_rows(tiny_set: Path, tmp_path: Path) -> None:
    table = read_star(tiny_set)
    labels = np.array([1, 2, 0, 1, 1, 2, 2, 0, 1, 2], np.int8)
    result = export_curated(table, labels, tmp_path / "k.star", tmp_path / "r.star", provenance={"model": "abc"})
    assert (result.kept, result.rejected, result.undecided) == (4, 6, 2)
    kept, rejected = read_star(tmp_path / "k.star"), read_star(tmp_path / "r.star")
    assert kept.version == table.version and list(kept.blocks) == list(table.blocks)
    assert kept.optics.equals(table.optics)
    assert kept.particles.equals(table.particles.iloc[[0, 3, 4, 8]].reset_index(drop=True))
    # the rejected file is the kept file's complement: rejected and undecided, in input order
    assert rejected.particles["rlnImageName"].tolist() == table.particles["rlnImageName"].iloc[
        [1, 2, 5, 6, 7, 9]].tolist()
    text = (tmp_path / "k.star").read_text()
    assert text.startswith("# gan-viewer") and "# model: abc" in text and "undecided are not kept" in text
    result = export_curated(table, labels, tmp_path / "k2.star", tmp_path / "r2.star", undecided=Label.KEEP)
    assert (result.kept, result.rejected, result.undecided_kept) == (6, 4, True)
    assert read_star(tmp_path / "r2.star").particles["rlnImageName"].tolist() == table.particles[
        "rlnImageName"].iloc[[1, 5, 6, 9]].tolist()


def test_export_is_all_or_nothing(tiny_set: Path, tmp_path: Path) -> None:
    table = read_star(tiny_set)
    (tmp_path / "r.star").write_text("mine")
    with pytest.raises(InputError, match="exists already"):
        export_curated(table, np.ones(10, np.int8), tmp_path / "k.star", tmp_path / "r.star")
    assert not (tmp_path / "k.star").exists()
    assert (tmp_path / "r.star").read_text() == "mine"
    with pytest.raises(InputError, match="is the input file"):
        export_curated(table, np.ones(10, np.int8), tiny_set, overwrite=True)


def test_export_real_relion5(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "star/relion5/cryodrgn_relion5.star"
    table = read_star(src)
    labels = np.full(len(table), Label.REJECT, np.int8)
    labels[::3] = Label.KEEP
    export_curated(table, labels, tmp_path / "k.star")
    kept = read_star(tmp_path / "k.star")
    assert kept.version == 50001 and len(kept) == len(range(0, len(table), 3))
    assert kept.particles.equals(table.particles.iloc[::3].reset_index(drop=True))


def fail_at_block(monkeypatch, block: int, action) -> None:
    """Call ``action()`` when the ``block``-th STAR block (1-based, over all files) is formatted."""
    from gan_viewer.io import star, star_write

    real = star_write.block_lines
    calls = []

    def formatting(*args, **kwargs):
        calls.append(1)
        if len(calls) == block:
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(star, "block_lines", formatting)


def test_a_failure_writing_the_rejected_file_leaves_both_as_they_were(monkeypatch, tiny_set: Path,
                                                                      tmp_path: Path) -> None:
    table = read_star(tiny_set)
    out = tmp_path / "out"
    out.mkdir()
    (out / "k.star").write_text("old kept")
    (out / "r.star").write_text("old rejected")

    def disk_full():
        raise OSError(errno.ENOSPC, "No space left on device")

    fail_at_block(monkeypatch, 3, disk_full)  # kept: optics, particles; rejected: optics <- here
    with pytest.raises(OSError, match="no space left on device"):
        export_curated(table, np.ones(10, np.int8), out / "k.star", out / "r.star", overwrite=True)
    assert (out / "k.star").read_text() == "old kept" and (out / "r.star").read_text() == "old rejected"
    assert sorted(p.name for p in out.iterdir()) == ["k.star", "r.star"]


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_killed_while_writing_the_rejected_file_leaves_neither(tiny_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    child = f"""
import os, signal, sys
import numpy as np
from gan_viewer.core.export import export_curated
from gan_viewer.io import star
from gan_viewer.io.star import read_star
real, calls = star.block_lines, []
def formatting(*args):
    calls.append(1)
    if len(calls) == 3:  # the rejected file's first block
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*args)
star.block_lines = formatting
export_curated(read_star({str(tiny_set)!r}), np.array([1, 2] * 5, np.int8), {str(out / "k.star")!r},
               {str(out / "r.star")!r})
"""
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert not (out / "k.star").exists() and not (out / "r.star").exists()


def test_score_labels() -> None:
    from gan_viewer.core.export import score_label

    assert score_label("agreement score") == "gvAgreement"
    assert score_label("predicted keep") == "gvPredictedKeep"
    assert score_label("gvScore") == "gvScore"
    with pytest.raises(ValueError):
        score_label("--")


def test_export_with_scores_adds_columns_and_keeps_the_rest(tiny_set: Path, tmp_path: Path) -> None:
    table = read_star(tiny_set)
    labels = np.array([1, 2, 0, 1, 1, 2, 2, 0, 1, 2], np.int8)
    agreement = np.linspace(-0.5, 0.5, 10)
    agreement[3] = np.nan
    export_curated(table, labels, tmp_path / "k.star", tmp_path / "r.star",
                   scores={"agreement score": agreement, "confidence": np.full(10, 0.75)})
    kept, rejected = read_star(tmp_path / "k.star"), read_star(tmp_path / "r.star")
    assert kept.columns == table.columns + ["gvAgreement", "gvConfidence"]
    rows = np.flatnonzero(labels == 1)
    got = kept.particles["gvAgreement"].to_numpy(np.float64)
    np.testing.assert_allclose(got[rows != 3], agreement[rows[rows != 3]], rtol=1e-5)
    assert np.isnan(got[rows == 3]).all()
    assert kept.particles["gvConfidence"].tolist() == [0.75] * len(rows)
    for column in table.columns:  # every original value as it was
        assert kept.particles[column].tolist() == table.particles[column].iloc[rows].tolist()
    assert len(rejected) == 6 and "gvConfidence" in rejected.columns
    assert "# score columns: gvAgreement, gvConfidence" in (tmp_path / "k.star").read_text()
    assert "nan" in (tmp_path / "k.star").read_text().split("loop_")[-1]
