"""Keep freed memory in the process while training (glibc's malloc only).

Why: a training step frees and re-allocates the same large buffers every step
(activations, gradients, the optimizer's temporaries). With glibc's default
settings a block above the mmap threshold (128 KiB, raised dynamically up to
32 MiB) is mapped fresh on ``malloc`` and unmapped on ``free``, and the top of
the heap is trimmed back to the OS once 128 KiB are free. So every step asks
the kernel for the same memory again: each 4 KiB page of it costs a minor
page fault, and the kernel zeroes it. Measured on smollm2-135m full
fine-tuning, 64 items x 2 epochs (``benchmarks/train_throughput.py --ablate
retain_memory``, BENCHMARKS.md): 8,010 minor faults per item and 14.4% of the
CPU time in the kernel without this setting, 4,785 and 8.6% with it, nearly
all of them in the first step (the total stays ~610,000 from 128 to 256 item
passes).

``retain_freed_memory`` raises ``M_MMAP_THRESHOLD`` (blocks up to 1 GiB come
from the heap, not from mmap) and ``M_TRIM_THRESHOLD`` (a free heap top is kept),
so the second step reuses the first step's pages. On leaving it restores
glibc's initial values (128 KiB each; glibc's *dynamic* threshold, off as soon
as anything sets it, stays off) and calls ``malloc_trim(0)``, which returns the
kept memory to the OS. Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import platform
from collections.abc import Iterator
from typing import Any

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3
GLIBC_DEFAULT = 128 * 1024  # both thresholds' initial values (DEFAULT_MMAP_THRESHOLD_MIN)
KEEP = 1 << 30  # blocks up to 1 GiB come from (and stay in) the heap
_depth = 0  # nested blocks: the outermost one restores


@functools.cache
def _libc() -> Any | None:
    """glibc's C library, or None elsewhere (where mallopt differs or is missing)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):
        return None
    return libc


def supported() -> bool:
    """True where the allocator can be tuned (Linux with glibc)."""
    return _libc() is not None


def _set(trim: int, mmap: int) -> bool:
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_TRIM_THRESHOLD, trim)) and bool(libc.mallopt(M_MMAP_THRESHOLD, mmap))


@contextlib.contextmanager
def retain_freed_memory(enabled: bool = True) -> Iterator[bool]:
    """Within the block, freed memory up to 1 GiB per block stays in the process (module
    docstring); yields whether the setting applies (False: not glibc, or ``enabled`` off)."""
    global _depth
    applied = enabled and (_depth > 0 or _set(KEEP, KEEP))
    _depth += applied
    try:
        yield applied
    finally:
        _depth -= applied
        if applied and _depth == 0:  # the outermost block restores
            _set(GLIBC_DEFAULT, GLIBC_DEFAULT)
            libc = _libc()
            if libc is not None:
                libc.malloc_trim(0)
