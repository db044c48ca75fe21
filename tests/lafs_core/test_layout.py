import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core.errors import CorruptShareError
from lafs_core.immutable.layout import (
    decode_ueb,
    layout_for,
    pack_header,
    pack_ueb,
    parse_chain,
    parse_header,
    parse_ueb,
)
from lafs_core.immutable.params import FileGeometry

geometries = st.builds(
    lambda k_n, size, seg: FileGeometry(
        size, k_n[0], k_n[1], -(-min(seg, size) // k_n[0]) * k_n[0]
    ),
    st.integers(1, 256).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))),
    st.integers(56, 2**40),
    st.integers(1, 2**22),
)


def test_spec_headers() -> None:
    # spec/tahoe-immutable.md 11.2 and 11.3
    header = pack_header(layout_for(FileGeometry(56, 3, 10, 57)))
    assert (
        header.hex() == "000000010000001300000013000000240000003700000057000000770000009700000141"
    )
    header = pack_header(layout_for(FileGeometry(131073, 2, 3, 131072)))
    assert (
        header.hex() == "000000010001000000010001000000240001002500010085000100e500010145000101ab"
    )


@given(geometries)
def test_header_round_trip(geometry: FileGeometry) -> None:
    layout = layout_for(geometry)
    assert parse_header(pack_header(layout)) == layout
    assert layout.version == (1 if layout.ueb < 2**32 else 2)


def test_v2_for_huge_shares() -> None:
    layout = layout_for(FileGeometry(3 * 2**32 + 10, 3, 10, 3 * 2**20))
    assert layout.version == 2 and layout.header_size == 0x44
    assert parse_header(pack_header(layout)) == layout


@given(st.binary(max_size=80))
def test_garbage_header_is_corruption_never_a_crash(raw: bytes) -> None:
    try:
        parse_header(raw)
    except CorruptShareError:
        pass


def test_unknown_version() -> None:
    with pytest.raises(CorruptShareError):
        parse_header(struct.pack(">L", 3) + bytes(64))


def test_ueb_round_trip_and_order() -> None:
    raw = pack_ueb({"size": 56, "codec_name": b"crs", "b": b"x:y,"})
    assert raw == b"b:4:x:y,,codec_name:3:crs,size:2:56,"
    assert parse_ueb(raw) == {"b": b"x:y,", "codec_name": b"crs", "size": b"56"}


@given(st.binary(max_size=400))
def test_garbage_ueb_is_corruption_never_a_crash(raw: bytes) -> None:
    try:
        decode_ueb(raw)
    except CorruptShareError:
        pass


def test_chain_must_be_whole_entries() -> None:
    assert parse_chain(b"\x00\x01" + b"h" * 32) == {1: b"h" * 32}
    with pytest.raises(CorruptShareError):
        parse_chain(b"\x00\x01" + b"h" * 31)
