"""Duplicate picks: two particles of one micrograph whose centres lie closer than a particle
could to another. They are the same particle picked twice (two pickers, overlapping templates,
or two picks that refinement moved onto one particle), and they do harm beyond their number: a
pair split between RELION's two random half sets correlates its own noise, which inflates the
gold-standard FSC.

**RELION's rule** (``relion_star_handler --remove_duplicates D``, the Subset selection job's
"Remove duplicates?"): a particle's centre on its micrograph is ``rlnCoordinateX/Y`` less its
refined shift ``rlnOriginX/YAngst`` (converted to micrograph pixels), and a particle is removed
when a *later* particle of the same micrograph (in file order) lies within D Angstrom; so the
last pick of each group stays, and two picks further apart than D both stay even when a third
lies between them. :func:`outranked_by` generalises "later" to any ranking, which is how the
inspector lets a kept particle outrank undecided ones (``gui/duplicates.py``); file order gives
RELION's answer exactly for single particles (``tests/relion/test_relion_duplicates.py`` checks
it against ``relion_star_handler``).

**Filaments.** Helical segments (``rlnHelicalTubeID``) of one filament lie closer than a particle
by design, so they never count as duplicates of each other; RELION's rule would keep only the
last segment of each filament. Segments of two filaments picked over each other still do.

**The micrograph's pixel size.** RELION assumes it equals the particles'
(``rlnImagePixelSize``) unless told otherwise (``--image_angpix``); particles extracted with
binning need the micrograph's. :func:`pick_positions` takes ``rlnMicrographPixelSize`` when the
optics table has it, else that same assumption, and any value the caller gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gan_viewer.errors import InputError
from gan_viewer.io.star import ParticleTable

#: RELION's default minimum inter-particle distance (Subset selection, "Remove duplicates?")
DEFAULT_DISTANCE = 30.0


@dataclass(frozen=True)
class PickPositions:
    """Where each particle was picked.

    Attributes
    ----------
    micrograph : (n,) int64
        The particle's micrograph, as a code (equal codes, same micrograph).
    xy : (n, 2) float64
        Its centre on that micrograph in Angstrom: coordinate times the micrograph's pixel size,
        less the refined shift.
    micrograph_apix : (n,) float64
        The micrograph pixel size used.
    filament : (n,) int64 or None
        For helical segments (``rlnHelicalTubeID``), the filament each belongs to (equal codes,
        same filament of the same micrograph); None for single particles.
    """

    micrograph: np.ndarray
    xy: np.ndarray
    micrograph_apix: np.ndarray
    filament: np.ndarray | None = None


def pick_positions(table: ParticleTable, micrograph_apix: float | None = None) -> PickPositions:
    """The particles' centres on their micrographs, in Angstrom.

    Parameters
    ----------
    table
        Particles with ``rlnMicrographName`` and ``rlnCoordinateX/Y`` (any RELION version; the
        shifts ``rlnOriginX/YAngst`` or, in 3.0 files, ``rlnOriginX/Y`` in particle pixels, are
        taken off when present).
    micrograph_apix
        The micrographs' pixel size (Angstrom); None: ``rlnMicrographPixelSize`` where the
        optics table gives it, else the particles' pixel size, as RELION assumes.

    Raises
    ------
    InputError
        When a column is missing, a coordinate is not a number, or no pixel size is known.
    """
    parts = table.particles
    mic_apix = micrograph_pixel_sizes(table, micrograph_apix)
    particle_apix = table.pixel_size()
    coordinates = np.column_stack([pd.to_numeric(parts[c], errors="coerce").to_numpy(np.float64)
                                   for c in ("rlnCoordinateX", "rlnCoordinateY")])  # (n, 2) micrograph px
    if not np.isfinite(coordinates).all():
        row = int(np.flatnonzero(~np.isfinite(coordinates).all(axis=1))[0]) + 1
        raise InputError(f"particle {row}: rlnCoordinateX/Y is not a number", table.path)
    shift = np.zeros((len(parts), 2))  # (n, 2) Angstrom
    if {"rlnOriginXAngst", "rlnOriginYAngst"} <= set(parts.columns):
        shift = np.column_stack([pd.to_numeric(parts[c], errors="coerce").to_numpy(np.float64)
                                 for c in ("rlnOriginXAngst", "rlnOriginYAngst")])
    elif {"rlnOriginX", "rlnOriginY"} <= set(parts.columns):
        if particle_apix is None:
            raise InputError("rlnOriginX/Y are in pixels but the file gives no pixel size", table.path)
        shift = table.origins_px() * particle_apix[:, None]
    shift = np.nan_to_num(shift)
    codes = pd.factorize(parts["rlnMicrographName"].astype(str))[0].astype(np.int64)
    filament = None
    if "rlnHelicalTubeID" in parts.columns:  # numbered per micrograph
        tube = parts["rlnHelicalTubeID"].astype(str)
        filament = pd.factorize(parts["rlnMicrographName"].astype(str) + "\0" + tube)[0].astype(np.int64)
    return PickPositions(codes, coordinates * mic_apix[:, None] - shift, mic_apix, filament)


def micrograph_pixel_sizes(table: ParticleTable, micrograph_apix: float | None = None) -> np.ndarray:
    """(n,) float64: the micrograph pixel size :func:`pick_positions` places each pick at; it
    raises as that does when the picks cannot be placed (a quick check, before the work)."""
    parts = table.particles
    missing = [c for c in ("rlnMicrographName", "rlnCoordinateX", "rlnCoordinateY") if c not in parts.columns]
    if missing:
        raise InputError(f"finding duplicate picks needs {', '.join(missing)}", table.path)
    if micrograph_apix is not None:
        if not (np.isfinite(micrograph_apix) and micrograph_apix > 0):
            raise InputError(f"micrograph pixel size {micrograph_apix} A is not a positive number", table.path)
        return np.full(len(parts), float(micrograph_apix))
    mic_apix = table.optics_values("rlnMicrographPixelSize")
    if mic_apix is None:
        mic_apix = table.pixel_size()
    if mic_apix is None:
        raise InputError("the file gives no pixel size; give the micrographs'", table.path)
    if not np.all(np.isfinite(mic_apix) & (mic_apix > 0)):
        raise InputError("a micrograph pixel size is zero, negative or not a number", table.path)
    return np.asarray(mic_apix, np.float64)


def close_pairs(positions: PickPositions, min_distance: float) -> np.ndarray:
    """Every pair of picks of one micrograph within ``min_distance`` Angstrom (inclusive).

    Two segments of one filament (helical data) never pair: they lie close by design, and
    RELION's rule, which knows no filaments, would remove all but the last of each. Segments of
    two filaments that overlap do pair.

    Returns
    -------
    (m, 2) int64 rows, the smaller first, in no particular order. About a second for a million
    picks, which is why the inspector finds them off its thread.
    """
    if not (np.isfinite(min_distance) and min_distance >= 0):
        raise ValueError(f"minimum distance {min_distance} is not a non-negative number")
    xy = positions.xy
    if len(xy) < 2:
        return np.zeros((0, 2), np.int64)
    # one two-dimensional tree for every micrograph: each micrograph is moved along x beside the
    # last, further apart than the distance asked for, so only picks of one micrograph can pair
    stride = float(np.ptp(xy[:, 0])) + 2.0 * float(min_distance) + 1.0
    points = np.column_stack([xy[:, 0] + positions.micrograph * stride, xy[:, 1]])
    pairs = cKDTree(points).query_pairs(float(min_distance), output_type="ndarray").astype(np.int64)
    if positions.filament is not None and len(pairs):
        pairs = pairs[positions.filament[pairs[:, 0]] != positions.filament[pairs[:, 1]]]
    return np.sort(pairs, axis=1).reshape(-1, 2)


def outranked_in(pairs: np.ndarray, n: int, rank: np.ndarray | None = None,
                 present: np.ndarray | None = None) -> np.ndarray:
    """:func:`outranked_by` from the pairs :func:`close_pairs` found among ``n`` picks."""
    rank = np.arange(n, dtype=np.float64) if rank is None else np.asarray(rank, np.float64)
    out = np.full(n, -1, np.int64)
    a, b = pairs[:, 0], pairs[:, 1]
    if present is not None:
        both = np.asarray(present, bool)[a] & np.asarray(present, bool)[b]
        a, b = a[both], b[both]
    if not len(a):
        return out
    loser = np.where(rank[a] < rank[b], a, b)
    winner = np.where(rank[a] < rank[b], b, a)
    best = np.full(n, -np.inf)
    np.maximum.at(best, loser, rank[winner])  # the best rank that outranks each loser
    chosen = rank[winner] == best[loser]
    out[loser[chosen]] = winner[chosen]
    return out


def outranked_by(positions: PickPositions, min_distance: float, rank: np.ndarray | None = None,
                 present: np.ndarray | None = None) -> np.ndarray:
    """Which particles are duplicates of a better-ranked pick, and of which.

    Parameters
    ----------
    positions
        From :func:`pick_positions`.
    min_distance
        Picks of one micrograph this close (Angstrom, inclusive) are the same particle.
    rank
        (n,) distinct numbers; of two duplicates the higher-ranked stays. None: file order
        (the later stays), RELION's rule.
    present
        (n,) bool; particles that are False (e.g. already rejected) neither count as duplicates
        nor make others duplicates. None: all.

    Returns
    -------
    (n,) int64: for each particle, the highest-ranked present pick within ``min_distance`` that
    outranks it, or -1 when none does (it stays).
    """
    return outranked_in(close_pairs(positions, min_distance), len(positions.micrograph), rank, present)


def source_micrograph_pixel_sizes(source) -> np.ndarray:
    """(n,) float64: :func:`micrograph_pixel_sizes` of any particle source (see
    :func:`source_pick_positions`), raising as that does."""
    if _is_micrograph(source):
        if not source.pixel_size:
            raise InputError("the micrograph's header gives no pixel size; give it", source.micrograph_path)
        return np.full(len(source), float(source.pixel_size))
    return micrograph_pixel_sizes(_table_of(source))


def source_pick_positions(source, micrograph_apix: float | None = None) -> PickPositions:
    """:func:`pick_positions` of any particle source: a STAR or cryoSPARC set (its table), or one
    micrograph with its coordinates (one micrograph; the pixel size from its header).

    Raises
    ------
    InputError
        For a bare stack (it says nothing of where its particles were picked), and as
        :func:`pick_positions`.
    """
    if not _is_micrograph(source):
        return pick_positions(_table_of(source), micrograph_apix)
    if micrograph_apix is None:
        apix = source_micrograph_pixel_sizes(source)
    elif np.isfinite(micrograph_apix) and micrograph_apix > 0:
        apix = np.full(len(source), float(micrograph_apix))
    else:
        raise InputError(f"micrograph pixel size {micrograph_apix} A is not a positive number", source.micrograph_path)
    return PickPositions(np.zeros(len(source), np.int64), np.asarray(source.coordinates, np.float64) * apix[:, None],
                         apix)


#: the coordinate-file column that ranks a micrograph's picks when it has one (Topaz's ``score``)
PICK_SCORE = "score"


def source_pick_rank(source) -> tuple[np.ndarray, str]:
    """(n,) float64 ranks 0 .. n-1 of which pick of a pair stays (the higher), and the rule in words.

    RELION's rule (the later pick in the file) for a STAR or cryoSPARC set and for coordinate
    files without a score; the higher score, then the later pick, for a micrograph opened with
    Topaz's picks table. Topaz writes each micrograph's picks best first, so the file's order
    would keep the worse one.
    """
    n = len(source)
    rows = getattr(source, "rows", None) if _is_micrograph(source) else None
    if rows is None or PICK_SCORE not in rows.columns:
        return np.arange(n, dtype=np.float64), "the later one in the file, as RELION's duplicate removal has it"
    score = pd.to_numeric(rows[PICK_SCORE], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    order = np.lexsort((np.arange(n), np.nan_to_num(score, nan=-np.inf)))  # by score, then file order
    rank = np.empty(n, np.float64)
    rank[order] = np.arange(n)
    return rank, f"the one with the higher {PICK_SCORE} (Topaz's), then the later one in the file"


def _is_micrograph(source) -> bool:
    from gan_viewer.core.micrograph_particles import MicrographParticles

    return isinstance(source, MicrographParticles)


def _table_of(source) -> ParticleTable:
    table = getattr(source, "table", None)
    if table is None:
        raise InputError("a stack alone does not say where its particles were picked; open the STAR file "
                         "that names it", getattr(source, "path", None))
    return table
