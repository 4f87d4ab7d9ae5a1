"""cryoSPARC ``.cs`` particle files: read them into a RELION 3.1 :class:`ParticleTable`.

A ``.cs`` file is a numpy structured array written with ``np.save``, one row per particle and
fields such as ``blob/path``, ``ctf/df1_A`` or ``alignments3D/pose``. :func:`read_cryosparc`
maps what a particle inspector needs onto RELION labels (``data_optics`` + ``data_particles``,
``# version 30001``); fields that are absent are skipped, everything else is left out.

Conventions (the same as pyem ``csparc2star.py`` and cryoDRGN ``parse_pose_csparc``)
-----------------------------------------------------------------------------------
* Image: ``rlnImageName = f"{blob/idx + 1:06d}@{blob/path}"``; the leading ``>`` that cryoSPARC
  puts on imported paths is dropped. Box = ``blob/shape[0]``, pixel size = ``blob/psize_A``.
* CTF: ``df1_A``, ``df2_A`` -> rlnDefocusU/V (Angstrom); ``df_angle_rad`` and ``phase_shift_rad``
  -> degrees; no sign changes (pyem flips the defocus angle only on request, ``--flipy``).
* Pose: ``alignments3D/pose`` is a rotation vector (axis * angle, radians). With
  ``Rc = Rotation.from_rotvec(pose).as_matrix()`` (the plain Rodrigues matrix, which is
  cryoDRGN's ``lie_tools.expmap(pose)``), the RELION Euler angles are those for which
  ``Rotation.from_euler("ZYZ", [rot, tilt, psi], degrees=True).as_matrix() == Rc``, i.e.
  RELION's own matrix ``A = Euler_angles2matrix(rot, tilt, psi) == Rc.T``. The transpose is the
  one both tools apply: pyem ``geom.expmap`` returns ``Rc.T`` and feeds it to
  ``geom.rot2euler`` (RELION's decomposition); cryoDRGN transposes ``expmap(pose)`` ("Transposing
  rotation matrix") to get the same matrix its ``R_from_relion`` builds from STAR Eulers.
  At tilt 0 or 180 the in-plane angle goes to psi with rot = 0, as pyem's ``rot2euler`` does.
  Without 3D alignments, ``alignments2D/pose`` (radians) becomes rlnAnglePsi, as in pyem.
* Shift: ``alignments*/shift`` is in pixels of the alignment (``alignments*/psize_A``) and is
  copied with its sign unchanged (cryoSPARC shift == RELION origin; neither tool negates it):
  ``rlnOriginXAngst = shift[0] * psize_A``, ``rlnOriginYAngst = shift[1] * psize_A``.
* Coordinates: ``rlnCoordinateX = center_x_frac * micrograph_shape[1]`` and
  ``rlnCoordinateY = center_y_frac * micrograph_shape[0]`` (shape is ``[ny, nx]``), in pixels of
  the micrograph named by ``location/micrograph_path``. pyem inverts Y by default because it
  targets micrographs from other motion-correction programs (upside down relative to cryoSPARC
  Patch Motion); for cryoSPARC's own micrographs no inversion is right (pyem ``--inverty``).
  The micrographs' pixel size ``location/micrograph_psize_A`` becomes the optics group's
  ``rlnMicrographPixelSize``: Fourier-cropped particles have another, and the coordinates are in
  the micrograph's pixels.

* Half sets: ``alignments3D/split`` (0 or 1, the gold-standard half of a 3D refinement) ->
  ``rlnRandomSubset`` (1 or 2), as pyem does; 2D classification's split is not a half set and is
  left out.

One optics group is made per distinct (pixel size, box, voltage, Cs, amplitude contrast, micrograph
pixel size).

Writing: :func:`load_cryosparc` gives the rows as stored, and :func:`cs_bytes` writes a subset of
them back (``np.save`` of the same structured dtype, every field kept), which cryoSPARC and
cryosparc-tools' ``Dataset.load`` read.
"""

from __future__ import annotations

import io
import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable, table_from_dataframe

log = logging.getLogger(__name__)

#: cryoSPARC field -> (RELION label, factor) for per-particle numbers.
PARTICLE_FIELDS: dict[str, tuple[str, float]] = {
    "ctf/df1_A": ("rlnDefocusU", 1.0),
    "ctf/df2_A": ("rlnDefocusV", 1.0),
    "ctf/df_angle_rad": ("rlnDefocusAngle", 180.0 / np.pi),
    "ctf/phase_shift_rad": ("rlnPhaseShift", 180.0 / np.pi),
    "ctf/bfactor": ("rlnCtfBfactor", 1.0),
}
#: cryoSPARC field -> RELION label for the values that define an optics group.
OPTICS_FIELDS: dict[str, str] = {
    "blob/psize_A": "rlnImagePixelSize",
    "blob/shape": "rlnImageSize",
    "ctf/accel_kv": "rlnVoltage",
    "ctf/cs_mm": "rlnSphericalAberration",
    "ctf/amp_contrast": "rlnAmplitudeContrast",
    # the micrographs' own, which Fourier-cropped (binned) particles do not share: the coordinates
    # are in its pixels (core/duplicates.py)
    "location/micrograph_psize_A": "rlnMicrographPixelSize",
}


