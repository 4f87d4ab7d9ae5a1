"""Write a large MRC stack chunk by chunk, atomically, with its disk space reserved first.

The whole file is allocated before the first image is written (``posix_fallocate``) and images go
in with positioned writes, not through a memory map: on a full disk a memory-mapped write faults
with SIGBUS and kills the process silently, while here the reservation fails at once with an
``OSError`` that names the file. Where the file system cannot reserve space, the plain writes
still report a full disk as an ``OSError``.
"""

from __future__ import annotations

import errno
import os
import numpy as np
from mrcfile.mrcinterpreter import MrcInterpreter

from gan_viewer.io.atomic import atomic_path, check_writable, ensure_free_space

_UNSUPPORTED = {errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


class StackWriter:
    """Write a (n, h, w) float32 stack chunk by chunk: a temporary file, renamed on success and
    removed on any error, so a failed run leaves nothing behind.

    Entering checks the free space (``shutil.disk_usage``) and reserves the file's full size, so
    an output that cannot fit is refused before any work. The header's statistics (min, max,
    mean, rms) are accumulated from the images as they are written (rows never written count
    as zeros).

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
        if len(self.shape) != 3 or min(self.shape) < 0:
            raise ValueError(f"StackWriter wants an (n, h, w) shape, got {shape}")
        self.pixel_size = pixel_size
        self._header = _stack_header(self.shape, pixel_size)
        self._row_bytes = self.shape[1] * self.shape[2] * 4
        #: size of the whole file in bytes
        self.nbytes = self._header.header.nbytes + self.shape[0] * self._row_bytes
        self._target = atomic_path(self.path, overwrite=overwrite)
        self._fd: int | None = None
        self._stats = _RunningStats()
        self._written = np.zeros(self.shape[0], bool)
        self._stats_exact = True

    def __enter__(self) -> StackWriter:
        ensure_free_space(self.path, self.nbytes)
        tmp = self._target.__enter__()
        try:
            self._fd = os.open(tmp, os.O_RDWR | getattr(os, "O_BINARY", 0))
            _reserve(self._fd, self.nbytes)
            _write_at(self._fd, self._header.header.tobytes(), 0)
        except BaseException as exc:
            self._close_fd(quiet=True)
            self._target.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return self

    def write(self, start: int, images: np.ndarray) -> None:
        """Put (k, h, w) images at rows ``start .. start + k - 1``."""
        images = self._checked(images)
        rows = np.arange(start, start + len(images))
        if len(images) and (start < 0 or rows[-1] >= self.shape[0]):
            raise IndexError(f"rows {start}..{rows[-1]} are outside the stack of {self.shape[0]}")
        _write_at(self._fd, images, self._offset(start))
        self._account(rows, images)

    def write_at(self, indices: np.ndarray, images: np.ndarray) -> None:
        """Put (k, h, w) images at the 0-based rows ``indices`` (k,)."""
        images = self._checked(images)
        rows = np.asarray(indices, np.int64).ravel()
        if rows.shape != (len(images),):
            raise ValueError(f"{rows.size} rows for {len(images)} images")
        if rows.size and (rows.min() < 0 or rows.max() >= self.shape[0]):
            raise IndexError(f"row {int(rows.max())} or {int(rows.min())} is outside the stack of {self.shape[0]}")
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        breaks = np.flatnonzero(np.diff(sorted_rows) != 1) + 1
        for run in np.split(np.arange(rows.size), breaks):  # contiguous rows: one write each
            if run.size:
                _write_at(self._fd, np.ascontiguousarray(images[order[run]]), self._offset(int(sorted_rows[run[0]])))
        self._account(rows, images)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish_header()
            self._close_fd(quiet=exc_type is not None)
        except BaseException as error:
            self._close_fd(quiet=True)
            self._target.__exit__(type(error), error, error.__traceback__)
            raise
        self._target.__exit__(exc_type, exc, tb)

    def _checked(self, images: np.ndarray) -> np.ndarray:
        images = np.ascontiguousarray(images, np.float32)
        if images.ndim != 3 or images.shape[1:] != self.shape[1:]:
            raise ValueError(f"images of shape {images.shape} do not fit a stack of {self.shape}")
        return images

    def _offset(self, row: int) -> int:
        return self._header.header.nbytes + row * self._row_bytes

    def _account(self, rows: np.ndarray, images: np.ndarray) -> None:
        if not self._stats_exact:
            return
        if self._written[rows].any() or np.unique(rows).size < rows.size:
            self._stats_exact = False  # rows written twice: read the file back at the end
            return
        self._written[rows] = True
        self._stats.add(images)

    def _finish_header(self) -> None:
        stats = self._stats if self._stats_exact else self._stats_from_file()
        if self._stats_exact:
            stats.add_zeros(int((~self._written).sum()) * self.shape[1] * self.shape[2])
        stats.to_header(self._header)
        _write_at(self._fd, self._header.header.tobytes(), 0)

    def _stats_from_file(self) -> _RunningStats:
        stats = _RunningStats()
        rows_per_read = max(1, (64 << 20) // max(1, self._row_bytes))
        for lo in range(0, self.shape[0], rows_per_read):
            k = min(rows_per_read, self.shape[0] - lo)
            chunk = np.empty((k,) + self.shape[1:], np.float32)
            _read_at(self._fd, chunk, self._offset(lo))
            stats.add(chunk)
        return stats

    def _close_fd(self, quiet: bool) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.close(fd)
        except OSError:
            if not quiet:
                raise


class _RunningStats:
    """Min, max, mean and standard deviation over chunks (Chan et al.'s pairwise update, float64)."""

    def __init__(self) -> None:
        self.count, self.mean, self.m2 = 0, 0.0, 0.0
        self.min, self.max = np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        """Take in float32 values of any shape; float32 sums (numpy's pairwise summation, BLAS dot
        products over blocks of 1M values) are as accurate as the float32 header needs."""
        flat = values.reshape(-1)
        if flat.size == 0:
            return
        mean = np.float32(flat.mean(dtype=np.float32))
        m2 = 0.0
        for lo in range(0, flat.size, 1 << 20):  # (temporaries of 4 MB)
            centred = flat[lo:lo + (1 << 20)] - mean
            m2 += float(np.dot(centred, centred))
        self._combine(flat.size, float(mean), m2)
        self.min = min(self.min, float(flat.min()))
        self.max = max(self.max, float(flat.max()))

    def add_zeros(self, count: int) -> None:
        if count:
            self._combine(count, 0.0, 0.0)
            self.min, self.max = min(self.min, 0.0), max(self.max, 0.0)

    def _combine(self, count: int, mean: float, m2: float) -> None:
        total = self.count + count
        delta = mean - self.mean
        self.m2 += m2 + delta * delta * self.count * count / total
        self.mean += delta * count / total
        self.count = total

    def to_header(self, mrc: MrcInterpreter) -> None:
        """Set ``dmin``, ``dmax``, ``dmean``, ``rms`` as ``mrcfile``'s ``update_header_stats`` would."""
        if self.count == 0:
            mrc.reset_header_stats()
            return
        header = mrc.header
        header.dmin, header.dmax = np.float32(self.min), np.float32(self.max)
        header.dmean = np.float32(self.mean)
        header.rms = np.float32(np.sqrt(max(self.m2, 0.0) / self.count))


def _stack_header(shape: tuple[int, int, int], pixel_size: float | None) -> MrcInterpreter:
    """An in-memory MRC object whose header describes a float32 image stack of ``shape``."""
    n, h, w = shape
    mrc = MrcInterpreter()
    mrc._create_default_attributes()  # the documented way to build a header without a file
    mrc.set_data(np.zeros((min(n, 1), h, w), np.float32))  # one image: the header's mode, nx, ny
    mrc.set_image_stack()  # (ispg 0, mz 1: a stack of n sections of one image each)
    mrc.header.nz = n
    if pixel_size:
        mrc.voxel_size = float(pixel_size)
    return mrc


def _reserve(fd: int, nbytes: int) -> None:
    """Allocate ``nbytes`` for the file now, so that a full disk fails here and not mid-run."""
    if nbytes and hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(fd, 0, nbytes)
            return
        except OSError as exc:
            if exc.errno not in _UNSUPPORTED:
                raise
    os.ftruncate(fd, nbytes)  # cannot reserve here: the writes themselves report a full disk


def _write_at(fd: int, data: np.ndarray | bytes, offset: int) -> None:
    if not memoryview(data).nbytes:
        return
    view = memoryview(data).cast("B")
    done = 0
    while done < len(view):
        if hasattr(os, "pwrite"):
            done += os.pwrite(fd, view[done:], offset + done)
        else:  # Windows
            os.lseek(fd, offset + done, os.SEEK_SET)
            done += os.write(fd, view[done:])


def _read_at(fd: int, out: np.ndarray, offset: int) -> None:
    view = memoryview(out).cast("B")
    done = 0
    while done < len(view):
        if hasattr(os, "preadv"):
            n = os.preadv(fd, [view[done:]], offset + done)
        else:  # Windows
            os.lseek(fd, offset + done, os.SEEK_SET)
            data = os.read(fd, len(view) - done)
            view[done:done + len(data)] = data
            n = len(data)
        if n <= 0:
            raise OSError(errno.EIO, "the stack being written reads back short")
        done += n
