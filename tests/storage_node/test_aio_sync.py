"""Syncs through Linux AIO: many in flight complete, and errors reach their waiter."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path

import pytest

from storage_node.aio_sync import _EVENT, MAX_EVENTS, AioSyncer, open_aio_syncer

pytestmark = pytest.mark.anyio


def _open_syncer() -> AioSyncer:
    aio = open_aio_syncer(asyncio.get_running_loop())
    assert aio is not None  # Linux on x86-64 or arm64, as CI runs
    return aio


async def test_many_concurrent_syncs_of_files_and_directories(tmp_path: Path) -> None:
    aio = _open_syncer()
    fds = []
    try:
        for i in range(40):
            fd = os.open(tmp_path / str(i), os.O_RDWR | os.O_CREAT)
            fds.append(fd)
            os.write(fd, b"x" * 1000)
        dir_fd = os.open(tmp_path, os.O_RDONLY)
        fds.append(dir_fd)
        await asyncio.gather(*(aio.sync([fd], [dir_fd]) for fd in fds[:-1]))
        await aio.sync(fds[:-1], [dir_fd])  # one request of many syncs
        await aio.sync([])
        assert not aio._ops  # every completion was reaped
    finally:
        aio.close()
        for fd in fds:
            os.close(fd)


async def test_more_syncs_than_the_context_holds(tmp_path: Path) -> None:
    """What the kernel refuses is synced on the loop, not lost."""
    aio = _open_syncer()
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    try:
        await aio.sync([fd] * (MAX_EVENTS + 10))
        assert not aio._ops
    finally:
        aio.close()
        os.close(fd)


async def test_errors_reach_the_waiter(tmp_path: Path) -> None:
    aio = _open_syncer()
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    read_end, write_end = os.pipe()
    closed = os.open(tmp_path / "g", os.O_RDWR | os.O_CREAT)
    os.close(closed)  # last opened: its number is not reused here
    try:
        with pytest.raises(OSError) as bad_fd:
            await aio.sync([fd, closed])
        assert bad_fd.value.errno == errno.EBADF
        with pytest.raises(OSError) as no_fsync:
            await aio.sync([fd], [read_end])  # a pipe cannot be synced
        assert no_fsync.value.errno == errno.EINVAL
        await aio.sync([fd])  # the syncer still works
        assert not aio._ops
    finally:
        aio.close()
        for each in (fd, read_end, write_end):
            os.close(each)


async def test_an_error_at_completion_reaches_the_waiter(tmp_path: Path) -> None:
    """A sync the kernel took but then failed (an EIO from the disk, say) fails its request.

    No disk here fails on demand, so the first completion the kernel reports is
    rewritten to carry -EIO, as a failing device's would."""
    aio = _open_syncer()
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    dir_fd = os.open(tmp_path, os.O_RDONLY)
    kernel = aio._getevents

    def failing_first() -> int:
        n = kernel()
        if n > 0:
            data, obj, _, res2 = _EVENT.unpack_from(aio._view, 0)
            _EVENT.pack_into(aio._view, 0, data, obj, -errno.EIO, res2)
        return n

    try:
        aio._getevents = failing_first
        with pytest.raises(OSError) as failed:
            await aio.sync([fd], [dir_fd])
        assert failed.value.errno == errno.EIO
        aio._getevents = kernel
        await aio.sync([fd])  # the syncer still works
        assert not aio._ops
    finally:
        aio.close()
        os.close(fd)
        os.close(dir_fd)
