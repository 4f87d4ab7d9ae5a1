"""Particles cut out of micrographs at RELION STAR / EMAN .box coordinates (Topaz's tables:
test_topaz_picks.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import mrcfile
import numpy as np
import pytest

import gan_viewer.io.micrograph as micrograph_module
from gan_viewer.errors import InputError
from gan_viewer.core.micrograph_particles import MicrographParticles
from gan_viewer.io.micrograph import load_coordinates, read_coordinates

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
UCSF = DATA / "micrographs" / "ucsf_1142"

H, W, BOX = 64, 80, 16
# (x, y) = (column, row) dot centres; the last two sit near the edges (left, bottom right).
DOTS = [(20, 30), (50, 20), (40, 44), (3, 10), (76, 60)]
INTERIOR, EDGE = [0, 1, 2], [3, 4]


def dot_micrograph() -> np.ndarray:
    """(64, 80) float32: a gentle ramp plus one bright pixel per dot, dot k worth 100 * (k + 1)."""
    img = np.add.outer(np.arange(H) * 0.01, np.arange(W) * 0.001).astype(np.float32)
    for k, (x, y) in enumerate(DOTS):
        img[y, x] = 100.0 * (k + 1)
    return img


def write_mrc(path: Path, data: np.ndarray, pixel_size: float = 1.5) -> Path:
    with mrcfile.new(path, overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(data, np.float32))
        if pixel_size:
            mrc.voxel_size = pixel_size
    return path


def write_star30(path: Path, xy, extra: bool = True) -> Path:
    lines = ["", "data_", "", "loop_", "_rlnCoordinateX #1", "_rlnCoordinateY #2"]
    lines += ["_rlnAutopickFigureOfMerit #3"] if extra else []
    for k, (x, y) in enumerate(xy):
        lines.append(f"{x:.6f} {y:.6f}" + (f" {0.5 + k / 10:.3f}" if extra else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_star31(path: Path, xy) -> Path:
    lines = ["# version 30001", "", "data_optics", "", "loop_", "_rlnOpticsGroup #1",
             "_rlnImagePixelSize #2", "1 1.5", "", "# version 30001", "", "data_particles", "",
             "loop_", "_rlnCoordinateX #1", "_rlnCoordinateY #2", "_rlnOpticsGroup #3"]
    lines += [f"{x} {y} 1" for x, y in xy]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_box(path: Path, xy, size: int = BOX) -> Path:
    """EMAN .box: lower-left corner (centre - size/2) and the box size."""
    path.write_text("".join(f"{x - size / 2:g}\t{y - size / 2:g}\t{size}\t{size}\n" for x, y in xy))
    return path


def padded_window(img: np.ndarray, x: int, y: int, box: int = BOX) -> np.ndarray:
    """Reference crop: pad with the mean by np.pad, then slice."""
    p = np.pad(img.astype(np.float64), box, constant_values=img.mean(dtype=np.float64))
    r0, c0 = y - box // 2 + box, x - box // 2 + box
    return p[r0:r0 + box, c0:c0 + box].astype(np.float32)


# -- centring, order, conventions ------------------------------------------------------------
def test_windows_centred_on_dots(mic: Path, star: Path) -> None:
    parts = MicrographParticles(mic, star, BOX)
    assert len(parts) == 5 and parts.box == BOX and parts.shape == (H, W)
    imgs = parts.images(INTERIOR)
    assert imgs.shape == (3, BOX, BOX) and imgs.dtype == np.float32
    for k, img in zip(INTERIOR, imgs):
        assert np.unravel_index(img.argmax(), img.shape) == (BOX // 2, BOX // 2)
        assert img[BOX // 2, BOX // 2] == 100.0 * (k + 1)


def test_windows_equal_micrograph_slices(mic: Path, star: Path) -> None:
    img = dot_micrograph()
    parts = MicrographParticles(mic, star, BOX)
    for k in INTERIOR:
        x, y = DOTS[k]
        np.testing.assert_array_equal(parts.images([k])[0], img[y - 8:y + 8, x - 8:x + 8])


def test_odd_box_is_symmetric(mic: Path, star: Path) -> None:
    img = MicrographParticles(mic, star, 7).images([0])[0]
    assert np.unravel_index(img.argmax(), img.shape) == (3, 3)


def test_order_of_indices_is_kept(mic: Path, star: Path) -> None:
    parts = MicrographParticles(mic, star, BOX)
    order = [2, 0, 1, 0]
    peaks = parts.images(order)[:, BOX // 2, BOX // 2]
    np.testing.assert_array_equal(peaks, [300.0, 100.0, 200.0, 100.0])
    assert parts.images(np.array([], int)).shape == (0, BOX, BOX)


def test_fractional_centres_round_half_up(tmp_path: Path, mic: Path) -> None:
    coords = write_star30(tmp_path / "frac.star", [(20.4, 29.6), (48.5, 18.5)])
    imgs = MicrographParticles(mic, coords, BOX).images([0, 1])
    assert imgs[0, 8, 8] == 100.0  # (20.4, 29.6) -> (20, 30)
    assert imgs[1, 9, 9] == 200.0  # (48.5, 18.5) -> (49, 19), not (48, 18): dot (50, 20) one down-right


def test_box_lower_left_convention(tmp_path: Path, mic: Path, star: Path) -> None:
    box_file = write_box(tmp_path / "mic.box", DOTS, size=20)
    centres = read_coordinates(box_file)
    np.testing.assert_array_equal(centres, np.array(DOTS, float))
    from_box = MicrographParticles(mic, box_file, BOX)
    from_star = MicrographParticles(mic, star, BOX)
    np.testing.assert_array_equal(from_box.images(range(5)), from_star.images(range(5)))
    assert from_box.metadata(0) == {"x": 10.0, "y": 20.0, "w": 20.0, "h": 20.0, "at_edge": False}
    assert from_box.table is None


def test_box_file_rectangular_boxes_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "rect.box"
    path.write_text("10 20 8 4 -3\n\n0 0 2 6\n")
    np.testing.assert_array_equal(read_coordinates(path), [[14, 22], [1, 3]])


def test_star31_with_optics_matches_star30(tmp_path: Path, mic: Path, star: Path) -> None:
    star31 = write_star31(tmp_path / "v31.star", DOTS)
    a, b = MicrographParticles(mic, star31, BOX), MicrographParticles(mic, star, BOX)
    np.testing.assert_array_equal(a.images(range(5)), b.images(range(5)))
    assert a.table is not None and a.table.optics is not None
    assert a.metadata(1) == {"rlnCoordinateX": 50, "rlnCoordinateY": 20, "rlnOpticsGroup": 1, "at_edge": False}


def test_metadata_pixel_size_and_table(mic: Path, star: Path) -> None:
    parts = MicrographParticles(mic, star, BOX)
    assert parts.pixel_size == pytest.approx(1.5)
    assert parts.path == star and len(parts.table.particles) == 5
    assert parts.metadata(2) == pytest.approx(
        {"rlnCoordinateX": 40.0, "rlnCoordinateY": 44.0, "rlnAutopickFigureOfMerit": 0.7, "at_edge": False})
    np.testing.assert_array_equal(parts.coordinates, np.array(DOTS, float))


def test_pixel_size_none_when_header_is_zero(tmp_path: Path, star: Path) -> None:
    mic = write_mrc(tmp_path / "nopix.mrc", dot_micrograph(), pixel_size=0)
    assert MicrographParticles(mic, star, BOX).pixel_size is None


def test_scale_maps_file_coordinates_to_pixels(tmp_path: Path, mic: Path, star: Path) -> None:
    doubled = write_star30(tmp_path / "bin1.star", [(2 * x, 2 * y) for x, y in DOTS])
    a, b = MicrographParticles(mic, doubled, BOX, scale=0.5), MicrographParticles(mic, star, BOX)
    np.testing.assert_array_equal(a.images(range(5)), b.images(range(5)))


def test_the_coordinate_table_relion_extracts_from(tmp_path: Path, mic: Path, star: Path) -> None:
    """A STAR's own table; for .box picks the centres in micrograph pixels, the scale applied,
    without the picks "skip" dropped (the rows follow the particles)."""
    from gan_viewer.core.micrograph_particles import curation_table

    stars = MicrographParticles(mic, star, BOX)
    assert curation_table(stars) is stars.table
    doubled = write_box(tmp_path / "bin1.box", [(2 * x, 2 * y) for x, y in DOTS], size=2 * BOX)
    boxes = MicrographParticles(mic, doubled, BOX, scale=0.5, edge="skip")
    table = curation_table(boxes)
    assert table.particles.columns.tolist() == ["rlnCoordinateX", "rlnCoordinateY"] and table.optics is None
    np.testing.assert_array_equal(table.particles.to_numpy(float), np.array(DOTS, float)[INTERIOR])


def test_a_scaled_star_table_gives_the_pixel_size_of_the_micrographs_pixels(tmp_path: Path, mic: Path) -> None:
    """Picks made on a copy binned by 4 (RELION 3.1, optics pixel size 6 A) opened at scale 4:
    the table written for RELION has the centres in micrograph pixels, and the pixel size of
    those pixels (1.5 A, as the micrograph's header says), not the binned copy's."""
    from gan_viewer.core.micrograph_particles import curation_table

    binned = write_star31(tmp_path / "bin4.star", [(x / 4, y / 4) for x, y in DOTS])
    binned.write_text(binned.read_text().replace("1 1.5", "1 6.0"))
    table = curation_table(MicrographParticles(mic, binned, BOX, scale=4))
    np.testing.assert_array_equal(table.particles[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float), DOTS)
    assert table.optics["rlnImagePixelSize"].tolist() == [1.5]
    assert curation_table(MicrographParticles(mic, binned, BOX)).optics["rlnImagePixelSize"].tolist() == [6.0]


def test_particle_source_protocol(mic: Path, star: Path) -> None:
    from gan_viewer.core.particles import ParticleSource

    assert isinstance(MicrographParticles(mic, star, BOX), ParticleSource)


# -- edges -------------------------------------------------------------------------------------
def test_pad_fills_outside_with_micrograph_mean(mic: Path, star: Path) -> None:
    img = dot_micrograph()
    parts = MicrographParticles(mic, star, BOX, edge="pad")
    assert len(parts) == 5
    np.testing.assert_array_equal(parts.at_edge, [False, False, False, True, True])
    imgs = parts.images(EDGE)
    for crop, k in zip(imgs, EDGE):
        np.testing.assert_allclose(crop, padded_window(img, *DOTS[k]), rtol=1e-6)
        assert crop[BOX // 2, BOX // 2] == 100.0 * (k + 1)
    assert imgs[0, 0, 0] == pytest.approx(img.mean(dtype=np.float64))  # left of the micrograph
    assert imgs[1, -1, -1] == pytest.approx(img.mean(dtype=np.float64))  # below and right


def test_flag_pads_and_reports_edges(mic: Path, star: Path) -> None:
    flag, pad = MicrographParticles(mic, star, BOX, edge="flag"), MicrographParticles(mic, star, BOX)
    np.testing.assert_array_equal(flag.images(range(5)), pad.images(range(5)))
    assert flag.at_edge.tolist() == [False, False, False, True, True]
    assert flag.metadata(3)["at_edge"] is True and flag.metadata(0)["at_edge"] is False
    np.testing.assert_array_equal(flag.kept_rows, range(5))


def test_skip_drops_edge_particles(mic: Path, star: Path) -> None:
    parts = MicrographParticles(mic, star, BOX, edge="skip")
    assert len(parts) == 3 and not parts.at_edge.any()
    np.testing.assert_array_equal(parts.kept_rows, INTERIOR)
    np.testing.assert_array_equal(parts.coordinates, np.array(DOTS[:3], float))
    assert len(parts.table) == 3 and parts.table.path == star
    assert parts.metadata(2)["rlnCoordinateX"] == 40.0
    np.testing.assert_array_equal(parts.images([2, 0])[:, 8, 8], [300.0, 100.0])
    with pytest.raises(InputError, match="particle 4 requested but there are 3"):
        parts.images([3])


def test_window_exactly_touching_the_border_is_not_at_edge(tmp_path: Path, mic: Path) -> None:
    coords = write_star30(tmp_path / "border.star", [(8, 8), (W - 8, H - 8), (7, 8), (W - 7, 8)])
    assert MicrographParticles(mic, coords, BOX).at_edge.tolist() == [False, False, True, True]


def test_box_as_large_as_the_micrograph(tmp_path: Path, mic: Path) -> None:
    coords = write_star30(tmp_path / "c.star", [(40, 32)])
    parts = MicrographParticles(mic, coords, H)
    assert parts.images([0]).shape == (1, H, H) and not parts.at_edge.any()


# -- empty and bad input -----------------------------------------------------------------------
@pytest.mark.parametrize("name, text", [
    ("empty.star", ""), ("blank.box", "\n  \n"), ("header_only.star", "data_\nloop_\n_rlnCoordinateX\n_rlnCoordinateY\n"),
])
def test_empty_coordinate_file_gives_no_particles(tmp_path: Path, mic: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    parts = MicrographParticles(mic, path, BOX)
    assert len(parts) == 0 and parts.coordinates.shape == (0, 2)
    assert parts.images([]).shape == (0, BOX, BOX)


def assert_input_error(func, path: Path, match: str | None = None) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        func()
    message = str(info.value)
    assert path.name in message and "\n" not in message
    return info.value


def test_missing_files(tmp_path: Path, mic: Path, star: Path) -> None:
    assert_input_error(lambda: MicrographParticles(tmp_path / "nope.mrc", star, BOX), tmp_path / "nope.mrc",
                       "no such file")
    assert_input_error(lambda: MicrographParticles(mic, tmp_path / "nope.star", BOX), tmp_path / "nope.star",
                       "no such file")
    assert_input_error(lambda: read_coordinates(tmp_path / "gone.box"), tmp_path / "gone.box", "no such file")


def test_not_an_mrc_file(tmp_path: Path, star: Path) -> None:
    fake = tmp_path / "fake.mrc"
    fake.write_text("this is not an MRC file\n" * 100)
    assert_input_error(lambda: MicrographParticles(fake, star, BOX), fake, "MRC")


def test_stack_of_several_images_is_refused(tmp_path: Path, star: Path) -> None:
    stack = tmp_path / "movie.mrcs"
    with mrcfile.new(stack) as mrc:
        mrc.set_data(np.zeros((3, H, W), np.float32))
        mrc.set_image_stack()
    assert_input_error(lambda: MicrographParticles(stack, star, BOX), stack, "holds 3 images")


def test_micrograph_cut_short_while_open_is_an_input_error_not_sigbus(mic: Path, star: Path) -> None:
    """A micrograph rewritten by another program while its picks are open, caught cut short:
    windows are read with pread, so a missing row is an InputError naming the
    micrograph, where the memory map killed the process with SIGBUS. A fresh interpreter, so a
    regression fails this test instead of ending the run."""
    import subprocess
    import sys

    code = f"""
import os
from gan_viewer.errors import InputError
from gan_viewer.core.micrograph_particles import MicrographParticles
parts = MicrographParticles({str(mic)!r}, {str(star)!r}, {BOX})
parts.images([0])
os.truncate({str(mic)!r}, 1024 + {W} * 4 * 12)  # the header and 12 rows are left
for index in (1, 2, 4):  # a window inside the rows left, one below them, one that needs padding
    try:
        print(index, parts.images([index]).shape)
    except InputError as exc:
        print(index, exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert lines[1].startswith("2 ") and "could not be read (file truncated?)" in lines[1] and mic.name in lines[1]
    assert lines[2].startswith("4 ") and "could not be read" in lines[2]


def test_star_without_coordinate_columns(tmp_path: Path, mic: Path) -> None:
    path = tmp_path / "particles_only.star"
    path.write_text("data_\nloop_\n_rlnImageName #1\n_rlnAnglePsi #2\n1@a.mrcs 0.0\n")
    assert_input_error(lambda: MicrographParticles(mic, path, BOX), path, "rlnCoordinateX")


@pytest.mark.parametrize("name, text, match", [
    ("words.box", "10 20 16 16\n10 abc 16 16\n", "line 2"),
    ("short.box", "10 20 16\n", "4 columns"),
    ("nan.box", "10 nan 16 16\n", "particle 1"),
    ("zero.box", "10 20 0 16\n", "zero or negative"),
    ("text.star", "data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n1 2\n3 abc\n", "particle 2"),
    ("coords.txt", "10 20\n", "unknown coordinate file type"),
    ("topaz.txt", "image_name\tx_coord\ty_coord\tscore\nmic\t10\tabc\t1.5\n", "particle 1 has a missing"),
    ("topaz_short.txt", "image_name\tx_coord\ty_coord\nmic\t10\t20\nmic\t10\t20\t30\t40\n", "malformed Topaz"),
])
def test_malformed_coordinate_files(tmp_path: Path, mic: Path, name: str, text: str, match: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert_input_error(lambda: MicrographParticles(mic, path, BOX), path, match)


@pytest.mark.parametrize("box", [0, -4, H + 1, 10.5, "big"])
def test_bad_box_size(mic: Path, star: Path, box) -> None:
    assert_input_error(lambda: MicrographParticles(mic, star, box), mic, "box size")


def test_coordinate_outside_the_micrograph(tmp_path: Path, mic: Path) -> None:
    coords = write_star30(tmp_path / "far.star", [(20, 30), (W + 5, 10)])
    assert_input_error(lambda: MicrographParticles(mic, coords, BOX), coords, "particle 2 .* outside")
    assert_input_error(lambda: MicrographParticles(mic, coords, BOX, scale=-1), coords, "scale")


def test_index_out_of_range(mic: Path, star: Path) -> None:
    parts = MicrographParticles(mic, star, BOX)
    assert_input_error(lambda: parts.images([5]), star, "particle 6 requested")
    assert_input_error(lambda: parts.images([-1]), star, "requested")


@pytest.mark.filterwarnings("ignore:Data array contains NaN")
def test_non_finite_pixels_are_reported(tmp_path: Path, star: Path) -> None:
    img = dot_micrograph()
    img[30, 21] = np.nan
    mic = write_mrc(tmp_path / "nan.mrc", img)
    parts = MicrographParticles(mic, star, BOX)
    assert_input_error(lambda: parts.images([1, 0]), mic, "particle 1 contains NaN")
    assert np.isnan(parts.images([0], check_finite=False)).any()
    assert np.isfinite(parts.images([1])).all()


def test_bad_edge_mode(mic: Path, star: Path) -> None:
    with pytest.raises(ValueError, match="edge"):
        MicrographParticles(mic, star, BOX, edge="crop")


def test_io_layer_imports_nothing_above_it() -> None:
    tree = ast.parse(Path(micrograph_module.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    allowed = ("__future__", "functools", "logging", "os", "pathlib", "numpy", "pandas", "mrcfile", "starfile",
               "gan_viewer.io", "gan_viewer.errors")
    assert all(name.startswith(allowed) for name in names), names


# -- real data ---------------------------------------------------------------------------------
@pytest.fixture
def ucsf() -> Path:
    if not (UCSF / "Ucsf_stack_1142_DW.mrc").is_file():
        pytest.skip("shared/data/micrographs/ucsf_1142 is not available")
    return UCSF


def test_real_micrograph_autopick(ucsf: Path) -> None:
    parts = MicrographParticles(ucsf / "Ucsf_stack_1142_DW.mrc", ucsf / "Ucsf_stack_1142_DW_autopick.star", 64)
    assert len(parts) == 45 and parts.shape == (927, 959)  # 959 columns (x) by 927 rows (y)
    imgs = parts.images(range(45))
    assert imgs.shape == (45, 64, 64) and imgs.dtype == np.float32 and np.isfinite(imgs).all()
    # Six picks lie within 32 px of a border (x = 19.98, 29.97 or 929.03; y = 19.98).
    assert parts.at_edge.sum() == 6
    assert "rlnAutopickFigureOfMerit" in parts.metadata(0) and parts.table.path.name.endswith("autopick.star")
    assert len(MicrographParticles(ucsf / "Ucsf_stack_1142_DW.mrc",
                                   ucsf / "Ucsf_stack_1142_DW_autopick.star", 64, edge="skip")) == 39


def test_real_picks_sit_on_blobs_with_data_y_x(ucsf: Path) -> None:
    """Picks index the array as data[y, x]: x reaches 929 > 927 rows, and the contamination
    mask (bright on blobs, particles included) is brighter at the picks than on average."""
    with mrcfile.open(ucsf / "Ucsf_stack_1142_DW_contamination_mask.mrc") as mrc:
        mask = mrc.data.astype(np.float64)
    centres = np.floor(load_coordinates(ucsf / "Ucsf_stack_1142_DW_autopick.star")[0] + 0.5).astype(int)
    x, y = centres[:, 0], centres[:, 1]
    assert x.max() >= mask.shape[0]  # so x cannot be the row index
    assert mask[y, x].mean() > 1.5 * mask.mean()
    assert mask[mask.shape[0] - 1 - y, x].mean() < mask[y, x].mean()  # not flipped in y


def test_coordinates_beyond_any_micrograph_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.star"
    path.write_text("data_\nloop_\n_rlnCoordinateX #1\n_rlnCoordinateY #2\n10 12\n1e308 40\n")
    with pytest.raises(InputError, match="particle 2 has a coordinate beyond 10\\*\\*9 pixels"):
        load_coordinates(path)


@pytest.mark.parametrize("binning", [2, 3, 4, 8])
def test_binning_hint_names_the_copy_the_picks_were_made_on(binning: int) -> None:
    rng, hint = np.random.default_rng(binning), micrograph_module.binning_hint
    picks = rng.uniform(50, 4096 / binning - 1, (85, 2))  # spread over the binned copy
    assert hint(picks, (4096, 4096)) == binning and hint(picks[:9], (4096, 4096)) is None  # 9: too few to say
    assert hint(rng.uniform(0, 4095, (85, 2)), (4096, 4096)) is None  # spread over the micrograph
    assert hint(picks - 100, (4096, 4096)) is None  # not on the micrograph


def test_picks_of_a_binned_copy_warn_and_open_at_their_scale(tmp_path: Path, mic: Path, star: Path) -> None:
    """A coordinate STAR picked at bin 2: a warning naming --coords-scale 2 (none for picks spread
    over the micrograph, nor at the scale given); its coordinate table in micrograph pixels."""
    from tests.conftest import BIN2_PICKS

    binned = write_star30(tmp_path / "bin2.star", BIN2_PICKS)
    plain = MicrographParticles(mic, binned, BOX)
    assert plain.suggested_scale == 2 and "all 12 picks of bin2.star lie in the top-left 48 %" in plain.scale_warning
    assert plain.scale_warning.endswith("binned by 2? try --coords-scale 2")
    assert MicrographParticles(mic, star, BOX).scale_warning is None
    scaled = MicrographParticles(mic, binned, BOX, scale=2)
    assert scaled.scale == 2 and scaled.suggested_scale is None and scaled.scale_warning is None
    table = scaled.coordinate_table().particles
    np.testing.assert_array_equal(table[["rlnCoordinateX", "rlnCoordinateY"]].to_numpy(float), 2 * np.array(BIN2_PICKS))
    assert table.columns.tolist() == ["rlnCoordinateX", "rlnCoordinateY", "rlnAutopickFigureOfMerit"]
    assert scaled.table.particles["rlnCoordinateX"].tolist() == [x for x, _ in BIN2_PICKS]  # the file's, untouched


def test_picks_beyond_the_micrograph_name_the_scale_that_fits(tmp_path: Path, mic: Path, star: Path) -> None:
    doubled = write_star30(tmp_path / "bin1.star", [(2 * x, 2 * y) for x, y in DOTS])
    assert_input_error(lambda: MicrographParticles(mic, doubled, BOX), doubled, r"scale\? try --coords-scale 0.5\)")
    assert_input_error(lambda: MicrographParticles(mic, star, BOX, scale=4), star, r"try --coords-scale 1\)")
    for value in (0, -2, float("nan"), float("inf")):
        assert_input_error(lambda: MicrographParticles(mic, doubled, BOX, scale=value), doubled, "--coords-scale")
