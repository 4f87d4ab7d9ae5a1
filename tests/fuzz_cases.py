"""Hostile and malformed inputs, made by mutating valid seed files; shared by tests/test_fuzz.py
(a few dozen cases, in-process) and benchmarks/fuzz.py (hundreds, one subprocess each).

A :class:`Case` is a set of files for a fresh folder plus the ``gan-viewer`` commands to run on
them. ``garbage`` marks mutations that surely make the input invalid, judged conservatively
(a truncated MRC, a field of the wrong type, a row with a value missing): every command must
then fail with exit status 2. Other mutations may succeed, but only with a valid result
(:func:`check_result`). Nothing may end in a traceback, a crash or another exit status.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import mrcfile
import numpy as np
import pandas as pd

#: int32 header fields of an MRC file -> byte offset
MRC_FIELDS = {"nx": 0, "ny": 4, "nz": 8, "mode": 12, "mz": 36, "mapc": 64, "ispg": 88, "nsymbt": 92}
MODE_BYTES = {0: 1, 1: 2, 2: 4, 6: 2, 12: 2}
#: values a fuzzer puts in STAR cells
RESERVED = ["data_evil", "loop_", "_rlnFake", "save_x", "global_", "stop_", "DATA_", "#x", "$x", ";x"]
QUOTED = ["'data_evil'", '"loop_"', '"_rlnFake"', '"a b"', "'#x'", '""', "''", '"stop_"', "'x y z'"]
QUOTES = ["it's", 'a"b', "'it''s'", '"say "hi""', "'x'y'"]
NUMBERS = ["nan", "NaN", "inf", "-inf", "-1", "0", "1e308", "-1e308", "99999999999999999999", "1e-320", "abc"]


@dataclass
class Case:
    """Files for a fresh folder and the commands to run there.

    ``commands`` are argv lists in which ``{dir}`` is the case's folder, ``{out}`` its (empty)
    output folder and ``{seed}`` the folder holding the seeds' companion files.
    """

    ident: str
    kind: str
    mutation: str
    garbage: bool
    files: dict[str, bytes]
    commands: list[list[str]] = field(default_factory=list)
    only: tuple[str, ...] = ()  # run only these commands (those that read what was changed)


# -- seeds ---------------------------------------------------------------------------------------
def write_mrc(path: Path, data: np.ndarray, stack: bool = True, voxel: float = 2.0) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(data))
        if stack:
            mrc.set_image_stack()
        mrc.voxel_size = voxel
    return path


def make_seeds(seed_dir: Path, model: Path, real_data: Path | None = None) -> dict[str, list[Path]]:
    """Write the seed files into ``seed_dir``; returns kind -> seed files.

    ``model`` is a tiny generator's ``.safetensors`` (its ``.json`` card beside it); with
    ``real_data`` (``../shared/data``) a few small real files are copied in as seeds too.
    """
    rng = np.random.default_rng(7)
    seed_dir.mkdir(parents=True, exist_ok=True)
    (seed_dir / "Extract").mkdir(exist_ok=True)
    images = rng.standard_normal((6, 16, 16)).astype(np.float32)
    write_mrc(seed_dir / "Extract" / "a.mrcs", images)
    write_mrc(seed_dir / "stack.mrcs", images)
    write_mrc(seed_dir / "stack_int16.mrcs", (images * 100).astype(np.int16))
    write_mrc(seed_dir / "map.mrc", rng.random((16, 16, 16)).astype(np.float32), stack=False)
    write_mrc(seed_dir / "mic.mrc", rng.standard_normal((64, 64)).astype(np.float32), stack=False)
    texts = ["x", "'y z'", "'data_q'", '"_rlnQ"', "'loop_'", '"#c"']  # read back unquoted, written quoted again
    rows = "\n".join(f"{texts[i]} {i + 1:06d}@Extract/a.mrcs mic.mrc {10.0 * i} {5.0 * i} {i - 2.5} 1.5 -0.5 1 "
                     "15000.5" for i in range(6))
    (seed_dir / "particles.star").write_text(
        "# version 30001\n\ndata_optics\n\nloop_\n_rlnOpticsGroup #1\n_rlnOpticsGroupName #2\n"
        "_rlnImagePixelSize #3\n_rlnImageSize #4\n_rlnImageDimensionality #5\n_rlnVoltage #6\n"
        "_rlnSphericalAberration #7\n_rlnAmplitudeContrast #8\n1 opticsGroup1 2.0 16 2 300 2.7 0.1\n\n"
        "# version 30001\n\ndata_particles\n\nloop_\n_rlnCustomText #1\n_rlnImageName #2\n_rlnMicrographName #3\n"
        "_rlnAngleRot #4\n_rlnAngleTilt #5\n_rlnAnglePsi #6\n_rlnOriginXAngst #7\n_rlnOriginYAngst #8\n"
        f"_rlnOpticsGroup #9\n_rlnDefocusU #10\n{rows}\n")
    (seed_dir / "relion30.star").write_text(
        "data_\nloop_\n_rlnImageName #1\n_rlnDetectorPixelSize #2\n_rlnMagnification #3\n_rlnAngleRot #4\n"
        + "".join(f"{i + 1:06d}@Extract/a.mrcs 5.0 25000 {i}\n" for i in range(6)))
    (seed_dir / "coords.star").write_text(
        "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 12\n30.5 40\n50 50\n")
    (seed_dir / "coords.box").write_text("2 4 16 16\n20 30 16 16\n40 40 16 16\n")
    (seed_dir / "coords_topaz.txt").write_text(  # Topaz's picks table: mic.mrc's picks, and another's
        "image_name\tx_coord\ty_coord\tscore\nmic\t10\t12\t3.1194684505462646\nother\t99\t99\t2.5\n"
        "mic\t30\t40\t1.25\nmic\t50\t50\t-0.75\n")
    _write_cs(seed_dir / "particles.cs", _cs_fields(6))
    for suffix in (".safetensors", ".json"):
        shutil.copy(model.with_suffix(suffix), seed_dir / f"model{suffix}")
    seeds = {"star": [seed_dir / "particles.star", seed_dir / "relion30.star"],
             "stack": [seed_dir / "stack.mrcs", seed_dir / "stack_int16.mrcs"],
             "map": [seed_dir / "map.mrc"], "micrograph": [seed_dir / "mic.mrc"],
             "coords": [seed_dir / "coords.star", seed_dir / "coords.box", seed_dir / "coords_topaz.txt"],
             "cs": [seed_dir / "particles.cs"], "card": [seed_dir / "model.json"]}
    if real_data is not None:
        _copy_real(real_data, seed_dir, seeds)
    return seeds


def _copy_real(real: Path, seed_dir: Path, seeds: dict[str, list[Path]]) -> None:
    """A few small real files (each under 3 MB) as extra seeds, with the stacks they name."""
    picks = {
        "star": ["particles/real_relion31/relion31.star", "particles/real_aspire_sample/sample_particles_relion31.star",
                 "particles/relion_projections_70S/rln_proj_64_shifted.star", "star/relion5/cryodrgn_relion5.star"],
        "stack": ["particles/relion_projections_70S/rln_proj_64_shifted.mrcs", "particles/real_relion31/relion31.mrcs"],
        "map": ["maps/rnapolII_emd1883.mrc"],
        "cs": ["cryosparc/cryosparc_J2_particles_exported.cs", "particles/real_empiar10076/empiar_10076_7.cs"],
    }
    for kind, rels in picks.items():
        for rel in rels:
            src = real / rel
            if not src.is_file():
                continue
            dest = seed_dir / "real" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dest)
            for companion in src.parent.glob("*.mrc*"):  # the stacks the STAR files name
                if companion.stat().st_size < 3 << 20 and not (dest.parent / companion.name).exists():
                    shutil.copy(companion, dest.parent / companion.name)
            seeds[kind].append(dest)


def _cs_fields(n: int) -> dict[str, np.ndarray]:
    return {
        "uid": np.arange(n, dtype=np.uint64),
        "blob/path": np.array([b">Extract/a.mrcs"] * n, "S20"),
        "blob/idx": np.arange(n, dtype=np.uint32),
        "blob/shape": np.full((n, 2), 16, np.uint32),
        "blob/psize_A": np.full(n, 2.0, np.float32),
        "ctf/accel_kv": np.full(n, 300, np.float32),
        "ctf/cs_mm": np.full(n, 2.7, np.float32),
        "ctf/amp_contrast": np.full(n, 0.1, np.float32),
        "ctf/df1_A": np.linspace(1e4, 2e4, n).astype(np.float32),
        "ctf/df2_A": np.linspace(1e4, 2e4, n).astype(np.float32),
        "ctf/df_angle_rad": np.zeros(n, np.float32),
        "alignments3D/pose": np.linspace(-1, 1, 3 * n).reshape(n, 3).astype(np.float32),
        "alignments3D/shift": np.zeros((n, 2), np.float32),
        "alignments3D/psize_A": np.full(n, 2.0, np.float32),
        "alignments3D/class": np.zeros(n, np.uint32),
    }


def _write_cs(path: Path, fields: dict[str, np.ndarray]) -> Path:
    n = len(next(iter(fields.values())))
    rec = np.zeros(n, dtype=[(k, v.dtype, v.shape[1:]) for k, v in fields.items()])
    for k, v in fields.items():
        rec[k] = v
    with open(path, "wb") as fh:
        np.save(fh, rec, allow_pickle=False)
    return path


# -- commands per kind ---------------------------------------------------------------------------
def commands_for(kind: str, name: str, seed_dir: Path, project_dir: Path) -> list[list[str]]:
    """The commands that read a file of ``kind`` saved as ``{dir}/name``; ``seed_dir`` holds the
    synthetic seeds (model, map, micrograph), ``project_dir`` the stacks the file names."""
    f, s, p = "{dir}/" + name, str(seed_dir), str(project_dir)
    model = ["--model", f"{s}/model.safetensors", "--device", "cpu"]
    if kind == "star":
        return [["info", f, "--project-dir", p],
                ["export", f, "--keep", "1-3", "--out", "{out}/kept.star", "--rejected", "{out}/rejected.star"],
                ["denoise", f, "--out", "{out}/rec.mrcs", "--project-dir", p, *model]]
    if kind == "stack":
        return [["info", f], ["denoise", f, "--out", "{out}/rec.mrcs", *model]]
    if kind == "map":
        return [["project", "--map", f, "--star", f"{s}/particles.star", "--out", "{out}/ref.mrcs",
                 "--project-dir", s]]
    if kind == "micrograph":
        return [["info", f, "--coords", f"{s}/coords.star", "--box", "16"]]
    if kind == "coords":
        return [["info", f"{s}/mic.mrc", "--coords", f, "--box", "16"]]
    if kind == "cs":
        return [["info", f, "--project-dir", p]]
    if kind == "card":
        return [["denoise", f"{s}/stack.mrcs", "--out", "{out}/rec.mrcs", "--model", "{dir}/model.safetensors",
                 "--device", "cpu"]]
    raise ValueError(kind)


# -- mutations -----------------------------------------------------------------------------------
def make_cases(seeds: dict[str, list[Path]], seed_dir: Path, count: int, rng: np.random.Generator,
               kinds: tuple[str, ...] | None = None) -> list[Case]:
    """``count`` cases, kinds taken in turn, each a random mutation of a random seed of its kind."""
    return list(iter_cases(seeds, seed_dir, count, rng, kinds))


def iter_cases(seeds: dict[str, list[Path]], seed_dir: Path, count: int, rng: np.random.Generator,
               kinds: tuple[str, ...] | None = None) -> Iterator[Case]:
    """The cases of :func:`make_cases` one at a time (their files are held only while in use)."""
    kinds = kinds or tuple(seeds)
    mutators = {"star": _mutate_star, "coords": _mutate_star, "stack": _mutate_mrc, "map": _mutate_mrc,
                "micrograph": _mutate_mrc, "cs": _mutate_cs, "card": _mutate_card}
    for k in range(count):
        kind = kinds[k % len(kinds)]
        seed = seeds[kind][int(rng.integers(len(seeds[kind])))]
        case = mutators[kind](seed, kind, rng)
        case.ident = f"{k:04d}-{kind}-{seed.name}"
        case.commands = [c for c in commands_for(kind, next(iter(case.files)), seed_dir, seed.parent)
                         if not case.only or c[0] in case.only]
        yield case


def _case(kind: str, seed: Path, mutation: str, garbage: bool, data: bytes, only: tuple[str, ...] = ()) -> Case:
    return Case("", kind, mutation, garbage, {seed.name: data}, only=only)


def _mutate_mrc(seed: Path, kind: str, rng: np.random.Generator) -> Case:
    raw = bytearray(seed.read_bytes())
    nx, ny, nz, mode = struct.unpack("<4i", raw[:16])
    size = nx * ny * nz
    choice = int(rng.integers(9))
    if choice == 0:  # cut anywhere, header included
        cut = int(rng.integers(0, len(raw)))
        return _case(kind, seed, f"truncate to {cut} of {len(raw)} bytes", True, bytes(raw[:cut]))
    if choice == 1:
        extra = int(rng.choice([1, 3, 1024, len(raw)]))
        return _case(kind, seed, f"append {extra} bytes", True, bytes(raw) + rng.bytes(extra))
    if choice == 2:  # a size field: garbage unless the voxel count stays the same
        name = str(rng.choice(["nx", "ny", "nz"]))
        value = int(rng.choice([0, -1, -nx, 1, nx + 1, nz * 2, 2**31 - 1, -(2**31), 65536]))
        sizes = {"nx": nx, "ny": ny, "nz": nz, name: value}
        _set_int(raw, name, value)
        same = sizes["nx"] * sizes["ny"] * sizes["nz"] == size and min(sizes.values()) > 0
        return _case(kind, seed, f"{name} = {value}", not same, bytes(raw))
    if choice == 3:  # the mode: garbage when the bytes per voxel change or the mode is not readable
        value = int(rng.choice([0, 1, 2, 3, 4, 6, 12, 101, -1, 99, 2**30]))
        _set_int(raw, "mode", value)
        same = MODE_BYTES.get(value) == MODE_BYTES.get(mode)
        return _case(kind, seed, f"mode {mode} -> {value}", not same, bytes(raw))
    if choice == 4:
        value = int(rng.choice([-1, -1024, 4, 1024, 2**31 - 1, len(raw)]))
        _set_int(raw, "nsymbt", value)
        return _case(kind, seed, f"nsymbt = {value}", True, bytes(raw))
    if choice == 5:  # a volume stack whose mz cannot divide nz
        _set_int(raw, "ispg", 401)
        _set_int(raw, "mz", int(rng.choice([0, -3])))
        return _case(kind, seed, "ispg 401 with mz <= 0", True, bytes(raw))
    if choice == 6:  # any header byte: cannot be judged
        at = int(rng.integers(0, 1024))
        raw[at] ^= int(rng.integers(1, 256))
        return _case(kind, seed, f"header byte {at} flipped", False, bytes(raw))
    header = 1024 + struct.unpack("<i", raw[92:96])[0]
    if choice == 7 and mode == 2:  # NaN pixels: garbage for whatever reads the pixels
        at = header + 4 * int(rng.integers(0, size))
        raw[at:at + 4] = struct.pack("<f", float(rng.choice([np.nan, np.inf])))
        if kind in ("stack", "map"):  # garbage for the commands that read the pixels
            return _case(kind, seed, f"NaN/inf pixel at byte {at}", True, bytes(raw), only=("denoise", "project"))
        return _case(kind, seed, f"NaN/inf pixel at byte {at}", False, bytes(raw))
    at = int(rng.integers(header, len(raw)))  # data bytes: any value is data
    raw[at] ^= int(rng.integers(1, 256))
    return _case(kind, seed, f"data byte {at} flipped", False, bytes(raw))


def _set_int(raw: bytearray, name: str, value: int) -> None:
    raw[MRC_FIELDS[name]:MRC_FIELDS[name] + 4] = struct.pack("<i", value)


def _mutate_star(seed: Path, kind: str, rng: np.random.Generator) -> Case:
    text = seed.read_text()
    if seed.suffix == ".box":
        return _mutate_box(seed, kind, text, rng)
    if seed.suffix == ".txt":
        return _mutate_topaz(seed, kind, text, rng)
    lines = text.splitlines()
    rows = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith(("_", "#", "data_", "loop_"))]
    last_block = max(i for i, ln in enumerate(lines) if ln.startswith("data_"))
    particle_rows = [i for i in rows if i > last_block]
    choice = int(rng.integers(11))
    if choice == 0:
        at = int(rng.integers(len(text)))
        raw = bytearray(text.encode())
        raw[at % len(raw)] ^= int(rng.integers(1, 256))
        return _case(kind, seed, f"byte {at} flipped", False, bytes(raw))
    if choice == 1:
        cut = int(rng.integers(len(text)))
        return _case(kind, seed, f"truncate to {cut} characters", False, text[:cut].encode())
    if not particle_rows:
        return _case(kind, seed, "emptied", True, b"")
    if choice == 2:  # the last row loses its last values: a truncated file
        fields = _tokens(lines[particle_rows[-1]])
        keep = int(rng.integers(1, len(fields))) if len(fields) > 1 else 0
        cut_lines = lines[:particle_rows[-1]] + [" ".join(fields[:keep])]
        return _case(kind, seed, f"last row cut to {keep} of {len(fields)} values", True, "\n".join(cut_lines).encode())
    if choice == 3:  # one value too many
        row = particle_rows[int(rng.integers(len(particle_rows)))]
        lines[row] += " 42"
        return _case(kind, seed, f"line {row + 1} has a value too many", True, "\n".join(lines).encode())
    if choice == 8:  # the particle loop_ line goes: labels become key-value pairs, rows stray text
        del lines[max(i for i, ln in enumerate(lines) if ln.strip() == "loop_")]
        return _case(kind, seed, "particle loop_ line removed", True, "\n".join(lines).encode())
    if choice == 9:  # the same block twice
        block = "\n".join(lines[last_block:])
        return _case(kind, seed, "particle block duplicated", True, f"{text}\n{block}\n".encode())
    row = rows[int(rng.integers(len(rows)))] if choice != 10 else particle_rows[int(rng.integers(len(particle_rows)))]
    labels = _labels_of_block(lines, row)
    fields = _tokens(lines[row])
    if choice == 10:
        if kind != "star" or "rlnImageName" not in labels:  # a blank coordinate file is no particles
            return _case(kind, seed, "blank", kind == "star", b"\n\n")
        at = labels.index("rlnImageName")  # an image index outside the stack: garbage for what reads images
        index = str(rng.choice(["000000", "-000001", "999999", "x"]))
        fields[at] = f"{index}@" + fields[at].split("@", 1)[-1]
        lines[row] = " ".join(fields)
        return _case(kind, seed, f"image index {index}", True, "\n".join(lines).encode(), only=("denoise",))
    col = int(rng.integers(len(fields)))
    label = labels[col] if col < len(labels) else "?"
    pool = {4: RESERVED, 5: QUOTED, 6: QUOTES, 7: NUMBERS}[choice]
    value = str(pool[int(rng.integers(len(pool)))])
    fields[col] = value
    lines[row] = " ".join(fields)
    mutated = "\n".join(lines).encode()
    if choice == 7 and _invalid_number(label, value):  # garbage for the commands that read that label
        return _case(kind, seed, f"{label} = {value}", True, mutated, only=("info", "denoise"))
    return _case(kind, seed, f"{label} = {value}", False, mutated)


def _tokens(line: str) -> list[str]:
    """The values of a STAR row as written (quotes kept): a quote opens a value at its start and
    closes it when whitespace follows (STAR 1.1)."""
    tokens, i = [], 0
    while i < len(line):
        if line[i].isspace():
            i += 1
            continue
        end = i + 1
        if line[i] in "'\"":
            while end < len(line) and not (line[end] == line[i] and (end + 1 == len(line) or line[end + 1].isspace())):
                end += 1
            end += 1
        while end < len(line) and not line[end].isspace():
            end += 1
        tokens.append(line[i:end])
        i = end
    return tokens


def _labels_of_block(lines: list[str], row: int) -> list[str]:
    """The loop labels of the block holding line ``row``."""
    start = max(i for i in range(row + 1) if lines[i].startswith("data_"))
    return [ln.split()[0][1:] for ln in lines[start:row] if ln.strip().startswith("_")]


def _invalid_number(label: str, value: str) -> bool:
    """Whether ``value`` surely makes ``label`` invalid for the commands that interpret it."""
    not_a_number = value in ("nan", "NaN", "inf", "-inf", "abc")
    if label in ("rlnOpticsGroup", "rlnImageSize"):  # no value in NUMBERS is a valid group (1) or box
        return True
    if label in ("rlnImagePixelSize", "rlnDetectorPixelSize", "rlnMagnification"):
        return not_a_number or value in ("-1", "0", "-1e308")
    return label in ("rlnCoordinateX", "rlnCoordinateY") and not_a_number


def _mutate_box(seed: Path, kind: str, text: str, rng: np.random.Generator) -> Case:
    lines = text.splitlines()
    row = int(rng.integers(len(lines)))
    fields = _tokens(lines[row])
    col = int(rng.integers(4))
    value = str(rng.choice(["nan", "abc", "-16", "0", "1e308", "-5"]))
    fields[col] = value
    lines[row] = " ".join(fields)
    garbage = value in ("nan", "abc") or (col >= 2 and value in ("-16", "0", "-5"))
    return _case(kind, seed, f"box row {row} column {col} = {value}", garbage, "\n".join(lines).encode())


def _mutate_topaz(seed: Path, kind: str, text: str, rng: np.random.Generator) -> Case:
    """Topaz's picks table (the rows of ``mic`` are read; those of ``other`` are not)."""
    lines = text.splitlines()
    choice = int(rng.integers(6))
    if choice == 0:
        raw = bytearray(text.encode())
        at = int(rng.integers(len(raw)))
        raw[at] ^= int(rng.integers(1, 256))
        return _case(kind, seed, f"byte {at} flipped", False, bytes(raw))
    if choice == 1:
        cut = int(rng.integers(len(text)))
        return _case(kind, seed, f"truncate to {cut} characters", False, text[:cut].encode())
    if choice == 2:  # one value
        row, col = int(rng.integers(1, len(lines))), int(rng.integers(1, 4))
        fields = lines[row].split("\t")
        value = str(rng.choice(["nan", "abc", "", "-16", "0", "1e308", "-5"]))
        fields[col] = value
        lines[row] = "\t".join(fields)
        # a coordinate of mic.mrc missing or absurd; one outside the micrograph (-5) fails in info only
        garbage = fields[0] == "mic" and col < 3 and value in ("nan", "abc", "", "1e308")
        return _case(kind, seed, f"topaz row {row} column {col} = {value!r}", garbage, "\n".join(lines).encode())
    if choice == 3:
        return _case(kind, seed, "picks of other micrographs only", True, text.replace("mic\t", "mic_7\t").encode())
    if choice == 4:
        return _case(kind, seed, "no x_coord column", True, text.replace("x_coord", "x").encode())
    row = int(rng.integers(1, len(lines)))
    lines[row] += "\t42"
    return _case(kind, seed, f"topaz row {row} has a value too many", True, "\n".join(lines).encode())


