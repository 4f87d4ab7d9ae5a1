"""An MRC file's header checked against the file's size before anything is read or allocated.

``mrcfile`` trusts the header: it reads the extended header whatever length ``nsymbt`` claims
(a 66 KB file claiming 2 GB took 4.3 GB of memory), fails with Python errors on negative sizes,
and maps data of any mode as long as the file is not too short. :func:`check_mrc_layout` reads
the 1,024-byte header alone and requires

* sizes ``nx, ny`` from 1 to :data:`MAX_SIDE`, ``nz`` at least 1, a known mode;
* an extended header (``nsymbt``) from 0 to :data:`MAX_EXTENDED_HEADER` bytes;
* ``1024 + nsymbt + nx * ny * nz * bytes per voxel == file size``, exactly: real files match to
  the byte, and extra bytes usually mean a wrong mode (float32 data labelled int8 or int16 makes
  the file 4x or 2x as long as the header says).

The byte order is chosen as ``mrcfile`` chooses it (machine stamp; little-endian when the stamp is
unknown, the other order when only that gives a known mode), so both agree on the sizes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mrcfile.dtypes import HEADER_DTYPE

from gan_viewer.errors import InputError

HEADER_BYTES = HEADER_DTYPE.itemsize  # 1024
#: bytes per voxel of each MRC mode (3: complex int16, 4: complex float32, 101: 4-bit, two per byte)
MODE_BYTES: dict[int, float] = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2, 101: 0.5}
_MODE_NAMES = {0: "int8", 1: "int16", 2: "float32", 3: "complex int16", 4: "complex64", 6: "uint16",
               12: "float16", 101: "4-bit"}
#: largest image side accepted (131,072 px; detectors are at most 16,384 px even super-resolved)
MAX_SIDE = 1 << 17
#: largest extended header accepted; mrcfile reads it into memory whole
MAX_EXTENDED_HEADER = 256 << 20


@dataclass(frozen=True)
class MrcLayout:
    """What a checked header says: sizes, mode, extended-header length and byte order."""

    nx: int
    ny: int
    nz: int
    mode: int
    extended_bytes: int
    byte_order: str  # "<" or ">"


def check_mrc_layout(path: str | os.PathLike, modes: tuple[int, ...] | None = None) -> MrcLayout:
    """Check the header of the MRC file ``path`` against its size; reads 1,024 bytes only.

    Parameters
    ----------
    path
        The MRC file.
    modes
        The modes the caller can use; None accepts every mode MRC defines.

    Raises
    ------
    InputError
        One line naming ``path``: missing, shorter than a header, sizes out of range, unsupported
        mode, extended header or data not matching the file's size.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            raw = fh.read(HEADER_BYTES)
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", path) from exc
    if size < HEADER_BYTES:
        _fail(f"truncated: {size} bytes, less than the {HEADER_BYTES}-byte MRC header", path)
    order = _byte_order(raw)
    header = np.frombuffer(raw, HEADER_DTYPE.newbyteorder(order))[0]
    nx, ny, nz, mode = (int(header[k]) for k in ("nx", "ny", "nz", "mode"))
    if min(nx, ny, nz) < 1 or max(nx, ny) > MAX_SIDE:
        _fail(f"header gives {nx} x {ny} x {nz} voxels; each side must be 1 to {MAX_SIDE}", path)
    if mode not in MODE_BYTES:
        _fail(f"unknown MRC mode {mode}", path)
    if modes is not None and mode not in modes:
        raise InputError(f"MRC mode {mode} is not supported (modes {modes})", path)
    extended = int(header["nsymbt"])
    if not 0 <= extended <= min(MAX_EXTENDED_HEADER, size - HEADER_BYTES):
        _fail(f"extended header of {extended} bytes claimed (nsymbt) in a file of {size} bytes", path)
    _check_volume_stack(header, nz, path)
    _check_data_size(nx, ny, nz, mode, size - HEADER_BYTES - extended, path)
    return MrcLayout(nx, ny, nz, mode, extended, order)


def _byte_order(raw: bytes) -> str:
    """``mrcfile``'s choice: the machine stamp's order, else little-endian unless only
    big-endian gives a known mode."""
    at = HEADER_DTYPE.fields["machst"][1]
    stamp = raw[at:at + 2]
    if stamp[:1] == b"\x44" and stamp[1:] in (b"\x44", b"\x41"):
        return "<"
    if stamp == b"\x11\x11":
        return ">"
    at = HEADER_DTYPE.fields["mode"][1]
    little, big = (int.from_bytes(raw[at:at + 4], end, signed=True) for end in ("little", "big"))
    return ">" if little not in MODE_BYTES and big in MODE_BYTES else "<"


def _check_volume_stack(header: np.void, nz: int, path: Path) -> None:
    """A volume stack (space group 401-630) is nz / mz volumes of mz sections."""
    if 401 <= int(header["ispg"]) <= 630:
        mz = int(header["mz"])
        if mz < 1 or nz % mz:
            _fail(f"a volume stack (space group {int(header['ispg'])}) whose mz = {mz} does not divide nz = {nz}", path)


def _check_data_size(nx: int, ny: int, nz: int, mode: int, have: int, path: Path) -> None:
    """``have`` bytes after the headers must be exactly the voxels the header describes."""
    row_bytes = (nx + 1) // 2 if mode == 101 else nx * int(MODE_BYTES[mode])
    want = row_bytes * ny * nz
    if have == want:
        return
    what = f"{nx} x {ny} x {nz} {_MODE_NAMES[mode]} voxels (mode {mode}) = {want} bytes of data"
    if have < want:
        _fail(f"truncated: the header describes {what}, the file holds {have}", path)
    voxels = nx * ny * nz
    per_voxel = have / voxels
    if have % voxels == 0 and per_voxel in MODE_BYTES.values():
        _fail(f"the header describes {what} but the file holds {have}, {int(per_voxel)} bytes per voxel: "
              "the mode is likely wrong", path)
    _fail(f"the header describes {what} but the file holds {have}, {have - want} bytes more", path)


def _fail(problem: str, path: Path):
    raise InputError(f"not a readable MRC file ({problem})", path)
