"""File-level edits of share containers: leases and mutable data, on open descriptors.

The byte layouts come from `container` (spec/tahoe-disk-and-leases.md 4-7);
these functions do the reads and writes, with positioned calls (pread/pwrite):
no file object, buffer or seek per step, a syscall per piece read or written.
Callers hold the backend's lock.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Sequence

from lafs_core.storage_protocol import MAX_MUTABLE_SHARE_SIZE, WriteVector

from . import container as c
from .errors import CorruptContainerError, OutOfSpaceError, WriteError

_SLOTS_SIZE = c.MUTABLE_LEASE_SLOTS * c.MUTABLE_LEASE_SIZE


def pwrite_all(fd: int, data: bytes | bytearray | memoryview, pos: int) -> None:
    """Write all of `data` at `pos` (a regular file rarely writes short, but may)."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, pos)
        view, pos = view[n:], pos + n


def copy_range(source: int, target: int, offset: int, length: int) -> None:
    """Copy `length` bytes at `offset` of one file to the same place in another (in the
    kernel; nothing past the source's end)."""
    while length > 0:
        n = os.copy_file_range(source, target, length, offset, offset)
        if n == 0:
            return
        offset, length = offset + n, length - n


def immutable_leases(fd: int, head: bytes) -> list[c.ImmutableLease]:
    header = c.parse_immutable_header(head)
    size = os.fstat(fd).st_size
    data_len = c.immutable_data_length(size, header.lease_count)
    start = c.IMMUTABLE_HEADER_SIZE + data_len
    return c.parse_immutable_leases(os.pread(fd, size - start, start), header.lease_count)


def immutable_add_or_renew(
    fd: int,
    head: bytes,
    renew: bytes,
    cancel: bytes,
    owner: int,
    expiration: int,
    space_left: Callable[[], int],
) -> None:
    """Renew the lease whose renew secret matches, else append a new one."""
    header = c.parse_immutable_header(head)
    size = os.fstat(fd).st_size
    data_len = c.immutable_data_length(size, header.lease_count)
    for i, lease in enumerate(immutable_leases(fd, head)):
        if c.secret_matches(lease.renew_secret, renew, header.version):
            if expiration > lease.expiration:
                pos = c.IMMUTABLE_HEADER_SIZE + data_len + i * c.IMMUTABLE_LEASE_SIZE + 68
                pwrite_all(fd, expiration.to_bytes(4, "big"), pos)
            return
    if space_left() < c.IMMUTABLE_LEASE_SIZE:
        raise OutOfSpaceError("no space left for a new lease")
    lease = c.ImmutableLease(
        owner,
        c.stored_secret(renew, header.version),
        c.stored_secret(cancel, header.version),
        expiration,
    )
    pwrite_all(fd, c.pack_immutable_lease(lease), size)
    pwrite_all(fd, c.pack_count(header.lease_count + 1), 8)


def _slot_leases(raw: bytes) -> list[c.MutableLease]:
    if len(raw) != _SLOTS_SIZE:
        raise CorruptContainerError("mutable container shorter than its lease slots")
    size = c.MUTABLE_LEASE_SIZE
    return [c.parse_mutable_lease(raw[i : i + size]) for i in range(0, _SLOTS_SIZE, size)]


def _extra_leases(fd: int, header: c.MutableHeader) -> list[c.MutableLease]:
    count = c.parse_count(os.pread(fd, 4, header.extra_lease_offset))
    raw = os.pread(fd, count * c.MUTABLE_LEASE_SIZE, header.extra_lease_offset + 4)
    if len(raw) != count * c.MUTABLE_LEASE_SIZE:
        raise CorruptContainerError("truncated extra leases")
    size = c.MUTABLE_LEASE_SIZE
    return [c.parse_mutable_lease(raw[i * size : (i + 1) * size]) for i in range(count)]


