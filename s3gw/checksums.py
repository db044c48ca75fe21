"""The S3 additional checksums, and the checksum of a multipart object.

S3 sends and expects them base64-encoded, big-endian for the CRCs, in the
``x-amz-checksum-<algorithm>`` headers or aws-chunked trailers
("Checking object integrity" in the S3 user guide). CRC32 comes from zlib
(faster here than the CRT's), CRC32C, CRC64NVME and the xxHashes from
`awscrt`, the runtime the AWS SDKs use, SHA and MD5 from hashlib.

A multipart object's checksum has one of two types, chosen at
CreateMultipartUpload (``x-amz-checksum-type``): COMPOSITE, the checksum of
the parts' raw checksums one after another, followed by ``-N`` for N parts;
or FULL_OBJECT, the CRC of the whole object, which the CRC's linearity
combines from the parts' CRCs without reading them again (CRCs only). An
object uploaded without a checksum gets CRC64NVME, as S3 does since 2025.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from awscrt import checksums as crt

from s3gw.errors import BadDigest, InvalidDigest, InvalidRequest

ALGORITHMS = (
    "CRC32",
    "CRC32C",
    "CRC64NVME",
    "SHA1",
    "SHA256",
    "SHA512",
    "MD5",
    "XXHASH64",
    "XXHASH3",
    "XXHASH128",
)
# What S3 computes for an object whose upload names no checksum.
DEFAULT_ALGORITHM = "CRC64NVME"
COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"
# x-amz-checksum-* headers that carry no checksum value.
NON_VALUE_HEADERS = ("x-amz-checksum-type", "x-amz-checksum-mode", "x-amz-checksum-algorithm")
_DIGEST_SIZES = {
    "CRC32": 4,
    "CRC32C": 4,
    "CRC64NVME": 8,
    "SHA1": 20,
    "SHA256": 32,
    "SHA512": 64,
    "MD5": 16,
    "XXHASH64": 8,
    "XXHASH3": 8,
    "XXHASH128": 16,
}
_CRCS: dict[str, Callable[[bytes | memoryview, int], int]] = {
    "CRC32": zlib.crc32,
    "CRC32C": crt.crc32c,
    "CRC64NVME": crt.crc64nvme,
}
_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "CRC32": crt.combine_crc32,
    "CRC32C": crt.combine_crc32c,
    "CRC64NVME": crt.combine_crc64nvme,
}
_XXHASHES = {
    "XXHASH64": crt.XXHash.new_xxhash64,
    "XXHASH3": crt.XXHash.new_xxhash3_64,
    "XXHASH128": crt.XXHash.new_xxhash3_128,
}


class Hasher(Protocol):
    """What `new_hasher` returns: hashlib's update/digest interface."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, algorithm: str) -> None:
        self._fn = _CRCS[algorithm]
        self._size = _DIGEST_SIZES[algorithm]
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = self._fn(data, self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._size, "big")


class _XxHash:
    """The CRT's xxHash finalizes once; `digest` may be asked again."""

    def __init__(self, algorithm: str) -> None:
        self._hash = _XXHASHES[algorithm]()
        self._digest: bytes | None = None

    def update(self, data: bytes, /) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        if self._digest is None:
            self._digest = bytes(self._hash.finalize())
        return self._digest


def new_hasher(algorithm: str) -> Hasher:
    """A fresh incremental hasher for an S3 checksum algorithm name (case-insensitive).

    Raises InvalidRequest for an unknown algorithm.
    """
    alg = algorithm.upper()
    if alg in _CRCS:
        return _Crc(alg)
    if alg in _XXHASHES:
        return _XxHash(alg)
    if alg in ("SHA1", "SHA256", "SHA512", "MD5"):
        return hashlib.new(alg.lower())
    raise InvalidRequest(f"Unsupported checksum algorithm: {algorithm}")


def checksum_b64(algorithm: str, data: bytes) -> str:
    """The base64 S3 checksum of `data` (as in ``x-amz-checksum-<alg>``)."""
    h = new_hasher(algorithm)
    h.update(data)
    return base64.b64encode(h.digest()).decode("ascii")


def header_name(algorithm: str) -> str:
    """``x-amz-checksum-<alg>`` for an algorithm name."""
    return "x-amz-checksum-" + algorithm.lower()


def algorithm_of_header(name: str) -> str | None:
    """The algorithm an ``x-amz-checksum-*`` header names, or None if it is not one."""
    name = name.lower()
    if not name.startswith("x-amz-checksum-"):
        return None
    alg = name[len("x-amz-checksum-") :].upper()
    return alg if alg in ALGORITHMS else None


def check_checksum_header_names(names: Iterable[str]) -> None:
    """Refuse ``x-amz-checksum-<alg>`` headers (or trailer names) of algorithms we cannot
    verify, rather than ignore a check the client asked for (InvalidRequest)."""
    for name in names:
        lower = name.strip().lower()
        if not lower.startswith("x-amz-checksum-") or lower in NON_VALUE_HEADERS:
            continue
        if algorithm_of_header(lower) is None:
            raise InvalidRequest(
                f"The checksum header {lower} names an algorithm this gateway does not support."
            )


def decode_checksum(algorithm: str, value: str) -> bytes:
    """The raw digest a base64 checksum value names; InvalidDigest if malformed."""
    alg = algorithm.upper()
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDigest(f"Value for {header_name(alg)} header is invalid.") from exc
    if len(raw) != _DIGEST_SIZES.get(alg, -1):
        raise InvalidDigest(f"Value for {header_name(alg)} header is invalid.")
    return raw


