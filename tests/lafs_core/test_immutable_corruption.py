"""A flipped bit anywhere in a share is caught, blamed on that share, and worked around."""

import asyncio
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lafs_core.errors import NotEnoughSharesError
from lafs_core.immutable.layout import parse_header
from lafs_core.immutable.local import BytesShareSource, encode_bytes
from lafs_core.immutable.params import EncodingParams
from lafs_core.immutable.reader import CHKReader
from lafs_core.immutable.verifier import verify
from lafs_core.uri import CHKReadCap

DATA = os.urandom(3 * 1000 + 11)
_cap, SHARES = encode_bytes(DATA, EncodingParams(3, 1, 5, 1000), b"c" * 16)
assert isinstance(_cap, CHKReadCap)
CAP: CHKReadCap = _cap
SHARE_SIZE = len(SHARES[0])


def flip(data: bytes, bit: int) -> bytes:
    raw = bytearray(data)
    raw[bit // 8] ^= 1 << (bit % 8)
    return bytes(raw)


def reader_for(shares: dict[int, bytes]) -> CHKReader:
    return CHKReader(CAP, [BytesShareSource(n, d) for n, d in shares.items()])


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2), st.integers(0, SHARE_SIZE * 8 - 1))
def test_flipped_bit_is_detected_and_attributed(sharenum: int, bit: int) -> None:
    # With exactly k shares, any corruption that matters must make the read fail,
    # naming the share; with a spare share the read succeeds.
    shares = {n: SHARES[n] for n in range(3)}
    shares[sharenum] = flip(shares[sharenum], bit)
    reader = reader_for(shares)
    try:
        assert asyncio.run(reader.read()) == DATA
        # A share may be blamed even when the read succeeds (a bad tree node
        # found after its blocks were used), but never a share that is fine.
        assert set(reader.corrupt_shares) <= {sharenum}
    except NotEnoughSharesError:
        assert list(reader.corrupt_shares) == [sharenum]
    spare = {**shares, 4: SHARES[4]}
    assert asyncio.run(reader_for(spare).read()) == DATA


def test_verify_finds_a_flip_anywhere_but_the_unused_area() -> None:
    layout = parse_header(SHARES[1])
    unused = range(layout.plaintext_tree, layout.crypttext_tree)  # Tahoe leaves it zero, unread
    for pos in range(SHARE_SIZE):
        shares = dict(SHARES)
        shares[1] = flip(shares[1], pos * 8 + pos % 8)
        result = asyncio.run(
            verify(CAP.verify_cap(), [BytesShareSource(n, d) for n, d in shares.items()])
        )
        if pos in unused:
            assert result.good == set(range(5))
        else:
            assert result.good == {0, 2, 3, 4} and list(result.corrupt) == [1], pos


def test_verify_healthy_and_missing() -> None:
    sources = [BytesShareSource(n, SHARES[n]) for n in (0, 2, 4)] + [FailingSource(1)]
    result = asyncio.run(verify(CAP, sources))
    assert result.good == {0, 2, 4} and list(result.unavailable) == [1] and not result.corrupt


def test_fewer_than_k_good_shares() -> None:
    shares = {0: SHARES[0], 1: flip(SHARES[1], 8 * 100)}
    with pytest.raises(NotEnoughSharesError):
        asyncio.run(reader_for(shares).read())
    with pytest.raises(NotEnoughSharesError):
        asyncio.run(reader_for({}).read())


def test_truncated_share() -> None:
    shares = {0: SHARES[0][:500], 1: SHARES[1], 2: SHARES[2], 3: SHARES[3]}
    reader = reader_for(shares)
    assert asyncio.run(reader.read()) == DATA
    assert list(reader.corrupt_shares) == [0]


def test_share_from_another_file_is_refused() -> None:
    _, other = encode_bytes(os.urandom(len(DATA)), EncodingParams(3, 1, 5, 1000), b"c" * 16)
    shares = {0: other[0], 1: SHARES[1], 2: SHARES[2], 3: SHARES[3]}
    reader = reader_for(shares)
    assert asyncio.run(reader.read()) == DATA
    assert list(reader.corrupt_shares) == [0]


def test_share_under_the_wrong_number_is_refused() -> None:
    shares = {0: SHARES[3], 1: SHARES[1], 2: SHARES[2], 4: SHARES[4]}
    reader = reader_for(shares)
    assert asyncio.run(reader.read()) == DATA
    assert list(reader.corrupt_shares) == [0]


class FailingSource:
    def __init__(self, sharenum: int) -> None:
        self.sharenum = sharenum

    async def read(self, offset: int, length: int) -> bytes:
        raise ConnectionError("server went away")


def test_unreachable_share_falls_back() -> None:
    sources = [FailingSource(0)] + [BytesShareSource(n, SHARES[n]) for n in (1, 2, 3)]
    reader = CHKReader(CAP, sources)
    assert asyncio.run(reader.read()) == DATA
    assert list(reader.unavailable_shares) == [0] and not reader.corrupt_shares
