"""File-level edits of share containers: leases and mutable data, on open files.

The byte layouts come from `container` (spec/tahoe-disk-and-leases.md 4-7);
these functions do the seeks and writes. Callers hold the backend's lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import BinaryIO

from lafs_core.storage_protocol import MAX_MUTABLE_SHARE_SIZE, WriteVector

from . import container as c
from .errors import CorruptContainerError, OutOfSpaceError, WriteError


def immutable_leases(f: BinaryIO, head: bytes) -> list[c.ImmutableLease]:
    header = c.parse_immutable_header(head)
    size = os.fstat(f.fileno()).st_size
    data_len = c.immutable_data_length(size, header.lease_count)
    f.seek(c.IMMUTABLE_HEADER_SIZE + data_len)
    return c.parse_immutable_leases(f.read(), header.lease_count)


def immutable_add_or_renew(
    f: BinaryIO,
    head: bytes,
    renew: bytes,
    cancel: bytes,
    owner: int,
    expiration: int,
    space_left: Callable[[], int],
) -> None:
    """Renew the lease whose renew secret matches, else append a new one."""
    header = c.parse_immutable_header(head)
    size = os.fstat(f.fileno()).st_size
    data_len = c.immutable_data_length(size, header.lease_count)
    for i, lease in enumerate(immutable_leases(f, head)):
        if c.secret_matches(lease.renew_secret, renew, header.version):
            if expiration > lease.expiration:
                pos = c.IMMUTABLE_HEADER_SIZE + data_len + i * c.IMMUTABLE_LEASE_SIZE + 68
                f.seek(pos)
                f.write(expiration.to_bytes(4, "big"))
            return
    if space_left() < c.IMMUTABLE_LEASE_SIZE:
        raise OutOfSpaceError("no space left for a new lease")
    lease = c.ImmutableLease(
        owner,
        c.stored_secret(renew, header.version),
        c.stored_secret(cancel, header.version),
        expiration,
    )
    f.seek(size)
    f.write(c.pack_immutable_lease(lease))
    f.seek(8)
    f.write(c.pack_count(header.lease_count + 1))


def mutable_leases(f: BinaryIO, header: c.MutableHeader) -> list[c.MutableLease]:
    f.seek(c.MUTABLE_HEADER_SIZE)
    slots = [
        c.parse_mutable_lease(f.read(c.MUTABLE_LEASE_SIZE)) for _ in range(c.MUTABLE_LEASE_SLOTS)
    ]
    f.seek(header.extra_lease_offset)
    count = c.parse_count(f.read(4))
    raw = f.read(count * c.MUTABLE_LEASE_SIZE)
    if len(raw) != count * c.MUTABLE_LEASE_SIZE:
        raise CorruptContainerError("truncated extra leases")
    for i in range(count):
        slots.append(c.parse_mutable_lease(raw[i * 92 : (i + 1) * 92]))
    return slots


def mutable_add_or_renew(
    f: BinaryIO,
    head: bytes,
    renew: bytes,
    cancel: bytes,
    owner: int,
    expiration: int,
    nodeid: bytes,
    space_left: Callable[[], int],
) -> None:
    """Renew the matching lease, else fill the first empty slot, else append one."""
    header = c.parse_mutable_header(head)
    slots = mutable_leases(f, header)
    for i, lease in enumerate(slots):
        if not lease.empty and c.secret_matches(lease.renew_secret, renew, header.version):
            if expiration > lease.expiration:
                f.seek(c.mutable_lease_slot_offset(i, header.extra_lease_offset) + 4)
                f.write(expiration.to_bytes(4, "big"))
            return
    new = c.pack_mutable_lease(
        c.MutableLease(
            owner or 1,
            expiration,
            c.stored_secret(renew, header.version),
            c.stored_secret(cancel, header.version),
            nodeid,
        )
    )
    for i, lease in enumerate(slots):
        if lease.empty:
            f.seek(c.mutable_lease_slot_offset(i, header.extra_lease_offset))
            f.write(new)
            return
    if space_left() < c.MUTABLE_LEASE_SIZE:
        raise OutOfSpaceError("no space left for a new lease")
    extra = len(slots) - c.MUTABLE_LEASE_SLOTS
    f.seek(c.mutable_lease_slot_offset(len(slots), header.extra_lease_offset))
    f.write(new)
    f.seek(header.extra_lease_offset)
    f.write(c.pack_count(extra + 1))


def read_mutable(f: BinaryIO, header: c.MutableHeader, offset: int, size: int) -> bytes:
    end = min(offset + size, header.data_length)
    if offset >= end:
        return b""
    f.seek(c.MUTABLE_DATA_OFFSET + offset)
    return f.read(end - offset)


def _write_zeros(f: BinaryIO, pos: int, count: int) -> None:
    f.seek(pos)
    while count > 0:
        n = min(count, 1 << 20)
        f.write(bytes(n))
        count -= n


def write_mutable(f: BinaryIO, writes: Sequence[WriteVector], new_length: int | None) -> None:
    """Apply a write vector to an open share; the caller flushes and fsyncs."""
    f.seek(0)
    header = c.parse_mutable_header(f.read(c.MUTABLE_HEADER_SIZE))
    length, extra = header.data_length, header.extra_lease_offset
    for w in writes:
        end = w.offset + len(w.data)
        if end > MAX_MUTABLE_SHARE_SIZE:
            raise WriteError("mutable share would exceed the maximum size")
        if end >= length:
            if c.MUTABLE_DATA_OFFSET + end > extra:
                f.seek(extra)
                count = c.parse_count(f.read(4))
                block = c.pack_count(count) + f.read(count * c.MUTABLE_LEASE_SIZE)
                new_extra = c.MUTABLE_DATA_OFFSET + end
                f.seek(new_extra)
                f.write(block)
                f.seek(extra)
                f.write(bytes(min(len(block), new_extra - extra)))
                extra = new_extra
            if w.offset > length:
                _write_zeros(f, c.MUTABLE_DATA_OFFSET + length, w.offset - length)
            length = end
        f.seek(c.MUTABLE_DATA_OFFSET + w.offset)
        f.write(w.data)
    if new_length is not None and new_length < length:
        length = new_length
    f.seek(0)
    f.write(
        c.pack_mutable_header(
            c.MutableHeader(header.version, header.nodeid, header.write_enabler, length, extra)
        )
    )
