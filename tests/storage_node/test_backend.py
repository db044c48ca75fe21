"""The disk backend in-process: container edits byte-exact, leases, idle uploads."""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lafs_core import storage_protocol as sp
from storage_node import backend as backend_module
from storage_node import container as c
from storage_node import share_files
from storage_node.backend import DROP_BEHIND, Backend
from storage_node.errors import (
    NoSuchShareError,
    OutOfSpaceError,
    WriteConflictError,
    WrongSecretError,
)

from .test_crawler import DAY, T0, FakeClock

NODEID = b"N" * 20
WE = b"w" * 32


def rtw(backend: Backend, si: bytes, renew: bytes, **vectors: sp.TestWriteVectors) -> bool:
    req = sp.ReadTestWriteRequest({int(k[1:]): v for k, v in vectors.items()})
    return backend.read_test_write(si, WE, renew, os.urandom(32), req).success


def writes(*pairs: tuple[int, bytes], new_length: int | None = None) -> sp.TestWriteVectors:
    return sp.TestWriteVectors(
        write=tuple(sp.WriteVector(o, d) for o, d in pairs), new_length=new_length
    )


@pytest.fixture
def backend(tmp_path: Path) -> Backend:
    return Backend(tmp_path / "storage", NODEID, clock=FakeClock())


def test_mutable_growth_and_truncation_match_tahoe(backend: Backend) -> None:
    """spec/tahoe-disk-and-leases.md 5.3's observed example, byte for byte."""
    si, renew = os.urandom(16), os.urandom(32)
    assert rtw(backend, si, renew, s0=writes((0, b"0123456789")))
    assert rtw(backend, si, renew, s0=writes((12, b"AB")))
    assert rtw(backend, si, renew, s0=writes(new_length=6))
    assert rtw(backend, si, renew, s0=writes((10, b"G")))
    raw = backend.share_path(si, 0).read_bytes()
    h = c.parse_mutable_header(raw)
    assert (h.data_length, h.extra_lease_offset, len(raw)) == (11, 482, 486)
    # Tahoe's in-place edit leaves b"\0AB" of the longer version in the slack after the
    # data; the copy-on-write node leaves zeros there. No read reaches those bytes.
    assert raw[468:479] == b"012345\0\0\0\0G"
    assert (h.nodeid, h.write_enabler) == (NODEID, WE)


def test_extra_leases_survive_growth(backend: Backend) -> None:
    si = os.urandom(16)
    secrets = [os.urandom(32) for _ in range(6)]
    assert rtw(backend, si, secrets[0], s1=writes((0, b"x" * 10)))
    for s in secrets[1:]:
        backend.add_or_renew_lease(si, s, os.urandom(32))
    path = backend.share_path(si, 1)
    before = backend.share_leases(path)
    assert len(before.expirations) == 6 and before.slots == [0, 1, 2, 3, 4, 5]
    assert rtw(backend, si, secrets[0], s1=writes((100, b"y" * 50)))  # grows past E
    raw = path.read_bytes()
    h = c.parse_mutable_header(raw)
    assert h.extra_lease_offset == 468 + 150
    assert c.parse_count(raw[618:622]) == 2
    assert raw[468 + 10 : 468 + 100] == bytes(90)  # the old extra-lease copy is zeroed
    assert backend.share_leases(path).expirations == before.expirations
    assert backend.remove_leases(path, [1, 5]) == 0
    assert backend.share_leases(path).slots == [0, 2, 3, 4]
    # A write renews a lease found among the extra ones; a new lease fills the first hole.
    clock = backend.clock
    assert isinstance(clock, FakeClock)
    clock.advance(DAY)
    assert rtw(backend, si, secrets[4], s1=writes((0, b"z")))
    after = backend.share_leases(path)
    assert after.slots == [0, 2, 3, 4] and after.expirations[3] == before.expirations[4] + DAY
    assert rtw(backend, si, os.urandom(32), s1=writes((0, b"z")))
    assert backend.share_leases(path).slots == [0, 1, 2, 3, 4]
    # Wrong write enabler: refused before anything happens.
    req = sp.ReadTestWriteRequest({}, (sp.ReadVector(0, 1),))
    with pytest.raises(WrongSecretError):
        backend.read_test_write(si, b"z" * 32, secrets[0], secrets[0], req)


