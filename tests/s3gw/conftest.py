"""Fixtures of tests/s3gw: request bodies captured from real boto3 and aws-cli uploads."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from tests.s3gw.botocore_oracle import ACCESS_KEY, REGION, SECRET_KEY, WireRequest
from tests.s3gw.capture import capturing_server, make_self_signed

Captures = list[tuple[WireRequest, bytes]]


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="session")
def boto3_captures(tls_files: tuple[Path, Path]) -> Captures:
    """(raw request, object bytes) of PutObject / UploadPart calls by real boto3.

    Over HTTPS boto3 streams aws-chunked bodies with a trailing checksum
    (STREAMING-UNSIGNED-PAYLOAD-TRAILER); over plain HTTP it signs the payload
    and sends the checksum as a header.
    """
    payloads = [b"", b"x", b"hello world", os.urandom(70_000), os.urandom(1_200_000)]
    sent: list[bytes] = []
    out: list[WireRequest] = []
    for tls in (tls_files, None):
        with capturing_server(tls) as (url, captured):
            for cfg in (
                Config(),
                Config(s3={"payload_signing_enabled": True}),
                Config(request_checksum_calculation="when_required"),
            ):
                client = boto3.client(
                    "s3",
                    endpoint_url=url,
                    aws_access_key_id=ACCESS_KEY,
                    aws_secret_access_key=SECRET_KEY,
                    region_name=REGION,
                    config=cfg,
                    verify=str(tls_files[0]),
                )
                for data in payloads:
                    client.put_object(Bucket="b", Key="dir/ké y+", Body=data)
                    sent.append(data)
                    client.upload_part(
                        Bucket="b", Key="k", UploadId="U", PartNumber=2, Body=io.BytesIO(data)
                    )
                    sent.append(data)
                for alg in ("SHA1", "SHA256", "CRC32"):
                    client.put_object(Bucket="b", Key="k", Body=payloads[3], ChecksumAlgorithm=alg)
                    sent.append(payloads[3])
                client.put_object(
                    Bucket="b", Key="k", Body=payloads[2], ContentMD5="XrY7u+Ae7tCTyyK7j1rNww=="
                )
                sent.append(payloads[2])
            out += captured
    return list(zip(out, sent, strict=True))


@pytest.fixture(scope="session")
def awscli_captures(
    tls_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Captures:
    """(raw request, object bytes) of `aws s3 cp` and `aws s3api put-object` over HTTPS."""
    tmp = tmp_path_factory.mktemp("awscli")
    data = os.urandom(300_000)
    src = tmp / "file.bin"
    src.write_bytes(data)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp),
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
    }
    with capturing_server(tls_files) as (url, captured):
        common = ["--endpoint-url", url, "--ca-bundle", str(tls_files[0])]
        cli = [sys.executable, "-m", "awscli"]
        subprocess.run(
            cli
            + ["s3api", "put-object", "--bucket", "b", "--key", "api key", "--body", str(src)]
            + common,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        subprocess.run(
            cli + ["s3", "cp", str(src), "s3://b/cp/ké y"] + common,
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        return [(r, data) for r in captured]
