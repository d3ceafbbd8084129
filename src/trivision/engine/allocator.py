"""Keep freed CPU memory in the process, so each training step reuses the last step's pages.

A training step allocates and frees activations of tens to hundreds of MB (bcnn-lowdim at 448x448, batch 32:
200 MB for the first convolution's output alone). glibc's malloc serves every block over its mmap threshold
(128 KB at first, rising with the blocks freed to at most 32 MB) with a fresh mmap and unmaps it on free, and
gives the top of its heap back to the OS past the trim threshold; so every step faults the same memory in
again, page by page, in the kernel. Telling it to keep what it frees (no mmap'd blocks, a 2 GB trim
threshold) is what jemalloc and tcmalloc, which PyTorch's CPU tuning guide recommends, do by design, without
a preloaded library. Measured by `python bench/allocator.py` (README, Speed); the price is a higher peak of
resident memory, since freed blocks stay in the process. glibc only: elsewhere (macOS, Windows, musl) nothing
changes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

from trivision.errors import TrivisionError

ALLOCATORS = ("retain", "system")  # cfg.cpu_allocator
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt's parameter numbers (malloc.h)
TRIM_THRESHOLD = 2**31 - 1  # the largest value mallopt takes (an int): free memory is kept up to 2 GB over need


def check_allocator(name: str) -> None:
    if name not in ALLOCATORS:
        raise TrivisionError(f"cpu_allocator must be {' or '.join(ALLOCATORS)}, got '{name}'")


def use_allocator(name: str) -> bool:
    """Set this process's CPU allocator policy (cfg.cpu_allocator). True when glibc took the setting;
    'system' leaves the allocator as it is."""
    check_allocator(name)
    if name == "system":
        return False
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _glibc_mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # glibc's own symbol: musl also has a mallopt, which ignores these
        return libc.mallopt
    except (OSError, AttributeError):
        return None
