"""RELION STAR files: read any version into a :class:`ParticleTable`, write it back unchanged.

Parsing is done by ``starfile``; this module adds what a particle inspector needs on top:
the RELION version (``# version 30001`` lines), which block holds the particles and which the
optics groups, per-particle pixel size, box and origin (in pixels), validation with one-line
errors, and atomic writes that keep every block, column and value as read.

Supported layouts
-----------------
* RELION 1.x / 3.0: one loop block (``data_`` or ``data_images`` ...), origins ``rlnOriginX/Y``
  in pixels, pixel size from ``rlnDetectorPixelSize * 1e4 / rlnMagnification``.
* RELION 3.1 / 4 (``# version 30001``) and 5 (``# version 50001``): ``data_optics`` and
  ``data_particles`` in either order, origins ``rlnOriginXAngst/YAngst`` in Angstrom.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_path, check_writable, write_text
from gan_viewer.io.star_parse import block_spans, check_loops, parse_blocks
from gan_viewer.io.star_write import block_lines

log = logging.getLogger(__name__)

_VERSION_RE = re.compile(r"^#\s*version\s+(\d+)", re.MULTILINE)


@dataclass
class ParticleTable:
    """All blocks of a STAR file plus where the particles and optics are.

    Attributes
    ----------
    blocks
        Every data block in file order: loop blocks as DataFrames, simple blocks as dicts.
    particles_block
        Key in ``blocks`` of the particle (or coordinate) loop; None for a STAR file without
        particles (read with ``require_particles=False``).
    optics_block
        Key of the optics loop (RELION 3.1+), or None.
    version
        The ``# version`` number (30001, 50001, ...) or None for RELION 1.x/3.0 files.
    path
        The file it was read from, if any.
    """

    blocks: dict[str, pd.DataFrame | dict]
    particles_block: str | None
    optics_block: str | None = None
    version: int | None = None
    path: Path | None = None
    header_comments: list[str] = field(default_factory=list)

    # -- the two blocks everything else uses -------------------------------------------------
    @property
    def particles(self) -> pd.DataFrame:
        """The particle loop, one row per particle."""
        return self.blocks[self.particles_block]

    @property
    def optics(self) -> pd.DataFrame | None:
        """The optics loop, or None for RELION 1.x/3.0 files."""
        return None if self.optics_block is None else self.blocks[self.optics_block]

    def __len__(self) -> int:
        return len(self.particles)

    @property
    def columns(self) -> list[str]:
        """Labels of the particle loop, without the leading underscore."""
        return list(self.particles.columns)

    @property
    def release(self) -> str:
        """Human-readable RELION layout, e.g. ``"3.1+ (30001)"`` or ``"3.0 or older"``."""
        if self.version is not None:
            return f"{'5' if self.version >= 50000 else '3.1/4'} ({self.version})"
        return "3.1+ (optics, no version line)" if self.optics_block else "3.0 or older"

    # -- per-particle optics ---------------------------------------------------------------
    def optics_values(self, label: str) -> np.ndarray | None:
        """Per-particle value of ``label``, from the particle row or its optics group.

        Returns
        -------
        values : (n,) float64 array, or None when neither the particles nor the optics carry it.
        """
        parts = self.particles
        if label in parts.columns:
            return pd.to_numeric(parts[label], errors="coerce").to_numpy(np.float64)
        optics = self.optics
        if optics is None or label not in optics.columns:
            return None
        values = pd.to_numeric(optics[label], errors="coerce").to_numpy(np.float64)
        ids = _integers(optics["rlnOpticsGroup"], "data_optics rlnOpticsGroup", self.path)
        order = np.argsort(ids, kind="stable")
        groups = self.optics_groups()
        # searchsorted, not a hash lookup: a few ms for 1,000,000 particles and a handful of groups
        where = np.minimum(np.searchsorted(ids[order], groups), len(ids) - 1)
        known = ids[order][where] == groups
        if not known.all():
            missing = np.unique(groups[~known])
            raise InputError(f"particles name optics group(s) {missing.tolist()} that data_optics lacks", self.path)
        return values[order][where]

    def optics_groups(self) -> np.ndarray:
        """Optics group per particle, shape (n,) int; all 1 when the file has no optics table."""
        parts = self.particles
        if "rlnOpticsGroup" in parts.columns and self.optics is not None:
            return _integers(parts["rlnOpticsGroup"], "rlnOpticsGroup", self.path)
        return np.ones(len(parts), np.int64)

    def pixel_size(self) -> np.ndarray | None:
        """Pixel size in Angstrom per particle, shape (n,), or None if the file does not say."""
        apix = self.optics_values("rlnImagePixelSize")
        if apix is None:
            det = self.optics_values("rlnDetectorPixelSize")
            mag = self.optics_values("rlnMagnification")
            if det is not None and mag is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    apix = det * 1e4 / mag
        if apix is not None and not np.all(np.isfinite(apix) & (apix > 0)):
            raise InputError("pixel size is zero, negative or not a number", self.path)
        return apix

    def box_size(self) -> np.ndarray | None:
        """Image size in pixels per particle, shape (n,), from ``rlnImageSize``, or None."""
        box = self.optics_values("rlnImageSize")
        return None if box is None else _integers(pd.Series(box), "rlnImageSize", self.path, low=1, high=1 << 17)

    def origins_px(self, default_apix: float | None = None) -> np.ndarray:
        """Particle origin (x, y) in pixels, shape (n, 2); zeros when the file has none.

        ``rlnOriginXAngst/YAngst`` are divided by the pixel size (the file's, else
        ``default_apix``, e.g. from the stack header); legacy ``rlnOriginX/Y`` are in pixels.
        """
        parts = self.particles
        if {"rlnOriginXAngst", "rlnOriginYAngst"} <= set(parts.columns):
            xy = parts[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy(np.float64)
            apix = self.pixel_size()
            if apix is None and default_apix:
                apix = np.full(len(parts), float(default_apix))
            if apix is None:
                if not np.any(xy):
                    return xy
                raise InputError("rlnOriginXAngst is given but no pixel size to convert it to pixels", self.path)
            return xy / apix[:, None]
        if {"rlnOriginX", "rlnOriginY"} <= set(parts.columns):
            return parts[["rlnOriginX", "rlnOriginY"]].to_numpy(np.float64)
        return np.zeros((len(parts), 2))

    def eulers(self) -> np.ndarray | None:
        """RELION Euler angles (rot, tilt, psi) in degrees, shape (n, 3), or None if absent.

        A file with only ``rlnAnglePsi`` (2D classification) gets rot = tilt = 0.
        """
        parts = self.particles
        if "rlnAngleTilt" not in parts.columns and "rlnAngleRot" not in parts.columns:
            return None
        out = np.zeros((len(parts), 3))
        for k, label in enumerate(("rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi")):
            if label in parts.columns:
                out[:, k] = pd.to_numeric(parts[label], errors="coerce").to_numpy(np.float64)
        return out

    def subset(self, rows: np.ndarray) -> ParticleTable:
        """A table with only the given particle rows (0-based, kept in the order given)."""
        blocks = dict(self.blocks)
        blocks[self.particles_block] = self.particles.iloc[np.asarray(rows, np.int64)].reset_index(drop=True)
        return ParticleTable(blocks, self.particles_block, self.optics_block, self.version, None,
                             list(self.header_comments))


# ---------------------------------------------------------------------------------------------
def read_star(path: str | os.PathLike, *, require_particles: bool = True) -> ParticleTable:
    """Read a RELION STAR file of any version.

    Parameters
    ----------
    path
        The STAR file.
    require_particles
        Raise when the file has no particle loop; with False any STAR file (pipeline,
        postprocess, optimiser) is read, its ``particles_block`` None if it has no loop.

    Raises
    ------
    InputError
        When the file is missing, empty, not a STAR file, truncated or has no loop block.
    """
    path = Path(path)
    text = _read_text(path)
    spans = block_spans(text)
    names = [name for name, _, _ in spans]
    if not names:
        raise InputError("not a STAR file (no data_ block)", path)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"duplicate data block name(s) {dupes}; block names must be unique", path)
    try:
        blocks = parse_blocks(path, text, spans)
    except Exception as exc:  # the parser's errors (pandas, shlex) are not user-readable as they are
        raise InputError(f"malformed STAR file ({_one_line(exc)})", path) from exc
    blocks = {name: blocks[name] for name in names if name in blocks}
    check_loops(path, text, blocks, spans)
    version = _version(text, spans)
    try:
        return _table_from_blocks(blocks, version, path, _header_comments(text[:spans[0][1]]))
    except InputError:
        if require_particles:
            raise
        return ParticleTable(blocks, None, None, version, path, _header_comments(text[:spans[0][1]]))


def table_from_dataframe(particles: pd.DataFrame, optics: pd.DataFrame | None = None,
                         version: int | None = 30001) -> ParticleTable:
    """Build a table in RELION 3.1 layout (or 3.0 when ``optics`` is None) from DataFrames."""
    if optics is None:
        return ParticleTable({"": particles}, "", None, None)
    return ParticleTable({"optics": optics, "particles": particles}, "particles", "optics", version)


def write_star(table: ParticleTable, path: str | os.PathLike, *, overwrite: bool = False,
               comments: list[str] | tuple[str, ...] = ()) -> Path:
    """Write ``table`` atomically, keeping its blocks, version, columns and values.

    Parameters
    ----------
    table
        What to write.
    path
        Destination; it is written to a temporary file in the same folder, then renamed.
    overwrite
        Replace an existing file; otherwise an existing ``path`` raises InputError.
    comments
        Extra ``#`` lines (provenance) written at the top; RELION ignores them.

    Raises
    ------
    InputError
        When ``path`` exists (without ``overwrite``), or a value cannot be written so that STAR
        readers give it back (see :mod:`gan_viewer.io.star_write`); nothing is written then.
    """
    path = check_writable(path, overwrite)
    text = star_text(table, comments, path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        write_text(tmp, text)
    return path


def star_text(table: ParticleTable, comments: list[str] | tuple[str, ...] = (), path: Path | None = None) -> str:
    """The text :func:`write_star` writes for ``table``: ``comments`` as ``#`` lines, then every block.

    Raises
    ------
    InputError
        When a value cannot be written so that STAR readers give it back (naming ``path``).
    """
    lines = [f"# {' '.join(str(c).split())}" for c in comments] + [c for c in table.header_comments]
    for name, block in table.blocks.items():
        lines.append("")
        if table.version is not None:
            lines += [f"# version {table.version}", ""]
        lines += block_lines(name, block, path)
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
def _check_file(path: Path) -> os.stat_result:
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path)
    stat = path.stat()
    if not stat.st_size:
        raise InputError("is empty", path)
    return stat


def _version(text: str, spans: list[tuple[str, int, int]]) -> int | None:
    """The first ``# version N`` line at the top or just above a block."""
    versions = [int(v) for start in [0] + [st for _, st, _ in spans]
                for v in _VERSION_RE.findall(text[max(0, start - 200):start + 5])]
    return versions[0] if versions else None


