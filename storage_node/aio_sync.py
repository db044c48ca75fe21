"""Durability syncs through Linux native AIO: no thread hop, no GIL hand-off.

A mutable write is acknowledged once its files are fdatasynced and its new
directory entries fsynced. Waiting for that in a sync thread cost the node more
CPU than its own part of the syncs: a queue hand-off, a wake-up, and a GIL
transfer after every syscall while the loop runs on (futex calls and context
switches, ~10% of a small read-test-write's node CPU). Linux AIO
(IOCB_CMD_FDSYNC and IOCB_CMD_FSYNC, since 4.18) runs the same fdatasync/fsync
in a kernel worker: the loop submits a request's syncs with one io_submit and
learns of their completion through an eventfd it watches.

`open_aio_syncer` returns None where this is unavailable (not Linux x86-64 or
arm64, no AIO context left); the server then keeps its sync threads.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import platform
from collections.abc import Sequence
from typing import Any

# io_setup, io_destroy, io_getevents, io_submit
_SYSCALLS = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2)}
_IOCB_CMD_FSYNC = 2
_IOCB_CMD_FDSYNC = 3
_IOCB_FLAG_RESFD = 1
MAX_EVENTS = 1024  # syncs in flight at once; any past that are made on the loop


class _Iocb(ctypes.Structure):
    """struct iocb of linux/aio_abi.h (little-endian field order)."""

    _fields_ = [
        ("data", ctypes.c_uint64),
        ("key", ctypes.c_uint32),
        ("rw_flags", ctypes.c_int32),
        ("opcode", ctypes.c_uint16),
        ("reqprio", ctypes.c_int16),
        ("fildes", ctypes.c_uint32),
        ("buf", ctypes.c_uint64),
        ("nbytes", ctypes.c_uint64),
        ("offset", ctypes.c_int64),
        ("reserved2", ctypes.c_uint64),
        ("flags", ctypes.c_uint32),
        ("resfd", ctypes.c_uint32),
    ]


class _IoEvent(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_uint64),
        ("obj", ctypes.c_uint64),
        ("res", ctypes.c_int64),
        ("res2", ctypes.c_int64),
    ]


class _Timespec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class _Request:
    """The syncs of one write still in flight, and the first error among them."""

    __slots__ = ("done", "left", "error")

    def __init__(self, done: asyncio.Future[None], left: int) -> None:
        self.done, self.left = done, left
        self.error: OSError | None = None


class AioSyncer:
    """Submits fdatasync/fsync of open descriptors from the event loop; see the module."""

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL, ctx: int) -> None:
        _, self._destroy_nr, self._getevents_nr, self._submit_nr = _SYSCALLS[platform.machine()]
        self._loop, self._syscall, self._ctx = loop, libc.syscall, ctx
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._ops: dict[int, _Request] = {}  # iocb data -> its request
        self._next = 0
        self._events = (_IoEvent * MAX_EVENTS)()
        self._no_wait = _Timespec(0, 0)
        loop.add_reader(self._efd, self._reap)

    async def sync(self, data_fds: Sequence[int], dir_fds: Sequence[int] = ()) -> None:
        """fdatasync each of `data_fds` and fsync each of `dir_fds`; raises the first error."""
        ops = [(fd, _IOCB_CMD_FDSYNC) for fd in data_fds] + [
            (fd, _IOCB_CMD_FSYNC) for fd in dir_fds
        ]
        if not ops:
            return
        request = _Request(self._loop.create_future(), len(ops))
        iocbs = (_Iocb * len(ops))()
        pointers = (ctypes.POINTER(_Iocb) * len(ops))()
        for i, (fd, opcode) in enumerate(ops):
            self._next += 1
            iocbs[i].data, iocbs[i].opcode, iocbs[i].fildes = self._next, opcode, fd
            iocbs[i].flags, iocbs[i].resfd = _IOCB_FLAG_RESFD, self._efd
            pointers[i] = ctypes.pointer(iocbs[i])
            self._ops[self._next] = request
        submitted = self._submit(pointers)
        for i in range(submitted, len(ops)):  # refused by the kernel (rare): synced here
            del self._ops[iocbs[i].data]
            fd, opcode = ops[i]
            try:
                (os.fdatasync if opcode == _IOCB_CMD_FDSYNC else os.fsync)(fd)
            except OSError as exc:
                request.error = request.error or exc
            request.left -= 1
        if request.left:
            await request.done
        if request.error is not None:
            raise request.error

    def close(self) -> None:
        """Stop watching completions; io_destroy waits for the syncs still in flight."""
        self._loop.remove_reader(self._efd)
        self._syscall(self._destroy_nr, ctypes.c_ulong(self._ctx))
        os.close(self._efd)

    def _submit(self, pointers: ctypes.Array[Any]) -> int:
        """How many of the iocbs the kernel took (it takes a prefix of them)."""
        size = ctypes.sizeof(ctypes.POINTER(_Iocb))
        done = 0
        while done < len(pointers):
            n = self._syscall(
                self._submit_nr,
                ctypes.c_ulong(self._ctx),
                ctypes.c_long(len(pointers) - done),
                ctypes.c_void_p(ctypes.addressof(pointers) + done * size),
            )
            if n <= 0:
                break
            done += n
        return done

    def _reap(self) -> None:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            return
        while True:
            n = self._syscall(
                self._getevents_nr,
                ctypes.c_ulong(self._ctx),
                ctypes.c_long(0),
                ctypes.c_long(MAX_EVENTS),
                self._events,
                ctypes.byref(self._no_wait),
            )
            for event in self._events[: max(n, 0)]:
                request = self._ops.pop(event.data)
                if event.res < 0 and request.error is None:
                    request.error = OSError(-event.res, os.strerror(-event.res))
                request.left -= 1
                if not request.left and not request.done.done():
                    request.done.set_result(None)
            if n < MAX_EVENTS:
                return


def open_aio_syncer(loop: asyncio.AbstractEventLoop) -> AioSyncer | None:
    """An AioSyncer on `loop`, or None where Linux AIO is not available."""
    if platform.machine() not in _SYSCALLS or not hasattr(os, "eventfd"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    libc.syscall.restype = ctypes.c_long
    ctx = ctypes.c_ulong(0)
    setup_nr = _SYSCALLS[platform.machine()][0]
    if libc.syscall(setup_nr, ctypes.c_long(MAX_EVENTS), ctypes.byref(ctx)) != 0:
        return None
    return AioSyncer(loop, libc, ctx.value)
