"""MRC images and stacks: lazy, memory-mapped reads and atomic writes.

Stacks are opened with ``mrcfile.mmap`` so opening a 100,000-particle stack reads only its header;
pixels are read when asked for, with ``pread`` (not through the map: a file cut short by another
program while open is then an InputError, not SIGBUS). The header is checked against the file's size first
(:mod:`gan_viewer.io.mrc_check`), so a corrupt header never makes anything allocate. Stacks are
written by :class:`~gan_viewer.io.mrc_writer.StackWriter` (space reserved first, no memory map).
Modes 0 (int8), 1 (int16), 2 (float32), 6 (uint16) and 12
(float16) are supported, and every read returns float32.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mrcfile
import numpy as np

from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_path, ensure_free_space
from gan_viewer.io.mrc_check import check_mrc_layout
from gan_viewer.io.mrc_writer import StackWriter

__all__ = ["MrcStack", "StackWriter", "read_header_pixel_size", "write_map", "write_stack"]

log = logging.getLogger(__name__)

SUPPORTED_MODES = (0, 1, 2, 6, 12)

#: threads that keep several image reads in flight (I/O bound; they release the GIL)
_READERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mrc-read")
#: most bytes one ``pread`` of consecutive images reads (larger runs are split, so they read in parallel)
READ_BLOCK = 1 << 20


class MrcStack:
    """A memory-mapped image stack, shape (n, h, w); a single 2D image is a stack of one.

    Parameters
    ----------
    path
        ``.mrcs`` or ``.mrc`` file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._mrc = _open_mmap(self.path)
        data = self._mrc.data
        if data.ndim == 2:
            data = data[np.newaxis]
        if data.ndim != 3:
            raise InputError(f"expected 2D images or a stack, found a {data.ndim}D array", self.path)
        self._data = data  # (n, h, w) memmap: its shape and dtype (pixels are read with pread, see read)
        self._offset = int(self._mrc.header.nbytes + self._mrc.extended_header.nbytes)
        self._fd: int | None = None  # for pread, opened at the first scattered read
        self._fd_lock = threading.Lock()
        voxel = float(self._mrc.voxel_size.x)
        self.pixel_size: float | None = voxel if np.isfinite(voxel) and voxel > 0 else None

    def __len__(self) -> int:
        return self._data.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n, h, w)."""
        return tuple(self._data.shape)  # type: ignore[return-value]

    @property
    def mode(self) -> int:
        return int(self._mrc.header.mode)

    def read(self, indices: np.ndarray | list[int] | slice) -> np.ndarray:
        """Images at 0-based ``indices``, in the order given, shape (k, h, w) float32.

        Scattered images are read with one ``pread`` each, several in flight at once: on a cold
        page cache that is about ten times faster than faulting them in through the memory map.
        Consecutive images are read in blocks of up to :data:`READ_BLOCK` bytes, one ``pread``
        per block (a chunk of a STAR's particles is mostly consecutive images of one stack).
        A file cut short since it was opened (rewritten by another program) gives an InputError
        naming it; through the memory map it would have killed the process (SIGBUS).
        """
        if isinstance(indices, slice):
            indices = np.arange(*indices.indices(len(self)), dtype=np.int64)
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            bad = idx[(idx < 0) | (idx >= len(self))][0]
            raise InputError(f"image {bad + 1} requested but the stack holds {len(self)}", self.path)
        if not hasattr(os, "preadv"):  # Windows: the memory map it is
            return np.asarray(self._data[idx], dtype=np.float32)
        unique, inverse = np.unique(idx, return_inverse=True)
        raw = np.empty((unique.size,) + self._data.shape[1:], self._data.dtype)
        per_block = max(1, READ_BLOCK // max(1, raw[:1].nbytes))
        starts = consecutive_runs(unique, per_block)  # (r + 1,) positions in unique
        blocks = [raw[a:b] for a, b in zip(starts[:-1], starts[1:])]
        firsts = unique[starts[:-1]].tolist()
        if len(blocks) < 4:
            for block, first in zip(blocks, firsts):
                self._pread_into(block, first)
        else:
            list(_READERS.map(self._pread_into, blocks, firsts))
        return raw[inverse].astype(np.float32, copy=False)

    def read_rows(self, index: int, rows: tuple[int, int], columns: tuple[int, int]) -> np.ndarray:
        """The window ``[rows[0], rows[1]) x [columns[0], columns[1])`` of image ``index`` (0-based),
        shape (r, c) float32.

        The window's whole rows are read with one ``pread`` (cheaper than one call per row even
        for a 4k micrograph's rows), so a file cut short since it was opened gives an InputError
        naming it, never SIGBUS.
        """
        n, h, w = self.shape
        (r0, r1), (c0, c1) = rows, columns
        if not (0 <= index < n and 0 <= r0 <= r1 <= h and 0 <= c0 <= c1 <= w):
            raise ValueError(f"window {rows} x {columns} of image {index} lies outside the {n} x {h} x {w} stack")
        whole = np.empty((r1 - r0, w), self._data.dtype)
        if not hasattr(os, "preadv"):  # Windows: the memory map it is
            whole[:] = self._data[index, r0:r1]
        elif self._pread_bytes(whole, self._offset + (index * h + r0) * w * whole.itemsize) < whole.nbytes:
            raise InputError(f"rows {r0 + 1}-{r1} of image {index + 1} could not be read (file truncated?)",
                             self.path)
        return whole[:, c0:c1].astype(np.float32)

    def _descriptor(self) -> int:
        """The read descriptor, opened once however many reader threads ask at the same time."""
        fd = self._fd
        if fd is None:
            with self._fd_lock:
                if self._fd is None:
                    self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
                fd = self._fd
        return fd

    def _pread_into(self, out: np.ndarray, index: int) -> None:
        """Fill ``out``, a C-contiguous (k, h, w) block or one (h, w) image, with images ``index``
        to ``index + k - 1``."""
        image_bytes = out.nbytes // (len(out) if out.ndim == 3 else 1)
        done = self._pread_bytes(out, self._offset + index * image_bytes)
        if done < out.nbytes:
            raise InputError(f"image {index + 1 + done // image_bytes} could not be read (file truncated?)",
                             self.path)

    def _pread_bytes(self, out: np.ndarray, offset: int) -> int:
        """Fill the C-contiguous ``out`` with the file's bytes from ``offset``; returns how many
        were read (fewer than ``out.nbytes`` where the file ends first)."""
        fd = self._descriptor()
        view = memoryview(out.reshape(-1).view(np.uint8))
        done = 0
        while done < view.nbytes:
            n = os.preadv(fd, [view[done:]], offset + done)
            if n <= 0:
                break
            done += n
        return done

    def close(self) -> None:
        with self._fd_lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        self._mrc.close()

    def __enter__(self) -> MrcStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def consecutive_runs(sorted_unique: np.ndarray, longest: int) -> np.ndarray:
    """Boundaries of the runs of consecutive values in a sorted, duplicate-free index array,
    each run at most ``longest`` long: (r + 1,) positions, run k being ``[out[k], out[k + 1])``.

    >>> consecutive_runs(np.array([3, 4, 5, 9, 10]), 2).tolist()  # [3, 4], [5], [9, 10]
    [0, 2, 3, 5]
    """
    values = np.asarray(sorted_unique, np.int64)
    if not values.size:
        return np.zeros(1, np.int64)
    breaks = np.flatnonzero(np.diff(values) != 1) + 1
    edges = np.concatenate([[0], breaks, [values.size]])
    out = [np.arange(a, b, longest) for a, b in zip(edges[:-1], edges[1:])]
    return np.concatenate(out + [[values.size]]).astype(np.int64)


def _open_mmap(path: Path):
    """Open strictly once the header matches the file's size (:func:`check_mrc_layout`); files
    from older software without the ``MAP`` ID get a permissive retry, which is accepted only
    when the header still describes data that is all there."""
    check_mrc_layout(path, SUPPORTED_MODES)
    try:
        return mrcfile.mmap(path, mode="r")
    except ValueError as exc:  # mrcfile says what is wrong: bad map ID, truncated data, mode
        return _permissive(path, exc)
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", path) from exc


def _permissive(path: Path, strict_error: ValueError):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            mrc = mrcfile.mmap(path, mode="r", permissive=True)
        except (ValueError, OSError) as exc:
            raise InputError(f"not a readable MRC file ({_describe(exc)})", path) from exc
    harmless = ("map id", "machine stamp")
    problems = [str(w.message) for w in caught if not any(h in str(w.message).lower() for h in harmless)]
    if mrc.data is None or problems:
        mrc.close()
        raise InputError(f"not a readable MRC file ({_describe(strict_error)})", path) from strict_error
    log.debug("%s: opened without the MAP ID string (%s)", path, strict_error)
    return mrc


def _describe(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "smaller than expected" in text or "too small" in text:
        return f"truncated: {text}"
    return text


def read_header_pixel_size(path: str | os.PathLike) -> float | None:
    """Pixel size in Angstrom from an MRC header, or None when it is 0 (unset)."""
    with MrcStack(path) as stack:
        return stack.pixel_size


def write_stack(path: str | os.PathLike, images: np.ndarray, pixel_size: float | None = None,
                *, overwrite: bool = False) -> Path:
    """Write images as a float32 MRC stack, atomically.

    Parameters
    ----------
    path
        Destination ``.mrcs``; written to a temporary file beside it, then renamed.
    images
        (n, h, w) array.
    pixel_size
        Angstrom per pixel for the header, if known.
    overwrite
        Replace an existing file; otherwise an existing ``path`` raises InputError.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3:
        raise ValueError(f"write_stack wants (n, h, w) images, got shape {images.shape}")
    with StackWriter(path, images.shape, pixel_size, overwrite=overwrite) as out:
        out.write(0, images)
    return Path(path)


def write_map(path: str | os.PathLike, volume: np.ndarray, pixel_size: float | None = None,
              *, overwrite: bool = False) -> Path:
    """Write a (d, d, d) map indexed [z, y, x] as a float32 MRC volume, atomically.

    The voxel size is set when given, and the origin is 0.
    """
    volume = np.asarray(volume, dtype=np.float32)
    if volume.ndim != 3:
        raise ValueError(f"write_map wants a (d, d, d) volume, got shape {volume.shape}")
    with atomic_path(path, overwrite=overwrite) as tmp:
        ensure_free_space(path, volume.nbytes + 1024)
        with mrcfile.new(tmp, overwrite=True) as mrc:
            mrc.set_data(volume)
            mrc.set_volume()
            if pixel_size:
                mrc.voxel_size = float(pixel_size)
    return Path(path)
