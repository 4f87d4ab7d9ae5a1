"""RELION's Select-job file (backup_selection.star): written by ``export --selection``, read as labels
by ``export --from-selection`` (and ``gui --from-selection``, tests/gui/test_selection_gui.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gan_viewer.cli import main
from gan_viewer.core.curation import Label
from gan_viewer.core.session import Session
from gan_viewer.io.selection import read_selection, selection_text
from gan_viewer.io.star import read_star

#: what RELION 3.1's relion_display writes (MetaDataTable::write of an unnamed table)
RELION_WRITES = """
# version 30001

data_

loop_ 
_rlnSelected #1 
           1 
           0 
           2 
           0 
           1 
           1 
           0 
           0 
           0 
           1 

"""  # noqa: W291 - RELION ends its header lines with a space


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_writes_a_select_job_file(capsys, tiny_set: Path, tmp_path: Path) -> None:
    sel = tmp_path / "backup_selection.star"
    code, out, _ = run(capsys, "export", tiny_set, "--keep", "1,3-4", "--reject", "2", "--selection", sel)
    assert code == 0 and "rlnSelected 1: 3, 0: 7" in out
    assert read_selection(sel).tolist() == [1, 0, 1, 1, 0, 0, 0, 0, 0, 0]  # undecided are not kept: 0
    text = sel.read_text()
    assert "\ndata_\n" in text and "_rlnSelected #1" in text and "# version 30001" in text
    code, _, _ = run(capsys, "export", tiny_set, "--keep", "1", "--undecided", "keep", "--out", tmp_path / "k.star",
                     "--selection", tmp_path / "all.star")
    assert code == 0 and read_selection(tmp_path / "all.star").sum() == 10
    assert len(read_star(tmp_path / "k.star")) == 10


def test_export_reads_relions_selection_as_labels(capsys, tiny_set: Path, tmp_path: Path) -> None:
    sel = tmp_path / "backup_selection.star"
    sel.write_text(RELION_WRITES)
    code, out, _ = run(capsys, "export", tiny_set, "--from-selection", sel, "--out", tmp_path / "k.star",
                       "--rejected", tmp_path / "r.star")
    assert code == 0
    names = read_star(tiny_set).particles["rlnImageName"]
    assert read_star(tmp_path / "k.star").particles["rlnImageName"].tolist() == names.iloc[[0, 2, 4, 5, 9]].tolist()
    assert len(read_star(tmp_path / "r.star")) == 5


def test_a_session_round_trips_through_a_selection(capsys, tiny_set: Path, tmp_path: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.KEEP, [0, 5])
    session.decide(Label.REJECT, [1])
    journal = session.journal.path
    session.close()
    sel = tmp_path / "sel.star"
    assert run(capsys, "export", tiny_set, "--session", journal, "--selection", sel)[0] == 0
    run(capsys, "export", tiny_set, "--from-selection", sel, "--out", tmp_path / "a.star")
    run(capsys, "export", tiny_set, "--session", journal, "--out", tmp_path / "b.star")
    assert read_star(tmp_path / "a.star").particles.equals(read_star(tmp_path / "b.star").particles)


@pytest.mark.parametrize("rows, message", [
    (9, "has 9 rows but"), (11, "has 11 rows but"),
])
def test_a_selection_of_another_row_count_is_refused(capsys, tiny_set: Path, tmp_path: Path, rows, message) -> None:
    sel = tmp_path / "backup_selection.star"
    sel.write_text(selection_text(np.ones(rows)))
    out = tmp_path / "k.star"
    code, _, err = run(capsys, "export", tiny_set, "--from-selection", sel, "--out", out)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(sel) in err and message in err and "10 particles" in err
    assert not out.exists() and not list(tmp_path.glob(".gan-viewer-tmp*"))


@pytest.mark.parametrize("body, message", [
    ("data_\nloop_\n_rlnImageName #1\n1@a.mrcs\n", "no _rlnSelected loop"),
    ("data_\nloop_\n_rlnSelected #1\n1\nyes\n", "row 2"),
    ("data_\nloop_\n_rlnSelected #1\n1\n-1\n", "row 2"),
    ("data_\nloop_\n_rlnSelected #1\n0.5\n", "row 1"),
])
def test_a_bad_selection_is_one_line(capsys, tiny_set: Path, tmp_path: Path, body: str, message: str) -> None:
    sel = tmp_path / "sel.star"
    sel.write_text(body)
    code, _, err = run(capsys, "export", tiny_set, "--from-selection", sel, "--out", tmp_path / "k.star")
    assert code == 2 and message in err and str(sel) in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "k.star").exists()


def test_export_needs_an_output_and_one_source(capsys, tiny_set: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "export", tiny_set, "--keep", "1")
    assert code == 2 and "--selection" in err
    sel = tmp_path / "s.star"
    sel.write_text(selection_text(np.ones(10)))
    code, _, err = run(capsys, "export", tiny_set, "--keep", "1", "--from-selection", sel, "--out", tmp_path / "k")
    assert code == 2 and "one source of labels" in err
    code, _, err = run(capsys, "export", tiny_set, "--keep", "1", "--out", sel, "--selection", sel, "--force")
    assert code == 2 and "different files" in err
