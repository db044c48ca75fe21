"""The ``Range`` header of GetObject / HeadObject / UploadPartCopy, as S3 answers it.

S3 serves one byte range (RFC 9110 section 14): ``bytes=a-b`` (end clipped to
the object), ``bytes=a-`` and the suffix ``bytes=-n`` (the last n bytes, the
whole object if n is larger). A range whose start is at or past the end, a
``bytes=-0`` suffix, and any range of an empty object are unsatisfiable: 416
InvalidRange. S3 does not serve multiple ranges; like a syntactically
invalid header (``bytes=5-2``, another unit), a multi-range header is
ignored and the whole object is sent with 200.
``x-amz-copy-source-range`` is stricter: it must be ``bytes=a-b`` inside the
source object, else InvalidArgument / InvalidRange.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from s3gw.errors import InvalidArgument, InvalidRange

_SPEC = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range [start, end] of an object of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


def _unsatisfiable(header: str, size: int) -> InvalidRange:
    return InvalidRange(
        headers={"Content-Range": f"bytes */{size}"},
        RangeRequested=header.strip(),
        ActualObjectSize=str(size),
    )


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to serve for a Range header, or None to serve the whole object (200).

    Raises InvalidRange (416, with a ``Content-Range: bytes */size`` header) when the
    range cannot be satisfied.
    """
    if header is None:
        return None
    m = _SPEC.fullmatch(header)
    if m is None:
        return None  # multiple ranges, other units or bad syntax: ignored, as S3 does
    first, last = m.group(1), m.group(2)
    if not first and not last:
        return None
    if not first:
        n = int(last)
        if n == 0 or size == 0:
            raise _unsatisfiable(header, size)
        return ByteRange(max(0, size - n), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(header, size)
    return ByteRange(start, min(end, size - 1), size)


def parse_copy_source_range(header: str, size: int) -> ByteRange:
    """``x-amz-copy-source-range: bytes=first-last`` for UploadPartCopy (both required)."""
    m = _SPEC.fullmatch(header)
    if m is None or not m.group(1) or not m.group(2):
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last "
            "where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last "
            "where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    if end >= size:
        raise InvalidRange(
            "The requested range is not satisfiable",
            RangeRequested=header.strip(),
            ActualObjectSize=str(size),
        )
    return ByteRange(start, end, size)


__all__ = ["ByteRange", "parse_copy_source_range", "parse_range"]
