"""MRC headers are checked against the file's size before anything is read or allocated."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from gan_viewer.cli import main
from gan_viewer.errors import InputError
from gan_viewer.io.mrc import MrcStack, write_stack
from gan_viewer.io.mrc_check import check_mrc_layout
from gan_viewer.io.maps import load_map

#: byte offsets of the int32 header fields the tests change
OFFSETS = {"nx": 0, "ny": 4, "nz": 8, "mode": 12, "mz": 36, "ispg": 88, "nsymbt": 92}


def patched(path: Path, **fields: int) -> Path:
    """``path`` with int32 header ``fields`` overwritten (little-endian)."""
    raw = bytearray(path.read_bytes())
    for name, value in fields.items():
        raw[OFFSETS[name]:OFFSETS[name] + 4] = struct.pack("<i", value)
    path.write_bytes(bytes(raw))
    return path


def float_cube(tmp_path: Path, name: str = "c.mrc") -> Path:
    """An 8 x 8 x 8 float32 file: a stack of 8 images or a cubic map."""
    return write_stack(tmp_path / name, np.random.default_rng(0).random((8, 8, 8)))


@pytest.mark.parametrize("fields, message", [
    ({"nx": -8}, "-8 x 8 x 8 voxels"),
    ({"ny": -8}, "8 x -8 x 8 voxels"),
    ({"nz": 0}, "8 x 8 x 0 voxels"),
    ({"nx": 1 << 20}, "each side must be 1 to"),
    ({"mode": -1}, "unknown MRC mode -1"),
    ({"mode": 0}, "4 bytes per voxel: the mode is likely wrong"),  # float32 data labelled int8
    ({"mode": 1}, "4 bytes per voxel: the mode is likely wrong"),  # float32 data labelled int16
    ({"mode": 4}, "not supported"),
    ({"nz": 9}, "truncated"),
    ({"nz": 7}, "256 bytes more"),
    ({"nsymbt": -5}, "extended header of -5 bytes"),
    ({"nsymbt": 2**31 - 1}, "extended header of 2147483647 bytes"),
    ({"nsymbt": 100}, "truncated"),
    ({"ispg": 401, "mz": 0}, "mz = 0 does not divide nz = 8"),
])
@pytest.mark.parametrize("reader", ["stack", "map"])
def test_bad_headers_one_line(tmp_path: Path, fields: dict, message: str, reader: str) -> None:
    path = patched(float_cube(tmp_path), **fields)
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as info:
        MrcStack(path).read([0]) if reader == "stack" else load_map(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_every_shared_file_passes(shared_data: Path) -> None:
    files = sorted(shared_data.rglob("*.mrc")) + sorted(shared_data.rglob("*.mrcs"))
    assert len(files) >= 10
    for path in files:
        layout = check_mrc_layout(path)
        assert layout.nx > 0 and layout.extended_bytes >= 0


def test_big_endian_without_machine_stamp_reads_like_mrcfile(tmp_path: Path) -> None:
    data = np.arange(2 * 6 * 6, dtype=">f4").reshape(2, 6, 6)
    path = tmp_path / "big.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.set_image_stack()
    raw = bytearray(path.read_bytes())
    raw[212:216] = b"\0\0\0\0"  # no machine stamp: mrcfile guesses the order from the mode
    path.write_bytes(bytes(raw))
    assert check_mrc_layout(path).byte_order == ">"
    with MrcStack(path) as stack:
        np.testing.assert_array_equal(stack.read([1]), data[[1]].astype(np.float32))


def test_cli_one_line_exit_2(capsys, tmp_path: Path) -> None:
    path = patched(float_cube(tmp_path, "s.mrcs"), mode=1)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mode is likely wrong" in err and str(path) in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS is Linux's")
def test_huge_extended_header_claim_allocates_nothing(tmp_path: Path) -> None:
    # 66 KB of file claiming a 2 GB extended header: mrcfile alone reads (allocates) all of it
    path = patched(write_stack(tmp_path / "x.mrcs", np.zeros((1, 128, 128))), nsymbt=2**31 - 1)
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
            "from gan_viewer.errors import InputError\n"
            "from gan_viewer.io.mrc import MrcStack\n"
            "try:\n    MrcStack(sys.argv[1])\nexcept InputError as exc:\n    print('InputError', exc)\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-500:]
    assert "InputError" in result.stdout and "extended header of 2147483647 bytes" in result.stdout
