"""Requests signed by real botocore (the test oracle), as a server would receive them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import botocore.parsers  # type: ignore[import-untyped]
import botocore.session  # type: ignore[import-untyped]
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
REGION = "us-east-1"


def lookup_secret(access_key: str) -> str | None:
    return SECRET_KEY if access_key == ACCESS_KEY else None


@dataclass
class WireRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


class _S3Config:
    def __init__(self, payload_signing: bool | None) -> None:
        self.s3 = {} if payload_signing is None else {"payload_signing_enabled": payload_signing}


def botocore_request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    *,
    presign: bool = False,
    expires: int = 3600,
    payload_signing: bool | None = None,
) -> WireRequest:
    """Sign with botocore's S3 signers and return what goes on the wire."""
    req = AWSRequest(method=method, url=url, headers=dict(headers or {}), data=body)
    ctx: dict[str, Any] = {}
    if payload_signing is not None:
        ctx["client_config"] = _S3Config(payload_signing)
    req.context.update(ctx)
    creds = Credentials(ACCESS_KEY, SECRET_KEY)
    if presign:
        S3SigV4QueryAuth(creds, "s3", REGION, expires=expires).add_auth(req)
    else:
        S3SigV4Auth(creds, "s3", REGION).add_auth(req)
    prepared = req.prepare()
    split = urlsplit(prepared.url)
    host = split.netloc
    if (split.scheme, split.port) in (("http", 80), ("https", 443)):
        host = split.hostname or host
    wire_headers = [("Host", host)] + [(k, str(v)) for k, v in prepared.headers.items()]
    return WireRequest(method, split.path, split.query, wire_headers, body)


MODEL = botocore.session.get_session().get_service_model("s3")


def parse_response(operation: str, body: bytes, status: int = 200) -> dict[str, Any]:
    """Parse a response body as boto3 does (without its encoding-type=url post-processing)."""
    op = MODEL.operation_model(operation)
    parser = botocore.parsers.create_parser("rest-xml")
    result: dict[str, Any] = parser.parse(
        {"body": body, "headers": {}, "status_code": status}, op.output_shape
    )
    return result
