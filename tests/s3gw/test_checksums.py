"""Checksum algorithms: published check values, incremental use, botocore agreement."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3gw.checksums import (
    ChecksumVerifier,
    ContentMD5Verifier,
    _py_crc32c,
    _py_crc64nvme,
    algorithm_of_header,
    checksum_b64,
    crc32c,
    crc64nvme,
    decode_checksum,
    header_name,
    new_hasher,
)
from s3gw.errors import S3Error


def test_check_values() -> None:
    # The CRC catalogue's check values over b"123456789".
    assert crc32c(b"123456789", 0) == _py_crc32c(b"123456789") == 0xE3069283
    assert crc64nvme(b"123456789", 0) == _py_crc64nvme(b"123456789") == 0xAE8B14860A799888
    # RFC 3720 (iSCSI) CRC32C vectors.
    assert _py_crc32c(bytes(32)) == 0x8A9136AA
    assert _py_crc32c(b"\xff" * 32) == 0x62A8AB43
    assert _py_crc32c(bytes(range(32))) == 0x46DD794E


@given(st.binary(max_size=300), st.integers(0, 300))
def test_incremental(data: bytes, cut: int) -> None:
    for alg in ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"):
        h = new_hasher(alg)
        h.update(data[:cut])
        h.update(data[cut:])
        assert base64.b64encode(h.digest()).decode() == checksum_b64(alg, data)


def test_agrees_with_botocore() -> None:
    from botocore.httpchecksum import (  # type: ignore[import-untyped]
        Crc32Checksum,
        Sha1Checksum,
        Sha256Checksum,
    )

    data = b"hello world" * 1000
    for alg, cls in (("CRC32", Crc32Checksum), ("SHA1", Sha1Checksum), ("SHA256", Sha256Checksum)):
        c = cls()
        c.update(data)
        assert c.b64digest() == checksum_b64(alg, data)


def test_header_names() -> None:
    assert header_name("CRC64NVME") == "x-amz-checksum-crc64nvme"
    assert algorithm_of_header("X-Amz-Checksum-CRC32C") == "CRC32C"
    assert algorithm_of_header("x-amz-checksum-md5") == "MD5"
    assert algorithm_of_header("x-amz-checksum-xxhash3") is None
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


def test_sha512_md5_and_unsupported() -> None:
    import hashlib

    from s3gw.checksums import check_checksum_header_names

    assert checksum_b64("SHA512", b"x") == base64.b64encode(hashlib.sha512(b"x").digest()).decode()
    assert checksum_b64("MD5", b"x") == base64.b64encode(hashlib.md5(b"x").digest()).decode()
    check_checksum_header_names(
        ["x-amz-checksum-type", "x-amz-checksum-mode", "Content-Type", "x-amz-checksum-sha512"]
    )
    with pytest.raises(S3Error) as info:
        check_checksum_header_names(["x-amz-checksum-xxhash64"])
    assert info.value.code == "InvalidRequest"
