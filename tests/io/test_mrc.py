from __future__ import annotations

import io
import os
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from gan_viewer.errors import InputError
from gan_viewer.io.mrc import MrcStack, write_stack


@pytest.mark.parametrize("dtype, mode", [(np.int8, 0), (np.int16, 1), (np.float32, 2), (np.uint16, 6), (np.float16, 12)])
def test_every_mode_reads_as_float32(tmp_path: Path, dtype, mode: int) -> None:
    data = (np.arange(3 * 8 * 8) % 100).reshape(3, 8, 8).astype(dtype)
    path = tmp_path / "s.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.set_image_stack()
    with MrcStack(path) as stack:
        assert stack.mode == mode
        out = stack.read([2, 0])
    assert out.dtype == np.float32 and out.shape == (2, 8, 8)
    np.testing.assert_array_equal(out, data[[2, 0]].astype(np.float32))


def test_single_image_is_a_stack_of_one(tmp_path: Path) -> None:
    path = tmp_path / "one.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((6, 6), np.float32))
        mrc.voxel_size = 1.5
    with MrcStack(path) as stack:
        assert stack.shape == (1, 6, 6)
        assert stack.pixel_size == pytest.approx(1.5)


def test_unset_pixel_size_is_none(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "a.mrcs", np.zeros((2, 4, 4)))
    with MrcStack(path) as stack:
        assert stack.pixel_size is None


