"""Range header forms as S3 answers them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3gw.errors import S3Error
from s3gw.ranges import ByteRange, parse_copy_source_range, parse_range


@pytest.mark.parametrize(
    "header, size, expected",
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=10-", 100, (10, 99)),
        ("bytes=-10", 100, (90, 99)),
        ("bytes=-1000", 100, (0, 99)),
        ("bytes=50-1000", 100, (50, 99)),
        ("bytes=99-99", 100, (99, 99)),
        ("bytes = 1 - 2", 100, (1, 2)),
        ("bytes=0-0", 1, (0, 0)),
    ],
)
def test_satisfiable(header: str, size: int, expected: tuple[int, int]) -> None:
    r = parse_range(header, size)
    assert r is not None and (r.start, r.end) == expected and r.size == size
    assert r.content_range == f"bytes {expected[0]}-{expected[1]}/{size}"
    assert r.length == expected[1] - expected[0] + 1


@pytest.mark.parametrize(
    "header",
    [None, "bytes=5-2", "items=0-1", "bytes=0-1,3-4", "bytes=abc", "bytes=-", "", "bytes=--1"],
)
def test_ignored(header: str | None) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize(
    "header, size",
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
        ("bytes=-5", 0),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(S3Error) as info:
        parse_range(header, size)
    err = info.value
    assert (err.code, err.status) == ("InvalidRange", 416)
    assert err.headers["Content-Range"] == f"bytes */{size}"
    assert err.extra["ActualObjectSize"] == str(size)


@given(size=st.integers(0, 10_000), a=st.integers(0, 20_000), b=st.integers(0, 20_000))
def test_range_always_inside(size: int, a: int, b: int) -> None:
    for header in (f"bytes={a}-{b}", f"bytes={a}-", f"bytes=-{b}"):
        try:
            r = parse_range(header, size)
        except S3Error:
            continue
        if r is not None:
            assert 0 <= r.start <= r.end < size


def test_copy_source_range() -> None:
    assert parse_copy_source_range("bytes=0-9", 10) == ByteRange(0, 9, 10)
    for bad, code in (
        ("bytes=0-", "InvalidArgument"),
        ("bytes=-5", "InvalidArgument"),
        ("bytes=5-2", "InvalidArgument"),
        ("bytes=0-10", "InvalidRange"),
    ):
        with pytest.raises(S3Error) as info:
            parse_copy_source_range(bad, 10)
        assert info.value.code == code
