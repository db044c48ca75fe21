"""CompleteMultipartUpload checks and part ranges."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3gw.errors import S3Error
from s3gw.etag import md5_etag, multipart_etag
from s3gw.parts import UploadedPart, check_complete, part_range

MIB = 1024 * 1024


def uploaded(*sizes: int) -> dict[int, UploadedPart]:
    return {i + 1: UploadedPart(i + 1, md5_etag(str(i).encode()), s) for i, s in enumerate(sizes)}


def test_complete_ok() -> None:
    up = uploaded(5 * MIB, 5 * MIB, 10)
    done = check_complete([(1, f'"{up[1].etag}"'), (2, up[2].etag), (3, up[3].etag)], up)
    assert done.size == 10 * MIB + 10
    assert done.etag == multipart_etag([up[1].etag, up[2].etag, up[3].etag])
    assert done.etag.endswith("-3")
    # A subset of parts, skipping numbers, is allowed.
    done = check_complete([(1, up[1].etag), (3, up[3].etag)], up)
    assert [p.number for p in done.parts] == [1, 3]
    # A single small part is fine (it is the last).
    assert check_complete([(3, up[3].etag)], up).size == 10


def test_complete_errors() -> None:
    up = uploaded(5 * MIB, 5 * MIB, 10)

    def code(requested: list[tuple[int, str]]) -> str:
        with pytest.raises(S3Error) as info:
            check_complete(requested, up)
        return info.value.code

    assert code([(2, up[2].etag), (1, up[1].etag)]) == "InvalidPartOrder"
    assert code([(1, up[1].etag), (1, up[1].etag)]) == "InvalidPartOrder"
    assert code([(4, up[1].etag)]) == "InvalidPart"  # never uploaded
    assert code([(1, "0" * 32)]) == "InvalidPart"  # other ETag
    assert code([(3, up[3].etag), (4, up[3].etag)]) == "InvalidPart"


def test_entity_too_small() -> None:
    up = uploaded(5 * MIB - 1, 10)
    with pytest.raises(S3Error) as info:
        check_complete([(1, up[1].etag), (2, up[2].etag)], up)
    assert info.value.code == "EntityTooSmall" and info.value.extra["PartNumber"] == "1"


def test_multipart_etag_known_shape() -> None:
    parts = [b"a" * 10, b"b" * 3]
    expected = hashlib.md5(hashlib.md5(parts[0]).digest() + hashlib.md5(parts[1]).digest())
    assert multipart_etag([md5_etag(p) for p in parts]) == expected.hexdigest() + "-2"


@given(
    sizes=st.lists(st.integers(0, 20), min_size=1, max_size=6),
    a=st.integers(0, 120),
    b=st.integers(0, 120),
)
def test_part_range_matches_slicing(sizes: list[int], a: int, b: int) -> None:
    blobs = [bytes([65 + i]) * s for i, s in enumerate(sizes)]
    whole = b"".join(blobs)
    start, end = min(a, b), max(a, b)
    parts = [UploadedPart(i + 1, "e", s) for i, s in enumerate(sizes)]
    got = b"".join(blobs[i][off : off + n] for i, off, n in part_range(parts, start, end))
    assert got == whole[start : end + 1]
