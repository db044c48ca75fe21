"""Checksum algorithms: published check values, incremental use, botocore agreement."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3gw.checksums import (
    ALGORITHMS,
    COMPOSITE,
    DEFAULT_UPLOAD_CHECKSUM,
    FULL_OBJECT,
    ChecksumVerifier,
    ContentMD5Verifier,
    UploadChecksum,
    algorithm_of_header,
    checksum_b64,
    checksum_headers,
    combined_checksum,
    decode_checksum,
    header_name,
    new_hasher,
    upload_checksum,
)
from s3gw.errors import S3Error


def _value(alg: str, data: bytes) -> int:
    return int.from_bytes(base64.b64decode(checksum_b64(alg, data)), "big")


def test_check_values() -> None:
    # The CRC catalogue's check values over b"123456789".
    assert _value("CRC32", b"123456789") == 0xCBF43926
    assert _value("CRC32C", b"123456789") == 0xE3069283
    assert _value("CRC64NVME", b"123456789") == 0xAE8B14860A799888
    # RFC 3720 (iSCSI) CRC32C vectors.
    assert _value("CRC32C", bytes(32)) == 0x8A9136AA
    assert _value("CRC32C", b"\xff" * 32) == 0x62A8AB43
    assert _value("CRC32C", bytes(range(32))) == 0x46DD794E
    # xxHash's published hashes of the empty input, seed 0.
    assert _value("XXHASH64", b"") == 0xEF46DB3751D8E999
    assert _value("XXHASH3", b"") == 0x2D06800538D394C2
    assert _value("XXHASH128", b"") == 0x99AA06D3014798D86001C324468D497F


@given(st.binary(max_size=300), st.integers(0, 300))
def test_incremental(data: bytes, cut: int) -> None:
    for alg in ALGORITHMS:
        h = new_hasher(alg)
        h.update(data[:cut])
        h.update(data[cut:])
        assert base64.b64encode(h.digest()).decode() == checksum_b64(alg, data)


def test_agrees_with_botocore() -> None:
    """botocore's own classes (the CRT's where it uses them) for every algorithm it sends."""
    from botocore.httpchecksum import _CHECKSUM_CLS  # type: ignore[import-untyped]

    data = b"hello world" * 1000
    assert len(_CHECKSUM_CLS) >= 9
    for name, cls in _CHECKSUM_CLS.items():
        c = cls()
        c.update(data[:5000])
        c.update(data[5000:])
        assert c.b64digest() == checksum_b64(name.upper(), data), name


@given(st.lists(st.binary(max_size=200), min_size=1, max_size=8))
def test_full_object_checksum_combines_part_crcs(parts: list[bytes]) -> None:
    for alg in ("CRC32", "CRC32C", "CRC64NVME"):
        checksum = UploadChecksum(alg, FULL_OBJECT)
        by_part = [(checksum_b64(alg, p), len(p)) for p in parts]
        assert combined_checksum(checksum, by_part) == checksum_b64(alg, b"".join(parts))


def test_composite_checksum_is_the_checksum_of_the_part_digests() -> None:
    parts = [b"a" * 10, b"b" * 20, b"c"]
    digests = [hashlib.sha256(p).digest() for p in parts]
    expected = base64.b64encode(hashlib.sha256(b"".join(digests)).digest()).decode() + "-3"
    by_part = [(checksum_b64("SHA256", p), len(p)) for p in parts]
    assert combined_checksum(UploadChecksum("SHA256", COMPOSITE), by_part) == expected
    one_part = [(checksum_b64("CRC32", parts[0]), len(parts[0]))]
    crc = combined_checksum(UploadChecksum("CRC32", COMPOSITE), one_part)
    assert crc == checksum_b64("CRC32", base64.b64decode(one_part[0][0])) + "-1"


def test_upload_checksum_rules() -> None:
    assert upload_checksum(None, None) == DEFAULT_UPLOAD_CHECKSUM
    assert not DEFAULT_UPLOAD_CHECKSUM.declared
    assert upload_checksum("crc32", None) == UploadChecksum("CRC32", COMPOSITE)
    assert upload_checksum("CRC32C", "full_object") == UploadChecksum("CRC32C", FULL_OBJECT)
    assert upload_checksum("CRC64NVME", None) == UploadChecksum("CRC64NVME", FULL_OBJECT)
    assert upload_checksum("SHA256", "COMPOSITE") == UploadChecksum("SHA256", COMPOSITE)
    for alg, kind in (
        (None, "COMPOSITE"),  # a type needs an algorithm
        ("CRC64NVME", "COMPOSITE"),
        ("SHA256", "FULL_OBJECT"),
        ("XXHASH64", "FULL_OBJECT"),
        ("CRC32", "PARTIAL"),
        ("MD4", None),
    ):
        with pytest.raises(S3Error) as info:
            upload_checksum(alg, kind)
        assert info.value.code == "InvalidRequest", (alg, kind)


def test_checksum_headers() -> None:
    assert checksum_headers({}, FULL_OBJECT) == {}
    assert checksum_headers({"CRC32": "AAAAAA=="}, COMPOSITE) == {
        "x-amz-checksum-crc32": "AAAAAA==",
        "x-amz-checksum-type": "COMPOSITE",
    }


def test_header_names() -> None:
    assert header_name("CRC64NVME") == "x-amz-checksum-crc64nvme"
    assert algorithm_of_header("X-Amz-Checksum-CRC32C") == "CRC32C"
    assert algorithm_of_header("x-amz-checksum-md5") == "MD5"
    assert algorithm_of_header("x-amz-checksum-xxhash3") == "XXHASH3"
    assert algorithm_of_header("x-amz-checksum-xxhash256") is None
    assert algorithm_of_header("content-md5") is None


def test_verifier() -> None:
    v = ChecksumVerifier("crc32", checksum_b64("CRC32", b"abc"))
    v.update(b"abc")
    assert v.verify() == checksum_b64("CRC32", b"abc")
    v = ChecksumVerifier("SHA256")
    v.update(b"abc")
    with pytest.raises(S3Error) as info:
        v.verify(checksum_b64("SHA256", b"abd"))
    assert info.value.code == "BadDigest"
    for bad in ("AAAA", "not base64!", checksum_b64("SHA1", b"")):
        with pytest.raises(S3Error) as info:
            decode_checksum("CRC32", bad)
        assert info.value.code == "InvalidDigest"
    with pytest.raises(S3Error) as info:
        new_hasher("MD4")
    assert info.value.code == "InvalidRequest"


def test_content_md5() -> None:
    v = ContentMD5Verifier("XrY7u+Ae7tCTyyK7j1rNww==")  # MD5("hello world")
    v.verify(hashlib.md5(b"hello world").digest())
    with pytest.raises(S3Error) as info:
        v.verify(hashlib.md5(b"hello").digest())
    assert info.value.code == "BadDigest"
    for bad in ("abc", "!!!!", base64.b64encode(b"x" * 15).decode()):
        with pytest.raises(S3Error) as info:
            ContentMD5Verifier(bad)
        assert info.value.code == "InvalidDigest"


def test_sha512_md5_and_unknown() -> None:
    import hashlib

    from s3gw.checksums import check_checksum_header_names

    assert checksum_b64("SHA512", b"x") == base64.b64encode(hashlib.sha512(b"x").digest()).decode()
    assert checksum_b64("MD5", b"x") == base64.b64encode(hashlib.md5(b"x").digest()).decode()
    check_checksum_header_names(
        ["x-amz-checksum-type", "x-amz-checksum-mode", "Content-Type", "x-amz-checksum-sha512"]
    )
    with pytest.raises(S3Error) as info:
        check_checksum_header_names(["x-amz-checksum-xxhash256"])
    assert info.value.code == "InvalidRequest"
