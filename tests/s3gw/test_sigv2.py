"""Legacy SigV2 (query and header forms) against botocore's HmacV1 signers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from s3gw.auth.sigv2 import canonical_resource
from s3gw.auth.sigv4 import verify_request
from s3gw.errors import S3Error
from tests.s3gw.botocore_oracle import ACCESS_KEY, SECRET_KEY, lookup_secret


def signed(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    *,
    query: bool,
    auth_path: str | None = None,
) -> tuple[str, str, list[tuple[str, str]]]:
    req = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    if auth_path is not None:
        req.auth_path = auth_path
    creds = Credentials(ACCESS_KEY, SECRET_KEY)
    if query:
        HmacV1QueryAuth(creds, expires=60).add_auth(req)
    else:
        HmacV1Auth(creds).add_auth(req)
    prepared = req.prepare()
    split = urlsplit(prepared.url)
    return split.path, split.query, [("Host", split.netloc)] + list(prepared.headers.items())


KEYS = ["k", "a b+c", "ü/日本", "dir/", "x~y", "100%"]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("query", [True, False])
def test_botocore_hmacv1(key: str, query: bool) -> None:
    now = datetime.now(UTC)
    for method, sub in (
        ("GET", ""),
        ("PUT", "?uploadId=U%201&partNumber=2"),
        ("GET", "?response-content-type=text/plain&x-id=GetObject"),
        ("DELETE", "?tagging"),
    ):
        path, q, headers = signed(
            method,
            f"http://127.0.0.1:9000/bkt/{quote(key, safe='/~')}{sub}",
            {"Content-Type": "text/plain", "x-amz-meta-a": "b"},
            query=query,
        )
        res = verify_request(method, path, q, headers, lookup_secret, now)
        assert res.signature_version == 2 and res.presigned is query
        assert res.access_key == ACCESS_KEY


def test_virtual_host() -> None:
    now = datetime.now(UTC)
    path, q, headers = signed(
        "GET", "http://bkt.s3.example.com/dir/k", query=True, auth_path="/bkt/dir/k"
    )
    verify_request("GET", path, q, headers, lookup_secret, now, virtual_host_bucket="bkt")
    with pytest.raises(S3Error):
        verify_request("GET", path, q, headers, lookup_secret, now)


def test_errors() -> None:
    now = datetime.now(UTC)
    path, q, headers = signed("GET", "http://h/b/k", query=False)
    with pytest.raises(S3Error) as info:
        verify_request("GET", path, q, headers, lookup_secret, now + timedelta(minutes=20))
    assert info.value.code == "RequestTimeTooSkewed"
    with pytest.raises(S3Error) as info:
        verify_request("GET", path, q, headers, lambda k: None, now)
    assert info.value.code == "InvalidAccessKeyId"
    with pytest.raises(S3Error) as info:
        verify_request("GET", "/b/other", q, headers, lookup_secret, now)
    assert info.value.code == "SignatureDoesNotMatch"
    path, q, headers = signed("GET", "http://h/b/k", query=True)
    with pytest.raises(S3Error) as info:
        verify_request("GET", path, q, headers, lookup_secret, now + timedelta(seconds=61))
    assert (info.value.code, info.value.message) == ("AccessDenied", "Request has expired")


def test_canonical_resource() -> None:
    assert canonical_resource("/b/k", "x-id=Get&uploads&acl=") == "/b/k?acl=&uploads"
    assert canonical_resource("/", "location", "bkt") == "/bkt/?location"
    assert (
        canonical_resource("/b/k", "response-content-type=a%2Fb")
        == "/b/k?response-content-type=a/b"
    )
