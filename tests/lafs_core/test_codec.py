"""The erasure code: blocks as zfec makes them, whichever engine computes them."""

import os

import pytest
import zfec
from hypothesis import given, settings
from hypothesis import strategies as st

from lafs_core import isal
from lafs_core.codec import Codec
from lafs_core.errors import BadEncodingParameters


def zfec_blocks(k: int, n: int, segment: bytes) -> list[bytes]:
    size = len(segment) // k
    pieces = [segment[i * size : (i + 1) * size] for i in range(k)]
    return pieces + list(zfec.Encoder(k, n).encode(pieces, list(range(k, n))))


def test_isal_is_installed() -> None:
    """`.ci/run` installs it; without it uploads fall back to zfec, 25 times slower."""
    assert isal.available, "install ISA-L (Debian: apt-get install libisal2)"


@settings(max_examples=200, deadline=None)
@given(
    k=st.integers(1, 40),
    extra=st.integers(1, 60),
    size=st.integers(0, 3000),
    seed=st.binary(min_size=1, max_size=64),
)
def test_isal_check_blocks_are_zfecs(k: int, extra: int, size: int, seed: bytes) -> None:
    n = k + extra
    segment = (seed * (k * size // len(seed) + 1))[: k * size]
    checks = isal.ErasureCode(k, n).encode(segment)
    assert [bytes(c) for c in checks] == zfec_blocks(k, n, segment)[k:]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), k=st.integers(1, 30), extra=st.integers(1, 30), size=st.integers(1, 500))
def test_isal_rebuilds_missing_pieces_from_any_k_blocks(
    data: st.DataObject, k: int, extra: int, size: int
) -> None:
    n = k + extra
    segment = data.draw(st.binary(min_size=k * size, max_size=k * size))
    blocks = zfec_blocks(k, n, segment)
    numbers = sorted(data.draw(st.permutations(range(n)))[:k])
    code = isal.ErasureCode(k, n)
    given = [memoryview(bytearray(blocks[s])) for s in numbers]  # as the reader holds them
    rebuilt = code.missing_pieces(numbers, given)
    missing = [i for i in range(k) if i not in numbers]
    assert [bytes(p) for p in rebuilt] == [blocks[i] for i in missing]
    assert [bytes(p) for p in code.missing_pieces(numbers, [blocks[s] for s in numbers])] == [
        blocks[i] for i in missing
    ]


def test_isal_at_the_largest_parameters() -> None:
    segment = os.urandom(255 * 37)
    checks = isal.ErasureCode(255, 256).encode(segment)
    assert [bytes(c) for c in checks] == zfec_blocks(255, 256, segment)[255:]
    segment = os.urandom(1 * 1000)
    checks = isal.ErasureCode(1, 256).encode(segment)
    assert [bytes(c) for c in checks] == zfec_blocks(1, 256, segment)[1:]


def test_isal_refuses_a_ragged_segment() -> None:
    with pytest.raises(ValueError):
        isal.ErasureCode(3, 10).encode(b"x" * 10)


@pytest.mark.parametrize(("k", "n"), [(1, 1), (1, 3), (3, 10), (5, 5), (25, 100), (101, 256)])
def test_codec_encodes_as_zfec_and_decodes_from_any_k(k: int, n: int) -> None:
    segment = os.urandom(k * 1001)
    codec = Codec(k, n)
    blocks = codec.encode(segment)
    assert [bytes(b) for b in blocks] == zfec_blocks(k, n, segment)
    for chosen in (range(k), range(n - k, n), range(0, n, max(1, n // k))[:k], range(1, k + 1)):
        if chosen[-1] < n:
            assert codec.decode({i: blocks[i] for i in chosen}) == segment
    read_only = {i: memoryview(bytes(blocks[i])) for i in range(n - k, n)}
    assert codec.decode(read_only) == segment


def test_codec_accepts_a_bytearray_segment() -> None:
    segment = bytearray(os.urandom(3 * 500))
    assert [bytes(b) for b in Codec(3, 10).encode(segment)] == zfec_blocks(3, 10, bytes(segment))


def test_codec_refuses_bad_parameters() -> None:
    for k, n in [(0, 3), (4, 3), (3, 257)]:
        with pytest.raises(BadEncodingParameters):
            Codec(k, n)
    with pytest.raises(ValueError):
        Codec(3, 10).encode(b"ab")


def test_without_isal_the_codec_uses_zfec(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a machine without libisal2 runs: the same blocks, the same decoding."""
    monkeypatch.setattr(isal, "available", False)
    codec = Codec(3, 10)
    segment = os.urandom(3 * 777)
    blocks = codec.encode(segment)
    assert [bytes(b) for b in blocks] == zfec_blocks(3, 10, segment)
    assert codec.decode({i: blocks[i] for i in (2, 5, 9)}) == segment