def test_truncated_file(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "t.mrcs", np.zeros((4, 16, 16)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(InputError, match="truncated|smaller") as info:
        MrcStack(path)
    assert str(path) in str(info.value)


def test_not_mrc(tmp_path: Path) -> None:
    path = tmp_path / "x.mrcs"
    path.write_text("this is not an MRC file at all" * 50)
    with pytest.raises(InputError, match="not a readable MRC"):
        MrcStack(path)


def test_out_of_range(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "a.mrcs", np.zeros((2, 4, 4)))
    with MrcStack(path) as stack, pytest.raises(InputError, match="image 3 requested but the stack holds 2"):
        stack.read([2])


def test_write_stack_is_atomic_and_safe(tmp_path: Path) -> None:
    path = write_stack(tmp_path / "a.mrcs", np.ones((2, 4, 4)), pixel_size=3.0)
    with pytest.raises(InputError, match="exists already"):
        write_stack(path, np.zeros((2, 4, 4)))
    with MrcStack(path) as stack:
        assert stack.read([0]).max() == 1
        assert stack.pixel_size == pytest.approx(3.0)
    assert [p.name for p in tmp_path.iterdir()] == ["a.mrcs"]


def test_open_does_not_read_pixels(tmp_path: Path) -> None:
    # a sparse 100-image stack whose pixels were never written: opening only reads the header
    path = write_stack(tmp_path / "big.mrcs", np.zeros((1, 64, 64)))
    with mrcfile.mmap(path, mode="r+") as mrc:
        mrc.data  # noqa: B018
    with MrcStack(path) as stack:
        assert len(stack) == 1


def test_stack_writer_chunks_and_atomicity(tmp_path: Path) -> None:
    from gan_viewer.io.mrc import StackWriter

    data = np.arange(5 * 4 * 4, dtype=np.float32).reshape(5, 4, 4)
    with StackWriter(tmp_path / "o.mrcs", data.shape, 2.5) as out:
        out.write(0, data[:3])
        out.write(3, data[3:])
    with MrcStack(tmp_path / "o.mrcs") as stack:
        np.testing.assert_array_equal(stack.read([0, 4]), data[[0, 4]])
        assert stack.pixel_size == pytest.approx(2.5)
    with pytest.raises(RuntimeError), StackWriter(tmp_path / "fail.mrcs", data.shape) as out:
        out.write(0, data[:2])
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.mrcs"]
    with pytest.raises(InputError, match="exists already"):
        StackWriter(tmp_path / "o.mrcs", data.shape)


def test_write_map_round_trip(tmp_path: Path) -> None:
    from gan_viewer.io.mrc import write_map
    from gan_viewer.io.maps import load_map

    vol = np.random.default_rng(0).standard_normal((6, 6, 6)).astype(np.float32)
    path = write_map(tmp_path / "m.mrc", vol, 1.7)
    loaded, apix = load_map(path)
    np.testing.assert_array_equal(loaded, vol)
    assert apix == pytest.approx(1.7)
    with pytest.raises(InputError, match="exists already"):
        write_map(path, vol)


def test_stack_writer_header_matches_mrcfile(tmp_path: Path) -> None:
    """Scattered, partial and repeated rows: header statistics as mrcfile computes them from the data."""
    from gan_viewer.io.mrc import StackWriter

    rng = np.random.default_rng(3)
    images = (rng.standard_normal((12, 6, 6)) * 2 + 5).astype(np.float32)
    cases = {
        "in order": [(np.arange(12), images)],
        "scattered, two rows never written": [(np.array([7, 2, 3, 11, 0]), images[:5]),
                                              (np.arange(4, 7), images[5:8]), (np.array([1, 8]), images[8:10])],
        "a row written twice": [(np.arange(12), images), (np.array([4]), images[:1] * 3)],
    }
    for name, writes in cases.items():
        path = tmp_path / f"{name}.mrcs"
        with StackWriter(path, (12, 6, 6), 1.25) as out:
            for rows, chunk in writes:
                out.write_at(rows, chunk)
        with mrcfile.open(path) as written:
            data = written.data.copy()
            header = written.header.copy()
        expected = np.zeros((12, 6, 6), np.float32)
        for rows, chunk in writes:
            expected[rows] = chunk
        np.testing.assert_array_equal(data, expected, err_msg=name)
        with mrcfile.new(tmp_path / "reference.mrcs", overwrite=True) as reference:
            reference.set_data(expected)
            reference.update_header_stats()
            for field in ("dmin", "dmax", "dmean", "rms"):
                assert float(header[field]) == pytest.approx(float(reference.header[field]), rel=1e-5), (name, field)
        assert mrcfile.validate(path, print_file=io.StringIO())


def descriptors_to(path: Path) -> int:
    """How many of this process's open descriptors point at ``path``."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}") == str(path)
        except OSError:  # closed meanwhile (the listing's own descriptor, another thread's file)
            pass
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts descriptors in /proc/self/fd")
def test_no_descriptor_leak_with_eight_reader_threads(tmp_path: Path) -> None:
    """300 open / read / close cycles, each read spread over the 8 reader threads, leave no descriptor open."""
    path = write_stack(tmp_path / "s.mrcs", np.arange(128 * 8 * 8, dtype=np.float32).reshape(128, 8, 8))
    indices = np.random.default_rng(0).permutation(np.arange(0, 128, 2))  # scattered: one pread each
    for _ in range(300):
        with MrcStack(path) as stack:
            stack.read(indices)
    del stack  # its memory map (numpy's mmap holds a duplicate descriptor) goes with the object
    assert descriptors_to(path) == 0


@pytest.mark.parametrize("block", [1 << 20, 3 * 8 * 8 * 4])  # the default, and blocks of three images
def test_reads_in_blocks_give_the_images_asked_for(tmp_path: Path, monkeypatch, block: int) -> None:
    """Runs of consecutive images (read one block per pread), scattered ones, repeats and any order
    all come back as the memory map has them, in the order asked."""
    import gan_viewer.io.mrc as mrc

    monkeypatch.setattr(mrc, "READ_BLOCK", block)
    data = np.random.default_rng(1).standard_normal((40, 8, 8)).astype(np.float32)
    path = write_stack(tmp_path / "s.mrcs", data)
    asks = [np.arange(40), np.arange(5, 17)[::-1], np.array([3, 4, 5, 6, 30, 31, 9, 3, 39, 0]),
            np.random.default_rng(2).permutation(40)[:25]]
    with MrcStack(path) as stack:
        for ask in asks:
            np.testing.assert_array_equal(stack.read(ask), data[ask])


def test_consecutive_runs_split_long_runs() -> None:
    from gan_viewer.io.mrc import consecutive_runs

    assert consecutive_runs(np.array([3, 4, 5, 9, 10]), 2).tolist() == [0, 2, 3, 5]
    assert consecutive_runs(np.arange(7), 3).tolist() == [0, 3, 6, 7]
    assert consecutive_runs(np.array([], np.int64), 3).tolist() == [0]


def test_a_block_past_the_end_of_a_cut_file_names_the_missing_image(tmp_path: Path) -> None:
    """A file cut after it was opened: the block read stops short and says which image is missing."""
    data = np.ones((10, 8, 8), np.float32)
    path = write_stack(tmp_path / "s.mrcs", data)
    with MrcStack(path) as stack:
        os.truncate(path, path.stat().st_size - 3 * 8 * 8 * 4)  # images 8-10 gone
        with pytest.raises(InputError, match="image 8 could not be read"):
            stack.read(np.arange(2, 10))


def test_a_slice_of_a_cut_file_is_an_input_error_not_sigbus(tmp_path: Path) -> None:
    """Slices are read with pread too: through the memory map, pages past the new end of a file cut
    after it was opened kill the process with SIGBUS (a fresh interpreter, so a regression fails
    this test instead of ending the run)."""
    import subprocess
    import sys

    path = write_stack(tmp_path / "s.mrcs", np.arange(10 * 64 * 64, dtype=np.float32).reshape(10, 64, 64))
    code = f"""
import os, numpy as np
from gan_viewer.errors import InputError
from gan_viewer.io.mrc import MrcStack
stack = MrcStack({str(path)!r})
np.testing.assert_array_equal(stack.read(slice(1, 9, 3)), stack.read([1, 4, 7]))
os.truncate({str(path)!r}, 4096)
try:
    stack.read(slice(2, 6))
except InputError as exc:
    print(exc)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "s.mrcs" in done.stdout and "image 3 could not be read" in done.stdout


@pytest.mark.parametrize("rows, columns", [((0, 5), (0, 40)), ((3, 9), (10, 14)), ((7, 7), (0, 3)), ((0, 30), (0, 40))])
def test_read_rows_gives_the_window(tmp_path: Path, rows, columns) -> None:
    """Windows of every shape, empty ones included, equal the slice of the image."""
    data = np.random.default_rng(0).standard_normal((3, 30, 40)).astype(np.float32)
    path = write_stack(tmp_path / "s.mrcs", data)
    with MrcStack(path) as stack:
        out = stack.read_rows(1, rows, columns)
        with pytest.raises(ValueError, match="outside"):
            stack.read_rows(3, rows, columns)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data[1, rows[0]:rows[1], columns[0]:columns[1]])
