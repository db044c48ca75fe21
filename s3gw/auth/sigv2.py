"""AWS Signature Version 2 for S3 (legacy), as pure functions.

Current clients still produce it: boto3 and aws-cli v1 presign S3 URLs with
SigV2 (``?AWSAccessKeyId=&Expires=&Signature=``) unless configured with
``signature_version="s3v4"``, so ``aws s3 presign`` URLs need it. Per
"Signing and Authenticating REST Requests" of the S3 developer guide:

    StringToSign = Verb \\n Content-MD5 \\n Content-Type \\n (Date | Expires) \\n
                   CanonicalizedAmzHeaders CanonicalizedResource
    Signature    = base64(HMAC-SHA1(secret, StringToSign))

The resource is the path-style path as sent (``/bucket/key``, percent-encoded
as on the wire; for virtual-hosted requests the bucket is put in front) plus
the sub-resource parameters, sorted. Both the query form and the
``Authorization: AWS key:signature`` header form are verified here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from s3gw.auth.canonical import Headers, header_get, header_items
from s3gw.conditions import parse_http_date
from s3gw.errors import (
    AccessDenied,
    InvalidAccessKeyId,
    InvalidArgument,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)

MAX_SKEW = timedelta(minutes=15)

# Query parameters that are part of the SigV2 canonical resource.
SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "delete", "encryption",
        "intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging",
        "metrics", "notification", "object-lock", "ownershipControls", "partNumber", "policy",
        "policyStatus", "publicAccessBlock", "replication", "requestPayment",
        "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore",
        "retention", "select", "select-type", "tagging", "torrent", "uploadId", "uploads",
        "versionId", "versioning", "versions", "website",
    }
)  # fmt: skip


def is_sigv2(query_names: set[str], authorization: str | None) -> bool:
    """True if a request carries SigV2 credentials (query or header form)."""
    if authorization is not None:
        return authorization.startswith("AWS ")
    return "AWSAccessKeyId" in query_names and "Signature" in query_names


def canonical_resource(raw_path: str, raw_query: str, bucket: str | None = None) -> str:
    """``/bucket/key`` as sent, plus sorted sub-resources (values decoded, as signers do)."""
    path = raw_path or "/"
    if bucket is not None:
        path = "/" + bucket + path
    subs: list[tuple[str, str | None]] = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if name in SUBRESOURCES:
            subs.append((name, unquote(value) if eq else None))
    if subs:
        subs.sort(key=lambda nv: nv[0])
        path += "?" + "&".join(n if v is None else f"{n}={v}" for n, v in subs)
    return path


def canonical_amz_headers(headers: Headers) -> str:
    """``x-amz-*`` headers, lowercased and sorted, repeated values joined with commas."""
    values: dict[str, list[str]] = {}
    for name, value in header_items(headers):
        if name.startswith("x-amz-"):
            values.setdefault(name, []).append(" ".join(value.split()))
    return "".join(f"{n}:{','.join(values[n])}\n" for n in sorted(values))


def string_to_sign(method: str, headers: Headers, date_or_expires: str, resource: str) -> str:
    """The SigV2 string to sign (Date or Expires line as given)."""
    return (
        f"{method.upper()}\n"
        f"{header_get(headers, 'content-md5') or ''}\n"
        f"{header_get(headers, 'content-type') or ''}\n"
        f"{date_or_expires}\n"
        f"{canonical_amz_headers(headers)}{resource}"
    )


def sign_v2(secret: str, text: str) -> str:
    """base64 HMAC-SHA1 signature."""
    mac = hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def verify_v2(
    method: str,
    raw_path: str,
    raw_query: str,
    query: dict[str, str],
    headers: Headers,
    lookup_secret: Callable[[str], str | None],
    now: datetime,
    *,
    bucket: str | None = None,
) -> str:
    """Verify a SigV2 request; return its access key.

    `query` is the decoded first value of each parameter; `bucket` is the
    bucket named by a virtual-hosted Host (None for path style). Raises
    AccessDenied (expired), InvalidAccessKeyId, SignatureDoesNotMatch,
    RequestTimeTooSkewed, InvalidArgument.
    """
    auth = header_get(headers, "authorization")
    if auth is not None:
        cred = auth[len("AWS ") :].strip()
        access_key, colon, signature = cred.rpartition(":")
        if not colon or not access_key:
            raise InvalidArgument(
                "Authorization header is invalid -- one and only one ' ' (space) required"
            )
        amz_date = header_get(headers, "x-amz-date")
        date_text = amz_date if amz_date is not None else header_get(headers, "date")
        request_time = _http_date(date_text)
        if request_time is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        if abs(now - request_time) > MAX_SKEW:
            raise RequestTimeTooSkewed(
                RequestTime=date_text or "",
                ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                MaxAllowedSkewMilliseconds="900000",
            )
        # With x-amz-date, the Date line is empty and x-amz-date is signed as an amz header.
        date_line = "" if amz_date is not None else (date_text or "")
    else:
        access_key = query.get("AWSAccessKeyId", "")
        signature = query.get("Signature", "")
        expires = query.get("Expires", "")
        if not expires.isdigit():
            raise AccessDenied(
                "Query-string authentication requires the Signature, Expires "
                "and AWSAccessKeyId parameters"
            )
        if now > datetime.fromtimestamp(int(expires), UTC):
            raise AccessDenied(
                "Request has expired",
                Expires=datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        date_line = expires
    secret = lookup_secret(access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
    resources = [canonical_resource(raw_path, raw_query, bucket)]
    if bucket is not None and raw_path in ("", "/"):
        resources.append("/" + bucket)
    first = ""
    for resource in resources:
        sts = string_to_sign(method, headers, date_line, resource)
        if hmac.compare_digest(sign_v2(secret, sts).encode(), signature.encode("utf-8", "replace")):
            return access_key
        first = first or sts
    raise SignatureDoesNotMatch(
        AWSAccessKeyId=access_key, StringToSign=first, SignatureProvided=signature
    )


def _http_date(value: str | None) -> datetime | None:
    if value is not None and len(value.strip()) == 16 and value.strip().endswith("Z"):
        try:  # ISO 8601 basic, as some clients send x-amz-date
            return datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None
    return parse_http_date(value)


__all__ = [
    "SUBRESOURCES",
    "canonical_amz_headers",
    "canonical_resource",
    "is_sigv2",
    "sign_v2",
    "string_to_sign",
    "verify_v2",
]
