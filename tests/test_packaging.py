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
    assert "gan_viewer/resources/icons/gan-viewer.png" in names
    assert not any(n.endswith(".train.pt") for n in names)


def test_resources_found_from_an_unpacked_wheel(wheel: Path, tmp_path: Path) -> None:
    zipfile.ZipFile(wheel).extractall(tmp_path)
    code = ("from gan_viewer.resources import resource_path; "
            "print(resource_path('models/default.safetensors'))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                            env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().startswith(str(tmp_path / "gan_viewer" / "resources"))


def test_desktop_entry_and_icon() -> None:
    """The frozen app's desktop entry starts the inspector and names the bundled icon, which the
    window shows too."""
    entry = dict(line.split("=", 1) for line in (ROOT / "packaging/gan-viewer.desktop").read_text().splitlines()
                 if "=" in line)
    assert entry["Type"] == "Application" and entry["Exec"].split()[1:] == ["gui", "%f"]
    assert (ROOT / "resources/icons" / f"{entry['Icon']}.png").is_file()
    pytest.importorskip("PyQt6")
    code = ("import os; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from gan_viewer.gui.app import create_app\n"
            "app = create_app(); print(app.windowIcon().isNull(), app.desktopFileName())")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.stdout.split() == ["False", "gan-viewer"], result.stderr[-2000:]


def test_wheel_ships_the_type_marker(wheel: Path) -> None:
    assert "gan_viewer/py.typed" in zipfile.ZipFile(wheel).namelist()  # PEP 561: the package is typed


def test_a_new_throughput_measurement_replaces_the_cards_one_of_the_same_setting(tmp_path: Path) -> None:
    import json

    old = {"n": 4000, "box": 128, "apix": 3.0, "spread": False, "device": "cpu", "particles_per_s": 95.0}
    other = {**old, "n": 1000, "particles_per_s": 78.0}
    (tmp_path / "m.json").write_text(json.dumps({"name": "m", "throughput": [old, other]}))
    (tmp_path / "t.json").write_text(json.dumps({**old, "single_scale": False, "particles_per_s": 111.0}))
    result = subprocess.run([sys.executable, str(ROOT / "packaging" / "finish_model_card.py"), str(tmp_path / "m.safetensors"),
                             "--throughput", str(tmp_path / "t.json")], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    card = json.loads((tmp_path / "m.json").read_text())
    assert [t["particles_per_s"] for t in card["throughput"]] == [78.0, 111.0]
