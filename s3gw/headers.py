"""Request and response header rules of the object operations, as pure functions.

User metadata (``x-amz-meta-*``, 2 KB), the content headers S3 stores with
an object and returns on GET/HEAD, ``response-*`` overrides of GetObject,
``x-amz-tagging`` on PutObject, ``x-amz-copy-source`` and the COPY/REPLACE
directives of CopyObject, storage classes and server-side encryption. Per
the S3 API reference for PutObject, GetObject and CopyObject.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from s3gw.errors import (
    AccessControlListNotSupported,
    InvalidArgument,
    InvalidRequest,
    InvalidStorageClass,
    MetadataTooLarge,
    S3NotImplemented,
)
from s3gw.routes import parse_query
from s3gw.xml import validate_tags

MAX_METADATA_BYTES = 2048

# Content headers kept with the object and sent back on GET and HEAD (lowercase).
STORED_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
)

# GetObject query overrides -> response header.
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}

STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "REDUCED_REDUNDANCY",
        "STANDARD_IA",
        "ONEZONE_IA",
        "INTELLIGENT_TIERING",
        "GLACIER",
        "DEEP_ARCHIVE",
        "OUTPOSTS",
        "GLACIER_IR",
        "SNOW",
        "EXPRESS_ONEZONE",
    }
)


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``x-amz-meta-*`` headers, names lowercased (as S3 returns them), values as sent.

    Raises MetadataTooLarge when names (without the prefix) and values exceed 2 KB of UTF-8.
    """
    meta = {}
    total = 0
    for name, value in _lower(headers).items():
        if name.startswith("x-amz-meta-"):
            short = name[len("x-amz-meta-") :]
            meta[short] = value
            total += len(short.encode("utf-8")) + len(value.encode("utf-8"))
    if total > MAX_METADATA_BYTES:
        raise MetadataTooLarge(
            "Your metadata headers exceed the maximum allowed metadata size",
            Size=str(total),
            MaxSizeAllowed=str(MAX_METADATA_BYTES),
        )
    return meta


def metadata_headers(meta: Mapping[str, str]) -> dict[str, str]:
    """Stored user metadata back as ``x-amz-meta-*`` response headers."""
    return {f"x-amz-meta-{k}": v for k, v in meta.items()}


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The content headers of a PUT that S3 keeps with the object (lowercase names)."""
    lower = _lower(headers)
    kept = {name: lower[name] for name in STORED_HEADERS if name in lower}
    # aws-chunked is transfer framing, never part of the stored Content-Encoding.
    if "content-encoding" in kept:
        codings = [c.strip() for c in kept["content-encoding"].split(",")]
        codings = [c for c in codings if c and c.lower() != "aws-chunked"]
        if codings:
            kept["content-encoding"] = ",".join(codings)
        else:
            del kept["content-encoding"]
    return kept


def response_overrides(query: Mapping[str, str]) -> dict[str, str]:
    """Response headers named by GetObject's ``response-*`` query parameters."""
    return {header: query[param] for param, header in RESPONSE_OVERRIDES.items() if param in query}


def parse_tagging_header(value: str) -> list[tuple[str, str]]:
    """``x-amz-tagging: k1=v1&k2=v2`` (URL-encoded) as validated (key, value) pairs."""
    pairs = [
        (unquote(k.replace("+", " ")), unquote(v.replace("+", " ")))
        for k, _, v in (part.partition("=") for part in value.split("&") if part)
    ]
    return validate_tags(pairs)


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str


def parse_copy_source(value: str) -> CopySource:
    """``x-amz-copy-source: [/]bucket/key[?versionId=v]`` (key URL-encoded).

    Raises InvalidArgument for a malformed value, S3NotImplemented for a
    version other than ``null``.
    """
    text, _, query = value.strip().partition("?")
    if query:
        q = dict(parse_query(query))
        version = q.get("versionId")
        if version is not None and version != "null":
            raise S3NotImplemented("Copying a specific object version is not implemented.")
    try:
        decoded = unquote(text, errors="strict")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("Invalid copy source object key") from exc
    if decoded.startswith("/"):
        decoded = decoded[1:]
    bucket, slash, key = decoded.partition("/")
    if not bucket or not slash or not key:
        raise InvalidArgument("Invalid copy source object key")
    return CopySource(bucket, key)


def directive(headers: Mapping[str, str], name: str) -> str:
    """``x-amz-metadata-directive`` / ``x-amz-tagging-directive``: COPY (default) or REPLACE."""
    value = _lower(headers).get(name, "COPY").strip().upper()
    if value not in ("COPY", "REPLACE"):
        raise InvalidArgument(f"Unknown {name.removeprefix('x-amz-')} value: {value}")
    return value