class ChecksumVerifier:
    """Hashes a body as it streams and checks it against an expected checksum at the end.

    `expected` may be given now (a header) or at `verify` (a trailer).
    Mismatch raises BadDigest; a malformed value InvalidDigest.
    """

    def __init__(self, algorithm: str, expected_b64: str | None = None) -> None:
        self.algorithm = algorithm.upper()
        self._hasher = new_hasher(self.algorithm)
        self._expected = (
            decode_checksum(self.algorithm, expected_b64) if expected_b64 is not None else None
        )

    def update(self, data: bytes) -> None:
        self._hasher.update(data)

    def b64digest(self) -> str:
        return base64.b64encode(self._hasher.digest()).decode("ascii")

    def verify(self, expected_b64: str | None = None) -> str:
        """Check and return the computed base64 checksum."""
        expected = (
            decode_checksum(self.algorithm, expected_b64)
            if expected_b64 is not None
            else self._expected
        )
        got = self._hasher.digest()
        if expected is None:
            raise InvalidRequest(f"Missing value for {header_name(self.algorithm)}.")
        if got != expected:
            raise BadDigest(
                f"The {self.algorithm} you specified did not match the calculated checksum."
            )
        return base64.b64encode(got).decode("ascii")


class ContentMD5Verifier:
    """Checks the ``Content-MD5`` header (base64 of the 16-byte MD5) against the body's MD5,
    which the ETag computes anyway: a body is hashed with MD5 once.

    A malformed header raises InvalidDigest at construction; a mismatch BadDigest at `verify`.
    """

    def __init__(self, content_md5_b64: str) -> None:
        try:
            raw = base64.b64decode(content_md5_b64.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidDigest("The Content-MD5 you specified was invalid.") from exc
        if len(raw) != 16:
            raise InvalidDigest("The Content-MD5 you specified was invalid.")
        self._expected = raw

    def verify(self, md5: bytes) -> None:
        if md5 != self._expected:
            raise BadDigest("The Content-MD5 you specified did not match what we received.")


@dataclass(frozen=True)
class UploadChecksum:
    """The checksum a multipart upload gives its object: an algorithm and a type.

    `declared`: named by CreateMultipartUpload, so every part must carry it (COMPOSITE) or
    be of it (FULL_OBJECT). An upload that names none gets the default, which the gateway
    computes for each part itself.
    """

    algorithm: str
    type: str
    declared: bool = True


DEFAULT_UPLOAD_CHECKSUM = UploadChecksum(DEFAULT_ALGORITHM, FULL_OBJECT, declared=False)


def named_algorithm(value: str) -> str:
    """The algorithm an ``x-amz-checksum-algorithm`` header names; InvalidRequest if none."""
    alg = value.strip().upper()
    if alg not in ALGORITHMS:
        raise InvalidRequest("Checksum algorithm provided is unsupported.")
    return alg


def upload_checksum(algorithm: str | None, checksum_type: str | None) -> UploadChecksum:
    """The checksum of a CreateMultipartUpload's x-amz-checksum-algorithm and -type headers.

    The type defaults to FULL_OBJECT for CRC64NVME, COMPOSITE otherwise; FULL_OBJECT is for
    CRCs only and CRC64NVME is FULL_OBJECT only (InvalidRequest otherwise).
    """
    if algorithm is None:
        if checksum_type is not None:
            raise InvalidRequest(
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header."
            )
        return DEFAULT_UPLOAD_CHECKSUM
    alg = named_algorithm(algorithm)
    default = FULL_OBJECT if alg == "CRC64NVME" else COMPOSITE
    kind = (checksum_type or default).strip().upper()
    if kind not in (COMPOSITE, FULL_OBJECT):
        raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
    if (kind == FULL_OBJECT and alg not in _COMBINE) or (kind == COMPOSITE and alg == "CRC64NVME"):
        raise InvalidRequest(
            f"The {kind} checksum type cannot be used with the {alg.lower()} checksum algorithm."
        )
    return UploadChecksum(alg, kind)


def combined_checksum(checksum: UploadChecksum, parts: Sequence[tuple[str, int]]) -> str:
    """The object checksum of parts given as (base64 checksum of the part, part size), in
    order: FULL_OBJECT combines the CRCs, COMPOSITE hashes the digests and adds ``-N``."""
    alg = checksum.algorithm
    digests = [decode_checksum(alg, value) for value, _ in parts]
    if checksum.type == FULL_OBJECT:
        combine = _COMBINE[alg]
        crc = 0
        for digest, (_, size) in zip(digests, parts, strict=True):
            crc = combine(crc, int.from_bytes(digest, "big"), size)
        return base64.b64encode(crc.to_bytes(_DIGEST_SIZES[alg], "big")).decode("ascii")
    return f"{checksum_b64(alg, b''.join(digests))}-{len(parts)}"


def checksum_headers(checksums: Mapping[str, str], checksum_type: str) -> dict[str, str]:
    """The response headers naming an object's (or part's) checksums and their type."""
    headers = {header_name(alg): value for alg, value in checksums.items()}
    if headers:
        headers["x-amz-checksum-type"] = checksum_type
    return headers


__all__ = [
    "ALGORITHMS",
    "NON_VALUE_HEADERS",
    "COMPOSITE",
    "DEFAULT_ALGORITHM",
    "DEFAULT_UPLOAD_CHECKSUM",
    "FULL_OBJECT",
    "UploadChecksum",
    "checksum_headers",
    "combined_checksum",
    "upload_checksum",
    "check_checksum_header_names",
    "ChecksumVerifier",
    "ContentMD5Verifier",
    "Hasher",
    "algorithm_of_header",
    "checksum_b64",
    "decode_checksum",
    "header_name",
    "named_algorithm",
    "new_hasher",
]
