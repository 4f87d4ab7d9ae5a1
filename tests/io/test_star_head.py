from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gan_viewer.errors import InputError
from gan_viewer.io.star import read_star, table_from_dataframe, write_star
from gan_viewer.io.star_head import read_star_head, read_star_rows
from tests.io.test_star import real_star_files


@functools.lru_cache(maxsize=None)
def full_table(path: Path):
    """The whole table of a real STAR file, or None when it is not a particle file (read once)."""
    try:
        table = read_star(path)
    except InputError:
        return None
    return table if "rlnImageName" in table.columns else None


def particle_files(min_rows: int) -> list[Path]:
    """The real STAR files that are particle files with at least ``min_rows`` rows: the tests below
    apply to these only, so they are collected for these only."""
    return [p for p in real_star_files() if full_table(p) is not None and len(full_table(p)) >= min_rows]


def big_star(folder: Path, n: int) -> Path:
    """A RELION 3.1 STAR of ``n`` particles named ``000001@s.mrcs`` ..., rlnAngleRot = row / 2."""
    particles = pd.DataFrame({"rlnImageName": [f"{i + 1:06d}@s.mrcs" for i in range(n)],
                              "rlnAngleRot": np.arange(n) * 0.5, "rlnOpticsGroup": np.ones(n, int)})
    optics = pd.DataFrame({"rlnOpticsGroup": [1], "rlnImagePixelSize": [1.5], "rlnImageSize": [64]})
    return write_star(table_from_dataframe(particles, optics), folder / "big.star")


@pytest.mark.parametrize("path", particle_files(1), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_head_is_the_first_rows(path: Path) -> None:
    full = full_table(path)
    for rows in (1, 3, 10_000):
        head = read_star_head(path, rows, first_read=256)  # small pieces: the growing path
        if head is None:  # only when blocks follow the particles (their optics, or other loops)
            assert list(full.blocks)[-1] != full.particles_block
            continue
        assert (head.version, head.particles_block, head.optics_block) == (
            full.version, full.particles_block, full.optics_block)
        expected = full.particles.iloc[:rows]
        # as text: a column of numbers and words is read as numbers when its first rows are numbers
        pd.testing.assert_frame_equal(head.particles.reset_index(drop=True).astype(str),
                                      expected.reset_index(drop=True).astype(str))
        if full.optics is not None:
            pd.testing.assert_frame_equal(head.optics, full.optics, check_dtype=False)


def test_head_of_a_large_file_reads_only_its_start(tmp_path: Path) -> None:
    n = 200_000
    path = big_star(tmp_path, n)
    assert path.stat().st_size > 2 << 20
    head = read_star_head(path, 50)
    assert len(head) == 50 and head.particles["rlnImageName"].iloc[-1] == "000050@s.mrcs"
    assert head.pixel_size().tolist() == [1.5] * 50
    assert read_star_head(path, n, max_bytes=2 << 20) is None  # the rows asked for lie beyond max_bytes
    cut = tmp_path / "cut.star"  # a head that breaks off mid-way is malformed only where it is read
    cut.write_bytes(path.read_bytes()[: 3 << 20])
    assert len(read_star_head(cut, 10)) == 10
    bad = tmp_path / "bad.star"
    bad.write_bytes(path.read_bytes()[:2000].replace(b"000003@s.mrcs", b"000003@s.mrcs 7") + path.read_bytes()[2000:])
    with pytest.raises(InputError, match="bad.star.*malformed"):
        read_star_head(bad, 10)
    with pytest.raises(InputError, match="no such file"):
        read_star_head(tmp_path / "nope.star", 10)


@pytest.mark.parametrize("path", particle_files(3), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rows_from_the_middle(path: Path) -> None:
    full = full_table(path)
    for first in (1, len(full) - 2):
        got = read_star_rows(path, first, 2, first_read=256, skip_chunk=64)  # the counting and growing paths
        if got is None:
            assert list(full.blocks)[-1] != full.particles_block
            continue
        expected = full.particles.iloc[first:first + 2].reset_index(drop=True)
        pd.testing.assert_frame_equal(got.particles.astype(str), expected.astype(str))
        assert (got.optics_block, got.version) == (full.optics_block, full.version)
    assert read_star_rows(path, len(full), 2, first_read=256) is None  # past the last row


def test_rows_of_a_large_file(tmp_path: Path) -> None:
    n = 150_000
    path = big_star(tmp_path, n)
    rows = read_star_rows(path, 123_456, 5)
    assert rows.particles["rlnImageName"].tolist() == [f"{i + 1:06d}@s.mrcs" for i in range(123_456, 123_461)]
    assert rows.particles["rlnAngleRot"].tolist() == [i * 0.5 for i in range(123_456, 123_461)]
    assert rows.pixel_size().tolist() == [1.5] * 5
    assert len(read_star_rows(path, n - 2, 5)) == 2  # the end of the file
    assert read_star_rows(path, n, 5) is None
    text = path.read_text()
    commented = tmp_path / "commented.star"  # a comment line in the loop: rows cannot be counted by lines
    commented.write_text(text.replace("000100@s.mrcs", "# a comment\n000100@s.mrcs", 1))
    assert read_star_rows(commented, 123_456, 5) is None
    assert read_star_rows(commented, 50, 5) is not None  # before the comment, rows still count
