"""Keep freed memory in the process for the next batch, instead of handing it back to the system.

A U-Net forward pass on the CPU allocates tens of megabytes of activations and frees them again,
batch after batch. glibc's ``malloc`` serves blocks that large with ``mmap`` and returns them with
``munmap``, so every batch faults every page of its activations in afresh: about 17,000 minor
page faults per batch of 32 particles of 128 px, 65 ms of system time and about 20 % of the CPU
time of the forward pass on this project's 2-core machine (``benchmarks/bench_generator.py
throughput`` has the end-to-end effect). PyTorch's performance tuning guide recommends jemalloc
or TCMalloc for deep learning on the CPU because they reuse memory; switching glibc's ``mmap``
off and raising its trim threshold (``mallopt``) gets that reuse without another library.

The same holds for ``gan-viewer score``'s chunks (about 1.5 million faults per 20,000 particles;
20-25 % of the matched filter's throughput, ``benchmarks/bench_curation.py throughput``) and for
``gan-viewer train``'s steps (4-6 %).

The cost: memory freed after a peak stays with the process until it exits. That suits a
command that runs batches of one size until it is done (``denoise``, ``score``, ``train``), not
the inspector, which opens and closes data sets for hours; only those commands call it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

#: mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: free memory at the top of the heap kept rather than trimmed (bytes; mallopt takes a C int)
_KEEP = 2**31 - 1

_applied: bool | None = None


def reuse_freed_memory() -> bool:
    """Make glibc reuse freed memory (no ``mmap`` for large blocks, no trimming), once per
    process. Returns whether it is in effect: False on other C libraries and systems, where
    nothing changes."""
    global _applied
    if _applied is None:
        _applied = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _applied = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP))
            except (OSError, AttributeError):  # no glibc (musl has no mallopt)
                _applied = False
        log.debug("freed memory reused by malloc: %s", _applied)
    return _applied
