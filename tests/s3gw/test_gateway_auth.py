"""Authentication of real requests: SigV4 forms, streaming bodies, trailers, and their errors."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta

import botocore.auth
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from s3gw.auth.canonical import signing_key
from s3gw.auth.chunked import ChunkedParams, encode_aws_chunked
from s3gw.auth.sigv4 import PayloadMode
from s3gw.checksums import checksum_b64


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _sign(gateway, request: AWSRequest) -> AWSRequest:  # type: ignore[no-untyped-def]
    """Sign with botocore's generic SigV4 signer, which keeps our x-amz-content-sha256 (the
    S3 signer always replaces it with its own)."""
    if "x-amz-content-sha256" not in request.headers:
        request.headers["x-amz-content-sha256"] = hashlib.sha256(request.body or b"").hexdigest()
    creds = Credentials(gateway.access_key, gateway.secret_key)
    SigV4Auth(creds, "s3", "us-east-1").add_auth(request)
    return request


def _signed(gateway, method: str, path: str, body: bytes = b"", headers=None):  # type: ignore[no-untyped-def]
    request = _sign(
        gateway, AWSRequest(method, gateway.endpoint + path, data=body, headers=headers or {})
    )
    return httpx.request(method, request.url, headers=dict(request.headers), content=body)


def test_wrong_secret_and_unknown_key(gateway, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        gateway.s3(gateway.access_key, "wrong").list_objects_v2(Bucket=bucket)
    assert _code(exc) == "SignatureDoesNotMatch"
    with pytest.raises(ClientError) as exc:
        gateway.s3("GKNOSUCHKEY", "x").list_buckets()
    assert _code(exc) == "InvalidAccessKeyId"


def test_anonymous_and_skewed_requests(gateway, bucket, monkeypatch) -> None:
    r = httpx.get(f"{gateway.endpoint}/{bucket}")
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    assert b"<RequestId>" in r.content and r.headers["x-amz-request-id"]
    an_hour_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: an_hour_ago)
    r = _signed(gateway, "GET", f"/{bucket}")
    assert r.status_code == 403 and b"RequestTimeTooSkewed" in r.content


def test_payload_hash_mismatch_stores_nothing(gateway, s3, bucket) -> None:
    body = b"the real body"
    wrong = hashlib.sha256(b"another body").hexdigest()
    r = _signed(gateway, "PUT", f"/{bucket}/h", body, {"x-amz-content-sha256": wrong})
    assert r.status_code == 400 and b"XAmzContentSHA256Mismatch" in r.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="h")


def test_streaming_uploads_with_and_without_signatures(gateway, s3, bucket) -> None:
    """aws-chunked bodies: signed chunks, signed chunks with a signed trailing checksum,
    and unsigned chunks with a trailer, as the SDKs send them."""
    data = os.urandom(200_000)
    for mode, signed_mode in (
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD", PayloadMode.STREAMING_SIGNED),
        ("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", PayloadMode.STREAMING_SIGNED_TRAILER),
        ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", PayloadMode.STREAMING_UNSIGNED_TRAILER),
    ):
        key = "stream-" + mode.lower()
        headers = {
            "x-amz-content-sha256": mode,
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
        }
        trailers = None
        if mode.endswith("TRAILER"):
            headers["x-amz-trailer"] = "x-amz-checksum-crc32"
            trailers = {"x-amz-checksum-crc32": checksum_b64("CRC32", data)}
        # the headers are signed first: the chunk signatures chain from that seed signature
        request = _sign(
            gateway, AWSRequest("PUT", f"{gateway.endpoint}/{bucket}/{key}", headers=headers)
        )
        amz_date = request.context["timestamp"]
        params = ChunkedParams(
            mode=signed_mode,
            decoded_content_length=len(data),
            signing_key=signing_key(gateway.secret_key, amz_date[:8], "us-east-1"),
            amz_date=amz_date,
            scope=f"{amz_date[:8]}/us-east-1/s3/aws4_request",
            seed_signature=request.headers["Authorization"].rsplit("Signature=", 1)[1],
        )
        body = encode_aws_chunked(data, 65536, params=params, trailers=trailers)
        r = httpx.put(request.url, headers=dict(request.headers), content=body)
        assert r.status_code == 200, r.content
        # no chunk framing or trailer in the stored object
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
        if trailers:
            bad = body.replace(trailers["x-amz-checksum-crc32"].encode(), b"AAAAAA==")
            r = httpx.put(request.url, headers=dict(request.headers), content=bad)
            assert r.status_code in (400, 403), r.content


def test_botocore_default_upload_sends_a_trailing_checksum(s3, bucket) -> None:
    """Current boto3 streams put_object bodies as aws-chunked with a CRC trailer by default."""
    import io

    data = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="trailer", Body=io.BytesIO(data))
    got = s3.get_object(Bucket=bucket, Key="trailer", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)


def test_virtual_hosted_style(gateway, bucket) -> None:
    from botocore.config import Config

    vs3 = gateway.s3()
    vs3_v = __import__("boto3").client(
        "s3",
        endpoint_url=f"http://localhost:{gateway.port}",
        region_name="us-east-1",
        aws_access_key_id=gateway.access_key,
        aws_secret_access_key=gateway.secret_key,
        config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 1}),
    )
    vs3.put_object(Bucket=bucket, Key="vh", Body=b"virtual")
    # bucket.localhost resolves to 127.0.0.1 only where the resolver says so; send the Host
    # header ourselves with a presigned URL instead
    url = vs3_v.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "vh"})
    assert f"{bucket}.localhost" in url
    r = httpx.get(
        url.replace(f"{bucket}.localhost", "127.0.0.1"),
        headers={"host": f"{bucket}.localhost:{gateway.port}"},
    )
    assert r.status_code == 200 and r.content == b"virtual"


def test_expired_presigned_url(gateway, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="exp", Body=b"x")
    v4 = gateway.s3(signature_version="s3v4")
    url = v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "exp"}, ExpiresIn=1
    )
    import time

    time.sleep(2.1)
    r = httpx.get(url)
    assert r.status_code == 403 and b"AccessDenied" in r.content and b"expired" in r.content