def mutable_leases(fd: int, header: c.MutableHeader) -> list[c.MutableLease]:
    """Every lease slot, the four in the header first, empty ones included."""
    slots = _slot_leases(os.pread(fd, _SLOTS_SIZE, c.MUTABLE_HEADER_SIZE))
    return slots + _extra_leases(fd, header)


def mutable_add_or_renew(
    fd: int,
    header: c.MutableHeader,
    renew: bytes,
    cancel: bytes,
    owner: int,
    expiration: int,
    nodeid: bytes,
    space_left: Callable[[], int],
) -> None:
    """Renew the matching lease, else fill the first empty slot, else append one.

    The usual case, a lease in the header's slots renewed, reads those slots only.
    """
    stored = c.stored_secret(renew, header.version)
    slots = _slot_leases(os.pread(fd, _SLOTS_SIZE, c.MUTABLE_HEADER_SIZE))
    for searched in (False, True):
        for i, lease in enumerate(slots):
            if not lease.empty and hmac.compare_digest(lease.renew_secret, stored):
                if expiration > lease.expiration:
                    pos = c.mutable_lease_slot_offset(i, header.extra_lease_offset) + 4
                    pwrite_all(fd, expiration.to_bytes(4, "big"), pos)
                return
        if not searched:
            slots = slots + _extra_leases(fd, header)
    new = c.pack_mutable_lease(
        c.MutableLease(
            owner or 1, expiration, stored, c.stored_secret(cancel, header.version), nodeid
        )
    )
    for i, lease in enumerate(slots):
        if lease.empty:
            pwrite_all(fd, new, c.mutable_lease_slot_offset(i, header.extra_lease_offset))
            return
    if space_left() < c.MUTABLE_LEASE_SIZE:
        raise OutOfSpaceError("no space left for a new lease")
    extra = len(slots) - c.MUTABLE_LEASE_SLOTS
    pwrite_all(fd, new, c.mutable_lease_slot_offset(len(slots), header.extra_lease_offset))
    pwrite_all(fd, c.pack_count(extra + 1), header.extra_lease_offset)


def read_mutable(fd: int, header: c.MutableHeader, offset: int, size: int) -> bytes:
    end = min(offset + size, header.data_length)
    if offset >= end:
        return b""
    return os.pread(fd, end - offset, c.MUTABLE_DATA_OFFSET + offset)


def _write_zeros(fd: int, pos: int, count: int) -> None:
    while count > 0:
        n = min(count, 1 << 20)
        pwrite_all(fd, bytes(n), pos)
        pos, count = pos + n, count - n


def write_mutable(
    fd: int, header: c.MutableHeader, writes: Sequence[WriteVector], new_length: int | None
) -> c.MutableHeader:
    """Apply a write vector to an open share whose header is `header`; returns the new
    header (written too). The caller syncs."""
    length, extra = header.data_length, header.extra_lease_offset
    for w in writes:
        end = w.offset + len(w.data)
        if end > MAX_MUTABLE_SHARE_SIZE:
            raise WriteError("mutable share would exceed the maximum size")
        if end >= length:
            if c.MUTABLE_DATA_OFFSET + end > extra:
                count = c.parse_count(os.pread(fd, 4, extra))
                block = c.pack_count(count) + os.pread(fd, count * c.MUTABLE_LEASE_SIZE, extra + 4)
                new_extra = c.MUTABLE_DATA_OFFSET + end
                pwrite_all(fd, block, new_extra)
                pwrite_all(fd, bytes(min(len(block), new_extra - extra)), extra)
                extra = new_extra
            if w.offset > length:
                _write_zeros(fd, c.MUTABLE_DATA_OFFSET + length, w.offset - length)
            length = end
        pwrite_all(fd, w.data, c.MUTABLE_DATA_OFFSET + w.offset)
    if new_length is not None and new_length < length:
        length = new_length
    new = c.MutableHeader(header.version, header.nodeid, header.write_enabler, length, extra)
    pwrite_all(fd, c.pack_mutable_header(new), 0)
    return new
