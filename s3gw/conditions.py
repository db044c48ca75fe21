"""Conditional requests: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.

Precedence as the S3 GetObject reference states (after RFC 9110 section 13.2.2):
If-Match, when present, decides alone between it and If-Unmodified-Since
(true If-Match + false If-Unmodified-Since -> 200); If-None-Match, when
present, decides alone between it and If-Modified-Since (false If-None-Match
+ true If-Modified-Since -> 304). Failed If-Match / If-Unmodified-Since ->
412 PreconditionFailed; failed If-None-Match / If-Modified-Since -> 304 for
GET and HEAD, 412 for other methods. The ``x-amz-copy-source-if-*`` headers
of CopyObject / UploadPartCopy follow the same precedence, and every failure
is 412. Dates that do not parse are ignored; HTTP dates have one-second
resolution, so Last-Modified is compared truncated to the second.

Deletes are conditional too (DeleteObject's If-Match, and the
x-amz-if-match-last-modified-time / -size S3 added for directory buckets;
DeleteObjects' ETag, LastModifiedTime and Size per object): a mismatch is
412 and deletes nothing; If-Match on a missing key is 404 NoSuchKey.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from s3gw.errors import InvalidArgument, NoSuchKey, NotModified, PreconditionFailed


@dataclass(frozen=True)
class Conditions:
    """The four conditional headers of a request (raw values, None when absent)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_unmodified_since: str | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], prefix: str = "") -> Conditions:
        """Read ``if-*`` headers (or ``x-amz-copy-source-if-*`` with that prefix)."""
        lower = {k.lower(): v for k, v in headers.items()}
        return cls(
            lower.get(prefix + "if-match"),
            lower.get(prefix + "if-none-match"),
            lower.get(prefix + "if-modified-since"),
            lower.get(prefix + "if-unmodified-since"),
        )

    @property
    def any(self) -> bool:
        return any(
            v is not None
            for v in (
                self.if_match,
                self.if_none_match,
                self.if_modified_since,
                self.if_unmodified_since,
            )
        )


def parse_http_date(value: str | None) -> datetime | None:
    """An HTTP date (RFC 9110: IMF-fixdate, RFC 850 or asctime) as aware UTC; None if bad."""
    if value is None:
        return None
    try:
        dt = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_http_date(dt: datetime) -> str:
    """``Last-Modified`` format: ``Wed, 21 Oct 2015 07:28:00 GMT``."""
    return dt.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def etag_matches(header: str, etag: str) -> bool:
    """True if an If-Match / If-None-Match list names `etag` (bare or quoted) or is ``*``."""
    bare = etag.strip().strip('"')
    for item in header.split(","):
        item = item.strip()
        if item == "*":
            return True
        if item.startswith("W/"):
            item = item[2:]
        if item.strip('"') == bare:
            return True
    return False


def _seconds(dt: datetime) -> datetime:
    return dt.astimezone(UTC).replace(microsecond=0)


def evaluate(
    cond: Conditions,
    etag: str,
    last_modified: datetime,
    *,
    method: str = "GET",
    copy_source: bool = False,
) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) if the conditions fail; else None.

    `etag` is the object's ETag (bare or quoted), `last_modified` its aware time.
    With `copy_source`, every failure is 412, as for ``x-amz-copy-source-if-*``.
    """
    lm = _seconds(last_modified)
    if cond.if_match is not None:
        if not etag_matches(cond.if_match, etag):
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-Match",
            )
    else:
        ius = parse_http_date(cond.if_unmodified_since)
        if ius is not None and lm > ius:
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-Unmodified-Since",
            )
    not_modified = method.upper() in ("GET", "HEAD") and not copy_source
    if cond.if_none_match is not None:
        if etag_matches(cond.if_none_match, etag):
            if not_modified:
                raise NotModified(headers={"ETag": '"' + etag.strip('"') + '"'})
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-None-Match",
            )
    else:
        ims = parse_http_date(cond.if_modified_since)
        if ims is not None and lm <= ims:
            if not_modified:
                raise NotModified(headers={"ETag": '"' + etag.strip('"') + '"'})
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-Modified-Since",
            )


def evaluate_write(cond: Conditions, current_etag: str | None) -> None:
    """Conditional writes (PutObject, CompleteMultipartUpload): ``If-None-Match: *`` fails
    with 412 if the key exists; ``If-Match`` fails with 404 NoSuchKey if it does not and
    412 if the ETag differs."""
    if cond.if_none_match is not None and current_etag is not None:
        if etag_matches(cond.if_none_match, current_etag):
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-None-Match",
            )
    if cond.if_match is not None:
        if current_etag is None:
            raise NoSuchKey()
        if not etag_matches(cond.if_match, current_etag):
            raise PreconditionFailed(
                "At least one of the pre-conditions you specified did not hold",
                Condition="If-Match",
            )


@dataclass(frozen=True)
class DeleteConditions:
    """What a conditional delete requires of the current object (None: no requirement)."""

    if_match: str | None = None
    last_modified: datetime | None = None
    size: int | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> DeleteConditions:
        lower = {k.lower(): v for k, v in headers.items()}
        time_text = lower.get("x-amz-if-match-last-modified-time")
        last_modified = parse_http_date(time_text)
        if time_text is not None and last_modified is None:
            raise InvalidArgument("x-amz-if-match-last-modified-time is not a valid date.")
        return cls(
            lower.get("if-match"),
            last_modified,
            parse_size(lower.get("x-amz-if-match-size"), "x-amz-if-match-size"),
        )

    @property
    def any(self) -> bool:
        return any(v is not None for v in (self.if_match, self.last_modified, self.size))


def parse_size(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not text.strip().isdigit():
        raise InvalidArgument(f"{name} must be a non-negative integer.")
    return int(text)


def evaluate_delete(cond: DeleteConditions, current: tuple[str, datetime, int] | None) -> None:
    """Check a conditional delete against the current object's (ETag, Last-Modified, size),
    or None when the key has none."""
    if current is None:
        if cond.if_match is not None:
            raise NoSuchKey()
        return
    etag, last_modified, size = current
    failed = None
    if cond.if_match is not None and not etag_matches(cond.if_match, etag):
        failed = "If-Match"
    elif cond.last_modified is not None and int(cond.last_modified.timestamp()) != int(
        last_modified.timestamp()
    ):
        failed = "x-amz-if-match-last-modified-time"
    elif cond.size is not None and cond.size != size:
        failed = "x-amz-if-match-size"
    if failed is not None:
        raise PreconditionFailed(
            "At least one of the pre-conditions you specified did not hold", Condition=failed
        )


__all__ = [
    "Conditions",
    "DeleteConditions",
    "etag_matches",
    "evaluate",
    "evaluate_delete",
    "evaluate_write",
    "format_http_date",
    "parse_http_date",
    "parse_size",
]
