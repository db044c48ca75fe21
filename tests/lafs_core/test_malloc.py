"""lafs_core.malloc: glibc (as on every CI host) takes the settings."""

import subprocess
import sys
import textwrap

from lafs_core.malloc import reuse_freed_memory

# Threads allocate, then malloc_info(3) lists the arenas ("<heap nr=...>") it has.
_COUNT_ARENAS = textwrap.dedent(
    """
    import ctypes, os, sys, threading
    from lafs_core.malloc import one_arena

    assert one_arena()
    def work():
        blocks = [bytearray(200_000) for _ in range(20)]
    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL(None)
    libc.fopen.restype = ctypes.c_void_p
    libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    fp = libc.fopen(sys.argv[1].encode(), b"w")
    libc.malloc_info(0, fp)
    libc.fclose(fp)
    """
)


def test_glibc_accepts_the_thresholds() -> None:
    assert reuse_freed_memory()
    assert reuse_freed_memory()  # idempotent: `lafs get` may run more than once in a process


def test_threads_share_one_arena(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In a child process: the setting would outlive the test in this one."""
    info = tmp_path / "malloc.xml"
    subprocess.run([sys.executable, "-c", _COUNT_ARENAS, str(info)], check=True)
    assert info.read_text().count("<heap nr=") == 1
