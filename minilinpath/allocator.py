"""Keep freed memory in the process for reuse, so large temporaries do not page-fault every time.

NumPy gets the memory of every new array from C's ``malloc``. GNU libc's malloc
serves a request above a threshold (128 KiB at first, adapting up to 32 MiB)
with a fresh memory map from the kernel and unmaps it again on ``free``; the
next array of that size faults its pages in once more, and the kernel zeroes
each 4 KiB page before handing it over. The layers here allocate arrays of
10-60 MB per minibatch (im2col columns, pre-activations, their gradients).
Measured on the 2-core machine of benchmarks/README.md, that churn was about a
third of the quick conv net's training step (62 -> 42 ms per minibatch of 128)
and a sixth of its linear-path sweep; the process spent a quarter of its time
in the kernel.

:func:`keep_freed_memory` raises the map threshold to 256 MiB and the trim
threshold to 1 GiB, so freed blocks up to that size stay in the process and the
next array reuses them. The price: after a peak the process may hold up to
1 GiB of free memory instead of returning it to the system. Every command of
the package (the figures and the analyses) calls it as it starts; a program
that imports minilinpath decides for itself. ``MINILINPATH_KEEP_FREED_MEMORY=0``
leaves malloc as it is. On a C library other than glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

MAP_THRESHOLD_BYTES = 256 << 20    # requests up to this size come from the reusable heap
TRIM_THRESHOLD_BYTES = 1 << 30     # free memory kept at the heap's top before any is returned
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks for reuse (see the module docstring).

    Returns True when both settings were accepted, False when nothing was changed: the variable
    ``MINILINPATH_KEEP_FREED_MEMORY`` is 0, the C library is not glibc, or it refused. Any value of the
    variable other than 0, 1 or empty is a ValueError that says so.
    """
    setting = os.environ.get("MINILINPATH_KEEP_FREED_MEMORY", "").strip()
    if setting not in ("", "0", "1"):
        raise ValueError(f"MINILINPATH_KEEP_FREED_MEMORY={setting!r}: give 1 (keep freed memory for reuse, the "
                         "default) or 0 (leave malloc as it is).")
    if setting == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success, 0 when it refuses a value
    return bool(mallopt(_M_MMAP_THRESHOLD, MAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD,
                                                                                  TRIM_THRESHOLD_BYTES))
