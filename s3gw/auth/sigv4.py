"""AWS Signature Version 4 for S3, as pure functions (no clock reads, no I/O).

Implements "Authenticating Requests (AWS Signature Version 4)" of the S3 API
reference: the Authorization header form, the presigned-URL (query) form, and
the payload modes a request declares in ``x-amz-content-sha256`` (a hex
SHA-256, UNSIGNED-PAYLOAD, or one of the aws-chunked STREAMING-* modes, whose
bodies `s3gw.auth.chunked` decodes with the seed signature and signing key
this module returns).

S3 differs from the other services: the canonical URI is the path encoded
once (never twice) and never normalized (``//``, ``.``, trailing ``/`` kept).
We rebuild it from the decoded path with the SigV4 encoding and also accept a
signature over the path exactly as sent, so clients that encode a few more or
fewer characters still verify (both forms name the same key).

`verify_request` is the one entry point for every request: legacy SigV2
credentials (which boto3 and aws-cli v1 still use for presigned URLs by
default) are recognised and handed to `s3gw.auth.sigv2`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes

from s3gw.auth.canonical import (
    ALGORITHM,
    EMPTY_SHA256,
    Headers,
    canonical_headers,
    canonical_query,
    canonical_request,
    canonical_uri,
    chunk_string_to_sign,
    header_get,
    parse_raw_query,
    sign,
    signatures_equal,
    signing_key,
    string_to_sign,
    trailer_string_to_sign,
    uri_encode,
)
from s3gw.auth.sigv2 import is_sigv2, verify_v2
from s3gw.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3Error,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)

MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # seconds: one week

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

_HEX64 = re.compile(r"[0-9a-f]{64}")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")

ErrorFactory = Callable[..., S3Error]
QueryInput = str | bytes | Sequence[tuple[str, str]]


class PayloadMode(enum.Enum):
    """How the body is protected, from ``x-amz-content-sha256``."""

    SIGNED = "signed"  # hex SHA-256 of the whole body; verify with PayloadSha256Verifier
    UNSIGNED = "unsigned"  # UNSIGNED-PAYLOAD
    STREAMING_SIGNED = "streaming-signed"  # aws-chunked, chunk signatures
    STREAMING_SIGNED_TRAILER = "streaming-signed-trailer"  # ... plus a signed trailer
    STREAMING_UNSIGNED_TRAILER = "streaming-unsigned-trailer"  # aws-chunked, unsigned trailer

    @property
    def is_streaming(self) -> bool:
        return self.value.startswith("streaming")


_MODES = {
    UNSIGNED_PAYLOAD: PayloadMode.UNSIGNED,
    STREAMING_SIGNED: PayloadMode.STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER: PayloadMode.STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER: PayloadMode.STREAMING_UNSIGNED_TRAILER,
}


@dataclass(frozen=True)
class Credential:
    """The parsed ``Credential=`` value: access key and scope parts."""

    access_key: str
    date: str  # YYYYMMDD
    region: str
    service: str
    terminator: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


@dataclass(frozen=True)
class ParsedAuth:
    """The signature parameters of a request, from its header or its query."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # ISO 8601 basic, e.g. 20130524T000000Z
    presigned: bool
    expires: int | None = None  # presigned only


@dataclass(frozen=True)
class AuthResult:
    """What a verified request proves, and what the body decoder needs.

    `payload_sha256` is the declared hex SHA-256 in SIGNED mode (the handler
    must check the body against it), else None. `signing_key`, `amz_date`,
    `scope` and `seed_signature` start the aws-chunked signature chain.
    """

    access_key: str
    payload_mode: PayloadMode
    payload_sha256: str | None
    seed_signature: str
    signing_key: bytes
    scope: str
    amz_date: str
    region: str
    presigned: bool
    signature_version: int = 4


# --- parsing the signature parameters -----------------------------------------------


