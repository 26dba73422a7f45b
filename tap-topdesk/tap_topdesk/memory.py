"""Resident memory kept flat over a long sync: glibc's allocator told not to keep freed blocks (glibc only).

glibc raises its mmap threshold each time a block above it is freed (``man 3 mallopt``, M_MMAP_THRESHOLD: the dynamic
threshold), so after the first spooled page body or JSON chunk of a megabyte, blocks of that size come from the
heap, where freed ones stay as holes between long-lived objects. Measured on the 1M bench dataset (the persons
stream, pages of 5,000): the tap's peak RSS grew 7.6 MB with the dynamic threshold, 3.7 MB with it fixed at its
default of 128 KiB. Setting it fixes it (the manual: setting it disables the adjustment). Between streams,
``malloc_trim`` hands the heap's free pages back, so that one stream's holes are not the next one's floor.
Elsewhere (musl, macOS) nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import platform
from functools import cache

#: ``mallopt`` parameter number of M_MMAP_THRESHOLD (glibc's malloc.h).
M_MMAP_THRESHOLD = -3
#: glibc's default (and the dynamic threshold's starting point).
MMAP_THRESHOLD = 128 * 1024


@cache
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name or "libc.so.6")
    except OSError:
        return None


def fix_mmap_threshold() -> bool:
    """Blocks from 128 KiB up are mapped and unmapped on their own, for the whole process; True when set."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1)


def release_free_memory() -> bool:
    """Collect garbage and hand the heap's free pages back to the system; True when glibc did."""
    gc.collect()
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0) == 1)
