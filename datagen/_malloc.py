"""glibc malloc's thresholds for a process that builds partitions (tuning.MALLOC_MMAP_BYTES, MALLOC_TRIM_BYTES).

By default glibc serves a large allocation with a fresh mmap until its dynamic threshold has grown, and gives
freed heap back to the OS eagerly; a partition's dozens of arrays of a few MB each then fault their pages in
anew for every partition. Raising both thresholds lets one partition reuse the pages the previous one freed.
Nothing here changes a byte of the data. Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

from datagen import tuning

# mallopt's parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3


@functools.cache
def tune() -> bool:
    """Set this process's thresholds once; False where the C library has no mallopt (not glibc)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, tuning.MALLOC_MMAP_BYTES)) and bool(
        mallopt(M_TRIM_THRESHOLD, tuning.MALLOC_TRIM_BYTES))