def parse_credential(value: str, error: ErrorFactory) -> Credential:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts):
        raise error(f"Error parsing the X-Amz-Credential parameter; got '{value}'")
    access_key, date, region, service, terminator = parts
    if not re.fullmatch(r"\d{8}", date):
        raise error(f"Invalid credential date '{date}'. This date is not the expected format.")
    if service != "s3":
        raise error(
            f"Error parsing the Credential: incorrect service '{service}'. "
            "This endpoint belongs to 's3'."
        )
    if terminator != "aws4_request":
        raise error(
            f"Error parsing the Credential: incorrect terminal '{terminator}'. "
            "This endpoint uses 'aws4_request'."
        )
    return Credential(access_key, date, region, service, terminator)


def _parse_signed_headers(value: str, error: ErrorFactory) -> tuple[str, ...]:
    names = tuple(value.split(";"))
    if not value or any(not n or n != n.lower() for n in names):
        raise error(f"SignedHeaders is malformed: '{value}'")
    return names


def parse_authorization_header(value: str, amz_date: str) -> ParsedAuth:
    """Parse ``AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    err = AuthorizationHeaderMalformed
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm == "AWS" or value.startswith("AWS "):
            raise InvalidRequest(
                "The authorization mechanism you have provided is not supported. "
                "Please use AWS4-HMAC-SHA256."
            )
        raise err(f"The authorization header is malformed; unknown algorithm '{algorithm}'.")
    fields: dict[str, str] = {}
    for component in rest.split(","):
        component = component.strip()
        if not component:
            continue
        key, eq, val = component.partition("=")
        if not eq or key in fields:
            raise err(f"The authorization header is malformed; bad component '{component}'.")
        fields[key.strip()] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise err(f"The authorization header is malformed; missing {', '.join(missing)}.")
    credential = parse_credential(fields["Credential"], err)
    signature = fields["Signature"]
    if not _HEX64.fullmatch(signature):
        raise err("The authorization header is malformed; the signature is not 64 hex digits.")
    return ParsedAuth(
        credential=credential,
        signed_headers=_parse_signed_headers(fields["SignedHeaders"], err),
        signature=signature,
        amz_date=amz_date,
        presigned=False,
    )


def parse_presigned_query(params: Mapping[str, str]) -> ParsedAuth:
    """Parse the X-Amz-* parameters of a presigned URL (names as sent, case-sensitive)."""
    err = AuthorizationQueryParametersError
    required = (
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-Date",
        "X-Amz-SignedHeaders",
        "X-Amz-Expires",
    )
    missing = [k for k in required if k not in params]
    if missing:
        raise err(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
            "and X-Amz-Expires parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise err('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
    expires_text = params["X-Amz-Expires"]
    if not expires_text.isdigit():
        raise err("X-Amz-Expires should be a number")
    expires = int(expires_text)
    if expires > MAX_PRESIGN_EXPIRES:
        raise err("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    signature = params["X-Amz-Signature"]
    if not _HEX64.fullmatch(signature):
        raise err("X-Amz-Signature must be 64 hex digits")
    amz_date = params["X-Amz-Date"]
    if not _AMZ_DATE.fullmatch(amz_date):
        raise err("X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    return ParsedAuth(
        credential=parse_credential(params["X-Amz-Credential"], err),
        signed_headers=_parse_signed_headers(params["X-Amz-SignedHeaders"], err),
        signature=signature,
        amz_date=amz_date,
        presigned=True,
        expires=expires,
    )


def parse_amz_date(value: str) -> datetime:
    """An ``x-amz-date`` (ISO 8601 basic) as an aware UTC datetime; AccessDenied if bad."""
    if not _AMZ_DATE.fullmatch(value):
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    try:  # fields cut out by hand: strptime costs ~8% of a small GET
        return datetime(
            int(value[0:4]), int(value[4:6]), int(value[6:8]),
            int(value[9:11]), int(value[11:13]), int(value[13:15]), tzinfo=UTC,
        )  # fmt: skip
    except ValueError as exc:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header") from exc


def _request_date(headers: Headers) -> str:
    """The request's timestamp in ISO 8601 basic form, from x-amz-date or Date."""
    amz = header_get(headers, "x-amz-date")
    if amz is not None:
        parse_amz_date(amz.strip())
        return amz.strip()
    date = header_get(headers, "date")
    if date is not None:
        try:
            dt = parsedate_to_datetime(date)
        except (TypeError, ValueError) as exc:
            raise AccessDenied(
                "AWS authentication requires a valid Date or x-amz-date header"
            ) from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")


