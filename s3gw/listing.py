"""ListObjects (v1 and v2) semantics over any key-ordered source, as pure code.

S3 lists keys in UTF-8 binary order; for Python ``str`` that is code-point
order, so keys compare as plain strings. With a delimiter, keys that contain
it after the prefix roll up into one CommonPrefixes entry, which counts once
against max-keys. v1 pages with ``marker`` (NextMarker is the last key or
prefix returned), v2 with an opaque continuation token (which wins over
``start-after``). max-keys is capped at 1000; ``max-keys=0`` answers an empty,
untruncated page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from s3gw.errors import InvalidArgument

MAX_KEYS = 1000
T = TypeVar("T")


@dataclass(frozen=True)
class ListParams:
    """The listing request, parsed from the query. `start_after` is the effective lower
    bound (exclusive): v1's marker, or v2's token key / start-after."""

    version: int
    prefix: str = ""
    delimiter: str | None = None
    max_keys: int = MAX_KEYS
    start_after: str = ""
    marker: str = ""  # v1, echoed
    continuation_token: str | None = None  # v2, echoed
    start_after_param: str | None = None  # v2, echoed
    encoding_type: str | None = None
    fetch_owner: bool = False


def encode_token(key: str) -> str:
    """An opaque v2 continuation token for 'continue after `key`'."""
    return base64.urlsafe_b64encode(b"1:" + key.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    """The key a continuation token continues after; InvalidArgument if it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        if not raw.startswith(b"1:"):
            raise ValueError(token)
        return raw[2:].decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise InvalidArgument("The continuation token provided is incorrect") from exc


def parse_max_keys(value: str | None, name: str = "max-keys", cap: int = MAX_KEYS) -> int:
    """A max-keys / max-uploads / max-parts value: a non-negative integer, capped."""
    if value is None or value == "":
        return cap
    if not value.strip().isdigit():
        raise InvalidArgument(f"Provided {name} not an integer or within integer range")
    return min(int(value), cap)


MAX_BUCKETS = 10000


@dataclass(frozen=True)
class BucketsPage:
    """One ListBuckets page: the names shown and the token for the next page, if any."""

    names: list[str]
    continuation_token: str | None


def paginate_buckets(names: Sequence[str], query: Mapping[str, str], region: str) -> BucketsPage:
    """ListBuckets' ``prefix``, ``max-buckets``, ``continuation-token`` and
    ``bucket-region`` over the account's bucket names in order. Without max-buckets
    every bucket is listed, as S3 answers older clients; 1 to 10,000 otherwise."""
    prefix = query.get("prefix", "")
    after = decode_token(query["continuation-token"]) if "continuation-token" in query else ""
    limit = query.get("max-buckets")
    if limit is not None and not (limit.strip().isdigit() and 1 <= int(limit) <= MAX_BUCKETS):
        raise InvalidArgument(f"max-buckets must be an integer from 1 to {MAX_BUCKETS}")
    if query.get("bucket-region", region) != region:
        return BucketsPage([], None)
    chosen = [n for n in names if n.startswith(prefix) and n > after]
    if limit is None or len(chosen) <= int(limit):
        return BucketsPage(chosen, None)
    shown = chosen[: int(limit)]
    return BucketsPage(shown, encode_token(shown[-1]))


def parse_list_params(query: Mapping[str, str], *, v2: bool) -> ListParams:
    """Parse ListObjects (v1) or ListObjectsV2 query parameters.

    Raises InvalidArgument for a bad max-keys, encoding-type or continuation token.
    """
    encoding = query.get("encoding-type")
    if encoding is not None and encoding.lower() != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request")
    delimiter = query.get("delimiter") or None
    prefix = query.get("prefix", "")
    max_keys = parse_max_keys(query.get("max-keys"))
    encoding_type = "url" if encoding is not None else None
    if not v2:
        marker = query.get("marker", "")
        return ListParams(
            1,
            prefix=prefix,
            delimiter=delimiter,
            max_keys=max_keys,
            start_after=marker,
            marker=marker,
            encoding_type=encoding_type,
            fetch_owner=True,
        )
    token = query.get("continuation-token")
    start_after = query.get("start-after")
    if token is not None:
        if not token:
            raise InvalidArgument("The continuation token provided is incorrect")
        effective = decode_token(token)
    else:
        effective = start_after or ""
    return ListParams(
        2,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        start_after=effective,
        continuation_token=token,
        start_after_param=start_after,
        encoding_type=encoding_type,
        fetch_owner=query.get("fetch-owner", "false").lower() == "true",
    )


def parse_list_versions_params(query: Mapping[str, str]) -> ListParams:
    """ListObjectVersions parameters for an unversioned bucket: each key's one version is
    "null", so the key-marker works as v1's marker, and a version-id-marker can only be
    "null" (S3's InvalidArgument otherwise, and without a key-marker)."""
    key_marker = query.get("key-marker", "")
    version_marker = query.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.")
    if version_marker not in ("", "null"):
        raise InvalidArgument("Invalid version id specified")
    return parse_list_params({**query, "marker": key_marker}, v2=False)


