"""Giving memory back to the system after a large particle set is read or closed.

Reading a 1,000,000-particle STAR file allocates several hundred MB of temporaries. Freed, they
stay with the allocators (glibc's arenas, Arrow's pool) and the process keeps them: a second file
opened in the same window would then need twice the memory. :func:`give_back_memory` returns them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys

log = logging.getLogger(__name__)


def give_back_memory(collect: bool = False) -> None:
    """Return freed memory to the system: Arrow's pool, and glibc's heap (Linux only).

    Parameters
    ----------
    collect
        Run the garbage collector first (from the UI thread only: it may delete Qt objects).
    """
    if collect:
        gc.collect()
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # musl and others have no malloc_trim
            log.debug("malloc_trim is not available")
