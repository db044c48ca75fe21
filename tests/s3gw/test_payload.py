"""PayloadReader over real boto3 / aws-cli uploads, and its failure modes."""

from __future__ import annotations

import base64
import hashlib

import pytest

from s3gw.auth.payload import PayloadReader, PayloadResult
from s3gw.auth.sigv4 import AuthResult, PayloadMode, parse_amz_date, verify_request
from s3gw.checksums import checksum_b64
from s3gw.errors import S3Error
from tests.s3gw.botocore_oracle import ACCESS_KEY, WireRequest, botocore_request, lookup_secret

Captures = list[tuple[WireRequest, bytes]]


def read(reader: PayloadReader, body: bytes, step: int = 65536) -> tuple[bytes, PayloadResult]:
    out = bytearray()
    for i in range(0, len(body), step):
        out += reader.feed(body[i : i + step])
    return bytes(out), reader.finish()


def auth_of(req: WireRequest) -> AuthResult:
    h = {k.lower(): v for k, v in req.headers}
    return verify_request(
        req.method,
        req.raw_path,
        req.raw_query,
        req.headers,
        lookup_secret,
        parse_amz_date(h["x-amz-date"]),
    )


def test_real_uploads(boto3_captures: Captures, awscli_captures: Captures) -> None:
    seen_checksums = set()
    for req, data in boto3_captures + awscli_captures:
        auth = auth_of(req)
        reader = PayloadReader(auth, dict(req.headers))
        assert reader.expected_size == len(data)
        out, result = read(reader, req.body, 7919)
        assert out == data
        assert result.size == len(data)
        assert result.md5_hex == hashlib.md5(data).hexdigest()
        assert result.content_md5 == base64.b64encode(hashlib.md5(data).digest()).decode()
        for alg, value in result.checksums.items():
            assert value == checksum_b64(alg, data)
            seen_checksums.add(alg)
    assert {"CRC32", "SHA1", "SHA256"} <= seen_checksums


def _signed(headers: dict[str, str], body: bytes) -> tuple[AuthResult, dict[str, str]]:
    req = botocore_request("PUT", "http://h/b/k", headers, body)
    return verify_request(
        req.method, req.raw_path, req.raw_query, req.headers, lookup_secret, req.now
    ), dict(req.headers)


def code(fn: object, *args: object) -> str:
    with pytest.raises(S3Error) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


def test_content_md5() -> None:
    body = b"hello world"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    auth, headers = _signed({"Content-MD5": good}, body)
    assert read(PayloadReader(auth, headers), body)[1].size == 11
    auth, headers = _signed({"Content-MD5": base64.b64encode(b"x" * 16).decode()}, body)
    assert code(read, PayloadReader(auth, headers), body) == "BadDigest"
    auth, headers = _signed({"Content-MD5": "nope"}, body)
    assert code(PayloadReader, auth, headers) == "InvalidDigest"


def test_the_etag_may_follow_the_checks_unless_a_content_md5_needs_it() -> None:
    """Without Content-MD5, `verify` proves the body before its MD5 is taken (the gateway
    then hashes the spool beside the upload); with one, the MD5 comes first."""
    body = b"hello world"
    auth, headers = _signed({"x-amz-checksum-crc32": checksum_b64("CRC32", body)}, body)
    reader = PayloadReader(auth, headers)
    etag = reader.take_etag()
    assert reader.etag_may_follow
    reader.feed(body)
    reader.verify()
    etag.update(body)
    result = reader.finish()
    assert result.md5_hex == hashlib.md5(body).hexdigest()
    assert result.checksums == {"CRC32": checksum_b64("CRC32", body)}
    bad = PayloadReader(auth, headers)
    bad.take_etag()
    bad.feed(b"hello World")
    assert code(bad.verify) == "XAmzContentSHA256Mismatch"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    auth, headers = _signed({"Content-MD5": good}, body)
    assert not PayloadReader(auth, headers).etag_may_follow


def test_sha256_mismatch_and_length() -> None:
    auth, headers = _signed({}, b"hello")
    assert code(read, PayloadReader(auth, headers), b"hellO") == "XAmzContentSHA256Mismatch"
    assert code(read, PayloadReader(auth, headers), b"hell") == "IncompleteBody"
    assert code(read, PayloadReader(auth, headers), b"hello!") == "InvalidRequest"
    no_len = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    assert code(PayloadReader, auth, no_len) == "MissingContentLength"
    assert code(lambda: PayloadReader(auth, headers, max_size=4)) == "EntityTooLarge"


