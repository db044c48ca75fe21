"""The S3 additional checksums: CRC32, CRC32C, CRC64NVME, SHA1, SHA256 (and MD5 helpers).

S3 sends and expects them base64-encoded, big-endian for the CRCs, in the
``x-amz-checksum-<algorithm>`` headers or aws-chunked trailers
("Checking object integrity" in the S3 user guide). CRC32 comes from zlib;
CRC32C and CRC64NVME use `awscrt.checksums` (or the `crc32c` package) when
installed and fall back to table-driven pure Python, which is correct but slow
(a few MB/s): install `awscrt` for real traffic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterable
from typing import Protocol

from s3gw.errors import BadDigest, InvalidDigest, InvalidRequest

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "SHA512", "MD5")
# In the S3 model but not served here (they need an xxHash library).
UNSUPPORTED_ALGORITHMS = ("XXHASH64", "XXHASH3", "XXHASH128")
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
}


def _reflected_table(poly: int) -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _reflected_table(0x82F63B78)
_CRC64NVME_TABLE = _reflected_table(0x9A6C9329AC4BC9B5)


def _py_crc32c(data: bytes, crc: int = 0) -> int:
    table = _CRC32C_TABLE
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _py_crc64nvme(data: bytes, crc: int = 0) -> int:
    table = _CRC64NVME_TABLE
    mask = 0xFFFFFFFFFFFFFFFF
    c = crc ^ mask
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ mask


def _pick_crc32c() -> Callable[[bytes, int], int]:
    try:
        from awscrt import checksums as crt  # type: ignore[import-not-found,unused-ignore]

        return lambda data, crc: int(crt.crc32c(data, crc))
    except ImportError:
        pass
    try:
        import crc32c as c32c  # type: ignore[import-not-found,unused-ignore]

        return lambda data, crc: int(c32c.crc32c(data, crc))
    except ImportError:
        return _py_crc32c


def _pick_crc64nvme() -> Callable[[bytes, int], int]:
    try:
        from awscrt import checksums as crt  # type: ignore[import-not-found,unused-ignore]

        return lambda data, crc: int(crt.crc64nvme(data, crc))
    except (ImportError, AttributeError):
        return _py_crc64nvme


crc32c: Callable[[bytes, int], int] = _pick_crc32c()
crc64nvme: Callable[[bytes, int], int] = _pick_crc64nvme()


class Hasher(Protocol):
    """What `new_hasher` returns: hashlib's update/digest interface."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    def __init__(self, fn: Callable[[bytes, int], int], size: int) -> None:
        self._fn = fn
        self._size = size
        self._crc = 0

    def update(self, data: bytes, /) -> None:
        self._crc = self._fn(bytes(data), self._crc)

    def digest(self) -> bytes:
        return self._crc.to_bytes(self._size, "big")


def new_hasher(algorithm: str) -> Hasher:
    """A fresh incremental hasher for an S3 checksum algorithm name (case-insensitive).

    Raises InvalidRequest for an unknown algorithm.
    """
    alg = algorithm.upper()
    if alg == "CRC32":
        return _Crc(lambda d, c: zlib.crc32(d, c), 4)
    if alg == "CRC32C":
        return _Crc(crc32c, 4)
    if alg == "CRC64NVME":
        return _Crc(crc64nvme, 8)
    if alg == "SHA1":
        return hashlib.sha1()
    if alg == "SHA256":
        return hashlib.sha256()
    if alg == "SHA512":
        return hashlib.sha512()
    if alg == "MD5":
        return hashlib.md5()
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


__all__ = [
    "ALGORITHMS",
    "NON_VALUE_HEADERS",
    "UNSUPPORTED_ALGORITHMS",
    "check_checksum_header_names",
    "ChecksumVerifier",
    "ContentMD5Verifier",
    "Hasher",
    "algorithm_of_header",
    "checksum_b64",
    "crc32c",
    "crc64nvme",
    "decode_checksum",
    "header_name",
    "new_hasher",
]
