"""glibc allocator settings: reuse of freed big buffers, and one arena for all threads.

A download allocates a buffer of a few MiB per response and one per segment, and frees
each soon after. By default glibc hands such blocks back to the kernel (mmap for large
ones, trimming the heap top for the rest), so every new buffer is faulted in again page
by page: about a tenth of a `lafs get`'s CPU. With both thresholds raised, freed blocks
are reused; memory stays bounded by what is live at once (the segments in flight).

A storage node's worker threads each read share pieces of up to 1 MiB. glibc gives every
thread that allocates an arena of its own, and each arena keeps the freed blocks of its
thread's last requests (a node held ~8 MiB free that way after a gateway download). The
allocating code holds the GIL, so threads gain nothing from separate arenas: with one,
a block freed by any thread serves the next request of any other.
"""

import ctypes

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD = 32 << 20  # glibc's maximum; blocks over it still come from mmap
_TRIM_THRESHOLD = 256 << 20


def _mallopt(*settings: tuple[int, int]) -> bool:
    """Apply (parameter, value) pairs; False (and nothing done) without glibc."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return all([bool(mallopt(param, value)) for param, value in settings])


def reuse_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse; False (and nothing done) without glibc."""
    return _mallopt((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


def one_arena() -> bool:
    """Make threads started from now on allocate from the main arena; False without glibc."""
    return _mallopt((_M_ARENA_MAX, 1))
