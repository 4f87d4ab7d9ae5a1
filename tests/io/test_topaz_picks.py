"""Topaz's picks table (``topaz extract``: one table for many micrographs) as a micrograph's
coordinates: which rows, the score, bad tables, and the parse kept for large tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gan_viewer.core.micrograph_particles import MicrographParticles
from gan_viewer.io.micrograph import read_coordinates
from tests.conftest import write_topaz_picks
from tests.io.test_micrograph import BOX, DOTS, assert_input_error


def write_topaz(path: Path, picks: dict[str, list]) -> Path:
    """Topaz's picks table at ``path`` (:func:`tests.conftest.write_topaz_picks`), no micrographs:
    ``picks`` name -> [(x, y), ...], scored as Topaz writes them, best first."""
    scored = {name: [(x, y, 3.1194684505462646 - k) for k, (x, y) in enumerate(xy)] for name, xy in picks.items()}
    return write_topaz_picks(path.parent, scored, micrographs=(), name=path.name)


def test_topaz_picks_of_this_micrograph_only(tmp_path: Path, mic: Path, star: Path) -> None:
    """A table of two micrographs: the rows of mic.mrc (image_name "mic") are boxed, centred as
    a RELION STAR's, and the other micrograph's rows are not."""
    table = write_topaz(tmp_path / "predicted_particles_all.txt",
                        {"other": [(1, 2), (60, 50)], "mic": DOTS, "mic_2": [(30, 30)]})
    parts = MicrographParticles(mic, table, BOX)
    assert len(parts) == len(DOTS)
    np.testing.assert_array_equal(parts.images(range(5)), MicrographParticles(mic, star, BOX).images(range(5)))
    assert list(parts.rows.columns) == ["image_name", "x_coord", "y_coord", "score"]
    assert parts.metadata(1) == {"image_name": "mic", "x_coord": 50, "y_coord": 20,
                                 "score": pytest.approx(2.1194684505462646), "at_edge": False}
    assert parts.table is None


def test_topaz_table_of_one_micrograph_needs_no_name(tmp_path: Path) -> None:
    table = write_topaz(tmp_path / "picks.tsv", {"a_name_the_micrograph_lost": DOTS})
    np.testing.assert_array_equal(read_coordinates(table), np.array(DOTS, float))
    several = write_topaz(tmp_path / "all.txt", {"a": DOTS[:2], "b": DOTS[2:]})
    assert_input_error(lambda: read_coordinates(several), several, "holds picks of 2 micrographs")
    np.testing.assert_array_equal(read_coordinates(several, tmp_path / "b.mrc"), np.array(DOTS[2:], float))
    with_extension = write_topaz(tmp_path / "named.txt", {"a.mrc": DOTS[:2], "b.mrc": DOTS[2:]})
    np.testing.assert_array_equal(read_coordinates(with_extension, tmp_path / "b.mrc"), np.array(DOTS[2:], float))


def test_topaz_table_without_this_micrograph_names_what_it_has(tmp_path: Path, mic: Path) -> None:
    table = write_topaz(tmp_path / "picks.txt", {f"Falcon_{k:03d}": [(10, 10)] for k in range(5)})
    error = assert_input_error(lambda: MicrographParticles(mic, table, BOX), table, "no picks of micrograph 'mic'")
    assert "Falcon_000, Falcon_001, Falcon_002 and 2 more" in str(error)


def test_a_topaz_table_opened_as_particles_says_what_it_is(tmp_path: Path) -> None:
    from gan_viewer.core.particles import open_particles

    table = write_topaz(tmp_path / "predicted_particles_all.txt", {"mic": DOTS})
    assert_input_error(lambda: open_particles(table), table, "a table of picks .* --coords predicted_particles_all.txt")


def test_the_micrographs_a_topaz_table_names_in_its_order(tmp_path: Path) -> None:
    from gan_viewer.io.micrograph import picks_table_micrographs

    table = write_topaz(tmp_path / "all.txt", {"m10": DOTS[:2], "m2": DOTS[2:3], "NA": DOTS[3:]})
    assert picks_table_micrographs(table) == ["m10", "m2", "NA"]  # not sorted, and "NA" is a name


def test_a_large_topaz_table_is_read_once_until_it_changes(tmp_path: Path, mic: Path) -> None:
    from gan_viewer.io import micrograph

    picks = {f"mic{k:05d}": DOTS[:2] for k in range(25_000)} | {"mic": DOTS[:3]}
    table = write_topaz(tmp_path / "all.txt", picks)
    assert table.stat().st_size > micrograph.CACHED_TABLE_BYTES
    micrograph._parse_topaz.cache_clear()
    assert len(MicrographParticles(mic, table, BOX)) == 3
    assert len(MicrographParticles(mic, table, BOX)) == 3
    assert micrograph._parse_topaz.cache_info().hits == 1
    with table.open("a") as f:  # Topaz run again: a pick more
        f.write(f"mic\t{DOTS[3][0]}\t{DOTS[3][1]}\t0.5\n")
    assert len(MicrographParticles(mic, table, BOX)) == 4


def test_topaz_header_only_gives_no_particles(tmp_path: Path, mic: Path) -> None:
    table = write_topaz(tmp_path / "picks.txt", {})
    assert len(MicrographParticles(mic, table, BOX)) == 0
