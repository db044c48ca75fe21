"""Multipart-upload rules as pure code: CompleteMultipartUpload checks and part numbers.

Per the S3 API reference (CompleteMultipartUpload, UploadPart): parts are
listed in ascending order (InvalidPartOrder), each must have been uploaded
with the ETag given (InvalidPart), every part but the last must be at least
5 MiB (EntityTooSmall), at most 10,000 parts. The object's ETag is the MD5 of
the parts' MD5s with ``-N``.

When the upload has a checksum (see `s3gw.checksums`), the parts carry theirs
too: a COMPOSITE upload must name each part's checksum in the completion, a
given checksum must match the stored one, the part numbers then run 1, 2, 3...
without gaps (InvalidPartOrder), and the object's checksum is computed from the
parts'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from s3gw.checksums import COMPOSITE, UploadChecksum, algorithm_of_header, combined_checksum
from s3gw.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
)
from s3gw.etag import multipart_etag, strip_quotes

MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PARTS = 10000


@dataclass(frozen=True)
class UploadedPart:
    """A stored part: its number, bare ETag (hex MD5), size and checksums (alg -> base64)."""

    number: int
    etag: str
    size: int
    checksums: Mapping[str, str] = field(default_factory=dict)


class RequestedPart(NamedTuple):
    """A part as CompleteMultipartUpload names it: number, ETag and any checksums."""

    number: int
    etag: str
    checksums: Mapping[str, str] = {}


@dataclass(frozen=True)
class Completion:
    """The parts that make the object, in order, with its size, multipart ETag and, when
    every part has one of the upload's algorithm, its checksum and the parts' checksums."""

    parts: tuple[UploadedPart, ...]
    size: int
    etag: str
    checksum: str | None = None
    part_checksums: tuple[str, ...] | None = None


def check_part_checksum(upload: UploadChecksum, declared: str | None) -> None:
    """An UploadPart's checksum (the algorithm its header or trailer names) against its
    upload's: a COMPOSITE upload needs each part's, and no part may name another."""
    if not upload.declared or declared == upload.algorithm:
        return
    if declared is not None or upload.type == COMPOSITE:
        raise _type_mismatch(upload.algorithm, declared)


def _type_mismatch(expected: str | None, actual: str | None) -> InvalidRequest:
    """S3's answer to a checksum of another algorithm than the upload's (None: no checksum)."""
    return InvalidRequest(
        f"Checksum Type mismatch occurred, expected checksum Type: "
        f"{expected.lower() if expected else 'null'}, "
        f"actual checksum Type: {actual.lower() if actual else 'null'}"
    )


def check_complete(
    requested: Sequence[RequestedPart],
    uploaded: Mapping[int, UploadedPart],
    checksum: UploadChecksum | None = None,
    *,
    min_part_size: int = MIN_PART_SIZE,
) -> Completion:
    """Validate a CompleteMultipartUpload part list against the uploaded parts.

    `requested` is as parsed from the body; `uploaded` maps part numbers to what was
    stored (only the latest upload of each number); `checksum` is the upload's.
    Raises InvalidPartOrder, InvalidPart, InvalidRequest or EntityTooSmall.
    """
    chosen: list[UploadedPart] = []
    previous = 0
    declared = checksum is not None and checksum.declared
    for number, etag, given in requested:
        if number <= previous or (declared and number != previous + 1):
            raise InvalidPartOrder()
        previous = number
        part = uploaded.get(number)
        if part is None or strip_quotes(etag) != strip_quotes(part.etag):
            raise InvalidPart(PartNumber=str(number), ETag=strip_quotes(etag))
        if checksum is not None:
            _check_given_checksums(checksum, part, given)
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < min_part_size:
            raise EntityTooSmall(
                ProposedSize=str(part.size),
                MinSizeAllowed=str(min_part_size),
                PartNumber=str(part.number),
                ETag=part.etag,
            )
    completion = Completion(
        parts=tuple(chosen),
        size=sum(p.size for p in chosen),
        etag=multipart_etag(p.etag for p in chosen),
    )
    if checksum is None or any(checksum.algorithm not in p.checksums for p in chosen):
        return completion
    values = tuple(p.checksums[checksum.algorithm] for p in chosen)
    sized = [(v, p.size) for v, p in zip(values, chosen, strict=True)]
    return replace(completion, checksum=combined_checksum(checksum, sized), part_checksums=values)


def _check_given_checksums(
    checksum: UploadChecksum, part: UploadedPart, given: Mapping[str, str]
) -> None:
    alg = checksum.algorithm
    if checksum.declared and checksum.type == COMPOSITE and alg not in given:
        raise InvalidRequest(
            f"The upload was created using a {alg.lower()} checksum. The complete request "
            f"must include the checksum for each part. It was missing for part {part.number} "
            "in the request."
        )
    for given_alg, value in given.items():
        if checksum.declared and given_alg != alg:
            raise _type_mismatch(alg, given_alg)
        stored = part.checksums.get(given_alg)
        if stored is not None and stored != value.strip():
            raise InvalidPart(PartNumber=str(part.number), ETag=part.etag)


def check_completion_headers(
    headers: Mapping[str, str], checksum: UploadChecksum, completion: Completion
) -> None:
    """The whole object as a CompleteMultipartUpload's headers describe it: its checksum
    type (x-amz-checksum-type), checksum (x-amz-checksum-<alg>, BadDigest when it differs)
    and size (x-amz-mp-object-size)."""
    lower = {k.lower(): v.strip() for k, v in headers.items()}
    kind = lower.get("x-amz-checksum-type")
    if kind is not None and checksum.declared and kind.upper() != checksum.type:
        raise InvalidRequest(
            f"The upload was created using the {checksum.type} checksum mode. The complete "
            "request must use the same checksum mode."
        )
    for name, value in lower.items():
        alg = algorithm_of_header(name)
        if alg is None:
            continue
        if alg != checksum.algorithm or completion.checksum is None:
            raise _type_mismatch(checksum.algorithm if checksum.declared else None, alg)
        if value.partition("-")[0] != completion.checksum.partition("-")[0]:
            raise BadDigest(f"The {alg} you specified did not match the calculated checksum.")
    size = lower.get("x-amz-mp-object-size")
    if size is not None and (not size.isdigit() or int(size) != completion.size):
        raise InvalidArgument(
            f"The provided 'x-amz-mp-object-size' header value {size} does not match what "
            f"was computed: {completion.size}"
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
    "RequestedPart",
    "UploadedPart",
    "check_complete",
    "check_completion_headers",
    "check_part_checksum",
    "part_range",
]
