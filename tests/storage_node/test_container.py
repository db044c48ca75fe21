"""Pure share-container, lease, advisory and range-set formats (storage_node.container etc.);
a new share built whole is checked against share_files' edits of a temporary file."""

import os
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core import base32
from lafs_core.storage_protocol import WriteVector
from storage_node import container as c
from storage_node import share_files as sf
from storage_node.advisories import advisory_name, format_advisory, parse_advisory
from storage_node.errors import CorruptContainerError
from storage_node.ranges import RangeSet

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
b32 = st.binary(min_size=32, max_size=32)
b20 = st.binary(min_size=20, max_size=20)


@given(version=st.sampled_from([1, 2]), length=u32, count=u32)
def test_immutable_header_round_trip(version: int, length: int, count: int) -> None:
    h = c.ImmutableHeader(version, length, count)
    raw = c.pack_immutable_header(h)
    assert len(raw) == 12
    assert c.parse_immutable_header(raw) == h
    assert c.share_kind(raw) == "immutable"


def test_new_immutable_header_saturates_length() -> None:
    assert c.new_immutable_header(48) == bytes.fromhex("00000002 00000030 00000000")
    assert c.parse_immutable_header(c.new_immutable_header(2**40)).data_length_field == 2**32 - 1


@given(st.lists(st.tuples(u32, b32, b32, u32), max_size=5))
def test_immutable_leases_round_trip(fields: list[tuple[int, bytes, bytes, int]]) -> None:
    leases = [c.ImmutableLease(*f) for f in fields]
    raw = b"".join(c.pack_immutable_lease(lease) for lease in leases)
    assert len(raw) == 72 * len(leases)
    assert c.parse_immutable_leases(raw, len(leases)) == leases
    if raw:
        with pytest.raises(CorruptContainerError):
            c.parse_immutable_leases(raw[:-1], len(leases))


def test_immutable_data_length() -> None:
    assert c.immutable_data_length(12 + 48 + 72 * 2, 2) == 48
    with pytest.raises(CorruptContainerError):
        c.immutable_data_length(12 + 71, 1)


@given(version=st.sampled_from([1, 2]), nodeid=b20, we=b32, length=u32, slack=u32)
def test_mutable_header_round_trip(
    version: int, nodeid: bytes, we: bytes, length: int, slack: int
) -> None:
    h = c.MutableHeader(version, nodeid, we, length, c.MUTABLE_DATA_OFFSET + length + slack)
    raw = c.pack_mutable_header(h)
    assert len(raw) == 100
    assert c.parse_mutable_header(raw) == h
    assert c.share_kind(raw) == "mutable"


def test_mutable_magic_and_new_container() -> None:
    assert c.MUTABLE_MAGIC_V2 == b"Tahoe mutable container v2\n" + bytes.fromhex("c355219925")
    raw = c.new_mutable_container(b"N" * 20, b"W" * 32)
    assert len(raw) == 472
    h = c.parse_mutable_header(raw)
    assert (h.version, h.nodeid, h.write_enabler, h.data_length, h.extra_lease_offset) == (
        2,
        b"N" * 20,
        b"W" * 32,
        0,
        468,
    )
    assert raw[100:468] == bytes(368) and raw[468:] == bytes(4)
    assert c.write_enabler_matches(h.write_enabler, b"W" * 32)
    assert not c.write_enabler_matches(h.write_enabler, b"X" * 32)


@given(st.tuples(u32, u32, b32, b32, b20))
def test_mutable_lease_round_trip(fields: tuple[int, int, bytes, bytes, bytes]) -> None:
    lease = c.MutableLease(*fields)
    raw = c.pack_mutable_lease(lease)
    assert len(raw) == 92
    assert c.parse_mutable_lease(raw) == lease
    assert lease.empty == (fields[0] == 0)


def test_lease_secret_hash_vector() -> None:
    # spec/tahoe-disk-and-leases.md 7.3: BLAKE2b-256 of a known renew secret.
    renew = base32.a2b("osd6wmc5vz4g3ukg64sitmzlfiaaordutrez7oxdp5kkze7zp5zq")
    assert c.hash_lease_secret(renew).hex() == (
        "845cdf942c6fe4c59e731c2a5f1de0f1f63164ad23e06cefddb40785f3a20c8b"
    )
    assert c.secret_matches(c.stored_secret(renew, 2), renew, 2)
    assert c.secret_matches(renew, renew, 1)
    assert not c.secret_matches(c.stored_secret(renew, 2), bytes(32), 2)


@pytest.mark.parametrize("cut", [0, 1, 11, 31, 99])
def test_truncated_headers_raise_cleanly(cut: int) -> None:
    mutable = c.new_mutable_container(bytes(20), bytes(32))
    with pytest.raises(CorruptContainerError):
        c.parse_mutable_header(mutable[:cut])
    if cut < 12:
        with pytest.raises(CorruptContainerError):
            c.parse_immutable_header(c.new_immutable_header(5)[:cut])