def test_immutable_lease_renewal_in_place(backend: Backend, tmp_path: Path) -> None:
    clock = backend.clock
    assert isinstance(clock, FakeClock)
    si, renew, upload = os.urandom(16), os.urandom(32), os.urandom(20)
    backend.allocate(si, renew, os.urandom(32), upload, frozenset({0}), 3)
    u = backend.get_upload(si, 0, upload)
    backend.write_piece(u, 0, b"abc")
    backend.commit(u, 0, 3)
    path = backend.share_path(si, 0)
    clock.advance(DAY)
    backend.add_or_renew_lease(si, renew, os.urandom(32))  # same renew secret: in place
    assert backend.share_leases(path).expirations == [int(T0 + DAY + 31 * DAY)]
    clock.advance(-2 * DAY)
    backend.add_or_renew_lease(si, renew, os.urandom(32))  # never shortened
    assert backend.share_leases(path).expirations == [int(T0 + DAY + 31 * DAY)]
    backend.add_or_renew_lease(si, os.urandom(32), os.urandom(32))
    assert len(backend.share_leases(path).expirations) == 2
    assert path.read_bytes()[12:15] == b"abc"


def test_a_large_share_survives_leaving_the_page_cache_as_it_is_written(
    backend: Backend,
) -> None:
    """Pages behind the latest write are dropped from the cache; what the share holds, the
    check of a retried write, and a piece arriving late are all as before."""
    si, upload, piece = os.urandom(16), os.urandom(20), 256 * 1024
    data = os.urandom(3 * DROP_BEHIND + 100)
    backend.allocate(si, os.urandom(32), os.urandom(32), upload, frozenset({0}), len(data))
    u = backend.get_upload(si, 0, upload)
    late = piece  # written last, behind the dropped pages
    for offset in range(0, len(data), piece):
        if offset != late:
            backend.write_piece(u, offset, [data[offset : offset + piece]])
            assert backend.commit(u, offset, min(offset + piece, len(data)))
    assert u.cached_from > 0
    backend.write_piece(u, 0, data[:piece])  # a retry, compared with the bytes on disk
    with pytest.raises(WriteConflictError):
        backend.write_piece(u, 0, bytes(piece))
    backend.write_piece(u, late, data[late : late + piece])
    assert backend.commit(u, late, late + piece) == []
    stored = backend.share_path(si, 0).read_bytes()
    assert stored[c.IMMUTABLE_HEADER_SIZE : c.IMMUTABLE_HEADER_SIZE + len(data)] == data


