"""S3 XML documents: rendering responses and strictly parsing request bodies.

Shapes follow the S3 API reference (namespace
``http://s3.amazonaws.com/doc/2006-03-01/``). Renderers take plain values and
return UTF-8 bytes; parsers take a body and return plain values or raise
MalformedXML (or InvalidTag, InvalidArgument) - never an XML library error.
Bodies with a DOCTYPE or entity declaration are refused before parsing, so
entity expansion attacks cannot start.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

from s3gw.checksums import ALGORITHMS
from s3gw.conditions import DeleteConditions, parse_http_date, parse_size
from s3gw.cors import CorsRule, check_rules
from s3gw.errors import InvalidArgument, InvalidTag, MalformedXML
from s3gw.parts import RequestedPart

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_XML_BODY = 2 * 1024 * 1024  # CompleteMultipartUpload with 10,000 parts fits
MAX_DELETE_KEYS = 1000

# XML 1.0 cannot carry these characters; such keys need encoding-type=url.
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPECIAL = re.compile("[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    """Escape text; characters XML 1.0 cannot hold become numeric references, as S3 sends
    them (strict parsers then fail loudly instead of seeing a different key; clients
    should list with encoding-type=url, which boto3 does by default)."""
    if _SPECIAL.search(text) is None:
        return text  # most text: one scan
    escaped = escape(text)
    return _INVALID_XML_CHARS.sub(lambda m: f"&#x{ord(m.group()):x};", escaped)


# --- values -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    id: str
    display_name: str


@dataclass(frozen=True)
class ObjectEntry:
    """One key in a listing. `etag` is the bare value (hex or hex-N), without quotes."""

    key: str
    last_modified: datetime
    etag: str
    size: int
    storage_class: str = "STANDARD"
    owner: Owner | None = None
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class PartEntry:
    part_number: int
    last_modified: datetime
    etag: str
    size: int
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectPartsPage:
    """A page of a multipart object's parts, as GetObjectAttributes lists them."""

    total: int
    part_number_marker: int
    next_part_number_marker: int
    max_parts: int
    is_truncated: bool
    parts: Sequence[tuple[int, int, str | None]]  # (part number, size, checksum)
    checksum_algorithm: str | None = None


@dataclass(frozen=True)
class UploadEntry:
    key: str
    upload_id: str
    initiated: datetime
    owner: Owner | None = None
    storage_class: str = "STANDARD"
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class DeleteError:
    key: str
    code: str
    message: str


def format_time(dt: datetime) -> str:
    """S3's XML timestamp: ``2009-10-12T17:50:30.000Z`` (UTC, milliseconds)."""
    if dt.tzinfo is not UTC:
        dt = dt.astimezone(UTC)
    return dt.isoformat(timespec="milliseconds")[:23] + "Z"  # half the time of strftime


def quote_etag(etag: str) -> str:
    """An ETag as S3 sends it: in double quotes."""
    return etag if etag.startswith('"') else f'"{etag}"'


# --- rendering --------------------------------------------------------------------------


class _Doc:
    def __init__(self, root: str) -> None:
        self.root = root
        self.parts = [_HEAD, f'<{root} xmlns="{NS}">']

    def el(self, name: str, value: object | None) -> None:
        """Add <name>value</name>; skipped when value is None."""
        if value is None:
            return
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, datetime):
            text = format_time(value)
        else:
            text = str(value)
        self.parts.append(f"<{name}>{_xml_text(text)}</{name}>")

    def open(self, name: str) -> None:
        self.parts.append(f"<{name}>")

    def close(self, name: str) -> None:
        self.parts.append(f"</{name}>")

    def checksums(self, checksums: Mapping[str, str]) -> None:
        """<ChecksumCRC32>... for each algorithm."""
        for algorithm, value in checksums.items():
            self.el(f"Checksum{algorithm}", value)

    def owner(self, owner: Owner | None, name: str = "Owner") -> None:
        if owner is not None:
            self.parts.append(_owner_xml(owner, name))

    def done(self) -> bytes:
        return ("".join(self.parts) + f"</{self.root}>").encode("utf-8")


