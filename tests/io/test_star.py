from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gan_viewer.errors import InputError
from gan_viewer.io.star import read_star, write_star


def assert_same_blocks(a, b) -> None:
    assert list(a.blocks) == list(b.blocks)
    for name in a.blocks:
        x, y = a.blocks[name], b.blocks[name]
        if isinstance(x, pd.DataFrame):
            assert list(x.columns) == list(y.columns), name
            pd.testing.assert_frame_equal(x.reset_index(drop=True), y.reset_index(drop=True),
                                          check_dtype=False, check_exact=True)
        else:
            assert x == y, name


def real_star_files():
    from tests.conftest import SHARED_DATA

    files = sorted((SHARED_DATA / "star").rglob("*.star")) + sorted((SHARED_DATA / "particles").rglob("*.star"))
    return [f for f in files if f.name != "multi_line_c_engine.star"]


@pytest.mark.parametrize("path", real_star_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_round_trip_every_real_file(path: Path, tmp_path: Path) -> None:
    table = read_star(path, require_particles=False)
    out = write_star(table, tmp_path / "copy.star", comments=["provenance line"])
    again = read_star(out, require_particles=False)
    assert again.version == table.version
    assert again.particles_block == table.particles_block
    assert again.optics_block == table.optics_block
    assert_same_blocks(table, again)


def test_real_data_present(shared_data: Path) -> None:
    assert len(real_star_files()) >= 30


@pytest.mark.parametrize("rel, version, n, apix, box, optics", [
    ("particles/real_relion31/relion31.star", 30001, 5, 2.806, 256, "optics"),
    ("particles/real_relion31/relion31.v2.star", 30001, 5, 2.806, 256, "optics"),  # blocks in the other order
    ("star/relion5/cryodrgn_relion5.star", 50001, 17, 0.89, 448, "optics"),
    ("particles/real_aspire_sample/sample_particles_relion30.star", None, 17, 1.338, None, None),
    ("star/relion30/cryodrgn_FinalRefinement-OriginalParticles-PfCRT.star", None, 5, 1.035, None, None),
    ("star/relion1_betagal/ap_s_c2d.star", None, 8915, 3.54, None, None),
])
def test_versions_and_optics(shared_data, rel, version, n, apix, box, optics) -> None:
    table = read_star(shared_data / rel)
    assert table.version == version
    assert len(table) == n
    assert table.optics_block == optics
    assert table.pixel_size() == pytest.approx(np.full(n, apix), rel=1e-5)
    assert (table.box_size() is None) if box is None else (table.box_size() == box).all()


def test_six_optics_groups_map_per_particle(shared_data: Path) -> None:
    table = read_star(shared_data / "particles/real_relion31/relion31.6opticsgroups.star")
    groups = table.optics_groups()
    optics = table.optics.set_index("rlnOpticsGroup")["rlnImagePixelSize"]
    assert len(np.unique(groups)) == 6
    np.testing.assert_allclose(table.pixel_size(), optics.loc[groups].to_numpy())


def test_origins_angstrom_and_pixels(shared_data: Path) -> None:
    legacy = read_star(shared_data / "particles/relion_projections_70S/rln_proj_64_shifted.star")
    np.testing.assert_allclose(legacy.origins_px()[0], [6, 10])
    angst = read_star(shared_data / "particles/real_relion31/relion31.star")
    expected = angst.particles[["rlnOriginXAngst", "rlnOriginYAngst"]].to_numpy() / 2.806
    np.testing.assert_allclose(angst.origins_px(), expected)


def test_names_stay_strings(tmp_path: Path) -> None:
    path = tmp_path / "s.star"
    path.write_text("data_\nloop_\n_rlnImageName #1\n_rlnMicrographName #2\n_rlnX #3\n"
                    "000001@a.mrcs 000123 1.5\n000002@a.mrcs 000124 2.5\n")
    table = read_star(path)
    assert table.particles["rlnMicrographName"].tolist() == ["000123", "000124"]
    out = write_star(table, tmp_path / "o.star")
    assert "000123" in out.read_text()


def test_write_refuses_to_overwrite(tiny_set: Path) -> None:
    table = read_star(tiny_set)
    before = tiny_set.read_text()
    with pytest.raises(InputError, match="exists already"):
        write_star(table, tiny_set)
    assert tiny_set.read_text() == before
    write_star(table, tiny_set, overwrite=True)
    assert not list(tiny_set.parent.glob(".*.tmp"))


@pytest.mark.parametrize("content, message", [
    ("", "is empty"),
    ("hello world\n", "no data_ block"),
    ("data_\n_rlnA 1\n", "no loop_ block"),
    ("data_\nloop_\n_rlnA #1\n_rlnB #2\n1 2\n3\n", "last row has 1 values for 2 columns"),
    ("data_\nloop_\n_rlnA #1\n_rlnB #2\n1 2\n3 4 5\n", "malformed STAR"),
    ("data_x\nloop_\n_rlnA #1\n1\ndata_x\nloop_\n_rlnA #1\n1\n", "duplicate data block"),
])
def test_bad_star_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.star"
    path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        read_star(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_binary_file_is_not_star(tmp_path: Path) -> None:
    path = tmp_path / "bin.star"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="binary"):
        read_star(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_star(tmp_path / "nope.star")


def test_zero_pixel_size_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "z.star"
    path.write_text("data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 0.0\n\n"
                    "data_particles\nloop_\n_rlnImageName #1\n_rlnOpticsGroup #2\n1@a.mrcs 1\n")
    with pytest.raises(InputError, match="pixel size is zero"):
        read_star(path).pixel_size()


def test_unknown_optics_group(tmp_path: Path) -> None:
    path = tmp_path / "g.star"
    path.write_text("data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 1.0\n\n"
                    "data_particles\nloop_\n_rlnImageName #1\n_rlnOpticsGroup #2\n1@a.mrcs 2\n")
    with pytest.raises(InputError, match=r"optics group\(s\) \[2\]"):
        read_star(path).pixel_size()


def test_empty_particle_loop_round_trips(tiny_set: Path, tmp_path: Path) -> None:
    table = read_star(tiny_set)
    out = write_star(table.subset(np.zeros(0, np.int64)), tmp_path / "none.star")
    again = read_star(out)
    assert len(again) == 0 and list(again.particles.columns) == table.columns
    assert again.optics.equals(table.optics)


@pytest.mark.parametrize("path", real_star_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_large_file_path_parses_like_starfile(path: Path, monkeypatch) -> None:
    import gan_viewer.io.star_parse as star

    expected = read_star(path, require_particles=False)
    monkeypatch.setattr(star, "FAST_PARSE_BYTES", 0)  # take the path used for files over 16 MB
    got = read_star(path, require_particles=False)
    assert got.version == expected.version
    for name, block in expected.blocks.items():
        if isinstance(block, pd.DataFrame):
            pd.testing.assert_frame_equal(got.blocks[name], block, check_dtype=True)
        else:
            assert got.blocks[name] == block


@pytest.mark.parametrize("content, message", [
    ("data_\nloop_\n_rlnA #1\n_rlnB #2\n1 2\n3\n", "last row has 1 values"),
    ("data_\nloop_\n_rlnA #1\n_rlnB #2\n1 2\n3 4 5\n", "malformed STAR"),
])
def test_large_file_path_catches_bad_rows(tmp_path: Path, monkeypatch, content: str, message: str) -> None:
    import gan_viewer.io.star_parse as star

    monkeypatch.setattr(star, "FAST_PARSE_BYTES", 0)
    path = tmp_path / "bad.star"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_star(path)



@pytest.mark.parametrize("where, value, message", [
    ("particles", "-inf", "rlnOpticsGroup of row 1 is"),
    ("particles", "abc", "rlnOpticsGroup of row 1 is 'abc'"),
    ("particles", "1.5", "not a whole number"),
    ("optics", "abc", "data_optics rlnOpticsGroup of row 1"),
    ("size", "1e308", "rlnImageSize of row 1 is"),
    ("size", "-16", "not a whole number from 1 to 131072"),
])
def test_optics_numbers_that_are_not_whole_numbers(tmp_path: Path, where: str, value: str, message: str) -> None:
    group = {"particles": value}.get(where, "1")
    optics_group = {"optics": value}.get(where, "1")
    size = {"size": value}.get(where, "16")
    path = tmp_path / "g.star"
    path.write_text(f"data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n_rlnImageSize #3\n"
                    f"{optics_group} 1.0 {size}\n\ndata_particles\nloop_\n_rlnImageName #1\n_rlnOpticsGroup #2\n"
                    f"1@a.mrcs {group}\n")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "invalid value encountered in cast" on the way
        with pytest.raises(InputError, match=message):
            table = read_star(path)
            table.pixel_size()
            table.box_size()