def check_copy_to_self(
    source: CopySource, bucket: str, key: str, headers: Mapping[str, str]
) -> None:
    """CopyObject onto itself must change something (S3 answers InvalidRequest otherwise)."""
    if (source.bucket, source.key) != (bucket, key):
        return
    lower = _lower(headers)
    if directive(lower, "x-amz-metadata-directive") == "REPLACE":
        return
    if any(
        name in lower
        for name in (
            "x-amz-storage-class",
            "x-amz-website-redirect-location",
            "x-amz-checksum-algorithm",
        )
    ):
        return
    raise InvalidRequest(
        "This copy request is illegal because it is trying to copy an object to itself "
        "without changing the object's metadata, storage class, website redirect location "
        "or encryption attributes."
    )


# Every object is encrypted at rest with its own AES key, kept in its capability: S3 calls
# that SSE-S3 and names it AES256 in its answers.
ENCRYPTION = {"x-amz-server-side-encryption": "AES256"}
_CUSTOMER_KEY_PREFIXES = (
    "x-amz-server-side-encryption-customer-",
    "x-amz-copy-source-server-side-encryption-customer-",
)


def check_encryption(headers: Mapping[str, str], *, writing: bool) -> None:
    """Refuse the server-side encryption a request asks for but would not get, rather than
    store the object without it: KMS keys (none here) and customer-provided keys (SSE-C:
    the gateway keeps every object's key, so it could not make one readable only with
    the customer's). ``AES256`` is what every object has already.
    """
    lower = _lower(headers)
    if any(name.startswith(_CUSTOMER_KEY_PREFIXES) for name in lower):
        if not writing:
            raise InvalidRequest("The encryption parameters are not applicable to this object.")
        raise S3NotImplemented(
            "Encryption with customer-provided keys (SSE-C) is not available on this gateway; "
            "every object is encrypted with its own AES key (AES256)."
        )
    value = lower.get("x-amz-server-side-encryption")
    if value is None or value.strip() == "AES256":
        return
    if value.strip().startswith("aws:kms"):
        raise S3NotImplemented(
            "Encryption with KMS keys is not available on this gateway; every object is "
            "encrypted with its own AES key (AES256)."
        )
    raise InvalidArgument(
        "The encryption method specified is not supported",
        ArgumentName="x-amz-server-side-encryption",
        ArgumentValue=value,
    )


# ACLs are off, as with S3's BucketOwnerEnforced (its default since 2023): the bucket's
# owner alone has access. A canned ACL that says just that is accepted (rclone sends
# "private" with every upload); any other, or any grant, is refused rather than ignored.
OWNER_ONLY_ACLS = frozenset({"private", "bucket-owner-full-control"})


def grants_only_owner(headers: Mapping[str, str]) -> bool:
    """Whether a request's ``x-amz-acl`` / ``x-amz-grant-*`` headers ask for nothing but
    the owner's own access (also when it sends none)."""
    lower = _lower(headers)
    if any(name.startswith("x-amz-grant-") for name in lower):
        return False
    return lower.get("x-amz-acl", "private").strip().lower() in OWNER_ONLY_ACLS


def check_object_acl(headers: Mapping[str, str]) -> None:
    """AccessControlListNotSupported unless the object's ACL headers ask for the owner's
    own access (see `grants_only_owner`)."""
    if not grants_only_owner(headers):
        raise AccessControlListNotSupported()


def storage_class(headers: Mapping[str, str]) -> str:
    """``x-amz-storage-class`` (default STANDARD); InvalidStorageClass if unknown.

    Every class is stored the same way on the grid; the name is only echoed back.
    """
    value = _lower(headers).get("x-amz-storage-class", "STANDARD").strip().upper()
    if value not in STORAGE_CLASSES:
        raise InvalidStorageClass("The storage class you specified is not valid")
    return value


def parse_part_number(value: str | None) -> int:
    """A ``partNumber`` query value: an integer from 1 to 10000, else InvalidArgument."""
    if value is None or not value.strip().isdigit() or not 1 <= int(value) <= 10000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    return int(value)


OBJECT_ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


def parse_object_attributes(value: str | None) -> frozenset[str]:
    """The ``x-amz-object-attributes`` of GetObjectAttributes (comma-separated names)."""
    names = {n.strip() for n in (value or "").split(",") if n.strip()}
    if not names:
        raise InvalidArgument(
            "The x-amz-object-attributes header specifying the attributes to be retrieved "
            "is either missing or empty"
        )
    if not names <= set(OBJECT_ATTRIBUTES):
        raise InvalidArgument("Invalid attribute name specified.")
    return frozenset(names)


def header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    """Every value of a repeated header, in order (case-insensitive)."""
    name = name.lower()
    return [v for n, v in headers if n.lower() == name]


__all__ = [
    "MAX_METADATA_BYTES",
    "OBJECT_ATTRIBUTES",
    "RESPONSE_OVERRIDES",
    "STORAGE_CLASSES",
    "ENCRYPTION",
    "STORED_HEADERS",
    "CopySource",
    "check_encryption",
    "check_copy_to_self",
    "directive",
    "header_values",
    "metadata_headers",
    "parse_copy_source",
    "parse_object_attributes",
    "parse_part_number",
    "parse_tagging_header",
    "response_overrides",
    "stored_headers",
    "storage_class",
    "user_metadata",
]
