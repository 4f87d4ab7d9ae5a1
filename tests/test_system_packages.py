"""packaging/system-packages.sh, which `make run` and `make test` run first: installs the missing
Debian packages as root, names them in one line for a user (fake dpkg-query, id and apt-get)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "packaging" / "system-packages.sh"
QT_X11 = ("libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0")


def fake(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def system(tmp_path: Path, uid: int, missing: set[str]) -> Path:
    """A PATH where dpkg-query knows every package but ``missing``, id -u says ``uid`` and apt-get logs."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    cases = "|".join(sorted(missing)) or "-none-"
    fake(bin_, "dpkg-query", 'for p in "$@"; do case $p in -*|\'${Status}\\n\') continue;; ' + cases
         + ') ;; *t64) ;; *) echo "install ok installed";; esac; done\n')
    fake(bin_, "id", f'echo {uid}\n')
    fake(bin_, "apt-get", f'echo "$*" >> {tmp_path}/apt.log\n')
    return bin_


def run(folder: Path, mode: str, uid: int, missing: set[str]) -> subprocess.CompletedProcess:
    """The script in a fake system of its own, in ``folder`` (made here)."""
    folder.mkdir(parents=True, exist_ok=True)
    bin_ = system(folder, uid, missing)
    env = dict(os.environ, PATH=f"{bin_}:{os.environ['PATH']}")
    return subprocess.run(["sh", str(SCRIPT), mode], capture_output=True, text=True, env=env, timeout=60)


def apt_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "apt.log"
    return log.read_text().splitlines() if log.exists() else []


def test_a_user_gets_one_line_naming_the_missing_packages(tmp_path: Path) -> None:
    result = run(tmp_path, "run", 1000, set(QT_X11))
    assert result.returncode == 1  # make run stops: Qt cannot open a window without them
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "sudo apt-get install -y" in lines[0]
    assert all(name in lines[0] for name in QT_X11) and "relion" not in lines[0]
    assert apt_calls(tmp_path) == []


def test_a_user_without_relion_still_runs_the_tests(tmp_path: Path) -> None:
    result = run(tmp_path, "test", 1000, {"relion", "libxcb-icccm4"})
    assert result.returncode == 0
    line, = result.stderr.strip().splitlines()
    assert "relion" in line and "libxcb-icccm4" not in line  # the offscreen tests need no X libraries
    assert apt_calls(tmp_path) == []


def test_root_installs_what_is_missing(tmp_path: Path) -> None:
    result = run(tmp_path, "run", 0, {"libxcb-icccm4", "libxcb-keysyms1"})
    assert result.returncode == 0, result.stderr
    update, install = apt_calls(tmp_path)
    assert update.startswith("update")
    assert install.startswith("install -y") and install.split()[-2:] == ["libxcb-icccm4", "libxcb-keysyms1"]
    assert run(tmp_path / "test", "test", 0, {"relion"}).returncode == 0
    assert apt_calls(tmp_path / "test")[-1].split()[-1] == "relion"


@pytest.mark.parametrize("uid", [0, 1000])
def test_nothing_happens_where_everything_is_installed(tmp_path: Path, uid: int) -> None:
    for mode in ("run", "test"):
        result = run(tmp_path / mode, mode, uid, set())
        assert result.returncode == 0 and result.stderr == "" and apt_calls(tmp_path / mode) == []


def test_the_makefile_checks_system_packages_before_the_venv() -> None:
    make = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        recipe = make.split(f"\n{target}:\n", 1)[1].split("\n\n", 1)[0]
        assert recipe.index(f"system-packages.sh {target}") < recipe.index("$(STAMP)")