def test_checksum_headers() -> None:
    body = b"abc"
    auth, headers = _signed({"x-amz-checksum-crc32c": checksum_b64("CRC32C", body)}, body)
    assert read(PayloadReader(auth, headers), body)[1].checksums == {
        "CRC32C": checksum_b64("CRC32C", body)
    }
    auth, headers = _signed({"x-amz-checksum-crc64nvme": checksum_b64("CRC64NVME", b"x")}, body)
    assert code(read, PayloadReader(auth, headers), body) == "BadDigest"
    auth, headers = _signed(
        {
            "x-amz-checksum-sha1": checksum_b64("SHA1", body),
            "x-amz-checksum-sha256": checksum_b64("SHA256", body),
        },
        body,
    )
    assert code(PayloadReader, auth, headers) == "InvalidRequest"
    auth, headers = _signed(
        {
            "x-amz-checksum-sha1": checksum_b64("SHA1", body),
            "x-amz-sdk-checksum-algorithm": "CRC32",
        },
        body,
    )
    assert code(PayloadReader, auth, headers) == "InvalidRequest"


def test_streaming_needs_decoded_length() -> None:
    auth = AuthResult(
        ACCESS_KEY,
        PayloadMode.STREAMING_UNSIGNED_TRAILER,
        None,
        "",
        b"",
        "",
        "",
        "us-east-1",
        False,
    )
    assert code(PayloadReader, auth, {"Content-Length": "10"}) == "MissingContentLength"
    reader = PayloadReader(auth, {"x-amz-decoded-content-length": "2"})
    out, result = read(reader, b"2\r\nab\r\n0\r\n\r\n", 1)
    assert out == b"ab" and result.md5_hex == hashlib.md5(b"ab").hexdigest()


def test_default_checksum_only_when_none_is_declared() -> None:
    body = b"abc" * 1000
    auth, headers = _signed({}, body)
    reader = PayloadReader(auth, headers, default_checksum="CRC64NVME")
    assert reader.declared_checksum is None
    assert read(reader, body)[1].checksums == {"CRC64NVME": checksum_b64("CRC64NVME", body)}
    auth, headers = _signed({"x-amz-checksum-sha1": checksum_b64("SHA1", body)}, body)
    reader = PayloadReader(auth, headers, default_checksum="CRC64NVME")
    assert reader.declared_checksum == "SHA1"
    assert read(reader, body)[1].checksums == {"SHA1": checksum_b64("SHA1", body)}


def test_streaming_trailer_declares_its_checksum(boto3_captures: Captures) -> None:
    trailed = [
        (req, data)
        for req, data in boto3_captures
        if "x-amz-checksum" in dict((k.lower(), v) for k, v in req.headers).get("x-amz-trailer", "")
    ]
    assert trailed
    for req, data in trailed:
        reader = PayloadReader(auth_of(req), dict(req.headers), default_checksum="CRC64NVME")
        assert reader.declared_checksum is not None
        out, result = read(reader, req.body)
        assert out == data and set(result.checksums) == {reader.declared_checksum}


def test_extra_checksum_whatever_is_declared() -> None:
    body = b"xyz" * 500
    auth, headers = _signed({"x-amz-checksum-crc32": checksum_b64("CRC32", body)}, body)
    reader = PayloadReader(auth, headers, extra_checksum="CRC64NVME")
    assert read(reader, body)[1].checksums == {
        "CRC32": checksum_b64("CRC32", body),
        "CRC64NVME": checksum_b64("CRC64NVME", body),
    }
    auth, headers = _signed({}, body)
    reader = PayloadReader(auth, headers, extra_checksum="CRC64NVME")
    assert read(reader, body)[1].checksums == {"CRC64NVME": checksum_b64("CRC64NVME", body)}


def test_a_form_uploads_file_has_its_size_at_its_end() -> None:
    """No auth, no Content-Length: a browser upload's file, its form fields as headers."""
    data = b"form file " * 1000
    reader = PayloadReader(
        None, {"key": "k", "Content-MD5": _md5_b64(data)}, default_checksum="CRC64NVME"
    )
    assert reader.expected_size is None
    out, result = read(reader, data, 333)
    assert out == data and result.size == len(data) == reader.size
    assert result.checksums == {"CRC64NVME": checksum_b64("CRC64NVME", data)}
    bad = PayloadReader(None, {"x-amz-checksum-sha256": checksum_b64("SHA256", b"other")})
    with pytest.raises(S3Error) as exc:
        read(bad, data)
    assert exc.value.code == "BadDigest"
    small = PayloadReader(None, {}, max_size=100)
    with pytest.raises(S3Error) as exc:
        read(small, data, 50)
    assert exc.value.code == "EntityTooLarge"


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()
