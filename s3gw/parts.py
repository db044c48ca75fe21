"""Multipart-upload rules as pure code: CompleteMultipartUpload checks and part numbers.

Per the S3 API reference (CompleteMultipartUpload, UploadPart): parts are
listed in ascending order (InvalidPartOrder), each must have been uploaded
with the ETag given (InvalidPart), every part but the last must be at least
5 MiB (EntityTooSmall), at most 10,000 parts. The object's ETag is the MD5 of
the parts' MD5s with ``-N``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from s3gw.errors import EntityTooSmall, InvalidPart, InvalidPartOrder
from s3gw.etag import multipart_etag, strip_quotes

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000


@dataclass(frozen=True)
class UploadedPart:
    """A stored part: its number, bare ETag (hex MD5) and size."""

    number: int
    etag: str
    size: int


@dataclass(frozen=True)
class Completion:
    """The parts that make the object, in order, with its size and multipart ETag."""

    parts: tuple[UploadedPart, ...]
    size: int
    etag: str


def check_complete(
    requested: Sequence[tuple[int, str]],
    uploaded: Mapping[int, UploadedPart],
    *,
    min_part_size: int = MIN_PART_SIZE,
) -> Completion:
    """Validate a CompleteMultipartUpload part list against the uploaded parts.

    `requested` is (part number, ETag) as parsed from the body; `uploaded` maps
    part numbers to what was stored (only the latest upload of each number).
    Raises InvalidPartOrder, InvalidPart or EntityTooSmall.
    """
    chosen: list[UploadedPart] = []
    previous = 0
    for number, etag in requested:
        if number <= previous:
            raise InvalidPartOrder()
        previous = number
        part = uploaded.get(number)
        if part is None or strip_quotes(etag) != strip_quotes(part.etag):
            raise InvalidPart(PartNumber=str(number), ETag=strip_quotes(etag))
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < min_part_size:
            raise EntityTooSmall(
                ProposedSize=str(part.size),
                MinSizeAllowed=str(min_part_size),
                PartNumber=str(part.number),
                ETag=part.etag,
            )
    return Completion(
        parts=tuple(chosen),
        size=sum(p.size for p in chosen),
        etag=multipart_etag(p.etag for p in chosen),
    )


def part_range(parts: Sequence[UploadedPart], start: int, end: int) -> list[tuple[int, int, int]]:
    """Which parts serve the object bytes [start, end] (inclusive).

    Returns (part index, offset in part, length) triples in order, so a
    ranged GET of a multipart object reads only the parts it needs.
    """
    out = []
    base = 0
    for i, part in enumerate(parts):
        lo, hi = base, base + part.size - 1
        base += part.size
        if part.size == 0 or hi < start:
            continue
        if lo > end:
            break
        first = max(start, lo)
        last = min(end, hi)
        out.append((i, first - lo, last - first + 1))
    return out


__all__ = [
    "MAX_PARTS",
    "MIN_PART_SIZE",
    "Completion",
    "UploadedPart",
    "check_complete",
    "part_range",
]
