"""S3 request dispatch as one pure function: (method, host, path, query, headers) -> Route.

S3 picks the operation from the method, whether a bucket and key are named
(path-style ``/bucket/key`` or virtual-hosted ``bucket.<base domain>/key``),
sub-resource query parameters (``?uploads``, ``?uploadId``, ``?tagging``...)
and, for PUT, the ``x-amz-copy-source`` header. Sub-resources we do not serve
answer NotImplemented; unknown query parameters (such as boto3's ``x-id``)
are ignored. Bucket-name and key rules are here too.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from s3gw.errors import (
    InvalidArgument,
    InvalidBucketName,
    KeyTooLongError,
    MethodNotAllowed,
    S3NotImplemented,
)

MAX_KEY_BYTES = 1024

# Sub-resources we answer for reading only (GET): an unversioned bucket's versioning and
# versions (each key's one "null" version), the one ACL there is (the owner's full
# control), settings that are off (acceleration, access logging) or fixed (the owner
# pays, every object encrypted with AES-256), an object's attributes; any other
# method, or the wrong level (bucket or object), is refused, never taken for the plain
# operation (DELETE /bkt/k?acl is not a DeleteObject, GET /bkt?attributes not a
# ListObjects).
_BUCKET_READS = {
    "accelerate": "GetBucketAccelerateConfiguration",
    "acl": "GetBucketAcl",
    "encryption": "GetBucketEncryption",
    "logging": "GetBucketLogging",
    "requestPayment": "GetBucketRequestPayment",
    "versioning": "GetBucketVersioning",
    "versions": "ListObjectVersions",
}
_OBJECT_READS = {"acl": "GetObjectAcl", "attributes": "GetObjectAttributes"}
READ_ONLY_SUBRESOURCES = sorted(_BUCKET_READS.keys() | _OBJECT_READS.keys())
# ...but for a PUT that may restate what there is: the owner's ACL, versioning suspended.
PUTTABLE = {"acl": "Acl", "versioning": "Versioning"}
# Bucket configurations this gateway has no way to set, so no bucket has one: reading one
# answers S3's own "none configured" error (what tools expect of a plain bucket), setting
# or deleting one is NotImplemented. Subresource -> that error's code.
UNCONFIGURED = {
    "lifecycle": "NoSuchLifecycleConfiguration",
    "object-lock": "ObjectLockConfigurationNotFoundError",
    "policy": "NoSuchBucketPolicy",
    "replication": "ReplicationConfigurationNotFoundError",
    "website": "NoSuchWebsiteConfiguration",
}
# Sub-resources of S3 we recognise but do not implement (bucket- or object-level).
UNSUPPORTED_SUBRESOURCES = frozenset(
    {
        "analytics",
        "intelligent-tiering",
        "inventory",
        "legal-hold",
        "metadataTable",
        "metrics",
        "notification",
        "ownershipControls",
        "policyStatus",
        "publicAccessBlock",
        "restore",
        "retention",
        "select",
        "session",
        "torrent",
        "versionId",
        "renameObject",
    }
)


@dataclass(frozen=True)
class Route:
    """The operation a request names. `query` holds the first value of each parameter."""

    operation: str
    bucket: str | None = None
    key: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    virtual_host: bool = False


def parse_query(raw: str | bytes) -> list[tuple[str, str]]:
    """A raw query string as decoded (name, value) pairs in order ('+' stays '+', as S3 reads
    SigV4-encoded queries); invalid UTF-8 raises InvalidArgument."""
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((_decode(name), _decode(value)))
    return pairs


def _decode(text: str) -> str:
    try:
        return unquote_to_bytes(text).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("The request URI or query is not valid UTF-8.") from exc


def split_host(host: str) -> str:
    """The host name without port, lowercased (IPv6 brackets kept)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.index("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if ":" in host else host


def bucket_from_host(host: str, base_domains: Sequence[str]) -> str | None:
    """The bucket of a virtual-hosted-style Host, or None for path style."""
    name = split_host(host)
    for base in base_domains:
        base = base.lower().strip(".")
        if name.endswith("." + base) and len(name) > len(base) + 1:
            return name[: -len(base) - 1]
    return None


_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_BAD_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BAD_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def validate_bucket_name(name: str) -> None:
    """Raise InvalidBucketName unless `name` follows S3's general-purpose bucket rules."""
    ok = (
        bool(_BUCKET_RE.fullmatch(name))
        and ".." not in name
        and ".-" not in name
        and "-." not in name
    )
    if ok and not name.startswith(_BAD_PREFIXES) and not name.endswith(_BAD_SUFFIXES):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return
    raise InvalidBucketName(f"The specified bucket is not valid: {name}", resource=name)


def validate_key(key: str) -> None:
    """Raise KeyTooLongError for keys over 1024 bytes of UTF-8, InvalidArgument for empty."""
    if not key:
        raise InvalidArgument("The key must not be empty.")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise KeyTooLongError(f"Your key is too long; the maximum is {MAX_KEY_BYTES} bytes.")


def _unsupported(query: Mapping[str, str]) -> None:
    # versionId=null names the only version an unversioned bucket has.
    names = sorted(
        n
        for n in query
        if n in UNSUPPORTED_SUBRESOURCES and not (n == "versionId" and query[n] == "null")
    )
    if names:
        raise S3NotImplemented(f"The {names[0]} sub-resource is not implemented by this gateway.")


def _level_read(reads: Mapping[str, str], name: str, level: str) -> str:
    if name not in reads:
        raise S3NotImplemented(f"The {name} sub-resource is not one of {level}.")
    return reads[name]


def unconfigured(query: Mapping[str, str]) -> str | None:
    """The bucket configuration a request names (a key of UNCONFIGURED), if any."""
    return next((n for n in UNCONFIGURED if n in query), None)


def _read_only(query: Mapping[str, str], method: str) -> str | None:
    """The read-only sub-resource a request names, if any; S3NotImplemented unless a GET
    (or a PUT of an ACL, which may set the one ACL there is)."""
    name = next((n for n in READ_ONLY_SUBRESOURCES if n in query), None)
    if name is not None and method != "GET" and not (name in PUTTABLE and method == "PUT"):
        raise S3NotImplemented(f"Changing {name} is not implemented by this gateway.")
    return name


def route(
    method: str,
    host: str,
    raw_path: str | bytes,
    query: str | bytes | Sequence[tuple[str, str]],
    headers: Mapping[str, str] | None = None,
    *,
    base_domains: Sequence[str] = (),
) -> Route:
    """Name the S3 operation of a request.

    `raw_path` is percent-encoded as received; `headers` need only
    ``x-amz-copy-source`` (any case). Raises S3NotImplemented (unserved
    operations), MethodNotAllowed, InvalidArgument, KeyTooLongError.
    """
    method = method.upper()
    pairs = parse_query(query) if isinstance(query, str | bytes) else list(query)
    q: dict[str, str] = {}
    for n, v in pairs:
        q.setdefault(n, v)
    lower_headers = {k.lower(): v for k, v in (headers or {}).items()}
    copy = "x-amz-copy-source" in lower_headers

    path_text = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    path = _decode(path_text or "/")
    if not path.startswith("/"):
        path = "/" + path
    vbucket = bucket_from_host(host, base_domains)
    if vbucket is not None:
        bucket: str | None = vbucket
        key: str | None = path[1:] or None
    else:
        rest = path[1:]
        if not rest:
            bucket, key = None, None
        else:
            b, slash, k = rest.partition("/")
            bucket, key = b, (k if slash and k else None)
        if bucket == "":
            bucket = None

    def r(op: str) -> Route:
        return Route(op, bucket, key, q, vbucket is not None)

    if bucket is None:
        if method in ("GET", "HEAD"):
            return r("ListBuckets")
        raise MethodNotAllowed(headers={"Allow": "GET, HEAD"})
    if method == "OPTIONS":  # a browser's CORS preflight, for a bucket or a key in it
        return r("PreflightRequest")

    if key is None:
        _unsupported(q)
        read_only = _read_only(q, method)
        if read_only is not None:
            if method == "PUT":
                return r(f"PutBucket{PUTTABLE[read_only]}")
            return r(_level_read(_BUCKET_READS, read_only, "a bucket"))
        setting = next((n for n in ("cors", "tagging") if n in q), None)
        if setting is not None:  # settings kept in the bucket's entry
            if method not in ("GET", "PUT", "DELETE"):
                raise S3NotImplemented(f"{method} of a bucket's {setting} is not one S3 has.")
            return r(f"{method.capitalize()}Bucket{setting.capitalize()}")
        configuration = unconfigured(q)
        if configuration is not None:
            if method != "GET":
                raise S3NotImplemented(f"Setting {configuration} is not implemented here.")
            return r("GetBucketConfiguration")
        if method == "GET":
            if "location" in q:
                return r("GetBucketLocation")
            if "uploads" in q:
                return r("ListMultipartUploads")
            if "list-type" in q:
                if q["list-type"] != "2":
                    raise InvalidArgument("Invalid List Type specified in Request")
                return r("ListObjectsV2")
            return r("ListObjects")
        if method == "HEAD":
            return r("HeadBucket")
        if method == "PUT":
            return r("CreateBucket")
        if method == "DELETE":
            return r("DeleteBucket")
        if method == "POST":
            return r("DeleteObjects" if "delete" in q else "PostObject")
        raise S3NotImplemented(f"{method} on a bucket is not implemented by this gateway.")

    _unsupported(q)
    read_only = _read_only(q, method)
    if read_only is not None:
        if method == "PUT":
            if read_only != "acl":
                raise S3NotImplemented(f"The {read_only} sub-resource is not one of an object.")
            return r("PutObjectAcl")
        return r(_level_read(_OBJECT_READS, read_only, "an object"))
    bucket_only = next((n for n in [*UNCONFIGURED, "cors"] if n in q), None)
    if bucket_only is not None:
        raise S3NotImplemented(f"The {bucket_only} sub-resource is not one of an object.")
    if method in ("PUT", "POST"):
        validate_key(key)
    if method == "GET":
        if "uploadId" in q:
            return r("ListParts")
        if "tagging" in q:
            return r("GetObjectTagging")
        return r("GetObject")
    if method == "HEAD":
        return r("HeadObject")
    if method == "PUT":
        if "uploadId" in q or "partNumber" in q:
            if "uploadId" not in q or "partNumber" not in q:
                raise InvalidArgument("UploadPart needs both partNumber and uploadId.")
            return r("UploadPartCopy" if copy else "UploadPart")
        if "tagging" in q:
            return r("PutObjectTagging")
        return r("CopyObject" if copy else "PutObject")
    if method == "DELETE":
        if "uploadId" in q:
            return r("AbortMultipartUpload")
        if "tagging" in q:
            return r("DeleteObjectTagging")
        return r("DeleteObject")
    if method == "POST":
        if "uploads" in q:
            return r("CreateMultipartUpload")
        if "uploadId" in q:
            return r("CompleteMultipartUpload")
    raise S3NotImplemented(f"{method} on an object is not implemented by this gateway.")


__all__ = [
    "MAX_KEY_BYTES",
    "UNCONFIGURED",
    "Route",
    "bucket_from_host",
    "parse_query",
    "route",
    "split_host",
    "unconfigured",
    "validate_bucket_name",
    "validate_key",
]