@dataclass
class Page(Generic[T]):
    """One page of a listing: entries and common prefixes in key order."""

    contents: list[tuple[str, T]] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    last: str | None = None  # last key or common prefix returned: NextMarker / the token key

    @property
    def next_token(self) -> str | None:
        """The v2 NextContinuationToken (only when truncated)."""
        return encode_token(self.last) if self.is_truncated and self.last is not None else None


def paginate(
    items: Iterable[tuple[str, T]],
    *,
    prefix: str = "",
    delimiter: str | None = None,
    start_after: str = "",
    max_keys: int = MAX_KEYS,
) -> Page[T]:
    """Build one page from (key, entry) pairs given in ascending key order.

    `items` may start anywhere (the index can seek to max(prefix, start_after));
    iteration stops as soon as the page is full or keys pass the prefix.
    """
    page: Page[T] = Page()
    if max_keys <= 0:
        return page
    count = 0
    for key, entry in items:
        if key <= start_after or key < prefix:
            continue
        if not key.startswith(prefix):
            break  # sorted: every later key is past the prefix too
        if delimiter:
            idx = key.find(delimiter, len(prefix))
            if idx >= 0:
                cp = key[: idx + len(delimiter)]
                if cp == page.last or cp <= start_after:
                    continue  # already returned (on this page or an earlier one)
                if count == max_keys:
                    page.is_truncated = True
                    break
                page.common_prefixes.append(cp)
                page.last = cp
                count += 1
                continue
        if count == max_keys:
            page.is_truncated = True
            break
        page.contents.append((key, entry))
        page.last = key
        count += 1
    return page


@dataclass
class UploadsPage(Generic[T]):
    """One page of ListMultipartUploads: (key, upload id, entry) triples and prefixes."""

    uploads: list[tuple[str, str, T]] = field(default_factory=list)
    common_prefixes: list[str] = field(default_factory=list)
    is_truncated: bool = False
    next_key_marker: str | None = None
    next_upload_id_marker: str | None = None


def paginate_uploads(
    items: Iterable[tuple[str, str, T]],
    *,
    prefix: str = "",
    delimiter: str | None = None,
    key_marker: str = "",
    upload_id_marker: str = "",
    max_uploads: int = MAX_KEYS,
) -> UploadsPage[T]:
    """One page of in-progress uploads from (key, upload id, entry) in (key, upload id) order.

    As S3: with only key-marker, uploads of keys after it; with upload-id-marker too,
    also the uploads of key-marker whose ids sort after it. Common prefixes count once.
    """
    page: UploadsPage[T] = UploadsPage()
    if max_uploads <= 0:
        return page
    count = 0
    last_cp: str | None = None
    for key, upload_id, entry in items:
        if key_marker:
            if key < key_marker:
                continue
            if key == key_marker and (not upload_id_marker or upload_id <= upload_id_marker):
                continue
        if key < prefix:
            continue
        if not key.startswith(prefix):
            break
        if delimiter:
            idx = key.find(delimiter, len(prefix))
            if idx >= 0:
                cp = key[: idx + len(delimiter)]
                if cp == last_cp or (key_marker and cp <= key_marker):
                    continue  # already returned (on this page or an earlier one)
                if count == max_uploads:
                    page.is_truncated = True
                    break
                page.common_prefixes.append(cp)
                last_cp = cp
                page.next_key_marker, page.next_upload_id_marker = cp, None
                count += 1
                continue
        if count == max_uploads:
            page.is_truncated = True
            break
        page.uploads.append((key, upload_id, entry))
        page.next_key_marker, page.next_upload_id_marker = key, upload_id
        count += 1
    return page


def parse_part_paging(marker: str | None, max_parts: str | None) -> tuple[int, int]:
    """(part-number-marker, max-parts) of ListParts (query) or GetObjectAttributes (headers)."""
    marker = marker or "0"
    if not marker.isdigit():
        raise InvalidArgument("part-number-marker must be an integer")
    return int(marker), parse_max_keys(max_parts, "max-parts")


def paginate_parts(
    parts: Iterable[tuple[int, T]], *, part_number_marker: int = 0, max_parts: int = MAX_KEYS
) -> tuple[list[tuple[int, T]], bool, int]:
    """One ListParts page from (part number, entry) in ascending order.

    Returns (parts, is_truncated, next part-number-marker).
    """
    out: list[tuple[int, T]] = []
    for number, entry in parts:
        if number <= part_number_marker:
            continue
        if len(out) == max_parts:
            return out, True, out[-1][0] if out else part_number_marker
        out.append((number, entry))
    return out, False, out[-1][0] if out else part_number_marker


__all__ = [
    "MAX_BUCKETS",
    "MAX_KEYS",
    "BucketsPage",
    "ListParams",
    "Page",
    "UploadsPage",
    "decode_token",
    "encode_token",
    "paginate",
    "paginate_buckets",
    "paginate_parts",
    "paginate_uploads",
    "parse_list_params",
    "parse_list_versions_params",
    "parse_max_keys",
    "parse_part_paging",
]