def _payload(headers: Headers, presigned: bool) -> tuple[str, PayloadMode, str | None]:
    value = header_get(headers, "x-amz-content-sha256")
    if value is None:
        if presigned:
            return UNSIGNED_PAYLOAD, PayloadMode.UNSIGNED, None
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    value = value.strip()
    if value in _MODES:
        return value, _MODES[value], None
    if _HEX64.fullmatch(value):
        return value, PayloadMode.SIGNED, value
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER "
        "or a valid sha256 value."
    )


def _latin1_text(raw: str | bytes) -> str:
    return raw.decode("latin-1") if isinstance(raw, bytes) else raw


def _query_candidates(query: QueryInput) -> list[list[tuple[bytes, bytes]]]:
    """Decoded query pairs; for a raw string with '+', also the form-style reading."""
    if isinstance(query, str | bytes):
        first = parse_raw_query(query)
        cands = [first]
        if "+" in _latin1_text(query):
            cands.append(parse_raw_query(query, plus_is_space=True))
        return cands
    return [[(n.encode("utf-8"), v.encode("utf-8")) for n, v in query]]


def _uri_candidates(raw_path: str | bytes) -> list[str]:
    text = _latin1_text(raw_path) or "/"
    cands = [canonical_uri(unquote_to_bytes(text))]
    if text not in cands:
        cands.append(text)
    return cands


