"""SIGTERM and Ctrl+C (SIGINT) stop a command cleanly: its temporaries go, one line, a non-zero status."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gan_viewer.io.star import read_star

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

#: ``simulate`` that says "rendering" once its stacks are open, then waits to be stopped
SIMULATE_AND_WAIT = """
import sys, time
import gan_viewer.sim.dataset as dataset
real_render = dataset.render
def render(*args, **kwargs):
    result = real_render(*args, **kwargs)
    print("rendering", flush=True)
    time.sleep(60)
    return result
dataset.render = render
from gan_viewer.cli import main
sys.exit(main(sys.argv[1:]))
"""

#: ``export`` that gets the signal (argv[1]) just before its first output is renamed
SIGNAL_AT_RENAME = """
import os, sys
real_replace = os.replace
def replace(src, dst):
    if not getattr(replace, "sent", False):
        replace.sent = True
        os.kill(os.getpid(), int(sys.argv[1]))
    real_replace(src, dst)
os.replace = replace
from gan_viewer.cli import main
sys.exit(main(sys.argv[2:]))
"""

EXPECTED = {signal.SIGTERM: (143, "gan-viewer {}: terminated (SIGTERM); temporary files removed"),
            signal.SIGINT: (130, "gan-viewer {}: interrupted")}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_write_leaves_nothing(tiny_map: Path, tmp_path: Path, signum: int) -> None:
    child = subprocess.Popen([sys.executable, "-c", SIMULATE_AND_WAIT, "simulate", "--map", str(tiny_map),
                              "--n", "300", "--snr", "0.1", "0.2", "--out", str(tmp_path / "sim")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "rendering"
    assert any(p.name.startswith(".") for p in tmp_path.iterdir())  # its temporaries, being written
    child.send_signal(signum)
    _, err = child.communicate(timeout=60)
    status, line = EXPECTED[signum]
    assert child.returncode == status and err.strip().splitlines() == [line.format("simulate")]
    assert sorted(p.name for p in tmp_path.iterdir()) == [tiny_map.name]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_the_renames_of_an_export(tiny_set: Path, tmp_path: Path, signum: int) -> None:
    """Both outputs are renamed before the signal is acted on: never the kept file without the rejected one."""
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run([sys.executable, "-c", SIGNAL_AT_RENAME, str(int(signum)), "export", str(tiny_set),
                             "--keep", "1-4", "--out", str(out / "k.star"), "--rejected", str(out / "r.star")],
                            capture_output=True, text=True, timeout=120)
    status, line = EXPECTED[signum]
    assert result.returncode == status
    assert [x for x in result.stderr.splitlines() if not x.startswith("INFO:")] == [line.format("export")]
    assert sorted(p.name for p in out.iterdir()) == ["k.star", "r.star"]
    assert len(read_star(out / "k.star")) == 4 and len(read_star(out / "r.star")) == 6
