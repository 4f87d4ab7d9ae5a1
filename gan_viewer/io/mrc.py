"""MRC images and stacks: lazy, memory-mapped reads and atomic writes.

Stacks are opened with ``mrcfile.mmap`` so opening a 100,000-particle stack reads only its header;
pixels are read when asked for. The header is checked against the file's size first
(:mod:`gan_viewer.io.mrc_check`), so a corrupt header never makes anything allocate. Modes 0 (int8), 1 (int16), 2 (float32), 6 (uint16) and 12
(float16) are supported, and every read returns float32.
"""

from __future__ import annotations

import os
import logging
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mrcfile
import numpy as np

from gan_viewer.errors import InputError
from gan_viewer.io.atomic import atomic_path, check_writable
from gan_viewer.io.mrc_check import check_mrc_layout

log = logging.getLogger(__name__)

SUPPORTED_MODES = (0, 1, 2, 6, 12)

#: threads that keep several image reads in flight (I/O bound; they release the GIL)
_READERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="mrc-read")


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
        self._data = data  # (n, h, w) memmap
        self._offset = int(self._mrc.header.nbytes + self._mrc.extended_header.nbytes)
        self._fd: int | None = None
        voxel = float(self._mrc.voxel_size.x)
        self.pixel_size: float | None = voxel if np.isfinite(voxel) and voxel > 0 else None

    def __len__(self) -> int:
        return self._data.shape[0]

    @property
    def shape(self) -> tuple[int, int, int]:
        """(n, h, w)."""
        return tuple(self._data.shape)  # type: ignore[return-value]

    @property
    def data(self) -> np.ndarray:
        """The memory-mapped pixels, shape (n, h, w), in the file's dtype; read lazily."""
        return self._data

    @property
    def mode(self) -> int:
        return int(self._mrc.header.mode)

    def read(self, indices: np.ndarray | list[int] | slice) -> np.ndarray:
        """Images at 0-based ``indices``, in the order given, shape (k, h, w) float32.

        Scattered images are read with one ``pread`` each, several in flight at once: on a cold
        page cache that is about ten times faster than faulting them in through the memory map.
        """
        if isinstance(indices, slice):
            return np.asarray(self._data[indices], dtype=np.float32)
        idx = np.asarray(indices, dtype=np.int64).ravel()
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            bad = idx[(idx < 0) | (idx >= len(self))][0]
            raise InputError(f"image {bad + 1} requested but the stack holds {len(self)}", self.path)
        if not hasattr(os, "preadv"):  # Windows: the memory map it is
            return np.asarray(self._data[idx], dtype=np.float32)
        unique, inverse = np.unique(idx, return_inverse=True)
        raw = np.empty((unique.size,) + self._data.shape[1:], self._data.dtype)
        if unique.size < 4:
            for k, i in enumerate(unique):
                self._pread_into(raw[k], int(i))
        else:
            list(_READERS.map(self._pread_into, raw, unique.tolist()))
        return raw[inverse].astype(np.float32, copy=False)

    def _pread_into(self, out: np.ndarray, index: int) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        view = memoryview(out.reshape(-1).view(np.uint8))
        offset, done = self._offset + index * view.nbytes, 0
        while done < view.nbytes:
            n = os.preadv(self._fd, [view[done:]], offset + done)
            if n <= 0:
                raise InputError(f"image {index + 1} could not be read (file truncated?)", self.path)
            done += n

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._mrc.close()

    def __enter__(self) -> MrcStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    with atomic_path(path, overwrite=overwrite) as tmp, mrcfile.new(tmp, overwrite=True) as mrc:
        mrc.set_data(volume)
        mrc.set_volume()
        if pixel_size:
            mrc.voxel_size = float(pixel_size)
    return Path(path)


class StackWriter:
    """Write a large stack chunk by chunk, atomically: a temporary file that is renamed on
    success and removed on any error, so a failed run leaves nothing behind.

    Parameters
    ----------
    path
        Destination ``.mrcs``.
    shape
        (n, h, w) of the whole stack.
    pixel_size
        Angstrom per pixel for the header, if known.
    overwrite
        Replace an existing file; otherwise an existing ``path`` raises InputError at once.

    Examples
    --------
    >>> with StackWriter("out.mrcs", (n, 64, 64), 1.5) as out:  # doctest: +SKIP
    ...     for start in range(0, n, 256):
    ...         out.write(start, chunk)
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int, int], pixel_size: float | None = None,
                 *, overwrite: bool = False) -> None:
        self.path = check_writable(path, overwrite)
        self.shape = tuple(int(x) for x in shape)
        self.pixel_size = pixel_size
        self._target = atomic_path(self.path, overwrite=overwrite)
        self._mrc = None

    def __enter__(self) -> StackWriter:
        tmp = self._target.__enter__()
        try:
            self._mrc = mrcfile.new_mmap(tmp, shape=self.shape, mrc_mode=2, overwrite=True)
            self._mrc.set_image_stack()
            if self.pixel_size:
                self._mrc.voxel_size = float(self.pixel_size)
        except BaseException as exc:
            self._target.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def write(self, start: int, images: np.ndarray) -> None:
        """Put (k, h, w) images at rows ``start .. start + k - 1``."""
        self._mrc.data[start:start + len(images)] = np.asarray(images, np.float32)

    def write_at(self, indices: np.ndarray, images: np.ndarray) -> None:
        """Put (k, h, w) images at the 0-based rows ``indices`` (k,)."""
        self._mrc.data[np.asarray(indices, np.int64)] = np.asarray(images, np.float32)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._mrc.update_header_stats()
                self._mrc.flush()
            self._mrc.close()
        except BaseException as error:
            self._target.__exit__(type(error), error, error.__traceback__)
            raise
        self._target.__exit__(exc_type, exc, tb)