def contents_row(e: ObjectEntry, encoding_type: str | None, with_owner: bool) -> str:
    """One <Contents> element of a listing. Callers may keep it and pass it back in place
    of `e`: listings show the same entries again and again."""
    return _object_row("Contents", e, encoding_type, with_owner)


def version_row(e: ObjectEntry, encoding_type: str | None) -> str:
    """One <Version> element of ListObjectVersions: an unversioned bucket's key has one
    version, "null", and it is the latest."""
    version = "<VersionId>null</VersionId><IsLatest>true</IsLatest>"
    return _object_row("Version", e, encoding_type, True, version)


def _object_row(
    tag: str, e: ObjectEntry, encoding_type: str | None, with_owner: bool, version: str = ""
) -> str:
    owner = _owner_xml(e.owner) if with_owner and e.owner is not None else ""
    checksum = (
        f"<ChecksumAlgorithm>{e.checksum_algorithm}</ChecksumAlgorithm>"
        f"<ChecksumType>{e.checksum_type}</ChecksumType>"
        if e.checksum_algorithm is not None
        else ""
    )
    return (
        f"<{tag}><Key>{_xml_text(_encoded(e.key, encoding_type))}</Key>{version}"
        f"<LastModified>{format_time(e.last_modified)}</LastModified>"
        f"<ETag>{_xml_text(quote_etag(e.etag))}</ETag>{checksum}<Size>{e.size}</Size>{owner}"
        f"<StorageClass>{_xml_text(e.storage_class)}</StorageClass></{tag}>"
    )


def _owner_xml(owner: Owner, name: str = "Owner", attributes: str = "") -> str:
    return (
        f"<{name}{attributes}><ID>{_xml_text(owner.id)}</ID>"
        f"<DisplayName>{_xml_text(owner.display_name)}</DisplayName></{name}>"
    )


# Characters quote_plus(value, safe="/") leaves as they are: most keys are made of them only.
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~/-]*")


def _encoded(value: str, encoding_type: str | None) -> str:
    if encoding_type != "url" or _URL_SAFE.fullmatch(value):
        return value  # a listing row is made per key: skip quote_plus's bytes round trip
    return quote_plus(value, safe="/")


def _enc(value: str | None, encoding_type: str | None) -> str | None:
    return None if value is None else _encoded(value, encoding_type)


def render_list_buckets(
    owner: Owner,
    buckets: Iterable[tuple[str, datetime]],
    region: str,
    *,
    prefix: str | None = None,
    continuation_token: str | None = None,
) -> bytes:
    """ListAllMyBucketsResult: (name, creation date) pairs, in name order."""
    d = _Doc("ListAllMyBucketsResult")
    d.owner(owner)
    d.open("Buckets")
    for name, created in buckets:
        d.open("Bucket")
        d.el("Name", name)
        d.el("CreationDate", created)
        d.el("BucketRegion", region)
        d.close("Bucket")
    d.close("Buckets")
    d.el("ContinuationToken", continuation_token)
    d.el("Prefix", prefix)
    return d.done()


def _contents(
    d: _Doc, entries: Iterable[ObjectEntry | str], encoding_type: str | None, with_owner: bool
) -> None:
    d.parts += [
        e if isinstance(e, str) else contents_row(e, encoding_type, with_owner) for e in entries
    ]


def _common_prefixes(d: _Doc, prefixes: Iterable[str], encoding_type: str | None) -> None:
    for p in prefixes:
        d.open("CommonPrefixes")
        d.el("Prefix", _enc(p, encoding_type))
        d.close("CommonPrefixes")