def test_a_new_bucket_and_prefix_are_made_durable_by_the_first_share_to_complete(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A completed share fsyncs its bucket; the prefix and the shares directory only while
    an allocation's new entry in them is not yet synced, including one made during the
    sync of another share (which that sync may have missed)."""
    synced: list[str] = []
    during: list[bytes] = []

    def fsync_dir(path: str | Path) -> None:
        synced.append(str(path))
        if during and str(path) == prefix:  # another bucket made in this prefix meanwhile
            allocate(during.pop())

    monkeypatch.setattr(backend_module, "_fsync_dir", fsync_dir)

    def allocate(si: bytes) -> None:
        backend.allocate(si, os.urandom(32), os.urandom(32), b"u" * 20, frozenset({0}), 1)

    def complete(si: bytes) -> list[str]:
        synced.clear()
        u = backend.get_upload(si, 0, b"u" * 20)
        backend.write_piece(u, 0, b"x")
        assert backend.commit(u, 0, 1) == []
        return sorted(synced)

    a, b, c2 = (bytes([1, 2]) + os.urandom(14) for _ in range(3))  # one prefix: 10 bits
    bucket = {si: str(backend.bucket_dir(si)) for si in (a, b, c2)}
    prefix, shares = str(backend.bucket_dir(a).parent), str(backend.shares_dir)
    assert {str(backend.bucket_dir(si).parent) for si in (a, b, c2)} == {prefix}
    allocate(a)
    during.append(b)  # b's bucket appears while a's completion syncs the prefix
    assert complete(a) == sorted([bucket[a], prefix, shares])
    assert complete(b) == sorted([bucket[b], prefix])  # a's sync may have missed it
    allocate(c2)
    assert complete(c2) == sorted([bucket[c2], prefix])


def failing_fallocate(code: int):  # type: ignore[no-untyped-def]
    """Linux's fallocate as the disk answers it: -1 with `code` in errno."""

    def fallocate(fd: int, mode: int, offset: int, length: int) -> int:
        ctypes.set_errno(code)
        return -1

    return fallocate


def copies_find_the_disk_full(monkeypatch: pytest.MonkeyPatch, spare: int = 0) -> None:
    """Writes into a share's copy (``<n>.new``) fail with ENOSPC, as a full disk answers
    writes that need new blocks, after the first `spare` copies; the shares themselves,
    whose blocks exist, still take overwrites."""
    full: set[str] = set()
    real_pwrite, real_copy = share_files.pwrite_all, share_files.copy_range

    def check(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if name.endswith(".new"):
            full.add(name)
            if len(full) > spare:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def pwrite_all(fd: int, data: Any, pos: int) -> None:
        check(fd)
        real_pwrite(fd, data, pos)

    def copy_range(source: int, target: int, offset: int, length: int) -> None:
        check(target)
        real_copy(source, target, offset, length)

    monkeypatch.setattr(share_files, "pwrite_all", pwrite_all)
    monkeypatch.setattr(share_files, "copy_range", copy_range)


def incoming_files(backend: Backend) -> list[Path]:
    return [p for p in backend.incoming_dir.rglob("*") if p.is_file()]


def test_an_allocation_reserves_the_whole_share_on_the_disk(backend: Backend) -> None:
    """So a disk shared with other nodes cannot fill under the share as it is written."""
    si, upload, size = os.urandom(16), os.urandom(20), 8 << 20
    backend.allocate(si, os.urandom(32), os.urandom(32), upload, frozenset({0}), size)
    u = backend.get_upload(si, 0, upload)
    assert u.reserved
    assert os.stat(u.path).st_blocks * 512 >= size + backend_module.IMMUTABLE_OVERHEAD
    version = backend.version()
    assert version.maximum_immutable_share_size == version.available_space  # no file limit


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EFBIG])
def test_a_share_the_disk_cannot_hold_is_declined(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    """A full disk or quota, or a file larger than the node may write: the share is not
    allocated (the client places it elsewhere), and nothing is left behind."""
    monkeypatch.setattr(backend_module, "_fallocate", failing_fallocate(code))
    si, upload = os.urandom(16), os.urandom(20)
    result = backend.allocate(si, os.urandom(32), os.urandom(32), upload, frozenset({0, 1}), 99)
    assert result.allocated == frozenset() and result.already_have == frozenset()
    assert backend.uploads_in_progress() == 0 and incoming_files(backend) == []


def test_without_fallocate_uploads_in_progress_count_against_the_free_space(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backend_module, "_fallocate", failing_fallocate(errno.EOPNOTSUPP))
    monkeypatch.setattr(backend, "available_space", lambda: 100)
    first = backend.allocate(os.urandom(16), b"r" * 32, b"c" * 32, b"u" * 20, frozenset({0}), 60)
    second = backend.allocate(os.urandom(16), b"r" * 32, b"c" * 32, b"u" * 20, frozenset({0}), 60)
    assert (first.allocated, second.allocated) == (frozenset({0}), frozenset())


def test_a_disk_that_fills_under_a_share_drops_the_upload_at_once(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where nothing could be reserved: the write answers 507, and the partial share's space
    is given back now, not when the idle sweep finds it."""
    monkeypatch.setattr(backend_module, "_fallocate", failing_fallocate(errno.EOPNOTSUPP))
    si, upload = os.urandom(16), os.urandom(20)
    backend.allocate(si, os.urandom(32), os.urandom(32), upload, frozenset({0}), 1000)
    u = backend.get_upload(si, 0, upload)
    assert not u.reserved
    backend.write_piece(u, 0, b"a" * 100)
    assert backend.commit(u, 0, 100)

    def full(fd: int, chunks: list[bytes], offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as disk:
        disk.setattr(backend_module.os, "pwritev", full)
        with pytest.raises(OutOfSpaceError) as info:
            backend.write_piece(u, 100, b"b" * 100)
    assert info.value.status == 507 and "No space left on device" in str(info.value)
    with pytest.raises(NoSuchShareError):
        backend.get_upload(si, 0, upload)
    assert incoming_files(backend) == [] and not backend.share_path(si, 0).exists()
    again = backend.allocate(si, os.urandom(32), os.urandom(32), upload, frozenset({0}), 1000)
    assert again.allocated == frozenset({0})


def test_a_mutable_share_the_disk_cannot_grow_is_left_as_it_was(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that would grow a share (or make a new one) on a full disk is refused with
    507 before any byte changes, so the share's version stays whole; writes that need no
    new room go through."""
    si, renew = os.urandom(16), os.urandom(32)
    assert rtw(backend, si, renew, s0=writes((0, b"version one " * 100)))
    path = backend.share_path(si, 0)
    before = path.read_bytes()
    monkeypatch.setattr(backend_module, "_fallocate", failing_fallocate(errno.ENOSPC))
    copies_find_the_disk_full(monkeypatch)
    with pytest.raises(OutOfSpaceError) as info:
        rtw(backend, si, renew, s0=writes((0, b"version two, longer " * 100)))
    assert info.value.status == 507
    assert path.read_bytes() == before
    other = os.urandom(16)
    with pytest.raises(OutOfSpaceError):
        rtw(backend, other, renew, s0=writes((0, b"new")))
    assert not backend.bucket_dir(other).exists()
    assert rtw(backend, si, renew, s0=writes((0, b"VERSION ONE ")))  # in place: no new room
    assert path.read_bytes()[c.MUTABLE_DATA_OFFSET :][:24] == b"VERSION ONE version one "


def test_idle_uploads_are_aborted(backend: Backend) -> None:
    clock = backend.clock
    assert isinstance(clock, FakeClock)
    si, upload = os.urandom(16), os.urandom(20)
    backend.allocate(si, os.urandom(32), os.urandom(32), upload, frozenset({0, 1}), 10)
    clock.advance(20 * 60)
    backend.write_piece(backend.get_upload(si, 1, upload), 0, b"x")  # keeps share 1 alive
    clock.advance(15 * 60)
    assert backend.abort_idle_uploads(30 * 60) == 1
    with pytest.raises(NoSuchShareError):
        backend.get_upload(si, 0, upload)
    assert backend.uploads_in_progress() == 1
    backend.abort_all_uploads()
    assert incoming_files(backend) == []


def test_apply_read_test_write_leaves_the_sync_to_the_caller(backend: Backend) -> None:
    """The server applies small writes on its loop and syncs elsewhere: what must be synced."""
    si, renew, cancel = os.urandom(16), os.urandom(32), os.urandom(32)
    create = sp.TestWriteVectors((sp.TestVector(0, 1, b""),), (sp.WriteVector(0, b"one"),))
    req = sp.ReadTestWriteRequest({0: create, 1: create}, (sp.ReadVector(0, 3),))
    result, pending = backend.apply_read_test_write(si, WE, renew, cancel, req)
    assert (result.success, result.data) == (True, {})
    bucket = str(backend.bucket_dir(si))
    prefix, shares = os.path.dirname(bucket), str(backend.shares_dir)
    assert len(pending.fds) == 2
    assert set(pending.dirs) == {bucket, prefix, shares}  # every new name, up to shares/
    assert backend.share_path(si, 1).read_bytes()[468:471] == b"one"  # readable before the sync
    fds = [*pending.fds, pending.dirs[bucket]]
    pending.sync()
    for fd in fds:
        os.fstat(fd)  # the sync thread only syncs
    pending.close()
    assert not pending.fds and not pending.dirs
    for fd in fds:
        with pytest.raises(OSError):
            os.fstat(fd)
    # A failed test writes nothing and leaves nothing to sync.
    result, pending = backend.apply_read_test_write(si, WE, renew, cancel, req)
    assert (result.success, result.data, bool(pending)) == (
        False,
        {0: [b"one"], 1: [b"one"]},
        False,
    )
    # A new share in an existing bucket: only the bucket gains a name.
    third = sp.ReadTestWriteRequest({2: create})
    result, pending = backend.apply_read_test_write(si, WE, renew, cancel, third)
    assert result.success and len(pending.fds) == 1 and list(pending.dirs) == [bucket]
    pending.sync()
    pending.close()
    # Rewriting an existing share renames its new version over it: file and bucket synced.
    rewrite = sp.ReadTestWriteRequest({1: writes((0, b"two"))})
    old_inode = backend.share_path(si, 1).stat().st_ino
    result, pending = backend.apply_read_test_write(si, WE, renew, cancel, rewrite)
    assert result.success and len(pending.fds) == 1 and list(pending.dirs) == [bucket]
    pending.sync()
    pending.close()
    assert backend.share_path(si, 1).read_bytes()[468:471] == b"two"
    assert backend.share_path(si, 1).stat().st_ino != old_inode
    assert sorted(os.listdir(bucket)) == ["0", "1", "2"]  # no copy left beside them


def test_apply_read_test_write_closes_files_on_error(backend: Backend) -> None:
    si, renew = os.urandom(16), os.urandom(32)
    assert rtw(backend, si, renew, s0=writes((0, b"x")))
    fds_before = len(os.listdir("/proc/self/fd"))
    req = sp.ReadTestWriteRequest({0: writes((0, b"y"))})
    with pytest.raises(WrongSecretError):
        backend.apply_read_test_write(si, b"z" * 32, renew, renew, req)
    assert len(os.listdir("/proc/self/fd")) == fds_before


# --- copy-on-write of mutable shares ----------------------------------------------------

write_steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("write"),
            st.lists(
                st.tuples(st.integers(0, 600), st.binary(min_size=1, max_size=300)), max_size=3
            ),
            st.one_of(st.none(), st.integers(1, 900)),
        ),
        st.tuples(st.just("lease"), st.integers(0, 6), st.none()),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=write_steps)
