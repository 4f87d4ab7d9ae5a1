"""Temporaries of killed runs: recognisable, removed by the next write into the folder, never a live one's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gan_viewer.io import temporaries
from gan_viewer.io.atomic import atomic_dir, atomic_write_bytes
from gan_viewer.io.temporaries import TMP_PREFIX, remove_stale_temporaries

posix_only = pytest.mark.skipif(os.name != "posix", reason="PIDs are checked with os.kill(pid, 0) on POSIX")

#: a child that starts writing a stack, says so, and waits to be killed
WRITER = """
import sys, time
import numpy as np
from gan_viewer.io.mrc import StackWriter
with StackWriter(sys.argv[1], (100, 32, 32), 1.0) as out:
    out.write(0, np.ones((10, 32, 32), np.float32))
    print("writing", flush=True)
    time.sleep(60)
"""


def start_writer(path: Path) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    return child


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def fake_temporary(folder: Path, name: str, pid: int, host: str | None = None, directory: bool = False) -> Path:
    path = folder / f"{TMP_PREFIX}{name}.{host or temporaries._HOST}.{pid}.0123abcd.tmp"
    if directory:
        path.mkdir()
        (path / "inside.mrcs").write_bytes(b"x")
    else:
        path.write_bytes(b"half")
    return path


@posix_only
def test_sigkill_leaves_a_temporary_that_the_next_write_removes(tmp_path: Path) -> None:
    child = start_writer(tmp_path / "stack.mrcs")
    child.send_signal(signal.SIGKILL)
    child.wait()
    left = hidden(tmp_path)
    assert len(left) == 1 and left[0].startswith(TMP_PREFIX + "stack.mrcs.")  # recognisable
    atomic_write_bytes(tmp_path / "other.txt", b"next run")
    assert hidden(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["other.txt"]


@posix_only
def test_a_live_writers_temporary_is_left_alone(tmp_path: Path) -> None:
    child = start_writer(tmp_path / "stack.mrcs")
    try:
        atomic_write_bytes(tmp_path / "other.txt", b"x")
        with atomic_dir(tmp_path / "folder"):
            pass
        assert len(hidden(tmp_path)) == 1  # the child's, still being written
    finally:
        child.kill()
        child.wait()


@posix_only
def test_only_temporaries_of_gone_writers_on_this_host_are_removed(tmp_path: Path) -> None:
    gone = dead_pid()
    stale_file = fake_temporary(tmp_path, "k.star", gone)
    stale_dir = fake_temporary(tmp_path, "sim", gone, directory=True)
    mine = fake_temporary(tmp_path, "mine.star", os.getpid())
    elsewhere = fake_temporary(tmp_path, "k.star", gone, host="another-node")
    other_user = fake_temporary(tmp_path, "k.star", 1)  # init: runs (as root, or another user)
    foreign = tmp_path / ".k.star.x1y2z3.tmp"  # not ours: no PID to check
    foreign.write_text("?")
    assert remove_stale_temporaries(tmp_path) == 2
    assert not stale_file.exists() and not stale_dir.exists()
    assert mine.exists() and elsewhere.exists() and other_user.exists() and foreign.exists()


@posix_only
def test_sigterm_in_a_command_removes_its_temporaries(tmp_path: Path) -> None:
    """A command (signal handlers installed as the command line does) stopped mid-write."""
    code = ("import sys; from gan_viewer.io.temporaries import install_signal_cleanup; "
            f"install_signal_cleanup('gan-viewer test'); exec({WRITER!r})")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "stack.mrcs")], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=30)
    assert child.returncode == 143
    assert err.strip().splitlines() == ["gan-viewer test: terminated (SIGTERM); temporary files removed"]
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_carry_host_and_pid(tmp_path: Path) -> None:
    tmp = temporaries.new_temporary(tmp_path / "gen_snr0.05.json")
    try:
        assert tmp.name.startswith(f"{TMP_PREFIX}gen_snr0.05.json.{temporaries._HOST}.{os.getpid()}.")
        assert temporaries._NAME.match(tmp.name) and tmp.name.endswith(".tmp")
    finally:
        temporaries.discard_temporary(tmp)
    assert not tmp.exists() and str(tmp) not in temporaries._live
