"""Let freed heap memory be reused in place, for commands that stream big buffers.

A download allocates a buffer of a few MiB per response and one per segment, and frees
each soon after. By default glibc hands such blocks back to the kernel (mmap for large
ones, trimming the heap top for the rest), so every new buffer is faulted in again page
by page: about a tenth of a `lafs get`'s CPU. With both thresholds raised, freed blocks
are reused; memory stays bounded by what is live at once (the segments in flight).
"""

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # glibc's maximum; blocks over it still come from mmap
_TRIM_THRESHOLD = 256 << 20


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse; False (and nothing done) without glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
