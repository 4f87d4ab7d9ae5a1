from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gan_viewer.cli import main
from gan_viewer.core.curation import Label
from gan_viewer.core.session import Session
from gan_viewer.io.star import read_star, table_from_dataframe, write_star
from tests.conftest import BIN2_PICKS, write_mrcs, write_topaz_picks


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_imports_neither_torch_nor_qt() -> None:
    code = ("import sys; from gan_viewer.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'PyQt6', 'pyqtgraph', 'pandas') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "export" in out and "info" in out


def test_module_entry_point() -> None:
    result = subprocess.run([sys.executable, "-m", "gan_viewer", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "gan-viewer" in result.stdout


def test_info(capsys, tiny_set: Path) -> None:
    code, out, _ = run(capsys, "info", str(tiny_set))
    assert code == 0
    assert "particles       10" in out and "RELION 3.1/4 (30001)" in out and "2 A" in out
    assert "duplicates      unknown (finding duplicate picks needs rlnCoordinateX, rlnCoordinateY)" in out


def test_info_counts_duplicate_picks_as_relion_would(capsys, shared_data: Path) -> None:
    code, out, _ = run(capsys, "info", str(shared_data / "particles/real_relion31/relion31.v2.star"))
    assert code == 0  # its first two particles are one pick, twice
    assert "duplicates      1 within 30 A of a later pick on their micrograph" in out
    assert "0 split between the half sets" in out  # both in half set 1


def test_info_counts_duplicates_split_between_half_sets(capsys, tmp_path: Path) -> None:
    parts = pd.DataFrame({"rlnMicrographName": ["m"] * 4, "rlnCoordinateX": [10.0, 12.0, 500.0, 501.0],
                          "rlnCoordinateY": [10.0] * 4, "rlnRandomSubset": [1, 2, 1, 1],
                          "rlnImageName": [f"{i}@p.mrcs" for i in range(1, 5)], "rlnOpticsGroup": 1})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [2.0], "rlnImageSize": [8]})
    write_mrcs(tmp_path / "p.mrcs", np.zeros((4, 8, 8), np.float32), 2.0)
    path = write_star(table_from_dataframe(parts, optics), tmp_path / "halves.star")
    code, out, _ = run(capsys, "info", str(path))
    assert code == 0 and "2 within 30 A" in out and "1 split between the half sets" in out


def test_export_rows(capsys, tiny_set: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "export", str(tiny_set), "--keep", "1,3,5-9", "--out", str(tmp_path / "k.star"),
                       "--rejected", str(tmp_path / "r.star"))
    assert code == 0 and "kept 7" in out and "not kept 3" in out
    kept = read_star(tmp_path / "k.star").particles["rlnImageName"].str[:6].astype(int).tolist()
    assert kept == [1, 3, 5, 6, 1, 2, 3]  # rows 1,3,5,6 in a.mrcs then 7,8,9 = 1,2,3 in b.mrcs
    code, _, err = run(capsys, "export", str(tiny_set), "--keep", "2", "--out", str(tmp_path / "k.star"))
    assert code == 2 and "exists already" in err and "k.star" in err
    code, _, _ = run(capsys, "export", str(tiny_set), "--keep", "2", "--out", str(tmp_path / "k.star"), "--force")
    assert code == 0 and len(read_star(tmp_path / "k.star")) == 1


def test_export_from_session(capsys, tiny_set: Path, tmp_path: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.KEEP, [0, 4])
    session.decide(Label.REJECT, [9])
    session.close()
    code, out, _ = run(capsys, "export", str(tiny_set), "--session", str(session.journal.path),
                       "--out", str(tmp_path / "k.star"), "--rejected", str(tmp_path / "r.star"))
    assert code == 0 and "undecided 7: not kept (--undecided keep would keep them)" in out
    names = read_star(tiny_set).particles["rlnImageName"]
    assert read_star(tmp_path / "k.star").particles["rlnImageName"].tolist() == names[[0, 4]].tolist()
    assert len(read_star(tmp_path / "r.star")) == 8  # the complement: 1 rejected + 7 undecided
    code, out, _ = run(capsys, "export", str(tiny_set), "--session", str(session.journal.path), "--undecided", "keep",
                       "--out", str(tmp_path / "k2.star"), "--rejected", str(tmp_path / "r2.star"))
    assert code == 0 and "undecided 7: kept" in out
    assert len(read_star(tmp_path / "k2.star")) == 9 and read_star(tmp_path / "r2.star").particles[
        "rlnImageName"].tolist() == [names[9]]


def test_export_refuses_a_session_of_another_particle_set(capsys, tiny_set: Path, tmp_path: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.KEEP, [0])
    session.close()
    table = read_star(tiny_set)  # as many particles, in another order: the labels would land on others
    table.blocks[table.particles_block] = table.particles.iloc[::-1].reset_index(drop=True)
    from gan_viewer.io.star import write_star

    other = write_star(table, tmp_path / "reordered.star")
    code, _, err = run(capsys, "export", str(other), "--session", str(session.journal.path),
                       "--out", str(tmp_path / "k.star"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(session.journal.path) in err and "another particle set" in err
    assert "particles.star (10 particles" in err and "reordered.star (10 particles" in err
    assert not (tmp_path / "k.star").exists()


def test_export_a_micrographs_curated_topaz_picks(capsys, tmp_path: Path) -> None:
    """The inspector's session of one micrograph of a Topaz table, exported headless; the session
    of the other micrograph (as many picks) is refused for it."""
    from gan_viewer.core.micrograph_particles import MicrographParticles

    picks = write_topaz_picks(tmp_path, {"mic1": [(20, 30, 2.5), (50, 20, 1.0), (60, 40, 0.5)],
                                         "mic2": [(10, 10, 3.0), (30, 30, 2.0), (44, 44, 1.0)]})
    sessions = {}
    for name, decisions in (("mic1", [Label.REJECT, Label.KEEP, Label.KEEP]), ("mic2", [Label.KEEP] * 3)):
        session = Session(MicrographParticles(tmp_path / f"{name}.mrc", picks, 16))
        for index, label in enumerate(decisions):
            session.decide(label, [index])
        session.close()
        sessions[name] = session.journal.path
    kept = tmp_path / "mic1_kept.star"
    code, out, err = run(capsys, "export", str(tmp_path / "mic1.mrc"), "--coords", str(picks), "--box", "16",
                         "--session", str(sessions["mic1"]), "--out", str(kept))
    assert code == 0, err
    assert read_star(kept).particles.to_numpy(float).tolist() == [[50.0, 20.0, 1.0], [60.0, 40.0, 0.5]]
    code, _, err = run(capsys, "export", str(tmp_path / "mic1.mrc"), "--coords", str(picks), "--box", "16",
                       "--session", str(sessions["mic2"]), "--out", str(tmp_path / "wrong.star"))
    assert code == 2 and "another particle set" in err and not (tmp_path / "wrong.star").exists()
    code, _, err = run(capsys, "export", str(tmp_path / "mic1.mrc"), "--coords", str(picks), "--keep", "1",
                       "--out", str(tmp_path / "k.star"))
    assert code == 2 and "need both --coords PICKS and --box N" in err


def test_export_every_curated_micrograph_of_a_topaz_table(capsys, tmp_path: Path) -> None:
    from gan_viewer.core.micrograph_particles import MicrographParticles

    picks = write_topaz_picks(tmp_path, {"a": [(20, 30, 2.5), (50, 20, 1.0)], "b": [(10, 10, 3.0)],
                                         "c": [(30, 30, 1.5), (60, 40, 0.5)], "d": [(33, 33, 0.9)]},
                              micrographs=("a", "c", "d"))  # b is named in the table but not here; d: no session
    for name, labels in (("a", [Label.REJECT, Label.KEEP]), ("c", [Label.KEEP, Label.UNDECIDED])):
        session = Session(MicrographParticles(tmp_path / f"{name}.mrc", picks, 16))
        for index, label in enumerate(labels):
            session.decide(label, [index])
        session.close()
    out = tmp_path / "Picks"
    argv = ["export", str(tmp_path / "c.mrc"), "--coords", str(picks), "--box", "16", "--all-micrographs", str(out)]
    code, stdout, err = run(capsys, *argv)
    assert code == 0, err
    assert read_star(out / "a_kept.star").particles.to_numpy(float).tolist() == [[50.0, 20.0, 1.0]]
    assert read_star(out / "c_kept.star").particles.to_numpy(float).tolist() == [[30.0, 30.0, 1.5]]
    assert sorted(p.name for p in out.iterdir()) == ["a_kept.star", "c_kept.star"]
    assert "no session (not curated, nothing written): 1 micrograph(s), e.g. d.mrc" in stdout
    assert "but not beside c.mrc: 1, e.g. b" in stdout
    before = (out / "a_kept.star").read_text()
    code, _, err = run(capsys, *argv)  # they exist: refused, nothing written
    assert code == 2 and "2 of the coordinate files exist already" in err and (out / "a_kept.star").read_text() == before
    assert run(capsys, *argv, "--force")[0] == 0
    code, _, err = run(capsys, *argv, "--out", str(tmp_path / "k.star"))
    assert code == 2 and "drop --out" in err
    star = write_star(table_from_dataframe(pd.DataFrame({"rlnCoordinateX": [20.0], "rlnCoordinateY": [30.0]})),
                      tmp_path / "c_autopick.star")
    for coords, message in ((star, "c_autopick.star: is not a Topaz picks table"),
                            (tmp_path / "gone.txt", "gone.txt: no such file")):
        code, _, err = run(capsys, "export", str(tmp_path / "c.mrc"), "--coords", str(coords), "--box", "16",
                           "--all-micrographs", str(tmp_path / "elsewhere"))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "elsewhere").exists()


def test_picks_made_at_bin_2_export_at_coords_scale_2_in_micrograph_pixels(capsys, tmp_path: Path) -> None:
    """Topaz's picks of a copy binned by 2, curated at --coords-scale 2: written x 2, alone and with
    --all-micrographs; their session is refused, and not found, at scale 1."""
    from gan_viewer.core.micrograph_particles import MicrographParticles

    picks = write_topaz_picks(tmp_path, {"mic": [(x, y, 1.0) for x, y in BIN2_PICKS]})
    session = Session(MicrographParticles(tmp_path / "mic.mrc", picks, 16, scale=2))
    session.decide(Label.KEEP, [0, 3, 5])
    session.close()
    expected = 2 * np.array(BIN2_PICKS, float)[[0, 3, 5]]
    base = ["export", str(tmp_path / "mic.mrc"), "--coords", str(picks), "--box", "16"]
    code, out, err = run(capsys, *base, "--coords-scale", "2", "--session", str(session.journal.path),
                         "--out", str(tmp_path / "mic_kept.star"))
    assert code == 0 and "warning" not in out, err
    kept = read_star(tmp_path / "mic_kept.star").particles
    np.testing.assert_array_equal(kept[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float), expected)
    code, out, err = run(capsys, *base, "--coords-scale", "2", "--all-micrographs", str(tmp_path / "Picks"))
    kept = read_star(tmp_path / "Picks" / "mic_kept.star").particles
    assert code == 0 and "warning" not in out, err
    np.testing.assert_array_equal(kept[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float), expected)
    code, _, err = run(capsys, *base, "--session", str(session.journal.path), "--out", str(tmp_path / "wrong.star"))
    assert code == 2 and "another particle set" in err and "at --coords-scale 2 (12 particles" in err
    code, out, _ = run(capsys, *base, "--all-micrographs", str(tmp_path / "at1"))
    assert code == 0 and "no session (not curated, nothing written): 1 micrograph(s)" in out
    assert not (tmp_path / "wrong.star").exists() and not list((tmp_path / "at1").glob("*"))


def test_info_and_export_warn_when_the_picks_look_made_at_another_binning(capsys, tmp_path: Path) -> None:
    picks = write_topaz_picks(tmp_path, {"mic": [(x, y, 1.0) for x, y in BIN2_PICKS],
                                         "spread": [(2 * x, 2 * y, 1.0) for x, y in BIN2_PICKS]})
    argv = ["--coords", str(picks), "--box", "16"]
    code, out, _ = run(capsys, "info", str(tmp_path / "mic.mrc"), *argv)
    assert code == 0 and out.splitlines()[-1] == (
        "warning: all 12 picks of predicted_particles_all.txt lie in the top-left 48 % of the 80 x 64 px micrograph "
        "mic.mrc; picked on a copy binned by 2? try --coords-scale 2")
    code, out, _ = run(capsys, "export", str(tmp_path / "mic.mrc"), *argv, "--keep", "1", "--out",
                       str(tmp_path / "k.star"))
    assert code == 0 and "warning: all 12 picks" in out and "try --coords-scale 2" in out
    for micrograph, extra in (("spread", []), ("mic", ["--coords-scale", "2"])):
        code, out, _ = run(capsys, "info", str(tmp_path / f"{micrograph}.mrc"), *argv, *extra)
        assert code == 0 and "particles     12" in out and "warning" not in out


def test_info_lets_go_of_the_micrograph_it_describes(monkeypatch, tmp_path: Path) -> None:
    from gan_viewer.core.micrograph_particles import MicrographParticles
    from gan_viewer.core.summary import summarize

    closed = []
    close = MicrographParticles.close
    monkeypatch.setattr(MicrographParticles, "close", lambda self: closed.append(self.micrograph_path) or close(self))
    picks = write_topaz_picks(tmp_path, {"mic": [(20, 30, 1.0)]})
    assert summarize(tmp_path / "mic.mrc", coords=picks, box=16)["particles"] == 1
    assert closed == [tmp_path / "mic.mrc"]


@pytest.mark.parametrize("value", ["0", "-2", "nan", "inf"])
def test_an_absurd_coords_scale_is_one_line_and_writes_nothing(capsys, tmp_path: Path, value: str) -> None:
    picks = write_topaz_picks(tmp_path, {"mic": [(20, 30, 1.0)]})
    base = [str(tmp_path / "mic.mrc"), "--coords", str(picks), "--box", "16", "--coords-scale", value]
    for argv in (["info", *base], ["gui", *base], ["export", *base, "--keep", "1", "--out", str(tmp_path / "k.star")],
                 ["export", *base, "--all-micrographs", str(tmp_path / "Picks")]):
        code, _, err = run(capsys, *argv)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert "predicted_particles_all.txt: coordinate scale (--coords-scale) must be a positive number" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mic.mrc", "predicted_particles_all.txt"]
    code, _, err = run(capsys, "info", str(tmp_path / "mic.mrc"), "--coords-scale", "2")
    assert code == 2 and "--coords-scale scales the picks of --coords" in err and len(err.strip().splitlines()) == 1


def test_export_reject_rows_say_where_the_rest_goes(capsys, tiny_set: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "export", str(tiny_set), "--reject", "2,4", "--out", str(tmp_path / "k.star"))
    assert code == 2 and "--undecided keep" in err and not (tmp_path / "k.star").exists()
    code, out, _ = run(capsys, "export", str(tiny_set), "--reject", "2,4", "--undecided", "keep",
                       "--out", str(tmp_path / "k.star"), "--rejected", str(tmp_path / "r.star"))
    assert code == 0 and "kept 8" in out and "not kept 2" in out
    code, out, _ = run(capsys, "export", str(tiny_set), "--keep", "1", "--reject", "2", "--out",
                       str(tmp_path / "k3.star"), "--rejected", str(tmp_path / "r3.star"))
    assert code == 0 and "kept 1" in out and "not kept 9" in out and "undecided 8: not kept" in out


@pytest.mark.parametrize("args, message", [
    (["--keep", "0"], "outside 1..10"),
    (["--keep", "1-99"], "outside 1..10"),
    ([], "say which particles to keep"),
])
def test_export_bad_rows(capsys, tiny_set: Path, tmp_path: Path, args, message) -> None:
    code, _, err = run(capsys, "export", str(tiny_set), *args, "--out", str(tmp_path / "k.star"))
    assert code == 2 and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "k.star").exists()


@pytest.mark.parametrize("make_bad", ["garbage_star", "empty_star", "truncated_mrcs", "missing"])
def test_bad_input_one_line_exit_2(capsys, tmp_path: Path, make_bad: str) -> None:
    path = {"garbage_star": tmp_path / "g.star", "empty_star": tmp_path / "e.star",
            "truncated_mrcs": tmp_path / "t.mrcs", "missing": tmp_path / "nope.star"}[make_bad]
    if make_bad == "garbage_star":
        path.write_text("data_\nloop_\n_rlnImageName #1\n_rlnX #2\n1@a.mrcs 1 2 3\n")
    elif make_bad == "empty_star":
        path.write_text("\n\n")
    elif make_bad == "truncated_mrcs":
        from gan_viewer.io.mrc import write_stack

        write_stack(path, np.zeros((3, 8, 8)))
        path.write_bytes(path.read_bytes()[:-10])
    code, out, err = run(capsys, "info", str(path))
    assert code == 2
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "gan_viewer", "info", str(tmp_path / "nope.star"), "--debug"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_unexpected_error_is_one_line_and_a_log_file(capsys, monkeypatch, tmp_path: Path, tiny_set: Path) -> None:
    import gan_viewer.cli.info as info

    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # where platformdirs puts user logs on Linux
    monkeypatch.setattr(info, "main", broken)
    code, _, err = run(capsys, "info", str(tiny_set))
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert "gan-viewer info: internal error: RuntimeError: boom second line" in err and "--debug" in err
    log_file = Path(err.split("the traceback is in ")[1].split(";")[0])
    assert log_file.is_file() and str(tmp_path / "state") in str(log_file)
    text = log_file.read_text()
    assert "Traceback" in text and "RuntimeError: boom" in text and f"gan-viewer info {tiny_set}" in text
    with pytest.raises(RuntimeError, match="boom"):
        main(["info", str(tiny_set), "--debug"])


def test_export_with_the_session_scores(capsys, tiny_set: Path, tmp_path: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.KEEP, [0, 4])
    session.save_scores(np.array([0, 4]), {"agreement score": np.array([0.25, 0.5]), "embedding 1": np.ones(2)},
                        {"agreement score": "map", "embedding 1": "model"})
    session.close()
    code, _, err = run(capsys, "export", str(tiny_set), "--scores", "--out", str(tmp_path / "k.star"),
                       "--keep", "1")
    assert code == 2 and "--session" in err and not (tmp_path / "k.star").exists()
    code, out, _ = run(capsys, "export", str(tiny_set), "--session", str(session.journal.path), "--scores",
                       "--out", str(tmp_path / "k.star"))
    assert code == 0 and "score columns: gvAgreement" in out
    kept = read_star(tmp_path / "k.star")
    assert kept.particles["gvAgreement"].tolist() == [0.25, 0.5]
    assert not any(c.startswith("gvEmbedding") for c in kept.columns)  # features, not scores


def test_export_scores_from_a_session_without_any(capsys, tiny_set: Path, tmp_path: Path) -> None:
    session = Session.open(tiny_set)
    session.decide(Label.KEEP, [0])
    session.close()
    code, _, err = run(capsys, "export", str(tiny_set), "--session", str(session.journal.path), "--scores",
                       "--out", str(tmp_path / "k.star"))
    assert code == 2 and "holds no scores" in err and not (tmp_path / "k.star").exists()


def test_info_describes_a_star_whose_stacks_are_missing(capsys, tiny_set: Path, tmp_path_factory) -> None:
    """The case ``info`` is for: what the file says, and which stacks were not found (exit 0)."""
    tmp_path = tmp_path_factory.mktemp("elsewhere")  # neither it nor its parents hold the stacks
    table = read_star(tiny_set)
    table.blocks[table.optics_block] = table.optics.drop(columns=["rlnImageSize"])  # the box must come from a stack
    path = write_star(table, tmp_path / "elsewhere.star")
    code, out, _ = run(capsys, "info", str(path))
    assert code == 0 and "particles       10" in out and "stacks_found    0" in out
    assert "box             unknown (the file does not say, and no stack of it was found)" in out
    assert "a.mrcs" in out and "b.mrcs" in out
    code, _, err = run(capsys, "denoise", str(path), "--out", str(tmp_path / "d.mrcs"))
    assert code == 2 and "stack(s)" in err and not (tmp_path / "d.mrcs").exists()  # the others still refuse it