def test_copy_on_write_leaves_what_writing_in_place_leaves(tmp_path: Path, steps) -> None:  # type: ignore[no-untyped-def]
    """Every change to a mutable share, made on a copy renamed over it, leaves the file
    byte for byte as Tahoe's in-place edit does (data, gaps, truncation, leases, layout),
    but for the slack after the data, which no read reaches."""
    root = tmp_path / os.urandom(4).hex()
    copying = Backend(root / "copying", NODEID, clock=FakeClock())
    in_place = Backend(root / "in-place", NODEID, clock=FakeClock())
    si, secret = os.urandom(16), b"r" * 32

    def change(backend: Backend, kind: str, arg: Any, new_length: int | None) -> None:
        limit = -1 if backend is in_place else backend_module.COPY_ON_WRITE_MAX
        with patch.object(backend_module, "COPY_ON_WRITE_MAX", limit):
            if kind == "lease":
                backend.add_or_renew_lease(si, bytes([arg]) * 32, bytes([arg]) * 32)
                return
            path = backend.share_path(si, 0)
            inode = path.stat().st_ino if path.exists() else None
            request = sp.ReadTestWriteRequest({0: writes(*arg, new_length=new_length)})
            assert backend.read_test_write(si, WE, secret, secret, request).success
            if inode is not None:  # a new file for the copying backend, the same one in place
                assert (path.stat().st_ino != inode) == (backend is copying)

    def container(backend: Backend) -> tuple[bytes, bytes, int]:
        """All but the slack between the data's end and the extra leases, which no read
        reaches: Tahoe's in-place edit leaves old bytes there, a copy zeros."""
        raw = backend.share_path(si, 0).read_bytes()
        h = c.parse_mutable_header(raw)
        data_end = c.MUTABLE_DATA_OFFSET + h.data_length
        return raw[:data_end], raw[h.extra_lease_offset :], len(raw)

    for kind, arg, new_length in [("write", [(0, b"first version")], None), *steps]:
        for backend in (copying, in_place):
            change(backend, kind, arg, new_length)
        assert container(copying) == container(in_place)
        assert os.listdir(copying.bucket_dir(si)) == ["0"]


