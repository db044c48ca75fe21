"""SigV4 verification against AWS's published examples and real botocore signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote_to_bytes

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from s3gw.auth.sigv4 import (
    PayloadMode,
    PayloadSha256Verifier,
    canonical_query,
    canonical_uri,
    parse_amz_date,
    parse_raw_query,
    sign,
    signing_key,
    string_to_sign,
    verify_request,
)
from s3gw.errors import S3Error
from tests.s3gw.botocore_oracle import (
    ACCESS_KEY,
    SECRET_KEY,
    WireRequest,
    botocore_request,
    lookup_secret,
)

EXAMPLE_NOW = datetime(2013, 5, 24, 0, 0, 1, tzinfo=UTC)
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def verify(r: WireRequest, **kw: object) -> object:
    return verify_request(r.method, r.raw_path, r.raw_query, r.headers, lookup_secret, r.now, **kw)  # type: ignore[arg-type]


def code_of(r: WireRequest, now: datetime | None = None) -> str:
    with pytest.raises(S3Error) as info:
        verify_request(r.method, r.raw_path, r.raw_query, r.headers, lookup_secret, now or r.now)
    return info.value.code


# --- AWS's published examples (S3 API reference, "Signature Calculations ...") -----------


def _auth(signed: str, sig: str) -> str:
    return (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={sig}"
    )


def test_aws_example_get_object() -> None:
    headers = [
        ("Host", "examplebucket.s3.amazonaws.com"),
        ("Range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY),
        ("x-amz-date", "20130524T000000Z"),
        (
            "Authorization",
            _auth(
                "host;range;x-amz-content-sha256;x-amz-date",
                "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            ),
        ),
    ]
    res = verify_request("GET", "/test.txt", "", headers, lookup_secret, EXAMPLE_NOW)
    assert res.access_key == ACCESS_KEY
    assert res.payload_mode is PayloadMode.SIGNED
    assert res.scope == "20130524/us-east-1/s3/aws4_request"


def test_aws_example_put_object_with_date_header() -> None:
    body = b"Welcome to Amazon S3."
    headers = [
        ("Host", "examplebucket.s3.amazonaws.com"),
        ("Date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "x-amz-content-sha256",
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        ),
        (
            "Authorization",
            _auth(
                "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            ),
        ),
    ]
    res = verify_request("PUT", "/test%24file.text", "", headers, lookup_secret, EXAMPLE_NOW)
    v = PayloadSha256Verifier(res.payload_sha256 or "")
    v.update(body)
    v.verify()
    # `$` sent unencoded verifies too: the canonical URI is rebuilt from the decoded path.
    verify_request("PUT", "/test$file.text", "", headers, lookup_secret, EXAMPLE_NOW)


def test_aws_example_lifecycle_and_list() -> None:
    base = [
        ("Host", "examplebucket.s3.amazonaws.com"),
        ("x-amz-date", "20130524T000000Z"),
        ("x-amz-content-sha256", EMPTY),
    ]
    signed = "host;x-amz-content-sha256;x-amz-date"
    lifecycle = base + [
        (
            "Authorization",
            _auth(signed, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
        )
    ]
    verify_request("GET", "/", "lifecycle", lifecycle, lookup_secret, EXAMPLE_NOW)
    listing = base + [
        (
            "Authorization",
            _auth(signed, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
        )
    ]
    verify_request("GET", "/", "max-keys=2&prefix=J", listing, lookup_secret, EXAMPLE_NOW)


def test_aws_example_presigned() -> None:
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524"
        "%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
        "&X-Amz-SignedHeaders=host&X-Amz-Signature="
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    headers = [("Host", "examplebucket.s3.amazonaws.com")]
    res = verify_request("GET", "/test.txt", query, headers, lookup_secret, EXAMPLE_NOW)
    assert res.presigned and res.payload_mode is PayloadMode.UNSIGNED
    with pytest.raises(S3Error) as info:
        verify_request(
            "GET",
            "/test.txt",
            query,
            headers,
            lookup_secret,
            EXAMPLE_NOW + timedelta(seconds=86401),
        )
    assert (info.value.code, info.value.status) == ("AccessDenied", 403)
    assert info.value.message == "Request has expired"


def test_signing_key_and_string_to_sign_shapes() -> None:
    key = signing_key(SECRET_KEY, "20130524", "us-east-1")
    assert len(key) == 32
    sts = string_to_sign("20130524T000000Z", "20130524/us-east-1/s3/aws4_request", "x")
    assert sts.startswith("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/")
    assert len(sign(key, sts)) == 64


def test_canonical_forms() -> None:
    assert canonical_uri(b"") == "/"
    assert canonical_uri("/b/a b+c~d%/é//") == "/b/a%20b%2Bc~d%25/%C3%A9//"
    pairs = parse_raw_query("b=2&a=&uploads&a=1&x%20y=%2B")
    assert canonical_query(pairs) == "a=&a=1&b=2&uploads=&x%20y=%2B"


# --- real botocore ------------------------------------------------------------------------

KEYS = [
    "k",
    "a b",
    "a+b",
    "tilde~x",
    "100%",
    "a//b",
    "dir/",
    "dir//",
    "ünïcødé/日本語",
    "emoji😀",
    "sp ace/+plus/%25",
    "!*'();:@&=$,?#[]",
    "x-id",
    ".",
    "..",
    "a/./b/../c",
]
QUERIES = [
    "",
    "x-id=PutObject",
    "uploads",
    "tagging=",
    "prefix=a%20b&max-keys=10",
    "a=1&a=0&b=",
    "list-type=2&start-after=%E6%97%A5",
    "delete=",
]


def _url(host: str, path: str, query: str) -> str:
    return f"http://{host}{path}" + (f"?{query}" if query else "")


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "DELETE", "POST"])
def test_botocore_header_auth_keys(method: str, key: str) -> None:
    body = b"data" if method in ("PUT", "POST") else b""
    r = botocore_request(
        method,
        _url("127.0.0.1:9000", "/bucket/" + quote(key, safe="/~"), "x-id=Op"),
        {"Content-Type": "text/plain"},
        body,
    )
    res = verify(r)
    assert res.access_key == ACCESS_KEY  # type: ignore[attr-defined]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize(
    "host", ["127.0.0.1:9000", "localhost", "bucket.s3.example.com:8443", "s3.example.com"]
)
def test_botocore_queries_and_hosts(query: str, host: str) -> None:
    verify(botocore_request("GET", _url(host, "/bucket/key", query)))
    verify(botocore_request("GET", _url(host, "/bucket/key", query), presign=True))


def test_botocore_unsigned_payload_and_custom_headers() -> None:
    r = botocore_request(
        "PUT",
        "http://127.0.0.1:9000/b/k",
        {"x-amz-meta-Foo": "  a   b  ", "Content-MD5": "XUFAKrxLKna5cZ2REBfFkg=="},
        b"hello",
        payload_signing=False,
    )
    res = verify(r)
    assert res.payload_mode is PayloadMode.UNSIGNED  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", KEYS)
def test_botocore_presigned_keys(key: str) -> None:
    for method in ("GET", "PUT"):
        r = botocore_request(
            method,
            _url("localhost:9000", "/b/" + quote(key, safe="/~"), ""),
            presign=True,
            expires=60,
        )
        verify(r)
        assert code_of(r, r.now + timedelta(seconds=120)) == "AccessDenied"


def test_presign_expiry_limits() -> None:
    r = botocore_request("GET", "http://h/b/k", presign=True, expires=604800)
    verify(r)
    r = botocore_request("GET", "http://h/b/k", presign=True, expires=604801)
    assert code_of(r) == "AuthorizationQueryParametersError"


def test_clock_skew() -> None:
    r = botocore_request("GET", "http://h/b/k")
    verify(r)
    assert code_of(r, r.now + timedelta(minutes=16)) == "RequestTimeTooSkewed"
    assert code_of(r, r.now - timedelta(minutes=16)) == "RequestTimeTooSkewed"
    verify_request(
        r.method, r.raw_path, r.raw_query, r.headers, lookup_secret, r.now + timedelta(minutes=14)
    )


def test_error_cases() -> None:
    r = botocore_request("GET", "http://h/b/k")
    # unknown access key
    with pytest.raises(S3Error) as info:
        verify_request(r.method, r.raw_path, r.raw_query, r.headers, lambda k: None, r.now)
    assert info.value.code == "InvalidAccessKeyId" and info.value.status == 403
    # wrong secret
    with pytest.raises(S3Error) as info:
        verify_request(r.method, r.raw_path, r.raw_query, r.headers, lambda k: "nope", r.now)
    assert info.value.code == "SignatureDoesNotMatch"
    assert "StringToSign" in info.value.extra
    # anonymous
    assert code_of(WireRequest("GET", "/b/k", "", [("Host", "h")])) == "AccessDenied"
    # malformed header
    bad = [
        (n, v if n != "Authorization" else "AWS4-HMAC-SHA256 Credential=x") for n, v in r.headers
    ]
    assert code_of(WireRequest("GET", "/b/k", "", bad, now=r.now)) == "AuthorizationHeaderMalformed"
    sigv2 = [(n, v if n != "Authorization" else "AWS AKID:sig") for n, v in r.headers]
    assert code_of(WireRequest("GET", "/b/k", "", sigv2, now=r.now)) == "InvalidAccessKeyId"
    # wrong region when one is configured
    with pytest.raises(S3Error) as info:
        verify(r, region="eu-west-1")
    assert info.value.code == "AuthorizationHeaderMalformed"
    # missing x-amz-content-sha256
    no_sha = [(n, v) for n, v in r.headers if n.lower() != "x-amz-content-sha256"]
    assert code_of(WireRequest("GET", "/b/k", "", no_sha, now=r.now)) == "InvalidRequest"


def test_payload_sha256_mismatch() -> None:
    r = botocore_request("PUT", "http://h/b/k", body=b"hello")
    res = verify(r)
    v = PayloadSha256Verifier(res.payload_sha256)  # type: ignore[attr-defined]
    v.update(b"hellO")
    with pytest.raises(S3Error) as info:
        v.verify()
    assert info.value.code == "XAmzContentSHA256Mismatch"


# --- tampering: any single-bit change to a signed part is rejected ---------------------


def _flip(data: bytes, index: int, bit: int) -> bytes:
    i = index % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1 :]


BASE = botocore_request(
    "PUT",
    "http://bucket.s3.example.com:9000/dir/ke%20y%2B~?x-id=PutObject&tagging=",
    {"Content-Type": "text/plain", "x-amz-meta-color": "blue"},
    b"payload",
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    target=st.sampled_from(["path", "query", "header", "signature", "method"]),
    index=st.integers(0, 10_000),
    bit=st.integers(0, 7),
    header=st.integers(0, 100),
)
def test_single_bit_tampering_rejected(target: str, index: int, bit: int, header: int) -> None:
    r = BASE
    method, path, query, headers = r.method, r.raw_path, r.raw_query, list(r.headers)
    if target == "path":
        decoded = unquote_to_bytes(path)
        path = quote(_flip(decoded, index, bit), safe="/~")
    elif target == "query":
        pairs = parse_raw_query(query)
        name, value = pairs[0]
        query = (
            quote(_flip(name, index, bit), safe="")
            + "="
            + quote(value, safe="")
            + "&"
            + query.split("&", 1)[1]
        )
    elif target == "method":
        method = _flip(method.encode(), index, bit).decode("latin-1")
        assume(method.upper() != r.method)
    else:
        names = [
            i
            for i, (n, _) in enumerate(headers)
            if n.lower()
            in (
                "host",
                "content-type",
                "x-amz-meta-color",
                "x-amz-date",
                "x-amz-content-sha256",
                "authorization",
            )
        ]
        i = names[header % len(names)]
        n, v = headers[i]
        if target == "signature":
            i = next(j for j, (hn, _) in enumerate(headers) if hn == "Authorization")
            n, v = headers[i]
            sig_start = v.index("Signature=") + len("Signature=")
            new_v = v[:sig_start] + _flip(v[sig_start:].encode(), index, bit).decode("latin-1")
        else:
            new_v = _flip(v.encode(), index, bit).decode("latin-1")
        assume(" ".join(new_v.split()) != " ".join(v.split()))
        if n.lower() == "x-amz-content-sha256":
            assume(new_v.lower() != v.lower() or new_v == v.lower())
        headers[i] = (n, new_v)
    with pytest.raises(S3Error):
        verify_request(method, path, query, headers, lookup_secret, r.now)


def test_presigned_with_signed_content_type() -> None:
    r = botocore_request("PUT", "http://h:9000/b/k", {"Content-Type": "text/plain"}, presign=True)
    assert "content-type" in r.raw_query.lower()
    verify(r)
    other = [(n, "image/png" if n.lower() == "content-type" else v) for n, v in r.headers]
    assert (
        code_of(WireRequest(r.method, r.raw_path, r.raw_query, other, now=r.now))
        == "SignatureDoesNotMatch"
    )


def test_query_given_as_decoded_pairs() -> None:
    r = botocore_request("GET", "http://h/b/k?prefix=a%20b%2Bc&list-type=2")
    pairs = parse_raw_query(r.raw_query)
    decoded = [(n.decode(), v.decode()) for n, v in pairs]
    res = verify_request(r.method, r.raw_path, decoded, r.headers, lookup_secret, r.now)
    assert res.access_key == ACCESS_KEY


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31)))
def test_amz_date_parses_as_strptime_would(moment: datetime) -> None:
    text = moment.strftime("%Y%m%dT%H%M%SZ")
    expected = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert parse_amz_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["20260231T000000Z", "20261301T000000Z", "20260101T240000Z", "20260101T000060Z",
     "2026010T1000000Z", "20260101T000000", "20260101 000000Z", ""],
)  # fmt: skip
def test_impossible_amz_dates_are_refused(text: str) -> None:
    with pytest.raises(S3Error) as info:
        parse_amz_date(text)
    assert info.value.code == "AccessDenied"
