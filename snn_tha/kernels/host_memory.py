"""Host-memory setting for training processes.

glibc serves every allocation above 32 MB with a fresh `mmap` and returns it to the system when
freed, so the next tensor of that size faults in every page again: ~15 ms per 50 MB on the
2-core benchmark machine, a quarter of the static network's training step (its records are
50-120 MB each). `keep_freed_memory` makes glibc serve large blocks from the heap and keep freed
ones for reuse, as PyTorch's CUDA allocator does on the GPU. It is process-wide: the CLI and
`snn-tha bench` call it at start; a library user may call it too.
`SNN_THA_KEEP_FREED_MEMORY=0` turns it off.
"""
import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
_applied = None


def keep_freed_memory():
    """Apply once per process; returns True when glibc took the setting."""
    global _applied
    if _applied is None:
        _applied = os.environ.get("SNN_THA_KEEP_FREED_MEMORY", "1") != "0" and _mallopt()
    return _applied


def _mallopt():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc: nothing to set
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1))