def read_cryosparc(path: str | os.PathLike) -> ParticleTable:
    """Read a cryoSPARC ``.cs`` particle file as a RELION 3.1 table.

    Parameters
    ----------
    path
        The ``.cs`` file. Stack paths in it stay as written (relative to the cryoSPARC project
        directory); :class:`~gan_viewer.core.particles.StarParticles` resolves them against the
        file's folder and its parents.

    Returns
    -------
    ParticleTable
        ``data_optics`` and ``data_particles`` blocks, version 30001, ``path`` set to ``path``.
        A file with zero rows gives an empty table.

    Raises
    ------
    InputError
        When the file is missing, is not a numpy structured array, or has no ``blob/path`` and
        ``blob/idx`` fields.
    """
    path = Path(path)
    cs = load_cryosparc(path)
    names = set(cs.dtype.names)
    parts = pd.DataFrame(index=pd.RangeIndex(len(cs)))
    stacks = _strings(cs["blob/path"])
    parts["rlnImageName"] = [f"{int(i) + 1:06d}@{s}" for i, s in zip(cs["blob/idx"], stacks)]
    if "location/micrograph_path" in names:
        mics = _strings(cs["location/micrograph_path"])
        if any(mics):
            parts["rlnMicrographName"] = mics
    if {"location/center_x_frac", "location/center_y_frac", "location/micrograph_shape"} <= names:
        shape = np.asarray(cs["location/micrograph_shape"], np.float64).reshape(len(cs), 2)
        parts["rlnCoordinateX"] = _f64(cs["location/center_x_frac"]) * shape[:, 1]
        parts["rlnCoordinateY"] = _f64(cs["location/center_y_frac"]) * shape[:, 0]
    for field, (label, factor) in PARTICLE_FIELDS.items():
        if field in names:
            parts[label] = _f64(cs[field]) * factor
    _add_alignments(cs, parts, path)
    optics, groups = _optics(cs)
    parts["rlnOpticsGroup"] = groups
    table = table_from_dataframe(parts, optics, version=30001)
    table.path = path
    log.debug("%s: %d particles, %d optics group(s), columns %s", path, len(parts), len(optics),
             ", ".join(parts.columns))
    return table


def load_cryosparc(path: str | os.PathLike) -> np.ndarray:
    """The rows of a cryoSPARC particle ``.cs`` file as stored, checked as :func:`read_cryosparc` does.

    Returns
    -------
    np.ndarray
        (n,) structured array with every field of the file, in file order.

    Raises
    ------
    InputError
        When the file is not a particle ``.cs`` file (see :func:`read_cryosparc`).
    """
    path = Path(path)
    cs = _load(path)
    names = set(cs.dtype.names)
    if not {"blob/path", "blob/idx"} <= names:
        raise InputError(f"no particle image paths (blob/path and blob/idx); {len(cs)} rows, "
                         f"{len(names)} fields; is this a particle .cs file?", path)
    check_fields(cs, path)
    return cs