def test_a_failed_copy_changes_no_share(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every share's new version is made before any is renamed: when the disk cannot take
    one, none changes and no copy is left."""
    si, renew = os.urandom(16), os.urandom(32)
    assert rtw(backend, si, renew, s0=writes((0, b"a" * 100)), s1=writes((0, b"b" * 100)))
    before = [backend.share_path(si, n).read_bytes() for n in (0, 1)]
    copies_find_the_disk_full(monkeypatch, spare=1)
    with pytest.raises(OutOfSpaceError):
        rtw(backend, si, renew, s0=writes((0, b"A" * 200)), s1=writes((0, b"B" * 200)))
    assert [backend.share_path(si, n).read_bytes() for n in (0, 1)] == before
    assert sorted(os.listdir(backend.bucket_dir(si))) == ["0", "1"]


def test_the_crawler_walk_removes_copies_a_crash_left(backend: Backend) -> None:
    si, renew = os.urandom(16), os.urandom(32)
    assert rtw(backend, si, renew, s0=writes((0, b"kept")))
    stale = backend.bucket_dir(si) / "0.new"
    stale.write_bytes(b"half a new version")
    assert list(backend.iter_share_files()) == [backend.share_path(si, 0)]
    assert not stale.exists()
    assert backend.share_path(si, 0).read_bytes()[468:472] == b"kept"