def _read_text(path: Path) -> str:
    _check_file(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError("not a STAR file (binary content)", path) from exc
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", path) from exc
    if not text.strip():
        raise InputError("is empty", path)
    return text


def _header_comments(text: str) -> list[str]:
    """Comment lines above the first block other than ``# version`` (kept on write)."""
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("data_"):
            break
        if line.startswith("#") and not _VERSION_RE.match(line):
            out.append(line.rstrip())
    return out


def _table_from_blocks(blocks: dict, version: int | None, path: Path | None,
                       comments: list[str]) -> ParticleTable:
    loops = {k: v for k, v in blocks.items() if isinstance(v, pd.DataFrame)}
    if not loops:
        raise InputError("has no loop_ block, so no particles", path)
    optics = next((k for k, v in loops.items() if k == "optics" or
                   ("rlnOpticsGroup" in v.columns and "rlnImagePixelSize" in v.columns and k != "particles")), None)
    candidates = {k: v for k, v in loops.items() if k != optics}
    if not candidates:
        raise InputError("has an optics table but no particle block", path)
    particles = next((k for k, v in candidates.items() if "rlnImageName" in v.columns), None)
    if particles is None:
        particles = "particles" if "particles" in candidates else max(candidates, key=lambda k: len(candidates[k]))
    return ParticleTable(blocks, particles, optics, version, path, comments)


def _integers(values: pd.Series, label: str, path: Path | None, low: int = -(2**31), high: int = 2**31 - 1
              ) -> np.ndarray:
    """``values`` as int64, or InputError naming the first row that is not a whole number in ``low..high``."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(numbers) & (numbers == np.round(numbers)) & (numbers >= low) & (numbers <= high))
    if bad.any():
        row = int(bad.argmax())
        raise InputError(f"{label} of row {row + 1} is {values.iloc[row]!r}, not a whole number from {low} to {high}",
                         path)
    return numbers.astype(np.int64)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