#: .cs fields the reader uses, and dtypes that do not fit them
_CS_WRONG = {"blob/path": [np.int64], "blob/idx": [np.float32, "S4"], "blob/shape": [np.uint32, np.float32],
             "blob/psize_A": ["S4"], "ctf/df1_A": ["S4", (np.float32, 2)], "alignments3D/pose": [(np.float32, 2), np.float32],
             "alignments3D/shift": [(np.float32, 3)], "alignments3D/class": [np.float32]}


def _mutate_cs(seed: Path, kind: str, rng: np.random.Generator) -> Case:
    raw = seed.read_bytes()
    cs = np.load(seed)
    choice = int(rng.integers(7))
    if choice == 0:
        cut = int(rng.integers(0, len(raw)))
        return _case(kind, seed, f"truncate to {cut} of {len(raw)} bytes", True, raw[:cut])
    if choice == 1:
        return _case(kind, seed, "append 5 bytes", True, raw + b"\x00" * 5)
    if choice == 2:
        at = int(rng.integers(0, len(raw)))
        flipped = bytearray(raw)
        flipped[at] ^= int(rng.integers(1, 256))
        return _case(kind, seed, f"byte {at} flipped", False, bytes(flipped))
    fields = {name: np.asarray(cs[name]) for name in cs.dtype.names}
    used = [name for name in _CS_WRONG if name in fields]
    if choice == 3 and used:  # a field of the wrong type or shape
        name = used[int(rng.integers(len(used)))]
        wrong = _CS_WRONG[name][int(rng.integers(len(_CS_WRONG[name])))]
        dtype, shape = (wrong if isinstance(wrong, tuple) else (wrong, None))
        n = len(cs)
        values = np.zeros((n, shape) if shape else n, dtype)
        fields[name] = values
        return _case(kind, seed, f"{name} as {np.dtype(dtype).str}{' x' + str(shape) if shape else ''}", True,
                     _cs_bytes(fields))
    floats = [name for name in used if fields[name].dtype.kind == "f"]
    if choice == 4 and floats and len(cs):
        name = floats[int(rng.integers(len(floats)))]
        fields[name] = fields[name].copy()
        fields[name].reshape(len(cs), -1)[int(rng.integers(len(cs))), 0] = float(rng.choice([np.nan, np.inf]))
        return _case(kind, seed, f"NaN/inf in {name}", True, _cs_bytes(fields))
    if choice == 5:  # a header claiming many more rows than the file holds
        header_len = int.from_bytes(raw[8:10], "little")
        header = raw[10:10 + header_len].decode("latin1")
        shape = f"'shape': ({len(cs)},)"
        new = header.replace(shape, "'shape': (10000000000,)").rstrip()
        new += " " * (header_len - len(new) - 1) + "\n"
        if len(new) == header_len and new != header:
            return _case(kind, seed, "npy header claims 10**10 rows", True,
                         raw[:10] + new.encode("latin1") + raw[10 + header_len:])
    if "blob/path" in fields:  # the image paths go
        fields["blob/pat_"] = fields.pop("blob/path")
        return _case(kind, seed, "blob/path renamed", True, _cs_bytes(fields))
    return _case(kind, seed, "truncate to 10 bytes", True, raw[:10])


