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
import functools
import os
import platform
import struct
from collections.abc import Sequence
from typing import Any

# io_setup, io_destroy, io_getevents, io_submit
_SYSCALLS = {"x86_64": (206, 207, 208, 209), "aarch64": (0, 1, 4, 2)}
_IOCB_CMD_FSYNC = 2
_IOCB_CMD_FDSYNC = 3
_IOCB_FLAG_RESFD = 1
# struct iocb of linux/aio_abi.h (little-endian): data, key, rw_flags, opcode, reqprio,
# fildes, buf, nbytes, offset, reserved2, flags, resfd
_IOCB = struct.Struct("<QIiHhIQQqQII")
_EVENT = struct.Struct("<QQqq")  # struct io_event: data, obj, res, res2
MAX_EVENTS = 1024  # syncs submitted at once, and reaped at once


class _Request:
    """The syncs of one write still in flight, and the first error among them."""

    __slots__ = ("done", "left", "error")

    def __init__(self, done: asyncio.Future[None], left: int) -> None:
        self.done, self.left = done, left
        self.error: OSError | None = None


class AioSyncer:
    """Submits fdatasync/fsync of open descriptors from the event loop; see the module.

    The kernel copies an iocb when it is submitted, so one buffer of them serves
    every submission.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL, ctx: int) -> None:
        _, destroy, getevents, submit = _SYSCALLS[platform.machine()]
        self._loop, self._ctx = loop, ctx
        self._destroy = functools.partial(_syscall(libc, ctypes.c_ulong), destroy, ctx)
        self._submit = functools.partial(
            _syscall(libc, ctypes.c_ulong, ctypes.c_long, ctypes.c_void_p), submit, ctx
        )
        no_wait = ctypes.create_string_buffer(16)  # struct timespec {0, 0}
        self._events = ctypes.create_string_buffer(_EVENT.size * MAX_EVENTS)
        self._view = memoryview(self._events).cast("B")
        self._getevents = functools.partial(
            _syscall(
                libc, ctypes.c_ulong, ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p
            ),
            getevents,
            ctx,
            0,
            MAX_EVENTS,
            ctypes.addressof(self._events),
            ctypes.addressof(no_wait),
        )
        self._no_wait = no_wait  # kept alive: the kernel reads it on every reap
        self._iocbs = ctypes.create_string_buffer(_IOCB.size * MAX_EVENTS)
        base = ctypes.addressof(self._iocbs)
        self._pointers = (ctypes.c_uint64 * MAX_EVENTS)(
            *(base + i * _IOCB.size for i in range(MAX_EVENTS))
        )
        self._efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._ops: dict[int, _Request] = {}  # iocb data -> its request
        self._next = 0
        loop.add_reader(self._efd, self._reap)

    async def sync(self, data_fds: Sequence[int], dir_fds: Sequence[int] = ()) -> None:
        """fdatasync each of `data_fds` and fsync each of `dir_fds`; raises the first error."""
        ops = [(fd, _IOCB_CMD_FDSYNC) for fd in data_fds]
        ops += [(fd, _IOCB_CMD_FSYNC) for fd in dir_fds]
        if not ops:
            return
        request = _Request(self._loop.create_future(), len(ops))
        for start in range(0, len(ops), MAX_EVENTS):
            self._submit_some(ops[start : start + MAX_EVENTS], request)
        if request.left:
            await request.done
        if request.error is not None:
            raise request.error

    def close(self) -> None:
        """Stop watching completions; io_destroy waits for the syncs still in flight."""
        self._loop.remove_reader(self._efd)
        self._destroy()
        os.close(self._efd)

    def _submit_some(self, ops: list[tuple[int, int]], request: _Request) -> None:
        """Submit up to MAX_EVENTS syncs; those the kernel refuses (rare) are made here."""
        first = self._next + 1
        for i, (fd, opcode) in enumerate(ops):
            self._next += 1
            _IOCB.pack_into(
                self._iocbs,
                i * _IOCB.size,
                self._next,
                0,
                0,
                opcode,
                0,
                fd,
                0,
                0,
                0,
                0,
                _IOCB_FLAG_RESFD,
                self._efd,
            )
            self._ops[self._next] = request
        taken = 0
        while taken < len(ops):
            n = self._submit(len(ops) - taken, ctypes.addressof(self._pointers) + 8 * taken)
            if n <= 0:
                break
            taken += n
        for i in range(taken, len(ops)):
            del self._ops[first + i]
            fd, opcode = ops[i]
            try:
                (os.fdatasync if opcode == _IOCB_CMD_FDSYNC else os.fsync)(fd)
            except OSError as exc:
                request.error = request.error or exc
            request.left -= 1

    def _reap(self) -> None:
        try:
            os.eventfd_read(self._efd)
        except BlockingIOError:
            return
        while True:
            n = self._getevents()
            for data, _, res, _ in _EVENT.iter_unpack(self._view[: max(n, 0) * _EVENT.size]):
                request = self._ops.pop(data)
                if res < 0 and request.error is None:
                    request.error = OSError(-res, os.strerror(-res))
                request.left -= 1
                if not request.left and not request.done.done():
                    request.done.set_result(None)
            if n < MAX_EVENTS:
                return


def _syscall(libc: ctypes.CDLL, *argtypes: type) -> Any:
    """libc's syscall(2) wrapper typed for one call's arguments (64-bit ones included)."""
    fn = libc["syscall"]  # a new function object: its own argument types
    fn.argtypes = [ctypes.c_long, *argtypes]
    fn.restype = ctypes.c_long
    return fn


def open_aio_syncer(loop: asyncio.AbstractEventLoop) -> AioSyncer | None:
    """An AioSyncer on `loop`, or None where Linux AIO is not available."""
    if platform.machine() not in _SYSCALLS or not hasattr(os, "eventfd"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    ctx = ctypes.c_ulong(0)
    setup = _syscall(libc, ctypes.c_long, ctypes.c_void_p)
    if setup(_SYSCALLS[platform.machine()][0], MAX_EVENTS, ctypes.addressof(ctx)) != 0:
        return None
    return AioSyncer(loop, libc, ctx.value)
