"""Real commands writing onto a full disk (a small tmpfs): exit 2, one line, nothing left behind.

Mounting needs root; without it these tests skip (tests/io/test_atomic_writes.py injects the same
errors without root).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gan_viewer.cli import main
from gan_viewer.io.mrc import write_map
from tests.conftest import blob_volume

PAGE = 4096


#: runs each command line in turn (in one process: torch is imported once) and prints [status, stderr] per run;
#: a run that starts with "bypass-free-space-check" sees a huge free space, as if another writer took the
#: space after the check. A SIGBUS kills this process, and the test sees it.
CHILD = """
import contextlib, io, json, shutil, sys
from gan_viewer.cli import main
results, real_disk_usage = [], shutil.disk_usage
for argv in json.loads(sys.argv[1]):
    if argv[0] == "bypass-free-space-check":
        argv = argv[1:]
        shutil.disk_usage = lambda path: shutil._ntuple_diskusage(1 << 40, 0, 1 << 40)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        status = main(argv)
    shutil.disk_usage = real_disk_usage
    results.append([status, stderr.getvalue()])
print(json.dumps(results))
"""


def run_commands(*argvs: list) -> list[tuple[int, str]]:
    result = subprocess.run([sys.executable, "-c", CHILD, json.dumps([[str(a) for a in argv] for argv in argvs])],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])  # -7: SIGBUS
    return [tuple(r) for r in json.loads(result.stdout.splitlines()[-1])]


@pytest.fixture
def small_disk(tmp_path: Path):
    """``mount(size_kib) -> folder``: a tmpfs of that size, unmounted after the test."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mounted: list[Path] = []

    def mount(size_kib: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(folder)],
                                capture_output=True, text=True)
        if result.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip()})")
        mounted.append(folder)
        return folder

    try:
        yield mount
    finally:
        for folder in mounted:
            if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
                subprocess.run(["umount", "-l", str(folder)], check=False)  # busy (a file left open): detach


@pytest.fixture(scope="module")
def simulated(tmp_path_factory) -> Path:
    """200 simulated 32 px particles (noisy stack + STAR), on the ordinary disk."""
    folder = tmp_path_factory.mktemp("simulated")
    write_map(folder / "map.mrc", blob_volume(32), 2.0)
    assert main(["simulate", "--map", str(folder / "map.mrc"), "--n", "200", "--snr", "0.1",
                 "--out", str(folder / "sim")]) == 0
    return folder


def assert_refused(status: int, stderr: str, command: str, path: Path) -> None:
    assert status == 2, (status, stderr)
    errors = [line for line in stderr.splitlines() if not line.startswith("INFO:")]
    assert len(errors) == 1 and errors[0].startswith(f"gan-viewer {command}: error: {path}: "), errors
    assert "no space left on device" in errors[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_simulate_project_denoise_on_a_full_disk(small_disk, simulated: Path) -> None:
    """Refused up front (the stacks need 0.8 MB each); and when the space goes after that check, the
    reservation fails: one line, status 2, never a SIGBUS."""
    disk = small_disk(256)
    sim = simulated / "sim"
    project = ["project", "--map", simulated / "map.mrc", "--star", sim / "particles.star", "--out", disk / "refs.mrcs"]
    results = run_commands(
        ["simulate", "--map", simulated / "map.mrc", "--n", 200, "--snr", 0.1, "--out", disk / "sim"],
        project,
        ["denoise", sim / "particles.mrcs", "--out", disk / "den.mrcs", "--device", "cpu"],
        ["bypass-free-space-check", *project],
        ["bypass-free-space-check", "simulate", "--map", simulated / "map.mrc", "--n", 200, "--snr", 0.1,
         "--out", disk / "sim"])
    for (status, stderr), (command, path) in zip(results, [("simulate", disk / "sim"), ("project", disk / "refs.mrcs"),
                                                          ("denoise", disk / "den.mrcs"),
                                                          ("project", disk / "refs.mrcs"),
                                                          ("simulate", disk / "sim/particles.mrcs")]):
        assert_refused(status, stderr, command, path)
    assert "needs 820.2 kB" in results[1][1]  # 1,024 bytes of header + 200 x 32 x 32 float32
    assert leftovers(disk) == []


def test_export_all_or_nothing_on_a_full_disk(small_disk, simulated: Path, tmp_path: Path, capsys) -> None:
    """Room for the kept file but not the rejected one: neither is written."""
    star = simulated / "sim" / "particles.star"
    probe = tmp_path / "probe"
    probe.mkdir()
    assert main(["export", str(star), "--keep", "1-20", "--out", str(probe / "k.star"),
                 "--rejected", str(probe / "r.star")]) == 0
    kept_pages = math.ceil((probe / "k.star").stat().st_size / PAGE)
    assert math.ceil((probe / "r.star").stat().st_size / PAGE) > 1
    disk = small_disk(256)
    fill = disk / "other-data"
    fill.write_bytes(b"\0" * (shutil.disk_usage(disk).free - (kept_pages + 1) * PAGE))
    capsys.readouterr()
    status = main(["export", str(star), "--keep", "1-20", "--out", str(disk / "k.star"),
                   "--rejected", str(disk / "r.star")])
    assert_refused(status, capsys.readouterr().err, "export", disk / "r.star")
    assert leftovers(disk) == ["other-data"]


def test_train_on_a_full_disk(small_disk, simulated: Path, capsys) -> None:
    """The training state does not fit: one line, no temporaries, weights and card both or neither."""
    disk = small_disk(64)
    status = main(["train", "--map", str(simulated / "map.mrc"), "--snr", "0.1", "--steps", "2", "--box", "32",
                   "--depth", "3", "--base-channels", "4", "--batch-size", "4", "--validate-every", "2",
                   "--device", "cpu", "--out", str(disk / "gen")])
    assert_refused(status, capsys.readouterr().err, "train", disk / "gen.train.pt")
    names = leftovers(disk)
    assert not [n for n in names if n.startswith(".")]
    assert ("gen.safetensors" in names) == ("gen.json" in names)