def _cs_bytes(fields: dict[str, np.ndarray]) -> bytes:
    import io

    n = len(next(iter(fields.values())))
    rec = np.zeros(n, dtype=[(k, v.dtype, v.shape[1:]) for k, v in fields.items()])
    for k, v in fields.items():
        rec[k] = v
    buf = io.BytesIO()
    np.save(buf, rec, allow_pickle=False)
    return buf.getvalue()


#: model-card fields -> values of the wrong type or range (all garbage: load_generator reads them)
_CARD_WRONG = {
    ("pixel_size",): ["2.0", -1.0, 0, [1], float("nan")],
    ("box",): ["32", 0, 1.5, -4],
    ("name",): [5, ["a"]],
    ("sha256",): [12345, "0" * 64, "xyz"],
    ("generator",): [[1, 2], "unet", None],
    ("generator", "depth"): [5.5, "3", None, 0, 100, 4],
    ("generator", "base_channels"): [-1, 10**9, 8, "4"],
    ("generator", "max_channels"): [0, 10**7, "x"],
    ("generator", "norm"): ["group", 1],
    ("generator", "dropout"): [2.0, "half", -0.1],
    ("generator", "output"): ["sigmoid", None],
    ("training",): ["x", [1]],
    ("training", "data"): [["a"], 3],
}


