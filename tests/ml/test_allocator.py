"""ml/allocator.py: freed memory is reused, so batch after batch faults no pages in afresh."""

from __future__ import annotations

import subprocess
import sys

import pytest

# malloc, fill and free 64 MB, as torch does a batch's activations (numpy asks for huge pages)
SNIPPET = """
import ctypes, ctypes.util, resource, sys
if sys.argv[1] == "reuse":
    from gan_viewer.ml.allocator import reuse_freed_memory
    assert reuse_freed_memory() and reuse_freed_memory()  # once, and again harmlessly
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
def batch():
    block = libc.malloc(1 << 26)
    ctypes.memset(block, 1, 1 << 26)
    libc.free(block)
batch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    batch()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", SNIPPET, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_batch_is_reused_without_faulting_its_pages_in_again() -> None:
    """Five 64 MB blocks filled and freed: glibc alone maps and faults in each one anew (16,384
    pages of 4 kB each time); with the freed memory reused, almost none."""
    assert faults("plain") > 5 * 10_000
    assert faults("reuse") < 1_000
