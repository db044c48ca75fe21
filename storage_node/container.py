"""Share containers and lease records as pure pack/parse functions.

Per spec/tahoe-disk-and-leases.md 4-7: the immutable container (12-byte
header, data, 72-byte leases), the mutable container (100-byte header, four
92-byte lease slots, data at 468, extra leases at E) and how a file's first
bytes tell which it is. No I/O; parsers raise `CorruptContainerError`.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lafs_core.hashes import tagged_hash

from .errors import CorruptContainerError

LEASE_DURATION = 31 * 86400
MAX_EXPIRATION = 2**32 - 1

# -- immutable ---------------------------------------------------------------

_IMM_HEADER = struct.Struct(">LLL")
_IMM_LEASE = struct.Struct(">L32s32sL")
IMMUTABLE_HEADER_SIZE = _IMM_HEADER.size  # 12
IMMUTABLE_LEASE_SIZE = _IMM_LEASE.size  # 72
IMMUTABLE_VERSIONS = (1, 2)


@dataclass(frozen=True)
class ImmutableHeader:
    version: int
    data_length_field: int  # written for old servers, never trusted when reading
    lease_count: int


def pack_immutable_header(h: ImmutableHeader) -> bytes:
    return _IMM_HEADER.pack(h.version, min(h.data_length_field, 2**32 - 1), h.lease_count)


def new_immutable_header(allocated_size: int) -> bytes:
    return pack_immutable_header(ImmutableHeader(2, allocated_size, 0))


def parse_immutable_header(raw: bytes) -> ImmutableHeader:
    if len(raw) < IMMUTABLE_HEADER_SIZE:
        raise CorruptContainerError("immutable container shorter than its header")
    version, length, count = _IMM_HEADER.unpack_from(raw)
    if version not in IMMUTABLE_VERSIONS:
        raise CorruptContainerError(f"unknown immutable container version {version}")
    return ImmutableHeader(version, length, count)


def immutable_data_length(file_size: int, lease_count: int) -> int:
    """D = file size - header - leases; the only trustworthy data length."""
    length = file_size - IMMUTABLE_HEADER_SIZE - IMMUTABLE_LEASE_SIZE * lease_count
    if length < 0:
        raise CorruptContainerError("immutable container too short for its lease count")
    return length


# -- leases ------------------------------------------------------------------


def hash_lease_secret(secret: bytes) -> bytes:
    """What a v2 container stores for a renew or cancel secret."""
    return hashlib.blake2b(secret, digest_size=32).digest()


def stored_secret(secret: bytes, version: int) -> bytes:
    return secret if version == 1 else hash_lease_secret(secret)


def secret_matches(stored: bytes, presented: bytes, version: int) -> bool:
    return hmac.compare_digest(stored, stored_secret(presented, version))


def expiration_after(now: float) -> int:
    return min(int(now + LEASE_DURATION), MAX_EXPIRATION)


@dataclass(frozen=True)
class ImmutableLease:
    owner: int
    renew_secret: bytes  # as stored (hashed in v2)
    cancel_secret: bytes
    expiration: int


def pack_immutable_lease(lease: ImmutableLease) -> bytes:
    return _IMM_LEASE.pack(lease.owner, lease.renew_secret, lease.cancel_secret, lease.expiration)


def parse_immutable_leases(raw: bytes, count: int) -> list[ImmutableLease]:
    if len(raw) != count * IMMUTABLE_LEASE_SIZE:
        raise CorruptContainerError("immutable lease area has the wrong size")
    return [ImmutableLease(*fields) for fields in _IMM_LEASE.iter_unpack(raw)]


_MUT_LEASE = struct.Struct(">LL32s32s20s")
MUTABLE_LEASE_SIZE = _MUT_LEASE.size  # 92
EMPTY_MUTABLE_LEASE = bytes(MUTABLE_LEASE_SIZE)


@dataclass(frozen=True)
class MutableLease:
    owner: int  # 0 marks an empty slot
    expiration: int
    renew_secret: bytes  # as stored (hashed in v2)
    cancel_secret: bytes
    nodeid: bytes

    @property
    def empty(self) -> bool:
        return self.owner == 0


def pack_mutable_lease(lease: MutableLease) -> bytes:
    return _MUT_LEASE.pack(
        lease.owner, lease.expiration, lease.renew_secret, lease.cancel_secret, lease.nodeid
    )


def parse_mutable_lease(raw: bytes) -> MutableLease:
    if len(raw) != MUTABLE_LEASE_SIZE:
        raise CorruptContainerError("mutable lease record has the wrong size")
    return MutableLease(*_MUT_LEASE.unpack(raw))


# -- mutable -----------------------------------------------------------------

_MAGIC_PREFIX_V1 = b"Tahoe mutable container v1\n"
_MAGIC_PREFIX_V2 = b"Tahoe mutable container v2\n"
MUTABLE_MAGIC_V1 = _MAGIC_PREFIX_V1 + bytes.fromhex("750944038e")
MUTABLE_MAGIC_V2 = (
    _MAGIC_PREFIX_V2 + tagged_hash(b"allmydata_mutable_container_header", _MAGIC_PREFIX_V2)[:5]
)
_MAGICS = {MUTABLE_MAGIC_V1: 1, MUTABLE_MAGIC_V2: 2}

_MUT_HEADER = struct.Struct(">32s20s32sQQ")
MUTABLE_HEADER_SIZE = _MUT_HEADER.size  # 100
MUTABLE_LEASE_SLOTS = 4
MUTABLE_DATA_OFFSET = MUTABLE_HEADER_SIZE + MUTABLE_LEASE_SLOTS * MUTABLE_LEASE_SIZE  # 468
_COUNT = struct.Struct(">L")
NODEID_SIZE = 20


@dataclass(frozen=True)
class MutableHeader:
    version: int
    nodeid: bytes
    write_enabler: bytes
    data_length: int
    extra_lease_offset: int


def pack_mutable_header(h: MutableHeader) -> bytes:
    magic = MUTABLE_MAGIC_V1 if h.version == 1 else MUTABLE_MAGIC_V2
    return _MUT_HEADER.pack(magic, h.nodeid, h.write_enabler, h.data_length, h.extra_lease_offset)


def parse_mutable_header(raw: bytes) -> MutableHeader:
    if len(raw) < MUTABLE_HEADER_SIZE:
        raise CorruptContainerError("mutable container shorter than its header")
    magic, nodeid, we, length, extra = _MUT_HEADER.unpack_from(raw)
    version = _MAGICS.get(magic)
    if version is None:
        raise CorruptContainerError("not a mutable container (bad magic)")
    if extra < MUTABLE_DATA_OFFSET + length:
        raise CorruptContainerError("mutable extra-lease offset lies inside the data")
    return MutableHeader(version, nodeid, we, length, extra)


def new_mutable_container(nodeid: bytes, write_enabler: bytes) -> bytes:
    """An empty v2 container: header, four empty slots, zero extra leases (472 bytes)."""
    if len(nodeid) != NODEID_SIZE:
        raise ValueError("node id must be 20 bytes")
    header = MutableHeader(2, nodeid, write_enabler_field(write_enabler), 0, MUTABLE_DATA_OFFSET)
    return pack_mutable_header(header) + EMPTY_MUTABLE_LEASE * MUTABLE_LEASE_SLOTS + pack_count(0)


def new_mutable_share(
    nodeid: bytes,
    write_enabler: bytes,
    writes: Sequence[tuple[int, bytes]],
    new_length: int | None,
    lease: MutableLease,
) -> bytes:
    """A new v2 container holding `writes` (offset, data) and `lease` in slot 0, built whole.

    Byte for byte what applying them to `new_mutable_container` leaves on disk, for one
    write(2) instead of a dozen seeks, reads and writes: the data region spans the furthest
    write end, its gaps are zeros, the (empty) extra-lease count follows it, and
    `new_length` can only shorten the data length.
    """
    if len(nodeid) != NODEID_SIZE:
        raise ValueError("node id must be 20 bytes")
    extent = max((offset + len(data) for offset, data in writes), default=0)
    region = bytearray(extent)
    for offset, data in writes:
        region[offset : offset + len(data)] = data
    length = extent if new_length is None else min(new_length, extent)
    header = MutableHeader(
        2, nodeid, write_enabler_field(write_enabler), length, MUTABLE_DATA_OFFSET + extent
    )
    return b"".join(
        (
            pack_mutable_header(header),
            pack_mutable_lease(lease),
            EMPTY_MUTABLE_LEASE * (MUTABLE_LEASE_SLOTS - 1),
            region,
            pack_count(0),
        )
    )


def write_enabler_field(write_enabler: bytes) -> bytes:
    """The 32-byte header field for a write enabler (zero-padded, as struct packs it)."""
    return write_enabler[:32].ljust(32, b"\0")


def write_enabler_matches(stored: bytes, presented: bytes) -> bool:
    return len(presented) <= 32 and hmac.compare_digest(stored, write_enabler_field(presented))


def pack_count(n: int) -> bytes:
    return _COUNT.pack(n)


def parse_count(raw: bytes) -> int:
    if len(raw) != 4:
        raise CorruptContainerError("truncated lease count")
    (n,) = _COUNT.unpack(raw)
    return int(n)


def mutable_lease_slot_offset(index: int, extra_lease_offset: int) -> int:
    """File offset of lease slot `index`: 0-3 in the header, then the extra records."""
    if index < MUTABLE_LEASE_SLOTS:
        return MUTABLE_HEADER_SIZE + index * MUTABLE_LEASE_SIZE
    return extra_lease_offset + 4 + (index - MUTABLE_LEASE_SLOTS) * MUTABLE_LEASE_SIZE


# -- recognising -------------------------------------------------------------

ShareKind = Literal["immutable", "mutable"]


def share_kind(head: bytes) -> ShareKind:
    """Tell a container's kind from its first 32 (or more) bytes."""
    if head[:32] in _MAGICS:
        return "mutable"
    if len(head) >= 4 and int.from_bytes(head[:4], "big") in IMMUTABLE_VERSIONS:
        return "immutable"
    raise CorruptContainerError("neither a mutable nor an immutable container")