def verify_request(
    method: str,
    raw_path: str | bytes,
    query: QueryInput,
    headers: Headers,
    lookup_secret: Callable[[str], str | None],
    now: datetime,
    *,
    region: str | None = None,
    virtual_host_bucket: str | None = None,
) -> AuthResult:
    """Verify a request's SigV4 signature (Authorization header or presigned query).

    `raw_path` is the path as received (percent-encoded, without the query);
    `query` the raw query string (preferred) or decoded (name, value) pairs in
    order; `headers` as received (Host with its port); `lookup_secret` maps an
    access key to its secret or None; `now` is the server's aware UTC time;
    `region`, if given, is the only region accepted in the credential scope;
    `virtual_host_bucket` is the bucket a virtual-hosted Host names (SigV2 signs it).
    Legacy SigV2 requests (query or header form; boto3 and aws-cli still presign
    with it by default) are verified by `s3gw.auth.sigv2` and come back UNSIGNED
    with `signature_version` 2 and no signing key.

    Raises AccessDenied (anonymous, expired presign), InvalidAccessKeyId,
    SignatureDoesNotMatch, RequestTimeTooSkewed, AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError, InvalidRequest or InvalidArgument.
    """
    auth_header = header_get(headers, "authorization")
    query_cands = _query_candidates(query)
    qparams = {
        n.decode("utf-8", "replace"): v.decode("utf-8", "replace") for n, v in query_cands[0]
    }
    presigned = "X-Amz-Signature" in qparams or "X-Amz-Credential" in qparams
    if auth_header is not None and presigned:
        raise InvalidArgument(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm "
            "query parameter or the Authorization header should be specified"
        )
    if is_sigv2(set(qparams), auth_header):
        if isinstance(query, str | bytes):
            raw_query = _latin1_text(query)
        else:
            raw_query = "&".join(f"{quote(n, safe='')}={quote(v, safe='')}" for n, v in query)
        access_key = verify_v2(
            method,
            _latin1_text(raw_path),
            raw_query,
            qparams,
            headers,
            lookup_secret,
            now,
            bucket=virtual_host_bucket,
        )
        return AuthResult(
            access_key=access_key,
            payload_mode=PayloadMode.UNSIGNED,
            payload_sha256=None,
            seed_signature="",
            signing_key=b"",
            scope="",
            amz_date="",
            region="",
            presigned=auth_header is None,
            signature_version=2,
        )
    if auth_header is None and not presigned:
        raise AccessDenied("Anonymous access is not allowed.")

    if presigned:
        parsed = parse_presigned_query(qparams)
    else:
        assert auth_header is not None
        parsed = parse_authorization_header(auth_header, _request_date(headers))
    cred = parsed.credential
    request_time = parse_amz_date(parsed.amz_date)
    header_error: ErrorFactory = (
        AuthorizationQueryParametersError if presigned else AuthorizationHeaderMalformed
    )
    if cred.date != parsed.amz_date[:8]:
        raise header_error(
            f"Invalid credential date '{cred.date}'. This date is not the same as X-Amz-Date: "
            f"'{parsed.amz_date[:8]}'."
        )
    if region is not None and cred.region != region:
        raise header_error(
            f"The authorization header is malformed; the region '{cred.region}' is wrong; "
            f"expecting '{region}'",
            Region=region,
        )
    if "host" not in parsed.signed_headers:
        raise header_error("The host header must be signed.")

    if presigned:
        assert parsed.expires is not None
        if now < request_time - MAX_SKEW:
            raise AccessDenied("Request is not valid yet")
        if now > request_time + timedelta(seconds=parsed.expires):
            expired = AccessDenied(
                "Request has expired",
                Expires=(request_time + timedelta(seconds=parsed.expires)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            expired.extra["X-Amz-Expires"] = str(parsed.expires)
            raise expired
    elif abs(now - request_time) > MAX_SKEW:
        raise RequestTimeTooSkewed(
            RequestTime=parsed.amz_date,
            ServerTime=now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            MaxAllowedSkewMilliseconds="900000",
        )

    secret = lookup_secret(cred.access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=cred.access_key)

    payload_hash, mode, declared = _payload(headers, presigned)
    if presigned and mode.is_streaming:
        raise InvalidRequest("aws-chunked uploads cannot be presigned.")
    key = signing_key(secret, cred.date, cred.region, cred.service)

    first_sts = ""
    first_creq = ""
    for uri in _uri_candidates(raw_path):
        for pairs in query_cands:
            if presigned:
                pairs = [(n, v) for n, v in pairs if n != b"X-Amz-Signature"]
            creq = canonical_request(
                method, uri, canonical_query(pairs), headers, parsed.signed_headers, payload_hash
            )
            sts = string_to_sign(parsed.amz_date, cred.scope, creq)
            if signatures_equal(sign(key, sts), parsed.signature):
                return AuthResult(
                    access_key=cred.access_key,
                    payload_mode=mode,
                    payload_sha256=declared,
                    seed_signature=parsed.signature,
                    signing_key=key,
                    scope=cred.scope,
                    amz_date=parsed.amz_date,
                    region=cred.region,
                    presigned=presigned,
                )
            if not first_sts:
                first_sts, first_creq = sts, creq
    raise SignatureDoesNotMatch(
        AWSAccessKeyId=cred.access_key,
        StringToSign=first_sts,
        SignatureProvided=parsed.signature,
        CanonicalRequest=first_creq,
    )


class PayloadSha256Verifier:
    """Checks a whole (non-chunked) body against its declared x-amz-content-sha256.

    Feed the body with `update`; `verify` raises XAmzContentSHA256Mismatch.
    """

    def __init__(self, expected_hex: str) -> None:
        self._expected = expected_hex
        self._sha = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self._sha.update(data)

    def verify(self) -> None:
        got = self._sha.hexdigest()
        if not hmac.compare_digest(got, self._expected):
            raise XAmzContentSHA256Mismatch(
                ClientComputedContentSHA256=self._expected, S3ComputedContentSHA256=got
            )


__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "MAX_PRESIGN_EXPIRES",
    "MAX_SKEW",
    "STREAMING_SIGNED",
    "STREAMING_SIGNED_TRAILER",
    "STREAMING_UNSIGNED_TRAILER",
    "UNSIGNED_PAYLOAD",
    "AuthResult",
    "Credential",
    "ParsedAuth",
    "PayloadMode",
    "PayloadSha256Verifier",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "chunk_string_to_sign",
    "header_get",
    "parse_amz_date",
    "parse_authorization_header",
    "parse_presigned_query",
    "parse_raw_query",
    "sign",
    "signatures_equal",
    "signing_key",
    "string_to_sign",
    "trailer_string_to_sign",
    "uri_encode",
    "verify_request",
]
