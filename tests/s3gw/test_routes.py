"""Dispatch: real boto3 requests for every operation map to that operation."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from s3gw.errors import S3Error
from s3gw.routes import (
    bucket_from_host,
    parse_query,
    route,
    split_host,
    validate_bucket_name,
    validate_key,
)
from tests.s3gw.botocore_oracle import ACCESS_KEY, REGION, SECRET_KEY
from tests.s3gw.capture import capturing_server

KEY = "dir/ké y+~%//x/"

CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("ListBuckets", lambda c: c.list_buckets()),
    ("CreateBucket", lambda c: c.create_bucket(Bucket="bkt")),
    (
        "CreateBucket",
        lambda c: c.create_bucket(
            Bucket="bkt", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        ),
    ),
    ("DeleteBucket", lambda c: c.delete_bucket(Bucket="bkt")),
    ("HeadBucket", lambda c: c.head_bucket(Bucket="bkt")),
    ("GetBucketLocation", lambda c: c.get_bucket_location(Bucket="bkt")),
    ("GetBucketVersioning", lambda c: c.get_bucket_versioning(Bucket="bkt")),
    ("GetBucketAcl", lambda c: c.get_bucket_acl(Bucket="bkt")),
    ("GetBucketCors", lambda c: c.get_bucket_cors(Bucket="bkt")),
    ("GetBucketTagging", lambda c: c.get_bucket_tagging(Bucket="bkt")),
    ("DeleteBucketTagging", lambda c: c.delete_bucket_tagging(Bucket="bkt")),
    (
        "PutBucketTagging",
        lambda c: c.put_bucket_tagging(
            Bucket="bkt", Tagging={"TagSet": [{"Key": "team", "Value": "backup"}]}
        ),
    ),
    (
        "PutBucketVersioning",
        lambda c: c.put_bucket_versioning(
            Bucket="bkt", VersioningConfiguration={"Status": "Suspended"}
        ),
    ),
    ("DeleteBucketCors", lambda c: c.delete_bucket_cors(Bucket="bkt")),
    (
        "PutBucketCors",
        lambda c: c.put_bucket_cors(
            Bucket="bkt",
            CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]},
        ),
    ),
    ("PutBucketAcl", lambda c: c.put_bucket_acl(Bucket="bkt", ACL="private")),
    ("PutObjectAcl", lambda c: c.put_object_acl(Bucket="bkt", Key=KEY, ACL="private")),
    ("GetObjectAcl", lambda c: c.get_object_acl(Bucket="bkt", Key=KEY)),
    ("ListObjectVersions", lambda c: c.list_object_versions(Bucket="bkt", KeyMarker="a b")),
    ("GetBucketConfiguration", lambda c: c.get_bucket_policy(Bucket="bkt")),
    ("GetBucketLogging", lambda c: c.get_bucket_logging(Bucket="bkt")),
    (
        "GetBucketAccelerateConfiguration",
        lambda c: c.get_bucket_accelerate_configuration(Bucket="bkt"),
    ),
    ("GetBucketRequestPayment", lambda c: c.get_bucket_request_payment(Bucket="bkt")),
    ("GetBucketConfiguration", lambda c: c.get_bucket_lifecycle_configuration(Bucket="bkt")),
    ("GetBucketEncryption", lambda c: c.get_bucket_encryption(Bucket="bkt")),
    (
        "GetObjectAttributes",
        lambda c: c.get_object_attributes(Bucket="bkt", Key=KEY, ObjectAttributes=["ETag"]),
    ),
    ("ListObjects", lambda c: c.list_objects(Bucket="bkt", Prefix="a b", Delimiter="/")),
    ("ListObjectsV2", lambda c: c.list_objects_v2(Bucket="bkt", StartAfter="x", FetchOwner=True)),
    ("PutObject", lambda c: c.put_object(Bucket="bkt", Key=KEY, Body=b"data")),
    ("GetObject", lambda c: c.get_object(Bucket="bkt", Key=KEY, Range="bytes=0-1")),
    ("HeadObject", lambda c: c.head_object(Bucket="bkt", Key=KEY)),
    ("DeleteObject", lambda c: c.delete_object(Bucket="bkt", Key=KEY)),
    ("DeleteObjects", lambda c: c.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "a"}]})),
    (
        "CopyObject",
        lambda c: c.copy_object(Bucket="bkt", Key="dst", CopySource={"Bucket": "src", "Key": KEY}),
    ),
    (
        "PutObjectTagging",
        lambda c: c.put_object_tagging(
            Bucket="bkt", Key=KEY, Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}
        ),
    ),
    ("GetObjectTagging", lambda c: c.get_object_tagging(Bucket="bkt", Key=KEY)),
    ("DeleteObjectTagging", lambda c: c.delete_object_tagging(Bucket="bkt", Key=KEY)),
    ("CreateMultipartUpload", lambda c: c.create_multipart_upload(Bucket="bkt", Key=KEY)),
    (
        "UploadPart",
        lambda c: c.upload_part(
            Bucket="bkt", Key=KEY, UploadId="U", PartNumber=1, Body=io.BytesIO(b"x")
        ),
    ),
    (
        "UploadPartCopy",
        lambda c: c.upload_part_copy(
            Bucket="bkt",
            Key=KEY,
            UploadId="U",
            PartNumber=2,
            CopySource="src/k",
            CopySourceRange="bytes=0-9",
        ),
    ),
    (
        "CompleteMultipartUpload",
        lambda c: c.complete_multipart_upload(
            Bucket="bkt",
            Key=KEY,
            UploadId="U",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": "e"}]},
        ),
    ),
    (
        "AbortMultipartUpload",
        lambda c: c.abort_multipart_upload(Bucket="bkt", Key=KEY, UploadId="U"),
    ),
    ("ListParts", lambda c: c.list_parts(Bucket="bkt", Key=KEY, UploadId="U")),
    ("ListMultipartUploads", lambda c: c.list_multipart_uploads(Bucket="bkt")),
]

UNSUPPORTED: list[Callable[[Any], Any]] = [
    lambda c: c.put_bucket_policy(Bucket="bkt", Policy="{}"),
    lambda c: c.delete_bucket_website(Bucket="bkt"),
    lambda c: c.put_bucket_request_payment(
        Bucket="bkt", RequestPaymentConfiguration={"Payer": "Requester"}
    ),
    lambda c: c.delete_object(Bucket="bkt", Key="k", VersionId="3HL4kqtJlcpXroDTDmJ"),
    lambda c: c.put_bucket_lifecycle_configuration(
        Bucket="bkt", LifecycleConfiguration={"Rules": [{"Status": "Enabled", "Prefix": ""}]}
    ),
]


@pytest.fixture(scope="module")
def captured() -> list[Any]:
    with capturing_server() as (url, reqs):
        client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(retries={"max_attempts": 1}),
        )
        for _, call in CALLS:
            try:
                call(client)
            except Exception:  # noqa: BLE001 - our stub's answers need not parse
                pass
        first = len(reqs)
        for call in UNSUPPORTED:
            try:
                call(client)
            except Exception:  # noqa: BLE001
                pass
        return [reqs[:first], reqs[first:]]


def test_boto3_operations_route(captured: list[Any]) -> None:
    supported, _ = captured
    assert len(supported) == len(CALLS)
    for (name, _), req in zip(CALLS, supported, strict=True):
        headers = {k.lower(): v for k, v in req.headers}  # botocore with awscrt sends "host"
        r = route(req.method, headers["host"], req.raw_path, req.raw_query, headers)
        assert r.operation == name, (req.method, req.raw_path, req.raw_query)
        if name != "ListBuckets":
            assert r.bucket == "bkt"
        if name in ("PutObject", "GetObject", "UploadPart", "ListParts", "GetObjectAttributes"):
            assert r.key == KEY


def test_boto3_unsupported_route_not_implemented(captured: list[Any]) -> None:
    _, unsupported = captured
    assert len(unsupported) == len(UNSUPPORTED)
    for req in unsupported:
        headers = {k.lower(): v for k, v in req.headers}
        with pytest.raises(S3Error) as info:
            route(req.method, headers["host"], req.raw_path, req.raw_query, headers)
        assert (info.value.code, info.value.status) == ("NotImplemented", 501)


def test_virtual_hosted_style() -> None:
    bases = ["s3.example.com", "localhost"]
    r = route("GET", "my.bucket.s3.example.com:9000", "/a/b%20c", "", base_domains=bases)
    assert (r.operation, r.bucket, r.key, r.virtual_host) == (
        "GetObject",
        "my.bucket",
        "a/b c",
        True,
    )
    r = route("GET", "bkt.localhost", "/", "list-type=2&x-id=ListObjectsV2", base_domains=bases)
    assert (r.operation, r.bucket, r.key) == ("ListObjectsV2", "bkt", None)
    r = route("GET", "s3.example.com", "/bkt/k", "", base_domains=bases)
    assert (r.operation, r.bucket, r.key, r.virtual_host) == ("GetObject", "bkt", "k", False)
    r = route("GET", "127.0.0.1:9000", "/", "", base_domains=bases)
    assert r.operation == "ListBuckets"
    assert bucket_from_host("BKT.S3.Example.com", bases) == "bkt"
    assert split_host("[::1]:9000") == "[::1]" and split_host("h:80") == "h"


def test_path_edge_cases() -> None:
    assert route("GET", "h", "/bkt/", "").operation == "ListObjects"
    assert route("GET", "h", "/bkt", "").operation == "ListObjects"
    r = route("GET", "h", "/bkt//a//b/", "")
    assert r.key == "/a//b/"
    r = route("PUT", "h", "/bkt/a%2Bb+c", "x-id=PutObject")
    assert r.key == "a+b+c" and r.query == {"x-id": "PutObject"}
    assert route("GET", "h", "/bkt/k", "uploadId=U&max-parts=5").operation == "ListParts"
    assert route("PUT", "h", "/bkt", "acl").operation == "PutBucketAcl"  # not a CreateBucket
    # a browser's form upload: POST to the bucket itself, its fields in the body
    assert route("POST", "h", "/bkt", "").operation == "PostObject"
    assert route("POST", "bkt.s3.example", "/", "", base_domains=["s3.example"]).bucket == "bkt"
    assert parse_query("a=1&a=2&b&c=%2B+") == [("a", "1"), ("a", "2"), ("b", ""), ("c", "++")]


@pytest.mark.parametrize(
    "method, path, query, expected",
    [
        ("PUT", "/", "", "MethodNotAllowed"),
        ("GET", "/bkt", "list-type=3", "InvalidArgument"),
        ("PUT", "/bkt/k", "partNumber=1", "InvalidArgument"),
        ("POST", "/bkt/k", "", "NotImplemented"),
        ("PATCH", "/bkt/k", "", "NotImplemented"),
        ("DELETE", "/bkt/k", "acl", "NotImplemented"),  # never a DeleteObject
        ("DELETE", "/bkt", "versioning", "NotImplemented"),  # never a DeleteBucket
        ("POST", "/bkt", "acl", "NotImplemented"),  # an ACL is read or put, no more
        ("GET", "/bkt/k", "versioning", "NotImplemented"),
        ("GET", "/bkt", "attributes", "NotImplemented"),  # never a ListObjects
        ("POST", "/bkt", "cors", "NotImplemented"),  # never a PostObject
        ("PUT", "/bkt", "policy", "NotImplemented"),  # never a CreateBucket
        ("GET", "/bkt/k", "policy", "NotImplemented"),  # not one of an object
        ("GET", "/bkt/%FF", "", "InvalidArgument"),
        ("PUT", "/bkt/" + "k" * 1025, "", "KeyTooLongError"),
    ],
)
def test_route_errors(method: str, path: str, query: str, expected: str) -> None:
    with pytest.raises(S3Error) as info:
        route(method, "h", path, query)
    assert info.value.code == expected


@pytest.mark.parametrize("name", ["abc", "a-b.c", "my.bucket.name", "a" * 63, "123", "bucket-1"])
def test_valid_bucket_names(name: str) -> None:
    validate_bucket_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "ABC",
        "a_b",
        "-ab",
        "ab-",
        ".ab",
        "a..b",
        "a.-b",
        "a-.b",
        "192.168.1.1",
        "xn--abc",
        "sthree-x",
        "amzn-s3-demo-x",
        "abc-s3alias",
        "abc--ol-s3",
        "abc.mrap",
        "abc--x-s3",
        "",
        "a b",
    ],
)
def test_invalid_bucket_names(name: str) -> None:
    with pytest.raises(S3Error) as info:
        validate_bucket_name(name)
    assert info.value.code == "InvalidBucketName" and info.value.status == 400


def test_validate_key() -> None:
    validate_key("é" * 512)
    with pytest.raises(S3Error) as info:
        validate_key("é" * 513)
    assert info.value.code == "KeyTooLongError"


def test_captured_requests_verify(captured: list[Any]) -> None:
    from s3gw.auth.sigv4 import parse_amz_date, verify_request
    from tests.s3gw.botocore_oracle import lookup_secret

    for req in captured[0] + captured[1]:
        headers = dict(req.headers)
        verify_request(
            req.method,
            req.raw_path,
            req.raw_query,
            req.headers,
            lookup_secret,
            parse_amz_date(headers["X-Amz-Date"]),
        )


def test_presigned_urls_over_the_wire() -> None:
    import urllib.request
    from datetime import timedelta

    from s3gw.auth.sigv4 import parse_amz_date, verify_request
    from tests.s3gw.botocore_oracle import lookup_secret

    with capturing_server() as (url, reqs):
        client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
            config=Config(signature_version="s3v4"),
        )
        for method, op, params in (
            ("GET", "get_object", {"Bucket": "bkt", "Key": KEY}),
            (
                "GET",
                "get_object",
                {
                    "Bucket": "bkt",
                    "Key": "k",
                    "ResponseContentType": "text/plain; a=b",
                    "ResponseContentDisposition": 'attachment; filename="x y"',
                },
            ),
            ("PUT", "put_object", {"Bucket": "bkt", "Key": KEY}),
            ("GET", "list_objects_v2", {"Bucket": "bkt", "Prefix": "a b"}),
        ):
            signed = client.generate_presigned_url(op, Params=params, ExpiresIn=120)
            data = b"body" if method == "PUT" else None
            with urllib.request.urlopen(
                urllib.request.Request(signed, data=data, method=method)
            ) as resp:
                resp.read()
    assert len(reqs) == 4
    for req in reqs:
        q = dict(parse_query(req.raw_query))
        now = parse_amz_date(q["X-Amz-Date"])
        res = verify_request(
            req.method, req.raw_path, req.raw_query, req.headers, lookup_secret, now
        )
        assert res.presigned
        headers = {k.lower(): v for k, v in req.headers}
        r = route(req.method, headers["host"], req.raw_path, req.raw_query, headers)
        assert r.bucket == "bkt"
        with pytest.raises(S3Error) as info:
            verify_request(
                req.method,
                req.raw_path,
                req.raw_query,
                req.headers,
                lookup_secret,
                now + timedelta(seconds=121),
            )
        assert info.value.code == "AccessDenied"


def test_sigv2_presign_default_boto3_over_the_wire() -> None:
    """boto3 (and `aws s3 presign`) still presign with SigV2 unless told "s3v4"."""
    import urllib.request
    from datetime import timedelta

    from s3gw.auth.sigv4 import verify_request
    from tests.s3gw.botocore_oracle import lookup_secret

    with capturing_server() as (url, reqs):
        client = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        for method, op, params in (
            ("GET", "get_object", {"Bucket": "bkt", "Key": KEY}),
            (
                "GET",
                "get_object",
                {
                    "Bucket": "bkt",
                    "Key": "k",
                    "ResponseContentDisposition": 'attachment; filename="x y"',
                },
            ),
            ("PUT", "put_object", {"Bucket": "bkt", "Key": KEY}),
        ):
            signed = client.generate_presigned_url(op, Params=params, ExpiresIn=120)
            assert "AWSAccessKeyId=" in signed
            data = b"body" if method == "PUT" else None
            request = urllib.request.Request(signed, data=data, method=method)
            if data is not None:
                request.add_header("Content-Type", "")
            with urllib.request.urlopen(request) as resp:
                resp.read()
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for req in reqs:
        headers = [(n, v) for n, v in req.headers if n.lower() != "content-type"]
        res = verify_request(req.method, req.raw_path, req.raw_query, headers, lookup_secret, now)
        assert res.signature_version == 2 and res.presigned
        with pytest.raises(S3Error) as info:
            verify_request(
                req.method,
                req.raw_path,
                req.raw_query,
                headers,
                lookup_secret,
                now + timedelta(seconds=200),
            )
        assert info.value.code == "AccessDenied"
        with pytest.raises(S3Error) as info:
            verify_request("DELETE", req.raw_path, req.raw_query, headers, lookup_secret, now)
        assert info.value.code == "SignatureDoesNotMatch"