@given(pos=st.integers(0, 99), bit=st.integers(0, 7))
def test_bit_flips_parse_or_raise_cleanly(pos: int, bit: int) -> None:
    raw = bytearray(c.new_mutable_container(bytes(20), bytes(32)))
    raw[pos] ^= 1 << bit
    try:
        h = c.parse_mutable_header(bytes(raw))
    except CorruptContainerError:
        assert pos < 32 or 84 <= pos < 100  # magic, length or offset damaged
    else:
        assert pos >= 32
        assert h.extra_lease_offset >= 468 + h.data_length


@given(st.binary(max_size=120))
def test_any_bytes_parse_or_raise_cleanly(raw: bytes) -> None:
    for parse in (c.parse_mutable_header, c.parse_immutable_header, c.share_kind):
        try:
            parse(raw)
        except CorruptContainerError:
            pass
    try:
        c.parse_mutable_lease(raw)
    except CorruptContainerError:
        assert len(raw) != 92


@given(
    reason=st.text(min_size=1, max_size=200).filter(lambda s: s.strip() == s),
    now=st.floats(0, 4e9),
    shnum=st.integers(0, 300),
    si=st.binary(min_size=16, max_size=16),
    kind=st.sampled_from(["immutable", "mutable"]),
)
def test_advisory_round_trip(reason: str, now: float, shnum: int, si: bytes, kind: str) -> None:
    si_text = base32.b2a(si)
    name = advisory_name(now, si_text, shnum)
    adv = parse_advisory(name, format_advisory(kind, si_text, shnum, reason))
    assert (adv.kind, adv.storage_index, adv.share_number, adv.reason) == (
        kind,
        si_text,
        shnum,
        reason,
    )


def test_advisory_format_matches_tahoe() -> None:
    name = advisory_name(1795586089.120577, "su7v4bo66xvmxej3eglqloqzyu", 0)
    assert name == "2026-11-25T055449.120577--su7v4bo66xvmxej3eglqloqzyu-0"
    assert format_advisory("immutable", "su7v4bo66xvmxej3eglqloqzyu", 0, "bad hash") == (
        b"report: Share Corruption\ntype: immutable\nstorage_index: su7v4bo66xvmxej3eglqloqzyu\n"
        b"share_number: 0\n\nbad hash\n\n"
    )


@given(
    size=st.integers(1, 200),
    writes=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 50)), max_size=10),
)
def test_range_set_matches_a_model(size: int, writes: list[tuple[int, int]]) -> None:
    rs, model = RangeSet(), set()
    for begin, length in writes:
        assert {i for lo, hi in rs.overlaps(begin, begin + length) for i in range(lo, hi)} == (
            model & set(range(begin, begin + length))
        )
        rs.add(begin, begin + length)
        model |= set(range(begin, begin + length))
    missing = rs.missing(size)
    assert {i for lo, hi in missing for i in range(lo, hi)} == set(range(size)) - model
    assert all(lo < hi for lo, hi in missing) and missing == sorted(missing)


@given(
    writes=st.lists(st.tuples(st.integers(0, 300), st.binary(max_size=200)), max_size=4),
    new_length=st.none() | st.integers(1, 600),
    we=st.binary(max_size=32),
    expiration=u32,
)
def test_new_mutable_share_is_the_piecewise_result(
    writes: list[tuple[int, bytes]], new_length: int | None, we: bytes, expiration: int
) -> None:
    """Built whole, a new share has the bytes an empty container gets from the writes
    and a first lease applied one by one (as the backend does for large new shares)."""
    nodeid, renew, cancel = b"n" * 20, b"r" * 32, b"c" * 32
    empty = c.new_mutable_container(nodeid, we)
    with tempfile.TemporaryFile() as f:
        fd = f.fileno()
        sf.pwrite_all(fd, empty, 0)
        vectors = [WriteVector(o, d) for o, d in writes]
        header = sf.write_mutable(fd, c.parse_mutable_header(empty), vectors, new_length)
        assert c.parse_mutable_header(os.pread(fd, c.MUTABLE_HEADER_SIZE, 0)) == header
        sf.mutable_add_or_renew(fd, header, renew, cancel, 1, expiration, nodeid, lambda: 2**60)
        piecewise = os.pread(fd, os.fstat(fd).st_size, 0)
    lease = c.MutableLease(
        1, expiration, c.hash_lease_secret(renew), c.hash_lease_secret(cancel), nodeid
    )
    assert c.new_mutable_share(nodeid, we, writes, new_length, lease) == piecewise