def render_list_objects_v1(
    *,
    bucket: str,
    prefix: str,
    marker: str,
    delimiter: str | None,
    max_keys: int,
    is_truncated: bool,
    next_marker: str | None,
    contents: Sequence[ObjectEntry | str],  # str: a kept contents_row
    common_prefixes: Sequence[str],
    encoding_type: str | None = None,
) -> bytes:
    """ListBucketResult (ListObjects v1). NextMarker is sent only with a delimiter, as S3 does."""
    d = _Doc("ListBucketResult")
    d.el("Name", bucket)
    d.el("Prefix", _enc(prefix, encoding_type))
    d.el("Marker", _enc(marker, encoding_type))
    if is_truncated and delimiter:
        d.el("NextMarker", _enc(next_marker, encoding_type))
    d.el("MaxKeys", max_keys)
    d.el("Delimiter", _enc(delimiter, encoding_type))
    d.el("IsTruncated", is_truncated)
    d.el("EncodingType", encoding_type)
    _contents(d, contents, encoding_type, True)
    _common_prefixes(d, common_prefixes, encoding_type)
    return d.done()


def render_list_versions(
    *,
    bucket: str,
    prefix: str,
    key_marker: str,
    version_id_marker: str,
    delimiter: str | None,
    max_keys: int,
    is_truncated: bool,
    next_key_marker: str | None,
    versions: Sequence[ObjectEntry],
    common_prefixes: Sequence[str],
    encoding_type: str | None = None,
) -> bytes:
    """ListVersionsResult (ListObjectVersions) of an unversioned bucket: no delete markers,
    and the next version-id marker is always "null"."""
    d = _Doc("ListVersionsResult")
    d.el("Name", bucket)
    d.el("Prefix", _enc(prefix, encoding_type))
    d.el("KeyMarker", _enc(key_marker, encoding_type))
    d.el("VersionIdMarker", version_id_marker)
    if is_truncated:
        d.el("NextKeyMarker", _enc(next_key_marker, encoding_type))
        d.el("NextVersionIdMarker", "null")
    d.el("MaxKeys", max_keys)
    d.el("Delimiter", _enc(delimiter, encoding_type))
    d.el("IsTruncated", is_truncated)
    d.el("EncodingType", encoding_type)
    d.parts += [version_row(e, encoding_type) for e in versions]
    _common_prefixes(d, common_prefixes, encoding_type)
    return d.done()


def render_list_objects_v2(
    *,
    bucket: str,
    prefix: str,
    delimiter: str | None,
    max_keys: int,
    is_truncated: bool,
    contents: Sequence[ObjectEntry | str],  # str: a kept contents_row
    common_prefixes: Sequence[str],
    continuation_token: str | None = None,
    next_continuation_token: str | None = None,
    start_after: str | None = None,
    encoding_type: str | None = None,
    fetch_owner: bool = False,
) -> bytes:
    """ListBucketResult (ListObjectsV2); KeyCount counts keys plus common prefixes."""
    d = _Doc("ListBucketResult")
    d.el("Name", bucket)
    d.el("Prefix", _enc(prefix, encoding_type))
    d.el("KeyCount", len(contents) + len(common_prefixes))
    d.el("MaxKeys", max_keys)
    d.el("Delimiter", _enc(delimiter, encoding_type))
    d.el("IsTruncated", is_truncated)
    d.el("ContinuationToken", continuation_token)
    if is_truncated:
        d.el("NextContinuationToken", next_continuation_token)
    d.el("StartAfter", _enc(start_after, encoding_type))
    d.el("EncodingType", encoding_type)
    _contents(d, contents, encoding_type, fetch_owner)
    _common_prefixes(d, common_prefixes, encoding_type)
    return d.done()


def render_copy_object_result(
    etag: str,
    last_modified: datetime,
    *,
    part: bool = False,
    checksums: Mapping[str, str] | None = None,
) -> bytes:
    """CopyObjectResult, or CopyPartResult for UploadPartCopy."""
    d = _Doc("CopyPartResult" if part else "CopyObjectResult")
    d.el("LastModified", last_modified)
    d.el("ETag", quote_etag(etag))
    d.checksums(checksums or {})
    return d.done()