def cs_bytes(rows: np.ndarray) -> bytes:
    """The ``.cs`` file of ``rows`` ((k,) structured array): ``np.save`` output, no pickle."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(rows), allow_pickle=False)
    return buffer.getvalue()


def rotvec_to_relion(pose: np.ndarray) -> np.ndarray:
    """cryoSPARC rotation vectors (n, 3), radians -> RELION (rot, tilt, psi) in degrees, (n, 3).

    ``Rotation.from_euler("ZYZ", out[i], degrees=True)`` equals ``Rotation.from_rotvec(pose[i])``;
    see the module docstring for why (pyem, cryoDRGN). Angles are in [-180, 180], tilt in
    [0, 180]; at tilt 0 or 180 rot is 0 and the in-plane angle is in psi.
    """
    from scipy.spatial.transform import Rotation

    pose = np.asarray(pose, np.float64).reshape(-1, 3)
    if not len(pose):
        return np.zeros((0, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy's "Gimbal lock detected"
        eul = Rotation.from_rotvec(pose).as_euler("ZYZ", degrees=True)
    # Gimbal lock: scipy puts the in-plane angle in rot; RELION (and pyem) put it in psi.
    flat = eul[:, 1] < 1e-6
    flip = eul[:, 1] > 180.0 - 1e-6
    eul[flat, 2] += eul[flat, 0]  # Rz(a) Ry(0) Rz(c) == Ry(0) Rz(a + c)
    eul[flip, 2] -= eul[flip, 0]  # Rz(a) Ry(180) Rz(c) == Ry(180) Rz(c - a)
    eul[flat | flip, 0] = 0.0
    eul[:, 2] = 180.0 - np.mod(180.0 - eul[:, 2], 360.0)  # into (-180, 180]
    return eul


def check_fields(cs: np.ndarray, path: Path) -> None:
    """InputError naming the first field read here whose type, shape or values are wrong.

    Every field in :data:`FIELD_SPECS` that the file has must hold numbers of the given kinds
    (strings for paths) with the given per-row shape; numbers must be finite, sizes and pixel
    sizes positive and image indices not negative.
    """
    for name in cs.dtype.names:
        spec = _spec(name)
        if spec is None:
            continue
        kinds, shape, rule = spec
        dtype = cs.dtype[name]
        if dtype.base.kind not in kinds or dtype.shape != shape:
            raise InputError(f"field {name} is {_describe(dtype)}, expected {_KIND_NAMES[kinds]} of shape {shape}", path)
        if rule and len(cs):
            values = np.asarray(cs[name], np.float64)
            bad = ~np.isfinite(values) | ((values <= 0) if rule == "positive" else (values < 0) if rule == "index"
                                          else np.zeros(values.shape, bool))
            if bad.any():
                row = int(np.flatnonzero(bad.reshape(len(cs), -1).any(axis=1))[0])
                raise InputError(f"field {name} row {row + 1} holds {cs[name][row].tolist()!r}, expected "
                                 f"{_RULE_NAMES[rule]}", path)


# ---------------------------------------------------------------------------------------------
#: numpy dtype kinds: i signed, u unsigned, f float, S bytes, U unicode
_NUMBERS, _INTEGERS, _TEXT = "iuf", "iu", "SU"
_KIND_NAMES = {_NUMBERS: "numbers", _INTEGERS: "integers", _TEXT: "text"}
_RULE_NAMES = {"finite": "a finite number", "positive": "a positive number", "index": "an index >= 0"}
#: field (or ``*/suffix`` for every alignments group) -> (dtype kinds, shape per row, value rule)
FIELD_SPECS: dict[str, tuple[str, tuple[int, ...], str]] = {
    "blob/path": (_TEXT, (), ""),
    "blob/idx": (_INTEGERS, (), "index"),
    "blob/shape": (_INTEGERS, (2,), "positive"),
    "blob/psize_A": (_NUMBERS, (), "positive"),
    "location/micrograph_path": (_TEXT, (), ""),
    "location/center_x_frac": (_NUMBERS, (), "finite"),
    "location/center_y_frac": (_NUMBERS, (), "finite"),
    "location/micrograph_shape": (_INTEGERS, (2,), "index"),
    **{field: (_NUMBERS, (), "finite") for field in PARTICLE_FIELDS},
    **{field: (_NUMBERS, (), "positive" if field == "ctf/accel_kv" else "finite")
       for field in OPTICS_FIELDS if field.startswith("ctf/")},
    "alignments3D/pose": (_NUMBERS, (3,), "finite"),
    "alignments2D/pose": (_NUMBERS, (), "finite"),
    "*/shift": (_NUMBERS, (2,), "finite"),
    "*/psize_A": (_NUMBERS, (), "positive"),
    "*/class": (_INTEGERS, (), "index"),
    "*/split": (_INTEGERS, (), "index"),
}


def _spec(name: str) -> tuple[str, tuple[int, ...], str] | None:
    if name in FIELD_SPECS:
        return FIELD_SPECS[name]
    group, _, suffix = name.partition("/")
    if group in ("alignments3D", "alignments2D"):
        return FIELD_SPECS.get(f"*/{suffix}")
    return None


def _describe(dtype: np.dtype) -> str:
    return f"{dtype.base.str}{' of shape ' + str(dtype.shape) if dtype.shape else ''}"


def _load(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path)
    _check_npy_size(path)
    try:
        cs = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError("not a cryoSPARC .cs file (not a numpy array saved with np.save)", path) from exc
    if not isinstance(cs, np.ndarray) or cs.dtype.names is None:
        raise InputError("not a cryoSPARC .cs file (a numpy file without named fields)", path)
    if cs.ndim != 1:
        raise InputError(f"not a cryoSPARC .cs file (a {cs.ndim}-D array, expected one row per particle)", path)
    return cs


def _check_npy_size(path: Path) -> None:
    """The ``.npy`` header's shape and dtype must describe exactly the bytes the file holds, so a
    corrupt header (a billion rows in a 4 KB file) never makes ``np.load`` allocate."""
    npy = np.lib.format
    try:
        with open(path, "rb") as fh:
            version = npy.read_magic(fh)
            if version not in ((1, 0), (2, 0)):
                raise ValueError(f"npy format version {version}")
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read_header(fh)
            offset = fh.tell()
    except Exception as exc:  # noqa: BLE001 - a corrupt header raises ValueError, TokenError, SyntaxError ...
        raise InputError("not a cryoSPARC .cs file (not a numpy array saved with np.save)", path) from exc
    if dtype.hasobject:
        raise InputError("not a cryoSPARC .cs file (it holds Python objects, which are not read)", path)
    size = path.stat().st_size
    want = offset + math.prod(shape) * dtype.itemsize
    if size != want:
        raise InputError(f"not a readable .cs file ({'truncated: ' if size < want else ''}its header "
                         f"describes {shape} rows of {dtype.itemsize} bytes, {want} bytes in all; the file "
                         f"holds {size})", path)


def _strings(values: np.ndarray) -> list[str]:
    """Decoded path strings without cryoSPARC's leading ``>``."""
    out = []
    for v in values:
        s = v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
        out.append(s[1:] if s.startswith(">") else s)
    return out


