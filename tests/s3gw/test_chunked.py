"""aws-chunked decoding: AWS's published example, real boto3 uploads, and malformed bodies."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3gw.auth.chunked import ChunkedDecoder, ChunkedParams, encode_aws_chunked, params_from_request
from s3gw.auth.sigv4 import PayloadMode, parse_amz_date, signing_key, verify_request
from s3gw.checksums import checksum_b64
from s3gw.errors import S3Error
from tests.s3gw.botocore_oracle import (
    ACCESS_KEY,
    SECRET_KEY,
    WireRequest,
    lookup_secret,
)

SCOPE = "20130524/us-east-1/s3/aws4_request"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
KEY = signing_key(SECRET_KEY, "20130524", "us-east-1")


def decode_all(params: ChunkedParams, body: bytes, pieces: list[int] | None = None) -> bytes:
    dec = ChunkedDecoder(params)
    out = bytearray()
    if pieces is None:
        out += dec.feed(body)
    else:
        pos = 0
        for n in pieces:
            out += dec.feed(body[pos : pos + n])
            pos += n
        out += dec.feed(body[pos:])
    dec.finish()
    return bytes(out)


def decode_bytewise(params: ChunkedParams, body: bytes) -> bytes:
    dec = ChunkedDecoder(params)
    out = bytearray()
    for i in range(len(body)):
        out += dec.feed(body[i : i + 1])
    dec.finish()
    return bytes(out)


def signed_params(
    mode: PayloadMode,
    length: int,
    declared_trailers: tuple[str, ...] = (),
    header_checksums: dict[str, str] | None = None,
) -> ChunkedParams:
    return ChunkedParams(
        mode,
        length,
        declared_trailers=declared_trailers,
        header_checksums=header_checksums or {},
        signing_key=KEY,
        amz_date="20130524T000000Z",
        scope=SCOPE,
        seed_signature=SEED,
    )


def code(fn: object, *args: object) -> str:
    with pytest.raises(S3Error) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


# --- AWS's published example: 66560 bytes of 'a' in 64 KiB chunks -----------------------


def test_aws_example_seed_and_chunks() -> None:
    headers = [
        ("Host", "s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "Authorization",
            f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{SCOPE},SignedHeaders=content-encoding;"
            "content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
            f"x-amz-storage-class,Signature={SEED}",
        ),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("Content-Encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("Content-Length", "66824"),
    ]
    auth = verify_request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        headers,
        lookup_secret,
        datetime(2013, 5, 24, tzinfo=UTC),
    )
    assert auth.payload_mode is PayloadMode.STREAMING_SIGNED
    params = params_from_request(auth, dict(headers))
    body = encode_aws_chunked(b"a" * 66560, 65536, params=params)
    assert len(body) == 66824
    # The chunk signatures published by AWS.
    for sig in (
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ):
        assert sig.encode() in body
    assert decode_all(params, body) == b"a" * 66560
    assert decode_all(params, body, [1, 2, 3, 85, 86, 87, 65536, 100]) == b"a" * 66560
    # A flipped data byte breaks the signature of its chunk.
    bad = bytearray(body)
    bad[200] ^= 1
    assert code(decode_all, params, bytes(bad)) == "SignatureDoesNotMatch"


# --- signed trailers and every checksum algorithm ---------------------------------------

ALGS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]


@pytest.mark.parametrize("alg", ALGS)
@pytest.mark.parametrize(
    "mode", [PayloadMode.STREAMING_SIGNED_TRAILER, PayloadMode.STREAMING_UNSIGNED_TRAILER]
)
def test_trailers(alg: str, mode: PayloadMode) -> None:
    data = os.urandom(3000)
    name = "x-amz-checksum-" + alg.lower()
    params = signed_params(mode, len(data), declared_trailers=(name,))
    body = encode_aws_chunked(data, 1024, params=params, trailers={name: checksum_b64(alg, data)})
    assert decode_all(params, body) == data
    assert decode_bytewise(params, body) == data
    result = ChunkedDecoder(params)
    result.feed(body)
    assert result.finish().checksums == {alg: checksum_b64(alg, data)}
    wrong = encode_aws_chunked(
        data, 1024, params=params, trailers={name: checksum_b64(alg, data + b"x")}
    )
    expected = (
        "SignatureDoesNotMatch" if mode is PayloadMode.STREAMING_SIGNED_TRAILER else "BadDigest"
    )
    # Re-signed with the wrong value: the signature holds, the checksum does not.
    assert code(decode_all, params, wrong) == "BadDigest"
    # Tampering with a signed trailer after signing breaks its signature.
    tampered = body.replace(
        checksum_b64(alg, data).encode(), checksum_b64(alg, data + b"x").encode()
    )
    assert code(decode_all, params, tampered) == expected


def test_header_checksum_with_chunked() -> None:
    data = b"hello world"
    params = signed_params(
        PayloadMode.STREAMING_SIGNED,
        len(data),
        header_checksums={"CRC32C": checksum_b64("CRC32C", data)},
    )
    assert decode_all(params, encode_aws_chunked(data, 4, params=params)) == data
    params.header_checksums = {"CRC32C": checksum_b64("CRC32C", b"other")}
    assert code(decode_all, params, encode_aws_chunked(data, 4, params=params)) == "BadDigest"
    params.header_checksums = {"CRC32C": "!!notbase64"}
    assert code(ChunkedDecoder, params) == "InvalidDigest"


# --- real boto3 over HTTPS (its default: STREAMING-UNSIGNED-PAYLOAD-TRAILER) ------------


def _lower(headers: list[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers}


def test_boto3_and_awscli_bodies_decode(
    boto3_captures: list[tuple[WireRequest, bytes]],
    awscli_captures: list[tuple[WireRequest, bytes]],
) -> None:
    modes = set()
    assert len(awscli_captures) == 2
    for req, data in boto3_captures + awscli_captures:
        h = _lower(req.headers)
        now = parse_amz_date(h["x-amz-date"])
        auth = verify_request(
            req.method, req.raw_path, req.raw_query, req.headers, lookup_secret, now
        )
        modes.add(auth.payload_mode)
        if not auth.payload_mode.is_streaming:
            assert req.body == data
            if auth.payload_mode is PayloadMode.SIGNED:
                assert auth.payload_sha256 == hashlib.sha256(data).hexdigest()
            continue
        params = params_from_request(auth, h)
        assert decode_all(params, req.body) == data
        assert decode_all(params, req.body, [3, 7, 1, 1000, 65536]) == data
        if len(req.body) < 200:
            assert decode_bytewise(params, req.body) == data
        dec = ChunkedDecoder(params)
        dec.feed(req.body)
        result = dec.finish()
        for alg, value in result.checksums.items():
            assert value == checksum_b64(alg, data)
    assert PayloadMode.STREAMING_UNSIGNED_TRAILER in modes
    assert PayloadMode.SIGNED in modes
    assert PayloadMode.UNSIGNED in modes  # HTTPS + Content-MD5


def test_boto3_tampered_bodies(boto3_captures: list[tuple[WireRequest, bytes]]) -> None:
    for req, data in boto3_captures:
        h = _lower(req.headers)
        if h["x-amz-content-sha256"] != "STREAMING-UNSIGNED-PAYLOAD-TRAILER" or not data:
            continue
        auth = verify_request(
            req.method,
            req.raw_path,
            req.raw_query,
            req.headers,
            lookup_secret,
            parse_amz_date(h["x-amz-date"]),
        )
        params = params_from_request(auth, h)
        idx = req.body.index(b"\r\n") + 2  # first data byte
        bad = bytearray(req.body)
        bad[idx] ^= 0x40
        assert code(decode_all, params, bytes(bad)) == "BadDigest"
        assert code(decode_all, params, req.body[: idx + 1]) == "IncompleteBody"
        assert code(decode_all, params, req.body[:-8]) in ("InvalidDigest", "BadDigest")


# --- malformed framing ------------------------------------------------------------------


def unsigned(length: int, trailers: tuple[str, ...] = ()) -> ChunkedParams:
    return ChunkedParams(PayloadMode.STREAMING_UNSIGNED_TRAILER, length, declared_trailers=trailers)


@pytest.mark.parametrize(
    "body, expected",
    [
        (b"zz\r\nab\r\n0\r\n\r\n", "InvalidRequest"),  # bad hex size
        (b"2\r\nabXX0\r\n\r\n", "InvalidRequest"),  # data not followed by CRLF
        (b"2\r\nab\r\n0\r\n\r\nextra", "InvalidRequest"),  # data after the end
        (b"3\r\nabc\r\n0\r\n\r\n", "InvalidRequest"),  # longer than decoded length
        (b"1\r\na\r\n0\r\n\r\n", "IncompleteBody"),  # shorter than decoded length
        (b"2\r\nab\r\n", "IncompleteBody"),  # no final chunk
        (b"2\r\nab\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", "InvalidRequest"),  # undeclared
        (b"2\r\nab\r\n0\r\nnot a header\r\n\r\n", "InvalidRequest"),
        (b"f" * 5000, "InvalidRequest"),  # endless size line
    ],
)
def test_malformed(body: bytes, expected: str) -> None:
    assert code(decode_all, unsigned(2), body) == expected


def test_missing_final_empty_line_is_accepted() -> None:
    assert decode_all(unsigned(2), b"2\r\nab\r\n0\r\n") == b"ab"
    crc = checksum_b64("CRC32", b"ab")
    params = unsigned(2, ("x-amz-checksum-crc32",))
    assert decode_all(params, f"2\r\nab\r\n0\r\nx-amz-checksum-crc32:{crc}".encode()) == b"ab"
    assert decode_all(params, f"2\r\nab\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n".encode()) == b"ab"
    # A cut-off checksum value still fails.
    cut = f"2\r\nab\r\n0\r\nx-amz-checksum-crc32:{crc[:4]}".encode()
    assert code(decode_all, params, cut) == "InvalidDigest"


def test_aws_example_signed_trailer() -> None:
    """AWS's published STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER example ("Signature
    calculations for trailing headers"): 66560 x 'a', 64 KiB chunks, CRC32C trailer."""
    params = ChunkedParams(
        PayloadMode.STREAMING_SIGNED_TRAILER,
        66560,
        declared_trailers=("x-amz-checksum-crc32c",),
        signing_key=KEY,
        amz_date="20130524T000000Z",
        scope=SCOPE,
        seed_signature="106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e",
    )
    data = b"a" * 66560
    assert checksum_b64("CRC32C", data) == "sOO8/Q=="
    body = encode_aws_chunked(
        data, 65536, params=params, trailers={"x-amz-checksum-crc32c": "sOO8/Q=="}
    )
    for sig in (
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
        "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435",
    ):
        assert sig.encode() in body
    dec = ChunkedDecoder(params)
    assert dec.feed(body) == data
    assert dec.finish().checksums == {"CRC32C": "sOO8/Q=="}