def render_initiate_multipart_upload(bucket: str, key: str, upload_id: str) -> bytes:
    d = _Doc("InitiateMultipartUploadResult")
    d.el("Bucket", bucket)
    d.el("Key", key)
    d.el("UploadId", upload_id)
    return d.done()


def render_complete_multipart_upload(
    location: str,
    bucket: str,
    key: str,
    etag: str,
    checksums: Mapping[str, str] | None = None,
    checksum_type: str | None = None,
) -> bytes:
    d = _Doc("CompleteMultipartUploadResult")
    d.el("Location", location)
    d.el("Bucket", bucket)
    d.el("Key", key)
    d.el("ETag", quote_etag(etag))
    d.checksums(checksums or {})
    d.el("ChecksumType", checksum_type)
    return d.done()


def render_list_parts(
    *,
    bucket: str,
    key: str,
    upload_id: str,
    part_number_marker: int,
    next_part_number_marker: int,
    max_parts: int,
    is_truncated: bool,
    parts: Sequence[PartEntry],
    owner: Owner | None = None,
    storage_class: str = "STANDARD",
    checksum_algorithm: str | None = None,
    checksum_type: str | None = None,
) -> bytes:
    d = _Doc("ListPartsResult")
    d.el("Bucket", bucket)
    d.el("Key", key)
    d.el("UploadId", upload_id)
    d.owner(owner, "Initiator")
    d.owner(owner)
    d.el("StorageClass", storage_class)
    d.el("PartNumberMarker", part_number_marker)
    d.el("NextPartNumberMarker", next_part_number_marker)
    d.el("MaxParts", max_parts)
    d.el("IsTruncated", is_truncated)
    d.el("ChecksumAlgorithm", checksum_algorithm)
    d.el("ChecksumType", checksum_type)
    for p in parts:
        d.open("Part")
        d.el("PartNumber", p.part_number)
        d.el("LastModified", p.last_modified)
        d.el("ETag", quote_etag(p.etag))
        d.el("Size", p.size)
        d.checksums(p.checksums)
        d.close("Part")
    return d.done()


def render_list_multipart_uploads(
    *,
    bucket: str,
    key_marker: str,
    upload_id_marker: str,
    next_key_marker: str | None,
    next_upload_id_marker: str | None,
    max_uploads: int,
    is_truncated: bool,
    uploads: Sequence[UploadEntry],
    prefix: str = "",
    delimiter: str | None = None,
    common_prefixes: Sequence[str] = (),
    encoding_type: str | None = None,
) -> bytes:
    d = _Doc("ListMultipartUploadsResult")
    d.el("Bucket", bucket)
    d.el("KeyMarker", _enc(key_marker, encoding_type))
    d.el("UploadIdMarker", upload_id_marker)
    d.el("NextKeyMarker", _enc(next_key_marker, encoding_type))
    d.el("NextUploadIdMarker", next_upload_id_marker)
    d.el("Prefix", _enc(prefix, encoding_type))
    d.el("Delimiter", _enc(delimiter, encoding_type))
    d.el("MaxUploads", max_uploads)
    d.el("IsTruncated", is_truncated)
    d.el("EncodingType", encoding_type)
    for u in uploads:
        d.open("Upload")
        d.el("Key", _enc(u.key, encoding_type))
        d.el("UploadId", u.upload_id)
        d.owner(u.owner, "Initiator")
        d.owner(u.owner)
        d.el("StorageClass", u.storage_class)
        d.el("Initiated", u.initiated)
        d.el("ChecksumAlgorithm", u.checksum_algorithm)
        d.el("ChecksumType", u.checksum_type)
        d.close("Upload")
    _common_prefixes(d, common_prefixes, encoding_type)
    return d.done()


def render_delete_result(
    deleted: Sequence[tuple[str, str | None]],
    errors: Sequence[DeleteError],
    *,
    quiet: bool = False,
) -> bytes:
    """DeleteResult of (key, version id as asked, if any); in quiet mode only the errors."""
    d = _Doc("DeleteResult")
    if not quiet:
        for key, version_id in deleted:
            d.open("Deleted")
            d.el("Key", key)
            d.el("VersionId", version_id)
            d.close("Deleted")
    for err in errors:
        d.open("Error")
        d.el("Key", err.key)
        d.el("Code", err.code)
        d.el("Message", err.message)
        d.close("Error")
    return d.done()