def _mutate_card(seed: Path, kind: str, rng: np.random.Generator) -> Case:
    text = seed.read_text()
    weights = seed.with_suffix(".safetensors").read_bytes()
    files = {"model.safetensors": weights}
    choice = int(rng.integers(6))
    if choice == 0:
        cut = int(rng.integers(0, len(text.rstrip()) - 1))
        return Case("", kind, f"card truncated to {cut} characters", True, {"model.json": text[:cut].encode(), **files}, [])
    if choice == 1:
        flipped = bytearray(weights)
        at = int(rng.integers(len(flipped)))
        flipped[at] ^= 0xFF
        return Case("", kind, f"weights byte {at} flipped", True, {"model.json": text.encode(),
                                                                   "model.safetensors": bytes(flipped)}, [])
    if choice == 2:
        cut = int(rng.integers(len(weights)))
        return Case("", kind, f"weights truncated to {cut}", True, {"model.json": text.encode(),
                                                                   "model.safetensors": weights[:cut]}, [])
    card = json.loads(text)
    if choice == 3:  # a field nothing reads: any type will do
        card["created"] = [1, {"x": None}]
        return Case("", kind, "unread field 'created' as a list", False, {"model.json": json.dumps(card).encode(), **files}, [])
    if choice == 4:
        body = json.dumps([card]) if rng.integers(2) else "[" * 50000 + "]" * 50000
        return Case("", kind, "card not an object", True, {"model.json": body.encode(), **files}, [])
    keys = list(_CARD_WRONG)[int(rng.integers(len(_CARD_WRONG)))]
    values = _CARD_WRONG[keys]
    value = values[int(rng.integers(len(values)))]
    target = card
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = value
    return Case("", kind, f"{'.'.join(keys)} = {value!r}", True, {"model.json": json.dumps(card).encode(), **files}, [])


