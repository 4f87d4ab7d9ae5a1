"""The wheel carries the bundled resources, and the lookup finds them from an installed wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return next(out.glob("gan_viewer-*.whl"))


def test_wheel_ships_resources(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gan_viewer/resources/demo/betagal_5a1a.mrc" in names
    assert "gan_viewer/resources/models/default.safetensors" in names
    assert "gan_viewer/resources/models/default.json" in names
    assert not any(n.endswith(".train.pt") for n in names)


def test_resources_found_from_an_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path)
    code = ("from gan_viewer.resources import resource_path; "
            "print(resource_path('models/default.safetensors'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith(str(tmp_path / "gan_viewer" / "resources"))


def test_wheel_ships_the_type_marker(wheel: Path) -> None:
    assert "gan_viewer/py.typed" in zipfile.ZipFile(wheel).namelist()  # PEP 561: the package is typed