def test_declared_trailer_missing_and_crc32_trailer() -> None:
    params = unsigned(2, ("x-amz-checksum-crc32",))
    assert code(decode_all, params, b"2\r\nab\r\n0\r\n\r\n") == "InvalidRequest"
    crc = base64.b64encode(zlib.crc32(b"ab").to_bytes(4, "big")).decode()
    assert (
        decode_all(params, f"2\r\nab\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()) == b"ab"
    )
    assert (
        code(decode_all, params, b"2\r\nab\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n")
        == "BadDigest"
    )
    assert (
        code(decode_all, params, b"2\r\nab\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n")
        == "InvalidDigest"
    )


def test_signed_chunk_missing_signature() -> None:
    params = signed_params(PayloadMode.STREAMING_SIGNED, 2)
    assert code(decode_all, params, b"2\r\nab\r\n0\r\n\r\n") == "InvalidRequest"


def test_params_from_request_errors() -> None:
    from s3gw.auth.sigv4 import AuthResult

    def auth(mode: PayloadMode) -> AuthResult:
        return AuthResult(
            ACCESS_KEY, mode, None, SEED, KEY, SCOPE, "20130524T000000Z", "us-east-1", False
        )

    streaming = auth(PayloadMode.STREAMING_UNSIGNED_TRAILER)
    assert code(params_from_request, auth(PayloadMode.UNSIGNED), {}) == "InvalidRequest"
    assert code(params_from_request, streaming, {}) == "MissingContentLength"
    assert (
        code(params_from_request, streaming, {"X-Amz-Decoded-Content-Length": "x"})
        == "InvalidArgument"
    )
    assert (
        code(
            params_from_request,
            streaming,
            {"x-amz-decoded-content-length": "1", "x-amz-trailer": "x-amz-foo"},
        )
        == "InvalidRequest"
    )
    p = params_from_request(
        streaming,
        {
            "x-amz-decoded-content-length": "5",
            "x-amz-trailer": "x-amz-checksum-crc32c",
            "x-amz-checksum-sha1": "x",
        },
    )
    assert p.declared_trailers == ("x-amz-checksum-crc32c",)
    assert p.header_checksums == {"SHA1": "x"} and p.decoded_content_length == 5


def _split_points(draw_sizes: list[int], total: int) -> Iterator[int]:
    for n in draw_sizes:
        yield n % (total + 1)


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=600),
    chunk=st.integers(1, 300),
    cuts=st.lists(st.integers(0, 700), max_size=8),
    mode=st.sampled_from(
        [
            PayloadMode.STREAMING_SIGNED,
            PayloadMode.STREAMING_SIGNED_TRAILER,
            PayloadMode.STREAMING_UNSIGNED_TRAILER,
        ]
    ),
)
def test_roundtrip_any_split(data: bytes, chunk: int, cuts: list[int], mode: PayloadMode) -> None:
    trailers = (
        {}
        if mode is PayloadMode.STREAMING_SIGNED
        else {"x-amz-checksum-crc64nvme": checksum_b64("CRC64NVME", data)}
    )
    params = signed_params(mode, len(data), declared_trailers=tuple(trailers))
    body = encode_aws_chunked(data, chunk, params=params, trailers=trailers)
    assert decode_all(params, body, list(_split_points(cuts, len(body)))) == data


@settings(max_examples=200, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=300),
    index=st.integers(0, 10_000),
    bit=st.integers(0, 7),
    mode=st.sampled_from(
        [
            PayloadMode.STREAMING_SIGNED,
            PayloadMode.STREAMING_SIGNED_TRAILER,
            PayloadMode.STREAMING_UNSIGNED_TRAILER,
        ]
    ),
)
def test_bit_flips_never_pass_silently(
    data: bytes, index: int, bit: int, mode: PayloadMode
) -> None:
    trailers = (
        {}
        if mode is PayloadMode.STREAMING_SIGNED
        else {"x-amz-checksum-sha256": checksum_b64("SHA256", data)}
    )
    params = signed_params(mode, len(data), declared_trailers=tuple(trailers))
    body = bytearray(encode_aws_chunked(data, 64, params=params, trailers=trailers))
    i = index % len(body)
    body[i] ^= 1 << bit
    try:
        out = decode_all(params, bytes(body))
    except S3Error:
        return
    # Some flips are harmless (hex-digit case in a size line or a signature
    # field name's whitespace); the decoded data must still be exact.
    assert out == data
