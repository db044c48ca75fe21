"""Encode then read back: sizes around every boundary, many (k, n), any k shares, any range."""

import asyncio
import itertools
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lafs_core.immutable.local import BytesShareSource, encode_bytes
from lafs_core.immutable.params import EncodingParams
from lafs_core.immutable.reader import SHARE_OVERHEAD_GUESS, WHOLE_SHARE_READ, CHKReader
from lafs_core.uri import CHKReadCap, LiteralCap, parse_cap

from .immutable_helpers import read_back

SEG = 4096  # small segments keep multi-segment cases fast
SECRET = b"s" * 16


def params(k: int, n: int, max_segment_size: int = SEG) -> EncodingParams:
    return EncodingParams(k=k, happy=1, n=n, max_segment_size=max_segment_size)


@pytest.mark.parametrize("k, n", [(1, 1), (2, 3), (3, 10), (10, 10), (1, 256), (100, 256)])
@pytest.mark.parametrize("size", [0, 1, 55, 56, SEG - 1, SEG, SEG + 1, 3 * SEG - 1, 3 * SEG + 1])
def test_round_trip(k: int, n: int, size: int) -> None:
    data = os.urandom(size)
    cap, shares = encode_bytes(data, params(k, n), SECRET)
    if size <= 55:
        assert isinstance(cap, LiteralCap) and cap.data == data and not shares
        return
    assert isinstance(cap, CHKReadCap) and (cap.k, cap.n, cap.size) == (k, n, size)
    assert sorted(shares) == list(range(n))
    assert parse_cap(cap.to_string()) == cap
    chosen = random.sample(sorted(shares), k)
    assert read_back(cap, {i: shares[i] for i in chosen}) == data


@pytest.mark.parametrize("size", [1024 * 1024, 10 * 1024 * 1024 + 1])
def test_large_files_default_segment_size(size: int) -> None:
    data = os.urandom(size)
    cap, shares = encode_bytes(data, params(3, 10, 1024 * 1024), SECRET)
    assert isinstance(cap, CHKReadCap)
    assert read_back(cap, {i: shares[i] for i in (9, 4, 7)}) == data
    assert read_back(cap, {i: shares[i] for i in (0, 1, 2)}, size - 5, 100) == data[-5:]


def test_every_k_subset_decodes() -> None:
    data = os.urandom(3 * 700 + 5)
    cap, shares = encode_bytes(data, params(3, 7, 700), SECRET)
    assert isinstance(cap, CHKReadCap)
    for subset in itertools.combinations(range(7), 3):
        assert read_back(cap, {i: shares[i] for i in subset}) == data


def test_convergence_is_deterministic_and_secret_dependent() -> None:
    data = os.urandom(5000)
    cap1, shares1 = encode_bytes(data, params(3, 10), SECRET)
    cap2, shares2 = encode_bytes(data, params(3, 10), SECRET)
    cap3, _ = encode_bytes(data, params(3, 10), b"other secret")
    assert cap1 == cap2 and shares1 == shares2
    assert cap1 != cap3


def test_random_key_mode() -> None:
    data = os.urandom(5000)
    cap1, shares = encode_bytes(data, params(3, 10), None)
    cap2, _ = encode_bytes(data, params(3, 10), None)
    assert cap1 != cap2
    assert isinstance(cap1, CHKReadCap)
    assert read_back(cap1, shares) == data


DATA = os.urandom(10 * 1000 + 7)
CAP, SHARES = encode_bytes(DATA, params(3, 10, 999), SECRET)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, len(DATA) + 10), st.integers(0, len(DATA) + 10))
def test_random_ranges(offset: int, size: int) -> None:
    assert isinstance(CAP, CHKReadCap)
    assert (
        read_back(CAP, {i: SHARES[i] for i in (5, 1, 8)}, offset, size)
        == DATA[offset : offset + size]
    )


def test_range_reads_fetch_only_their_segments() -> None:
    data = os.urandom(WHOLE_SHARE_READ * 3 + 1)  # shares too big to read whole
    cap, shares = encode_bytes(data, params(3, 10), SECRET)
    assert isinstance(cap, CHKReadCap)
    reader = CHKReader(cap, [BytesShareSource(i, shares[i]) for i in range(10)])
    assert asyncio.run(reader.read(50_000, 10)) == data[50_000:50_010]
    assert reader.stats.segments == 1
    assert reader.stats.bytes_fetched < len(shares[0])


class CountingSource(BytesShareSource):
    reads = 0

    async def read(self, offset: int, length: int) -> bytes:
        CountingSource.reads += 1
        return await super().read(offset, length)


@pytest.mark.parametrize("size", [56, SEG * 3, 3 * (WHOLE_SHARE_READ - SHARE_OVERHEAD_GUESS)])
def test_small_shares_are_read_whole_in_one_request(size: int) -> None:
    data = os.urandom(size)
    cap, shares = encode_bytes(data, params(3, 10, 128 * 1024), SECRET)
    assert isinstance(cap, CHKReadCap)
    CountingSource.reads = 0
    reader = CHKReader(cap, [CountingSource(i, shares[i]) for i in (7, 2, 5)])
    assert asyncio.run(reader.read(1, size)) == data[1:]
    assert CountingSource.reads == 3


@pytest.mark.parametrize("shares", [(0, 1, 2), (4, 0, 9)], ids=["systematic", "decoded"])
def test_chunks_are_bytes_pieces_of_segments(shares: tuple[int, ...]) -> None:
    """A read-cap's range comes as the decrypted pieces of each segment (no join, so up to k
    chunks a segment), each plain bytes, as web frameworks want them; a range inside a
    piece is cut from it."""
    assert isinstance(CAP, CHKReadCap)

    async def chunks(offset: int, size: int) -> list[bytes]:
        reader = CHKReader(CAP, [BytesShareSource(i, SHARES[i]) for i in shares])
        return [chunk async for chunk in reader.iter_range(offset, size)]

    whole = asyncio.run(chunks(0, len(DATA)))
    assert [len(c) for c in whole[:3]] == [333, 333, 333]  # segment 999 bytes, k = 3
    assert all(type(c) is bytes for c in whole) and b"".join(whole) == DATA
    assert asyncio.run(chunks(1100, 100)) == [DATA[1100:1200]]
    assert asyncio.run(chunks(990, 20)) == [DATA[990:999], DATA[999:1010]]