def render_tagging(tags: Sequence[tuple[str, str]]) -> bytes:
    """Tagging (GetObjectTagging)."""
    d = _Doc("Tagging")
    d.open("TagSet")
    for k, v in tags:
        d.open("Tag")
        d.el("Key", k)
        d.el("Value", v)
        d.close("Tag")
    d.close("TagSet")
    return d.done()


def render_object_attributes(
    *,
    etag: str | None,
    checksums: Mapping[str, str] | None,
    checksum_type: str | None,
    parts: ObjectPartsPage | None,
    storage_class: str | None,
    size: int | None,
) -> bytes:
    """GetObjectAttributesResponse: the attributes asked for (None: not asked, or none).
    The ETag is bare here, unlike every other S3 answer."""
    d = _Doc("GetObjectAttributesResponse")
    d.el("ETag", etag)
    if checksums:
        d.open("Checksum")
        d.checksums(checksums)
        d.el("ChecksumType", checksum_type)
        d.close("Checksum")
    if parts is not None:
        d.open("ObjectParts")
        d.el("PartsCount", parts.total)
        d.el("PartNumberMarker", parts.part_number_marker)
        d.el("NextPartNumberMarker", parts.next_part_number_marker)
        d.el("MaxParts", parts.max_parts)
        d.el("IsTruncated", parts.is_truncated)
        for number, part_size, checksum in parts.parts:
            d.open("Part")
            d.el("PartNumber", number)
            d.el("Size", part_size)
            if checksum is not None and parts.checksum_algorithm is not None:
                d.el(f"Checksum{parts.checksum_algorithm}", checksum)
            d.close("Part")
        d.close("ObjectParts")
    d.el("StorageClass", storage_class)
    d.el("ObjectSize", size)
    return d.done()


def render_empty(root: str) -> bytes:
    """A configuration never set: AccelerateConfiguration, BucketLoggingStatus (logging
    off)."""
    return _Doc(root).done()


def render_versioning(status: str | None) -> bytes:
    """VersioningConfiguration: empty for a bucket never set (as S3 answers), else Status."""
    d = _Doc("VersioningConfiguration")
    d.el("Status", status)
    return d.done()


def render_request_payment() -> bytes:
    """RequestPaymentConfiguration: the bucket owner pays, the only choice here."""
    d = _Doc("RequestPaymentConfiguration")
    d.el("Payer", "BucketOwner")
    return d.done()


def render_post_response(location: str, bucket: str, key: str, etag: str) -> bytes:
    """PostResponse: where a browser upload went (success_action_status 201)."""
    d = _Doc("PostResponse")
    d.el("Location", location)
    d.el("Bucket", bucket)
    d.el("Key", key)
    d.el("ETag", etag)
    return d.done()


def render_bucket_encryption() -> bytes:
    """ServerSideEncryptionConfiguration: AES-256 by default (SSE-S3), the only choice here."""
    d = _Doc("ServerSideEncryptionConfiguration")
    d.open("Rule")
    d.open("ApplyServerSideEncryptionByDefault")
    d.el("SSEAlgorithm", "AES256")
    d.close("ApplyServerSideEncryptionByDefault")
    d.el("BucketKeyEnabled", False)
    d.close("Rule")
    return d.done()


_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def render_access_control_policy(owner: Owner) -> bytes:
    """AccessControlPolicy (GetBucketAcl, GetObjectAcl): the owner, with full control."""
    d = _Doc("AccessControlPolicy")
    d.owner(owner)
    d.open("AccessControlList")
    d.open("Grant")
    d.parts.append(_owner_xml(owner, "Grantee", f' xmlns:xsi="{_XSI}" xsi:type="CanonicalUser"'))
    d.el("Permission", "FULL_CONTROL")
    d.close("Grant")
    d.close("AccessControlList")
    return d.done()