def _f64(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, np.float64)


def _add_alignments(cs: np.ndarray, parts: pd.DataFrame, path: Path) -> None:
    """Pose, origin and class from ``alignments3D`` or, failing that, ``alignments2D``."""
    names = set(cs.dtype.names)
    kind = next((k for k in ("alignments3D", "alignments2D") if f"{k}/pose" in names), None)
    if kind is None:
        return
    pose = np.asarray(cs[f"{kind}/pose"], np.float64)
    if kind == "alignments3D":
        eul = rotvec_to_relion(pose)
        for k, label in enumerate(("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")):
            parts[label] = eul[:, k]
    else:
        psi = np.rad2deg(pose.reshape(len(cs)))
        parts["rlnAnglePsi"] = 180.0 - np.mod(180.0 - psi, 360.0)  # into (-180, 180]
    if f"{kind}/shift" in names:
        apix_field = next((f for f in (f"{kind}/psize_A", "blob/psize_A") if f in names), None)
        if apix_field is None:
            log.warning("%s: %s/shift ignored: no pixel size to convert it to Angstrom", path, kind)
        else:
            shift = np.asarray(cs[f"{kind}/shift"], np.float64).reshape(len(cs), 2)
            apix = _f64(cs[apix_field])
            parts["rlnOriginXAngst"] = shift[:, 0] * apix
            parts["rlnOriginYAngst"] = shift[:, 1] * apix
    if f"{kind}/class" in names:
        parts["rlnClassNumber"] = np.asarray(cs[f"{kind}/class"], np.int64) + 1
    if kind == "alignments3D" and "alignments3D/split" in names:
        split = np.asarray(cs["alignments3D/split"], np.int64)
        if len(split) and not np.isin(split, (0, 1)).all():
            row = int(np.flatnonzero(~np.isin(split, (0, 1)))[0])
            raise InputError(f"field alignments3D/split row {row + 1} holds {split[row]}, expected 0 or 1 "
                             "(the half set)", path)
        parts["rlnRandomSubset"] = split + 1
    log.debug("%s: poses from %s", path, kind)


def _optics(cs: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
    """The optics table and the 1-based optics group of each particle."""
    names = set(cs.dtype.names)
    columns: dict[str, np.ndarray] = {}
    for field, label in OPTICS_FIELDS.items():
        if field in names:
            values = np.asarray(cs[field])
            columns[label] = values[:, 0] if values.ndim > 1 else values  # blob/shape is [ny, nx]
    if not columns:
        keys = np.zeros(len(cs), np.int64)
        uniq = pd.DataFrame(index=pd.RangeIndex(1 if len(cs) else 0))
    else:
        frame = pd.DataFrame(columns)
        keys = frame.groupby(list(columns), sort=False, dropna=False).ngroup().to_numpy(np.int64)
        uniq = frame.drop_duplicates().reset_index(drop=True)
    optics = pd.DataFrame({"rlnOpticsGroupName": [f"opticsGroup{i + 1}" for i in range(len(uniq))],
                           "rlnOpticsGroup": np.arange(1, len(uniq) + 1, dtype=np.int64)})
    for label in uniq.columns:
        values = uniq[label].to_numpy()
        if label == "rlnImageSize":
            optics[label] = values.astype(np.int64)
        else:  # shortest text that reads back as the stored float32: 2.7, not 2.700000047683716
            optics[label] = values.astype(np.float32).astype(str).astype(np.float64)
    if "rlnImageSize" in optics.columns:
        optics["rlnImageDimensionality"] = 2
    return optics, keys + 1