# -- judging a result ------------------------------------------------------------------------------
def check_result(case: Case, argv: list[str], out_dir: Path, stdout: str) -> str | None:
    """Why an exit-0 result is not valid, or None when it is."""
    from gan_viewer.errors import InputError
    from gan_viewer.io.mrc import MrcStack
    from gan_viewer.io.star import read_star

    command = argv[0]
    try:
        if command == "info":
            return None if stdout.strip() else "info printed nothing"
        if command == "export":
            source = read_star(argv[1])
            kept = read_star(out_dir / "kept.star")
            rejected = read_star(out_dir / "rejected.star")
            if len(kept) != 3 or len(rejected) != len(source) - 3:
                return f"export wrote {len(kept)} + {len(rejected)} rows for {len(source)}"
            problem = _same_rows(source.particles.iloc[:3], kept.particles)
            return problem and f"kept rows differ from the input: {problem}"
        if command in ("denoise", "project"):
            name = "rec.mrcs" if command == "denoise" else "ref.mrcs"
            with MrcStack(out_dir / name) as stack:
                images = stack.read(slice(None))
            if not len(images) or not np.isfinite(images).all():
                return f"{name}: {len(images)} images, finite: {bool(np.isfinite(images).all())}"
            return None
    except InputError as exc:
        return f"the output or the input it came from cannot be read: {exc}"
    return None


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> str | None:
    """Where two particle tables differ (value by value, numbers compared as numbers), or None."""
    if list(a.columns) != list(b.columns):
        return f"columns {list(a.columns)} != {list(b.columns)}"
    for label in a.columns:
        for x, y in zip(a[label].tolist(), b[label].tolist()):
            if not _same_value(x, y):
                return f"{label}: {x!r} != {y!r}"
    return None


def _same_value(x: object, y: object) -> bool:
    if x == y or (isinstance(x, str) and isinstance(y, str) and x == y):
        return True
    try:
        fx, fy = float(x), float(y)
    except (TypeError, ValueError):
        return False
    return fx == fy or (np.isnan(fx) and np.isnan(fy))
