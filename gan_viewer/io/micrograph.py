"""Micrographs and their coordinate files: a RELION coordinate STAR, an EMAN ``.box`` file, or
Topaz's picks (``topaz extract``'s tab-separated table).

The particle set boxed out of them is :class:`gan_viewer.core.micrograph_particles.MicrographParticles`.

Conventions
-----------
* Coordinates are particle centres ``(x, y)`` in micrograph pixels; the micrograph array is
  indexed ``data[y, x]`` (x = column, y = row of the MRC array, as RELION does).
* RELION coordinate STAR files (``rlnCoordinateX/Y``) hold centres. EMAN ``.box`` files hold the
  corner with the smallest x and y ("lower left") plus the box size, so centre = x + w/2, y + h/2.
* Topaz's tables (``image_name x_coord y_coord [score]``, tab-separated, any suffix) hold centres,
  x the column and y the row as here, for any number of micrographs; the rows of one micrograph
  are those whose ``image_name`` is its file name without the extension, as Topaz names them (or
  with it).
  Topaz picks on the micrographs it was given, so picks made on a downsampled copy (``topaz
  preprocess -s``) need ``topaz extract -x`` or a coordinate scale: ``--coords-scale FACTOR``
  (``gui``, ``info``, ``export``), the factor taking the file's pixels to the micrograph's (2 for
  picks made on a copy binned by 2); the same holds for any coordinate file picked at another
  binning. :func:`binning_hint` recognises picks that all lie in the micrograph's top-left part,
  and :func:`shrink_hint` picks that lie beyond it.
* A window of side ``box`` around centre ``c`` (rounded half up) spans ``c - box//2`` to
  ``c - box//2 + box - 1``, so the centre sits at index ``box//2`` as in RELION's extraction.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from gan_viewer.errors import InputError
from gan_viewer.io.mrc import MrcStack
from gan_viewer.io.star import ParticleTable, read_star

log = logging.getLogger(__name__)

COORDINATE_LABELS = ("rlnCoordinateX", "rlnCoordinateY")
#: a single image with a side larger than this is a micrograph, whatever its file is called
MAX_PARTICLE_SIDE = 1024
BOX_COLUMNS = ("x", "y", "w", "h")
#: the columns of Topaz's picks table (``topaz extract``); a ``score`` column follows when it scored them
TOPAZ_COLUMNS = ("image_name", "x_coord", "y_coord")
EDGE_MODES = ("pad", "flag", "skip")
#: the binnings a copy of a micrograph is commonly picked at (``topaz preprocess -s``), smallest first
BINNINGS = (2, 3, 4, 8)
#: fewer picks than this say nothing about the scale they were made at
MIN_PICKS_FOR_SCALE = 10


def read_coordinates(path: str | os.PathLike, micrograph: str | os.PathLike | None = None) -> np.ndarray:
    """Particle centres ``(x, y)`` in pixels, shape (n, 2) float64; see :func:`load_coordinates`."""
    return load_coordinates(path, micrograph)[0]


def load_coordinates(path: str | os.PathLike, micrograph: str | os.PathLike | None = None
                     ) -> tuple[np.ndarray, pd.DataFrame, ParticleTable | None]:
    """Read a coordinate file: RELION ``.star`` (3.0, or 3.1+ with optics), EMAN ``.box``, or
    Topaz's picks table.

    Parameters
    ----------
    path
        The coordinate file.
    micrograph
        The micrograph the particles are boxed from. A Topaz table keeps the rows of this
        micrograph only (``image_name`` is its name without the extension); without it, the
        table must hold one micrograph's picks.

    Returns
    -------
    centres : (n, 2) float64 array
        ``(x, y)`` particle centres in micrograph pixels; n is 0 for an empty file.
    rows : DataFrame with n rows
        All STAR columns, ``x, y, w, h`` for ``.box``, or the Topaz table's columns.
    table : ParticleTable or None
        The STAR table; None for ``.box``, Topaz tables and empty files.

    Raises
    ------
    InputError
        When the file is missing, of unknown type, malformed or lacks coordinate columns, or a
        Topaz table holds no picks of ``micrograph``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", path)
    if suffix not in (".star", ".box"):
        if is_picks_table(path):
            return _read_topaz(path, micrograph)
        raise InputError("unknown coordinate file type (expected RELION .star, EMAN .box or Topaz's picks "
                         "table with image_name, x_coord and y_coord columns)", path)
    if not path.read_bytes().strip():
        log.info("%s is empty: no particles", path)
        columns = BOX_COLUMNS if suffix == ".box" else COORDINATE_LABELS
        return np.zeros((0, 2)), pd.DataFrame(columns=list(columns)), None
    if suffix == ".box":
        rows = _read_box(path)
        centres = rows[["x", "y"]].to_numpy(np.float64) + rows[["w", "h"]].to_numpy(np.float64) / 2
        return centres, rows, None
    table = read_star(path)
    parts = table.particles
    missing = [label for label in COORDINATE_LABELS if label not in parts.columns]
    if missing:
        raise InputError(f"has no {' / '.join(missing)} column, so no particle coordinates", path)
    centres = parts[list(COORDINATE_LABELS)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    _check_finite_rows(centres, path)
    return centres, parts, table


def _read_box(path: Path) -> pd.DataFrame:
    """EMAN ``.box`` rows ``x y w h [...]`` (extra columns ignored, ``#`` lines skipped)."""
    values = []
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        try:
            values.append([float(v) for v in fields[:4]])
        except ValueError:
            raise InputError(f"line {number}: expected numbers 'x y w h', got {line.strip()[:40]!r}",
                             path) from None
        if len(fields) < 4:
            raise InputError(f"line {number}: expected 4 columns 'x y w h', found {len(fields)}", path)
    rows = pd.DataFrame(np.array(values, np.float64).reshape(-1, 4), columns=list(BOX_COLUMNS))
    _check_finite_rows(rows.to_numpy(), path)
    if (rows[["w", "h"]].to_numpy() <= 0).any():
        raise InputError("box width or height is zero or negative", path)
    return rows


def is_picks_table(path: str | os.PathLike) -> bool:
    """Whether the file's first line is the header of Topaz's picks table (``image_name x_coord
    y_coord ...``, tab-separated)."""
    with open(path, "rb") as f:
        header = f.readline(4096).decode("utf-8", errors="replace").rstrip("\r\n").split("\t")
    return all(column in header for column in TOPAZ_COLUMNS)


def picks_table_micrographs(path: str | os.PathLike) -> list[str]:
    """The micrograph names (``image_name``) of Topaz's picks table, each once, in the table's order."""
    return list(_topaz_table(Path(path))[1])


def _read_topaz(path: Path, micrograph: str | os.PathLike | None) -> tuple[np.ndarray, pd.DataFrame, None]:
    """The picks of one micrograph from Topaz's table (see :func:`load_coordinates`)."""
    rows, groups = _topaz_table(path)
    names = list(groups)
    if micrograph is not None:
        name = Path(micrograph).stem  # as Topaz names it; a name with the extension matches too
        found = [groups[key] for key in dict.fromkeys((name, Path(micrograph).name)) if key in groups]
        if not found and names:
            listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            raise InputError(f"has no picks of micrograph {name!r} (it has picks of {listed})", path)
        index = np.sort(np.concatenate(found)) if found else np.zeros(0, np.int64)
        rows = rows.iloc[index].reset_index(drop=True)
    elif len(names) > 1:
        raise InputError(f"holds picks of {len(names)} micrographs; say which micrograph they are for", path)
    else:
        rows = rows.copy()  # the parsed table is shared (cached): hand out a copy
    centres = rows[["x_coord", "y_coord"]].to_numpy(np.float64)
    _check_finite_rows(centres, path)
    return centres, rows, None


#: Topaz tables larger than this are parsed once and kept (a small one parses in milliseconds)
CACHED_TABLE_BYTES = 1 << 20


def _topaz_table(path: Path) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Topaz's table parsed (numbers as numbers, NaN where not) with each micrograph's row
    indices in the table's order. A large table is kept for the last two files read, until one
    changes on disk (modification time or size), so opening micrograph after micrograph of one
    table, or exporting them all, reads it once."""
    stat = path.stat()
    if stat.st_size <= CACHED_TABLE_BYTES:
        return _parse_topaz.__wrapped__(str(path), stat.st_mtime_ns, stat.st_size)
    return _parse_topaz(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _parse_topaz(path: str, mtime_ns: int, size: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The parse :func:`_topaz_table` keeps (``mtime_ns`` and ``size`` only key the cache)."""
    try:
        rows = pd.read_csv(path, sep="\t", dtype={"image_name": str}, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"malformed Topaz picks table: {str(exc).splitlines()[0]}", path) from None
    missing = [column for column in TOPAZ_COLUMNS if column not in rows.columns]
    if missing:
        raise InputError(f"is not a Topaz picks table: no {', '.join(missing)} column", path)
    for column in ("x_coord", "y_coord", "score"):
        if column in rows.columns:
            rows[column] = pd.to_numeric(rows[column], errors="coerce")
    return rows, rows.groupby("image_name", sort=False).indices


def _check_finite_rows(values: np.ndarray, path: Path) -> None:
    """Raise InputError naming the first row (1-based) with a NaN, missing or absurd (beyond
    10**9 px) value."""
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        raise InputError(f"particle {int(bad.argmax()) + 1} has a missing or non-numeric coordinate", path)
    far = (np.abs(values) > 1e9).any(axis=1)
    if far.any():
        raise InputError(f"particle {int(far.argmax()) + 1} has a coordinate beyond 10**9 pixels", path)


def is_micrograph_file(path: str | os.PathLike) -> bool:
    """Whether an MRC file holds one micrograph rather than particles.

    It does when it holds exactly one 2D image and that image is in a ``.mrc`` file (RELION
    writes micrographs as ``.mrc``, particle stacks as ``.mrcs``), is not square, or is larger
    than :data:`MAX_PARTICLE_SIDE`. Only the header is read; a file that is not a readable MRC
    file gives False (opening it as particles then says what is wrong).
    """
    path = Path(path)
    if path.suffix.lower() not in (".mrc", ".mrcs") or not path.is_file():
        return False
    try:
        with MrcStack(path) as stack:
            n, h, w = stack.shape
    except (InputError, OSError, ValueError):
        return False
    return n == 1 and (path.suffix.lower() == ".mrc" or h != w or max(h, w) > MAX_PARTICLE_SIDE)


def micrograph_header(path: str | os.PathLike) -> tuple[tuple[int, int], float | None]:
    """The (height, width) in pixels and the pixel size (Angstrom, None when unset) of a micrograph.

    Raises
    ------
    InputError
        When the file is not a readable MRC file holding exactly one 2D image.
    """
    with MrcStack(path) as stack:
        if len(stack) != 1:
            raise InputError(f"holds {len(stack)} images or sections; expected one 2D micrograph", path)
        return stack.shape[1:], stack.pixel_size


def read_micrograph(path: str | os.PathLike) -> np.ndarray:
    """The whole micrograph of an MRC file, (H, W) float32 (any supported mode)."""
    with MrcStack(path) as stack:
        if len(stack) != 1:
            raise InputError(f"holds {len(stack)} images or sections; expected one 2D micrograph", path)
        return np.asarray(stack.read(np.array([0]))[0], np.float32)


def check_scale(scale: float, path: str | os.PathLike | None) -> float:
    """``scale`` as a float, if it is a finite positive number (a coordinate scale; ``path``:
    the coordinate file the InputError names)."""
    try:
        value = float(scale)
    except (TypeError, ValueError):
        value = float("nan")
    if not (np.isfinite(value) and value > 0):
        raise InputError(f"coordinate scale (--coords-scale) must be a positive number, got {scale!r}", path)
    return value


def binning_hint(centres: np.ndarray, shape: tuple[int, int], min_picks: int = MIN_PICKS_FOR_SCALE) -> int | None:
    """The binning of the copy of a micrograph that picks seem to have been made on, or None.

    Picks made on a copy binned by ``k`` and read without their scale all lie in the top-left
    ``1/k`` of the micrograph, where their boxes show the wrong places. With at least
    ``min_picks`` picks (fewer may cluster by chance), all on the micrograph, the answer is the
    largest of :data:`BINNINGS` for which every pick, scaled by it, still lies on the micrograph
    (x·k < width and y·k < height); None when even 2 does not fit, i.e. when the picks reach the
    right or the bottom half.

    Parameters
    ----------
    centres
        (n, 2) pick centres ``(x, y)`` in micrograph pixels.
    shape
        Micrograph (height, width) in pixels.
    min_picks
        Fewer picks give None.
    """
    centres = np.asarray(centres, np.float64).reshape(-1, 2)
    if len(centres) < max(min_picks, 1) or (centres < 0).any():
        return None
    fitting = [k for k in BINNINGS if _on_micrograph(centres * k, shape)]
    return fitting[-1] if fitting else None


def shrink_hint(centres: np.ndarray, shape: tuple[int, int]) -> int | None:
    """For picks some of which lie beyond the micrograph (picked on a copy ``k`` times larger, or
    scaled ``k`` times too much): the smallest of :data:`BINNINGS` that brings every pick, divided
    by it, onto the micrograph; None when none does (or a pick is at a negative coordinate).
    ``centres`` and ``shape`` as for :func:`binning_hint`."""
    centres = np.asarray(centres, np.float64).reshape(-1, 2)
    if not len(centres) or (centres < 0).any():
        return None
    return next((k for k in BINNINGS if _on_micrograph(centres / k, shape)), None)


def _on_micrograph(centres: np.ndarray, shape: tuple[int, int]) -> bool:
    """Whether every one of (n, 2) non-negative centres ``(x, y)`` lies on a (height, width) micrograph."""
    return bool((centres < np.array(shape[::-1], np.float64)).all())


def check_box(box: int, shape: tuple[int, int], path: Path) -> int:
    """``box`` as an int, if it is an integer from 1 to the micrograph's shorter side."""
    if isinstance(box, bool) or not isinstance(box, (int, np.integer)):
        raise InputError(f"box size {box!r} is not an integer number of pixels", path)
    if not 0 < int(box) <= min(shape):
        raise InputError(f"box size {box} px must be between 1 and the micrograph's "
                         f"{shape[1]} x {shape[0]} px", path)
    return int(box)