def render_location_constraint(region: str | None) -> bytes:
    """LocationConstraint; us-east-1 (or None) is the empty element, as S3 answers."""
    value = "" if region in (None, "us-east-1") else region
    return (
        f'{_HEAD}<LocationConstraint xmlns="{NS}">{escape(value or "")}</LocationConstraint>'
    ).encode()


# --- parsing ----------------------------------------------------------------------------

_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _parse(body: bytes, root: str) -> ET.Element:
    if len(body) > MAX_XML_BODY:
        raise MalformedXML("The XML you provided was too large.")
    if _FORBIDDEN.search(body):
        raise MalformedXML("DOCTYPE and ENTITY declarations are not allowed.")
    try:
        elem = ET.fromstring(body)
    except ET.ParseError as exc:
        raise MalformedXML() from exc
    if _local(elem.tag) != root:
        raise MalformedXML(f"The root element must be {root}.")
    return elem


def _local(tag: str) -> str:
    """Element name without its namespace (S3 accepts bodies with or without one)."""
    if tag.startswith("{"):
        ns, _, name = tag[1:].partition("}")
        if ns != NS:
            raise MalformedXML(f"Unexpected XML namespace {ns}.")
        return name
    return tag


def _children(elem: ET.Element, allowed: Iterable[str]) -> list[tuple[str, ET.Element]]:
    allowed_set = set(allowed)
    out = []
    for child in elem:
        name = _local(child.tag)
        if name not in allowed_set:
            raise MalformedXML(f"Unexpected element {name}.")
        out.append((name, child))
    return out


def _text(elem: ET.Element) -> str:
    if len(elem):
        raise MalformedXML(f"Element {_local(elem.tag)} must hold text only.")
    return elem.text or ""


def _all(children: list[tuple[str, ET.Element]], name: str) -> list[str]:
    """The texts of every child called `name`, in order."""
    return [_text(e) for n, e in children if n == name]


def _one(children: list[tuple[str, ET.Element]], name: str, required: bool = True) -> str | None:
    values = _all(children, name)
    if len(values) > 1:
        raise MalformedXML(f"Element {name} appears more than once.")
    if not values:
        if required:
            raise MalformedXML(f"Element {name} is required.")
        return None
    return values[0]


def parse_access_control_policy(body: bytes) -> list[tuple[str | None, str]]:
    """The grants of an AccessControlPolicy body (PutBucketAcl, PutObjectAcl): (the
    grantee's canonical user ID, or None for a group or an e-mail address; permission)."""
    root = _parse(body, "AccessControlPolicy")
    children = _children(root, ["Owner", "AccessControlList"])
    grants: list[tuple[str | None, str]] = []
    for name, acl in children:
        if name != "AccessControlList":
            continue
        for _, grant in _children(acl, ["Grant"]):
            fields = _children(grant, ["Grantee", "Permission"])
            grantees = [e for n, e in fields if n == "Grantee"]
            if len(grantees) != 1:
                raise MalformedXML("A Grant needs one Grantee.")
            who = _children(grantees[0], ["ID", "DisplayName", "URI", "EmailAddress"])
            permission = _one(fields, "Permission")
            assert permission is not None
            grants.append((_one(who, "ID", required=False), permission.strip()))
    return grants


def parse_cors_configuration(body: bytes) -> list[CorsRule]:
    """The rules of a CORSConfiguration body (PutBucketCors), checked as S3 does."""
    root = _parse(body, "CORSConfiguration")
    rules = []
    for _, rule in _children(root, ["CORSRule"]):
        fields = _children(
            rule,
            [
                "ID",
                "AllowedOrigin",
                "AllowedMethod",
                "AllowedHeader",
                "ExposeHeader",
                "MaxAgeSeconds",
            ],
        )
        lists = ("AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader")
        values = {name: tuple(v.strip() for v in _all(fields, name)) for name in lists}
        max_age = _one(fields, "MaxAgeSeconds", required=False)
        if max_age is not None and not max_age.strip().isdigit():
            raise MalformedXML("MaxAgeSeconds must be a whole number of seconds.")
        rules.append(
            CorsRule(
                origins=values["AllowedOrigin"],
                methods=values["AllowedMethod"],
                headers=tuple(h.lower() for h in values["AllowedHeader"]),
                expose=values["ExposeHeader"],
                max_age=None if max_age is None else int(max_age),
                id=_one(fields, "ID", required=False),
            )
        )
    check_rules(rules)
    return rules


