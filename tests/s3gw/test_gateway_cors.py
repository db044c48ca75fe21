"""CORS: a bucket's rules set with boto3, then browsers' requests (OPTIONS preflights and
requests with an Origin) sent with httpx, as a web page's would be."""

from __future__ import annotations

import httpx
import pytest
from botocore.exceptions import ClientError

APP = "https://app.example"
RULES = [
    {
        "ID": "uploads",
        "AllowedOrigins": [APP, "https://*.example.org"],
        "AllowedMethods": ["GET", "PUT", "POST"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 600,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _preflight(url: str, origin: str, method: str, headers: str = "") -> httpx.Response:
    asked = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        asked["Access-Control-Request-Headers"] = headers
    return httpx.request("OPTIONS", url, headers=asked)


def test_cors_configuration_round_trip(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert _code(exc) == "NoSuchCORSConfiguration"
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert _code(exc) == "NoSuchCORSConfiguration"
    for bad, code in (
        ([{"AllowedOrigins": [APP], "AllowedMethods": ["PATCH"]}], "InvalidRequest"),
        ([{"AllowedOrigins": ["https://*.*.org"], "AllowedMethods": ["GET"]}], "InvalidRequest"),
    ):
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": bad})
        assert _code(exc) == code
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_cors(Bucket=bucket)
    assert _code(exc) == "NoSuchCORSConfiguration"  # nothing kept from the refused ones


def test_preflights(gateway, s3, bucket) -> None:
    url = f"{gateway.endpoint}/{bucket}/photos/cat.jpg"
    assert _preflight(url, APP, "PUT").status_code == 403  # no rules yet
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    allowed = _preflight(url, APP, "PUT", "Content-Type, X-Amz-Meta-Author")
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == APP
    assert allowed.headers["access-control-allow-methods"] == "GET, PUT, POST"
    assert allowed.headers["access-control-allow-headers"] == "content-type, x-amz-meta-author"
    assert allowed.headers["access-control-max-age"] == "600"
    assert allowed.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    wildcard = _preflight(url, "https://shop.example.org", "GET")
    assert wildcard.headers["access-control-allow-origin"] == "https://shop.example.org"
    anyone = _preflight(url, "https://elsewhere.test", "HEAD")
    assert anyone.headers["access-control-allow-origin"] == "*"
    for origin, method, headers in (
        ("https://evil.test", "PUT", ""),  # origin not allowed
        (APP, "DELETE", ""),  # method not allowed
        (APP, "PUT", "authorization"),  # header not allowed
    ):
        refused = _preflight(url, origin, method, headers)
        assert refused.status_code == 403 and b"CORSResponse" in refused.content
        assert "access-control-allow-origin" not in refused.headers
    missing = _preflight(f"{gateway.endpoint}/no-such-bucket-here/k", APP, "GET")
    assert missing.status_code == 403


def test_requests_from_an_allowed_origin_carry_cors_headers(gateway, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"shared")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    page = httpx.get(url, headers={"Origin": APP})
    assert page.content == b"shared"
    assert page.headers["access-control-allow-origin"] == APP
    assert page.headers["access-control-expose-headers"] == "ETag, x-amz-request-id"
    assert (
        "access-control-allow-origin"
        not in httpx.get(url, headers={"Origin": "https://x.test"}).headers
    )
    assert "access-control-allow-origin" not in httpx.get(url).headers
    # an error answer carries them too, so the page can read it
    denied = httpx.get(f"{gateway.endpoint}/{bucket}/k", headers={"Origin": APP})
    assert denied.status_code == 403 and denied.headers["access-control-allow-origin"] == APP
