"""lafs_core.malloc: the allocator is told to keep freed memory (glibc, as on every CI host)."""

from lafs_core.malloc import reuse_freed_memory


def test_glibc_accepts_the_thresholds() -> None:
    assert reuse_freed_memory()
    assert reuse_freed_memory()  # idempotent: `lafs get` may run more than once in a process