def render_cors_configuration(rules: Sequence[CorsRule]) -> bytes:
    """CORSConfiguration (GetBucketCors)."""
    d = _Doc("CORSConfiguration")
    for rule in rules:
        d.open("CORSRule")
        d.el("ID", rule.id)
        for name, items in (
            ("AllowedHeader", rule.headers),
            ("AllowedMethod", rule.methods),
            ("AllowedOrigin", rule.origins),
            ("ExposeHeader", rule.expose),
        ):
            for item in items:
                d.el(name, item)
        d.el("MaxAgeSeconds", rule.max_age)
        d.close("CORSRule")
    return d.done()


def parse_versioning_configuration(body: bytes) -> tuple[str | None, str | None]:
    """(Status, MfaDelete) of a VersioningConfiguration body (PutBucketVersioning)."""
    root = _parse(body, "VersioningConfiguration")
    children = _children(root, ["Status", "MfaDelete"])
    status = _one(children, "Status", required=False)
    mfa_delete = _one(children, "MfaDelete", required=False)
    if status not in (None, "Enabled", "Suspended") or mfa_delete not in (
        None,
        "Enabled",
        "Disabled",
    ):
        raise MalformedXML("Status must be Enabled or Suspended, MfaDelete Enabled or Disabled.")
    return status, mfa_delete


def parse_create_bucket_configuration(body: bytes) -> str | None:
    """The LocationConstraint of a CreateBucket body (None for an empty body or element)."""
    if not body.strip():
        return None
    root = _parse(body, "CreateBucketConfiguration")
    children = _children(root, ["LocationConstraint", "Location", "Bucket"])
    value = _one(children, "LocationConstraint", required=False)
    return value.strip() or None if value is not None else None


def parse_complete_multipart_upload(body: bytes) -> list[RequestedPart]:
    """The parts in the order given, ETags without quotes; order is checked by the caller.

    Raises MalformedXML for a bad document, an empty part list or a bad part number.
    """
    root = _parse(body, "CompleteMultipartUpload")
    parts = []
    checksum_fields = ["Checksum" + alg for alg in ALGORITHMS]
    for _, part in _children(root, ["Part"]):
        fields = _children(part, ["PartNumber", "ETag", *checksum_fields])
        number_text = (_one(fields, "PartNumber") or "").strip()
        etag = (_one(fields, "ETag") or "").strip()
        if not number_text.isdigit():
            raise MalformedXML("PartNumber must be a positive integer.")
        number = int(number_text)
        if not 1 <= number <= 10000:
            raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
        checksums = {
            name[len("Checksum") :]: value.strip()
            for name in checksum_fields
            if (value := _one(fields, name, required=False)) is not None
        }
        parts.append(RequestedPart(number, etag.strip('"'), checksums))
    if not parts:
        raise MalformedXML("CompleteMultipartUpload needs at least one Part.")
    return parts


def _parse_time(text: str) -> datetime:
    """A timestamp as the SDKs send it in a body: an HTTP date (the S3 model's choice for
    LastModifiedTime) or ISO 8601."""
    found = parse_http_date(text)
    if found is not None:
        return found
    try:
        found = datetime.fromisoformat(text.strip())
    except ValueError:
        raise MalformedXML("LastModifiedTime must be an HTTP date or ISO 8601 time.") from None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


class DeleteTarget(NamedTuple):
    """One object of a DeleteObjects body: key, version id as given, and its conditions."""

    key: str
    version_id: str | None
    conditions: DeleteConditions = DeleteConditions()


