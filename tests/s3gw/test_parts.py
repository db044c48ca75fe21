"""CompleteMultipartUpload checks and part ranges."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3gw.checksums import (
    COMPOSITE,
    DEFAULT_UPLOAD_CHECKSUM,
    FULL_OBJECT,
    UploadChecksum,
    checksum_b64,
    combined_checksum,
)
from s3gw.errors import S3Error
from s3gw.etag import md5_etag, multipart_etag
from s3gw.parts import (
    Completion,
    RequestedPart,
    UploadedPart,
    check_complete,
    check_completion_headers,
    check_part_checksum,
    part_range,
)

MIB = 1024 * 1024


def uploaded(*sizes: int) -> dict[int, UploadedPart]:
    return {i + 1: UploadedPart(i + 1, md5_etag(str(i).encode()), s) for i, s in enumerate(sizes)}


def asked(*parts: tuple[int, str]) -> list[RequestedPart]:
    return [RequestedPart(number, etag) for number, etag in parts]


def test_complete_ok() -> None:
    up = uploaded(5 * MIB, 5 * MIB, 10)
    done = check_complete(asked((1, f'"{up[1].etag}"'), (2, up[2].etag), (3, up[3].etag)), up)
    assert done.size == 10 * MIB + 10
    assert done.etag == multipart_etag([up[1].etag, up[2].etag, up[3].etag])
    assert done.etag.endswith("-3")
    # A subset of parts, skipping numbers, is allowed.
    done = check_complete(asked((1, up[1].etag), (3, up[3].etag)), up)
    assert [p.number for p in done.parts] == [1, 3]
    # A single small part is fine (it is the last).
    assert check_complete(asked((3, up[3].etag)), up).size == 10


def test_complete_errors() -> None:
    up = uploaded(5 * MIB, 5 * MIB, 10)

    def code(requested: list[tuple[int, str]]) -> str:
        with pytest.raises(S3Error) as info:
            check_complete(asked(*requested), up)
        return info.value.code

    assert code([(2, up[2].etag), (1, up[1].etag)]) == "InvalidPartOrder"
    assert code([(1, up[1].etag), (1, up[1].etag)]) == "InvalidPartOrder"
    assert code([(4, up[1].etag)]) == "InvalidPart"  # never uploaded
    assert code([(1, "0" * 32)]) == "InvalidPart"  # other ETag
    assert code([(3, up[3].etag), (4, up[3].etag)]) == "InvalidPart"


def test_entity_too_small() -> None:
    up = uploaded(5 * MIB - 1, 10)
    with pytest.raises(S3Error) as info:
        check_complete(asked((1, up[1].etag), (2, up[2].etag)), up)
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


# --- checksums ----------------------------------------------------------------------------

PART_DATA = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]


def with_checksums(alg: str) -> dict[int, UploadedPart]:
    return {
        n: UploadedPart(n, md5_etag(data), len(data), {alg: checksum_b64(alg, data)})
        for n, data in enumerate(PART_DATA, 1)
    }


def code_of(call: object, *args: object) -> str:
    with pytest.raises(S3Error) as info:
        call(*args)  # type: ignore[operator]
    return info.value.code


def test_part_checksum_must_match_the_upload() -> None:
    composite = UploadChecksum("SHA256", COMPOSITE)
    full = UploadChecksum("CRC32", FULL_OBJECT)
    check_part_checksum(composite, "SHA256")
    check_part_checksum(full, "CRC32")
    check_part_checksum(full, None)  # the gateway computes it
    check_part_checksum(DEFAULT_UPLOAD_CHECKSUM, None)
    check_part_checksum(DEFAULT_UPLOAD_CHECKSUM, "SHA1")  # an upload naming none takes any
    assert code_of(check_part_checksum, composite, None) == "InvalidRequest"
    assert code_of(check_part_checksum, composite, "CRC32") == "InvalidRequest"
    assert code_of(check_part_checksum, full, "CRC32C") == "InvalidRequest"


def test_composite_completion() -> None:
    checksum = UploadChecksum("SHA256", COMPOSITE)
    up = with_checksums("SHA256")
    given = [RequestedPart(n, p.etag, dict(p.checksums)) for n, p in up.items()]
    done = check_complete(given, up, checksum)
    values = tuple(p.checksums["SHA256"] for p in up.values())
    assert done.part_checksums == values
    assert done.checksum == combined_checksum(checksum, [(v, 1) for v in values])
    assert done.checksum is not None and done.checksum.endswith("-3")
    # each part must be named with its checksum, the right one, numbered from 1 without gaps
    bare = [RequestedPart(n, p.etag) for n, p in up.items()]
    assert code_of(check_complete, bare, up, checksum) == "InvalidRequest"
    wrong = [*given[:2], RequestedPart(3, up[3].etag, {"SHA256": values[0]})]
    assert code_of(check_complete, wrong, up, checksum) == "InvalidPart"
    other = [*given[:2], RequestedPart(3, up[3].etag, {"CRC32": "AAAAAA=="})]
    assert code_of(check_complete, other, up, checksum) == "InvalidRequest"
    assert code_of(check_complete, [given[0], given[2]], up, checksum) == "InvalidPartOrder"
    assert code_of(check_complete, given[1:], up, checksum) == "InvalidPartOrder"


def test_full_object_completion_is_the_crc_of_the_whole_object() -> None:
    for alg in ("CRC32", "CRC32C", "CRC64NVME"):
        up = with_checksums(alg)
        done = check_complete(
            asked(*((n, p.etag) for n, p in up.items())), up, UploadChecksum(alg, FULL_OBJECT)
        )
        assert done.checksum == checksum_b64(alg, b"".join(PART_DATA))


def test_no_object_checksum_unless_every_part_has_one() -> None:
    up = with_checksums("CRC64NVME")
    up[2] = UploadedPart(2, up[2].etag, up[2].size)  # a part stored before checksums
    done = check_complete(asked(*((n, p.etag) for n, p in up.items())), up, DEFAULT_UPLOAD_CHECKSUM)
    assert done.checksum is None and done.part_checksums is None


def test_completion_headers() -> None:
    checksum = UploadChecksum("CRC32", FULL_OBJECT)
    whole = checksum_b64("CRC32", b"".join(PART_DATA))
    done = Completion((), sum(map(len, PART_DATA)), "e-3", whole, ())
    check_completion_headers({}, checksum, done)
    check_completion_headers(
        {
            "x-amz-checksum-type": "full_object",
            "X-Amz-Checksum-Crc32": whole,
            "x-amz-mp-object-size": str(done.size),
        },
        checksum,
        done,
    )
    cases = [
        ({"x-amz-checksum-type": "COMPOSITE"}, "InvalidRequest"),
        ({"x-amz-checksum-crc32": checksum_b64("CRC32", b"other")}, "BadDigest"),
        ({"x-amz-checksum-sha1": checksum_b64("SHA1", b"")}, "InvalidRequest"),
        ({"x-amz-mp-object-size": str(done.size + 1)}, "InvalidArgument"),
        ({"x-amz-mp-object-size": "ten"}, "InvalidArgument"),
    ]
    for headers, expected in cases:
        assert code_of(check_completion_headers, headers, checksum, done) == expected, headers
