import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core.netstring import netstring, split_netstrings


def test_examples() -> None:
    assert netstring(b"crs") == b"3:crs,"
    assert netstring(b"") == b"0:,"


@given(st.lists(st.binary(max_size=50), max_size=8))
def test_round_trip(items: list[bytes]) -> None:
    packed = b"".join(netstring(i) for i in items)
    assert split_netstrings(packed) == items
    assert split_netstrings(packed, len(items)) == items


@given(st.lists(st.binary(max_size=20), min_size=1, max_size=4), st.data())
def test_truncation_is_an_error(items: list[bytes], data: st.DataObject) -> None:
    packed = b"".join(netstring(i) for i in items)
    cut = data.draw(st.integers(1, len(packed) - 1))
    try:
        parsed = split_netstrings(packed[:cut])
    except ValueError:
        return
    assert parsed == items[: len(parsed)] and len(parsed) < len(items)


@pytest.mark.parametrize("raw", [b"3:ab,", b"x:abc,", b"3:abc;", b"-1:,", b"3abc,", b":,"])
def test_malformed(raw: bytes) -> None:
    with pytest.raises(ValueError):
        split_netstrings(raw)


def test_count_mismatch() -> None:
    with pytest.raises(ValueError):
        split_netstrings(b"1:a,1:b,", 3)