def parse_delete(body: bytes) -> tuple[bool, list[DeleteTarget]]:
    """(quiet, objects) of a DeleteObjects body; 1 to 1000 objects."""
    root = _parse(body, "Delete")
    children = _children(root, ["Object", "Quiet"])
    quiet_text = (_one(children, "Quiet", required=False) or "false").strip().lower()
    if quiet_text not in ("true", "false"):
        raise MalformedXML("Quiet must be true or false.")
    objects: list[DeleteTarget] = []
    for name, obj in children:
        if name != "Object":
            continue
        fields = _children(obj, ["Key", "VersionId", "ETag", "LastModifiedTime", "Size"])
        key = _one(fields, "Key")
        assert key is not None
        time_text = _one(fields, "LastModifiedTime", required=False)
        last_modified = _parse_time(time_text) if time_text is not None else None
        conditions = DeleteConditions(
            _one(fields, "ETag", required=False),
            last_modified,
            parse_size(_one(fields, "Size", required=False), "Size"),
        )
        objects.append(DeleteTarget(key, _one(fields, "VersionId", required=False), conditions))
    if not objects or len(objects) > MAX_DELETE_KEYS:
        raise MalformedXML("Delete must list between 1 and 1000 objects.")
    return quiet_text == "true", objects


MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50


def parse_tagging(body: bytes, max_tags: int = MAX_OBJECT_TAGS) -> list[tuple[str, str]]:
    """The (key, value) tags of a Tagging body, validated as S3 does for object tags.

    Keys are 1-128 and values 0-256 characters, unique, at most `max_tags`
    (10 for objects); breaking these raises InvalidTag.
    """
    root = _parse(body, "Tagging")
    children = _children(root, ["TagSet"])
    if len(children) != 1:
        raise MalformedXML("Tagging needs exactly one TagSet.")
    pairs: list[tuple[str, str]] = []
    for _, tag in _children(children[0][1], ["Tag"]):
        fields = _children(tag, ["Key", "Value"])
        key = _one(fields, "Key")
        assert key is not None
        pairs.append((key, _one(fields, "Value", required=False) or ""))
    return validate_tags(pairs, max_tags)


def validate_tags(
    pairs: Sequence[tuple[str, str]], max_tags: int = MAX_OBJECT_TAGS
) -> list[tuple[str, str]]:
    """Check tags as S3 does for objects: keys 1-128 and values 0-256 characters, no
    ``aws:`` prefix, unique keys, at most `max_tags`; InvalidTag otherwise."""
    tags: list[tuple[str, str]] = []
    for key, value in pairs:
        if not 1 <= len(key) <= 128:
            raise InvalidTag("The TagKey you have provided is invalid")
        if len(value) > 256:
            raise InvalidTag("The TagValue you have provided is invalid")
        if key.startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:")
        if any(k == key for k, _ in tags):
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        tags.append((key, value))
    if len(tags) > max_tags:
        raise InvalidTag(f"Object tags cannot be greater than {max_tags}")
    return tags


__all__ = [
    "MAX_DELETE_KEYS",
    "NS",
    "DeleteError",
    "ObjectEntry",
    "ObjectPartsPage",
    "Owner",
    "PartEntry",
    "UploadEntry",
    "contents_row",
    "format_time",
    "parse_complete_multipart_upload",
    "parse_create_bucket_configuration",
    "DeleteTarget",
    "parse_delete",
    "parse_tagging",
    "quote_etag",
    "render_access_control_policy",
    "render_complete_multipart_upload",
    "render_copy_object_result",
    "render_delete_result",
    "render_empty",
    "render_initiate_multipart_upload",
    "render_list_buckets",
    "render_list_multipart_uploads",
    "render_list_objects_v1",
    "render_list_objects_v2",
    "render_list_parts",
    "render_list_versions",
    "render_location_constraint",
    "render_object_attributes",
    "render_request_payment",
    "render_tagging",
    "validate_tags",
]
