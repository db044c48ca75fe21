"""The Tahoe-LAFS HTTP storage protocol as pure code: paths, headers, bodies, ranges.

Per spec/tahoe-storage-http.md 5-8. Both `storage_node.server` and
`lafs_core.storage_client` build and check their messages here, so the two
sides cannot drift. No I/O; every decoder raises `StorageProtocolError` whose
`status` is the HTTP status a server answers with (400, 413 or 416).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cbor2

from . import base32
from .errors import StorageProtocolError

# -- limits (spec 6.3) -------------------------------------------------------

MAX_ALLOCATE_BODY = 8192
MAX_CORRUPT_BODY = 32768
MAX_RTW_BODY = 2**48
MAX_SHARE_NUMBERS = 256
MAX_TEST_VECTORS = 30
MAX_READ_VECTORS = 30
MAX_REASON_LENGTH = 32765
MAX_MUTABLE_SHARE_SIZE = 69105 * 10**12
MAX_CLIENT_CBOR_RESPONSE = 30 * 1024 * 1024
MAX_CLIENT_ERROR_BODY = 10_000
LEASE_SECRET_LENGTH = 32
STORAGE_INDEX_LENGTH = 16
# Our nodes' answer to a write their disk has no room for (1.20 answers 500, as to any
# failure); clients tell it apart so that a full grid is reported as full.
INSUFFICIENT_STORAGE = 507

CBOR_MIME = "application/cbor"
OCTET_STREAM_MIME = "application/octet-stream"
PROTOCOL_KEY = b"http://allmydata.org/tahoe/protocols/storage/v1"
AUTH_SCHEME = "Tahoe-LAFS"
SECRET_HEADER = "X-Tahoe-Authorization"

# -- paths (spec 8) ----------------------------------------------------------

PREFIX = "/storage/v1"
SI_PATTERN = "[a-z2-7]{26}"
SHNUM_PATTERN = "[0-9]+"


@lru_cache(maxsize=4096)
def si_to_text(storage_index: bytes) -> str:
    """Remembered: every request to each of n servers names its storage index."""
    if len(storage_index) != STORAGE_INDEX_LENGTH:
        raise ValueError(f"a storage index is 16 bytes, not {len(storage_index)}")
    return base32.b2a(storage_index)


def si_from_text(text: str) -> bytes:
    """Decode a URL's storage index; raises StorageProtocolError(404) if it is not one."""
    if len(text) != 26 or not base32.is_canonical(text):
        raise StorageProtocolError(f"not a storage index: {text[:40]!r}", status=404)
    return base32.a2b(text)


def version_path() -> str:
    return f"{PREFIX}/version"


def lease_path(si: bytes) -> str:
    return f"{PREFIX}/lease/{si_to_text(si)}"


def immutable_path(si: bytes) -> str:
    return f"{PREFIX}/immutable/{si_to_text(si)}"


def immutable_shares_path(si: bytes) -> str:
    return f"{PREFIX}/immutable/{si_to_text(si)}/shares"


def immutable_share_path(si: bytes, shnum: int) -> str:
    return f"{PREFIX}/immutable/{si_to_text(si)}/{_shnum(shnum)}"


def immutable_abort_path(si: bytes, shnum: int) -> str:
    return f"{immutable_share_path(si, shnum)}/abort"


def immutable_corrupt_path(si: bytes, shnum: int) -> str:
    return f"{immutable_share_path(si, shnum)}/corrupt"


def mutable_rtw_path(si: bytes) -> str:
    return f"{PREFIX}/mutable/{si_to_text(si)}/read-test-write"


def mutable_shares_path(si: bytes) -> str:
    return f"{PREFIX}/mutable/{si_to_text(si)}/shares"


def mutable_share_path(si: bytes, shnum: int) -> str:
    return f"{PREFIX}/mutable/{si_to_text(si)}/{_shnum(shnum)}"


def mutable_corrupt_path(si: bytes, shnum: int) -> str:
    return f"{mutable_share_path(si, shnum)}/corrupt"


def _shnum(shnum: int) -> str:
    if not _is_uint(shnum):
        raise ValueError(f"share numbers are unsigned integers, not {shnum!r}")
    return str(shnum)


# -- authorization (spec 5) --------------------------------------------------

LEASE_RENEW = "lease-renew-secret"
LEASE_CANCEL = "lease-cancel-secret"
UPLOAD = "upload-secret"
WRITE_ENABLER = "write-enabler"
SECRET_NAMES = frozenset({LEASE_RENEW, LEASE_CANCEL, UPLOAD, WRITE_ENABLER})
_LEASE_SECRETS = frozenset({LEASE_RENEW, LEASE_CANCEL})

NO_SECRETS: frozenset[str] = frozenset()
LEASE_SECRETS = _LEASE_SECRETS
ALLOCATE_SECRETS = _LEASE_SECRETS | {UPLOAD}
UPLOAD_SECRETS = frozenset({UPLOAD})
RTW_SECRETS = _LEASE_SECRETS | {WRITE_ENABLER}


def authorization_value(swissnum: str) -> str:
    """The `Authorization` header value for a swissnum."""
    return f"{AUTH_SCHEME} {base64.b64encode(swissnum.encode('ascii')).decode('ascii')}"


def authorization_matches(header: bytes | None, expected: str) -> bool:
    """Constant-time whole-value comparison, as the 1.20 server does."""
    if header is None:
        return False
    return hmac.compare_digest(header, expected.encode("ascii"))


def secret_header_values(secrets: Mapping[str, bytes]) -> list[str]:
    """One `X-Tahoe-Authorization` value per secret."""
    values = []
    for name, value in secrets.items():
        if name not in SECRET_NAMES:
            raise ValueError(f"unknown secret {name!r}")
        values.append(f"{name} {base64.b64encode(value).decode('ascii')}")
    return values


def parse_secret_headers(values: Sequence[str], required: frozenset[str]) -> dict[str, bytes]:
    """Decode `X-Tahoe-Authorization` values; the names must be exactly `required`."""
    secrets: dict[str, bytes] = {}
    for raw in values:
        name, _, encoded = raw.strip().partition(" ")
        if name not in SECRET_NAMES:
            raise StorageProtocolError(f"unknown secret {name[:40]!r}")
        if name in secrets:
            raise StorageProtocolError(f"secret {name} given twice")
        try:
            value = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise StorageProtocolError(f"secret {name} is not base64") from exc
        if not value:
            raise StorageProtocolError(f"secret {name} is empty")
        if name in _LEASE_SECRETS and len(value) != LEASE_SECRET_LENGTH:
            raise StorageProtocolError(f"secret {name} must be 32 bytes")
        secrets[name] = value
    if secrets.keys() != required:
        missing = sorted(required - secrets.keys())
        extra = sorted(secrets.keys() - required)
        raise StorageProtocolError(f"wrong secrets: missing {missing}, unexpected {extra}")
    return secrets


# -- content negotiation (spec 6.1) ------------------------------------------


def accepts_cbor(accept: str | None) -> bool:
    """True if a response may be CBOR given the first `Accept` header (or None)."""
    if accept is None:
        return True
    best_q, best = -1.0, None
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > best_q:
            best_q, best = q, parts[0].lower()
    return best == CBOR_MIME and best_q > 0


def content_type_is_cbor(content_type: str | None) -> bool:
    if content_type is None:
        return True
    return content_type.split(";")[0].strip().lower() == CBOR_MIME


# -- CBOR helpers ------------------------------------------------------------


def _is_uint(value: object) -> bool:
    return type(value) is int and value >= 0


def cbor_dumps(obj: Any) -> bytes:
    return cbor2.dumps(obj)


def cbor_loads(data: bytes) -> Any:
    """Decode exactly one CBOR item; trailing bytes are an error."""
    fp = io.BytesIO(data)
    try:
        obj = cbor2.CBORDecoder(fp).decode()
    except Exception as exc:  # cbor2 raises many kinds on garbage input
        raise StorageProtocolError(f"malformed CBOR: {exc}") from exc
    if fp.tell() != len(data):
        raise StorageProtocolError("trailing bytes after the CBOR item")
    return obj


def _closed_map(obj: object, keys: set[Any], what: str) -> dict[Any, Any]:
    if not isinstance(obj, dict):
        raise StorageProtocolError(f"{what}: expected a map")
    if set(obj.keys()) != keys:
        raise StorageProtocolError(f"{what}: keys must be exactly {sorted(map(str, keys))}")
    return obj


def _uint(obj: object, what: str) -> int:
    if not _is_uint(obj):
        raise StorageProtocolError(f"{what}: expected an unsigned integer")
    assert isinstance(obj, int)
    return obj


def _bstr(obj: object, what: str) -> bytes:
    if not isinstance(obj, bytes):
        raise StorageProtocolError(f"{what}: expected a byte string")
    return obj


def _array(obj: object, what: str, limit: int | None = None) -> list[Any]:
    if not isinstance(obj, list):
        raise StorageProtocolError(f"{what}: expected an array")
    if limit is not None and len(obj) > limit:
        raise StorageProtocolError(f"{what}: more than {limit} elements")
    return obj


def _share_set(obj: object, what: str) -> frozenset[int]:
    # cbor2 turns tag 258 into a (frozen)set; an untagged array stays a list.
    if not isinstance(obj, (set, frozenset)):
        raise StorageProtocolError(f"{what}: expected a tag-258 set")
    if len(obj) > MAX_SHARE_NUMBERS:
        raise StorageProtocolError(f"{what}: more than {MAX_SHARE_NUMBERS} share numbers")
    for n in obj:
        _uint(n, what)
    return frozenset(obj)


# -- messages (spec 7) -------------------------------------------------------


@dataclass(frozen=True)
class VersionInfo:
    maximum_immutable_share_size: int
    maximum_mutable_share_size: int
    available_space: int
    application_version: bytes


def encode_version(v: VersionInfo) -> bytes:
    return cbor_dumps(
        {
            PROTOCOL_KEY: {
                b"maximum-immutable-share-size": v.maximum_immutable_share_size,
                b"maximum-mutable-share-size": v.maximum_mutable_share_size,
                b"available-space": v.available_space,
            },
            b"application-version": v.application_version,
        }
    )


def decode_version(data: bytes) -> VersionInfo:
    top = _closed_map(cbor_loads(data), {PROTOCOL_KEY, b"application-version"}, "version")
    inner_keys = {
        b"maximum-immutable-share-size",
        b"maximum-mutable-share-size",
        b"available-space",
    }
    inner = _closed_map(top[PROTOCOL_KEY], inner_keys, "version")
    return VersionInfo(
        _uint(inner[b"maximum-immutable-share-size"], "maximum-immutable-share-size"),
        _uint(inner[b"maximum-mutable-share-size"], "maximum-mutable-share-size"),
        _uint(inner[b"available-space"], "available-space"),
        _bstr(top[b"application-version"], "application-version"),
    )


@dataclass(frozen=True)
class AllocateRequest:
    share_numbers: frozenset[int]
    allocated_size: int


def encode_allocate_request(r: AllocateRequest) -> bytes:
    return cbor_dumps({"share-numbers": set(r.share_numbers), "allocated-size": r.allocated_size})


def decode_allocate_request(data: bytes) -> AllocateRequest:
    m = _closed_map(cbor_loads(data), {"share-numbers", "allocated-size"}, "allocate")
    return AllocateRequest(
        _share_set(m["share-numbers"], "share-numbers"),
        _uint(m["allocated-size"], "allocated-size"),
    )


@dataclass(frozen=True)
class AllocateResult:
    already_have: frozenset[int]
    allocated: frozenset[int]


def encode_allocate_result(r: AllocateResult) -> bytes:
    return cbor_dumps({"already-have": set(r.already_have), "allocated": set(r.allocated)})


def decode_allocate_result(data: bytes) -> AllocateResult:
    m = _closed_map(cbor_loads(data), {"already-have", "allocated"}, "allocate response")
    return AllocateResult(
        _share_set(m["already-have"], "already-have"), _share_set(m["allocated"], "allocated")
    )


def encode_required_ranges(required: Iterable[tuple[int, int]]) -> bytes:
    """A write response: the half-open ranges still missing."""
    return cbor_dumps({"required": [{"begin": b, "end": e} for b, e in required]})


def decode_required_ranges(data: bytes) -> list[tuple[int, int]]:
    m = _closed_map(cbor_loads(data), {"required"}, "write response")
    out = []
    for item in _array(m["required"], "required"):
        r = _closed_map(item, {"begin", "end"}, "required range")
        out.append((_uint(r["begin"], "begin"), _uint(r["end"], "end")))
    return out


def encode_share_set(shares: Iterable[int]) -> bytes:
    return cbor_dumps(set(shares))


def decode_share_set(data: bytes) -> frozenset[int]:
    return _share_set(cbor_loads(data), "share set")


def encode_corrupt_request(reason: str) -> bytes:
    return cbor_dumps({"reason": reason})


def decode_corrupt_request(data: bytes) -> str:
    m = _closed_map(cbor_loads(data), {"reason"}, "corruption advisory")
    reason = m["reason"]
    if not isinstance(reason, str) or not 1 <= len(reason) <= MAX_REASON_LENGTH:
        raise StorageProtocolError(f"reason: expected text of 1..{MAX_REASON_LENGTH} characters")
    return reason


@dataclass(frozen=True)
class TestVector:
    offset: int
    size: int
    specimen: bytes

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class WriteVector:
    offset: int
    data: bytes


@dataclass(frozen=True)
class ReadVector:
    offset: int
    size: int


@dataclass(frozen=True)
class TestWriteVectors:
    test: tuple[TestVector, ...] = ()
    write: tuple[WriteVector, ...] = ()
    new_length: int | None = None

    __test__ = False


@dataclass(frozen=True)
class ReadTestWriteRequest:
    test_write_vectors: Mapping[int, TestWriteVectors]
    read_vector: tuple[ReadVector, ...] = ()


@dataclass(frozen=True)
class ReadTestWriteResult:
    success: bool
    data: Mapping[int, list[bytes]] = field(default_factory=dict)


def encode_rtw_request(r: ReadTestWriteRequest) -> bytes:
    return b"".join(rtw_request_parts(r))


_CBOR_HEAD = tuple(struct.Struct(f">B{size}") for size in "BHIQ")  # 1, 2, 4, 8-byte arguments
_KEY = {
    k: cbor2.dumps(k)
    for k in ("test-write-vectors", "test", "write", "new-length", "read-vector", "offset")
    + ("size", "specimen", "data")
}
_SEPARATE_DATA = 1 << 16  # write data this long stays its own part of the body, not copied


def _cbor_head(major: int, n: int) -> bytes:
    """The shortest head of a CBOR item, as cbor2 writes it (n: a length or an integer)."""
    if n < 24:
        return bytes((major << 5 | n,))
    for i, fmt in enumerate(_CBOR_HEAD):
        if n < 1 << (8 << i):
            return fmt.pack(major << 5 | (24 + i), n)
    raise ValueError(f"{n} does not fit a CBOR head")


def _cbor_int(n: int) -> bytes:
    return _cbor_head(0, n) if n >= 0 else _cbor_head(1, -1 - n)


def rtw_request_parts(r: ReadTestWriteRequest) -> list[bytes | bytearray | memoryview]:
    """The read-test-write body as pieces to send one after another: the same bytes as
    cbor2 makes of the request's map, but long write data is not copied into them."""
    parts: list[bytes | bytearray | memoryview] = []
    out = bytearray(b"\xa2" + _KEY["test-write-vectors"])
    out += _cbor_head(5, len(r.test_write_vectors))
    for shnum, v in r.test_write_vectors.items():
        out += _cbor_int(shnum) + b"\xa3" + _KEY["test"] + _cbor_head(4, len(v.test))
        for t in v.test:
            out += b"\xa3" + _KEY["offset"] + _cbor_int(t.offset) + _KEY["size"]
            out += _cbor_int(t.size) + _KEY["specimen"] + _cbor_head(2, len(t.specimen))
            out += t.specimen
        out += _KEY["write"] + _cbor_head(4, len(v.write))
        for w in v.write:
            out += b"\xa2" + _KEY["offset"] + _cbor_int(w.offset) + _KEY["data"]
            out += _cbor_head(2, len(w.data))
            if len(w.data) < _SEPARATE_DATA:
                out += w.data
            else:
                parts += (out, w.data)
                out = bytearray()
        out += _KEY["new-length"] + (b"\xf6" if v.new_length is None else _cbor_int(v.new_length))
    out += _KEY["read-vector"] + _cbor_head(4, len(r.read_vector))
    for rv in r.read_vector:
        out += b"\xa2" + _KEY["offset"] + _cbor_int(rv.offset) + _KEY["size"] + _cbor_int(rv.size)
    parts.append(out)
    return parts


def decode_rtw_request(data: bytes) -> ReadTestWriteRequest:
    m = _closed_map(cbor_loads(data), {"test-write-vectors", "read-vector"}, "read-test-write")
    twv = m["test-write-vectors"]
    if not isinstance(twv, dict):
        raise StorageProtocolError("test-write-vectors: expected a map")
    if len(twv) > MAX_SHARE_NUMBERS:
        raise StorageProtocolError(f"test-write-vectors: more than {MAX_SHARE_NUMBERS} shares")
    vectors: dict[int, TestWriteVectors] = {}
    for n, v in twv.items():
        shnum = _uint(n, "share number")
        v = _closed_map(v, {"test", "write", "new-length"}, "test-write vector")
        tests = tuple(
            TestVector(
                _uint(t["offset"], "offset"),
                _uint(t["size"], "size"),
                _bstr(t["specimen"], "specimen"),
            )
            for t in (
                _closed_map(x, {"offset", "size", "specimen"}, "test vector")
                for x in _array(v["test"], "test", MAX_TEST_VECTORS)
            )
        )
        writes = tuple(
            WriteVector(_uint(w["offset"], "offset"), _bstr(w["data"], "data"))
            for w in (
                _closed_map(x, {"offset", "data"}, "write vector")
                for x in _array(v["write"], "write")
            )
        )
        new_length = v["new-length"]
        if new_length is not None:
            new_length = _uint(new_length, "new-length")
        vectors[shnum] = TestWriteVectors(tests, writes, new_length)
    reads = tuple(
        ReadVector(_uint(r["offset"], "offset"), _uint(r["size"], "size"))
        for r in (
            _closed_map(x, {"offset", "size"}, "read vector")
            for x in _array(m["read-vector"], "read-vector", MAX_READ_VECTORS)
        )
    )
    return ReadTestWriteRequest(vectors, reads)


def encode_rtw_result(r: ReadTestWriteResult) -> bytes:
    return cbor_dumps({"success": r.success, "data": {n: list(v) for n, v in r.data.items()}})


def decode_rtw_result(data: bytes) -> ReadTestWriteResult:
    m = _closed_map(cbor_loads(data), {"success", "data"}, "read-test-write response")
    if not isinstance(m["success"], bool):
        raise StorageProtocolError("success: expected a boolean")
    if not isinstance(m["data"], dict):
        raise StorageProtocolError("data: expected a map")
    out = {}
    for n, values in m["data"].items():
        out[_uint(n, "share number")] = [_bstr(v, "read data") for v in _array(values, "data")]
    return ReadTestWriteResult(m["success"], out)


# -- ranges (spec 8.4, 8.7) --------------------------------------------------

_RANGE_RE = re.compile(r"bytes=([0-9]{1,19})-([0-9]{1,19})")
_CONTENT_RANGE_RE = re.compile(r"bytes ([0-9]{1,19})-([0-9]{1,19})/(\*|[0-9]{1,19})")


def format_range(offset: int, length: int) -> str:
    """`Range` header for `length` (>= 1) bytes at `offset`."""
    if offset < 0 or length < 1:
        raise ValueError("a range needs offset >= 0 and length >= 1")
    return f"bytes={offset}-{offset + length - 1}"


def parse_range(header: str) -> tuple[int, int]:
    """A request `Range`: only one closed range is allowed; returns (first, last) inclusive."""
    m = _RANGE_RE.fullmatch(header.strip())
    if m is None:
        raise StorageProtocolError("only a single 'bytes=first-last' range is supported", 416)
    first, last = int(m[1]), int(m[2])
    if first > last:
        raise StorageProtocolError("inverted range", 416)
    return first, last


def format_content_range(first: int, last: int) -> str:
    return f"bytes {first}-{last}/*"


def parse_content_range(header: str) -> tuple[int, int]:
    """`Content-Range: bytes first-last/total`; the total is ignored. Returns (first, last)."""
    m = _CONTENT_RANGE_RE.fullmatch(header.strip())
    if m is None:
        raise StorageProtocolError("malformed Content-Range", 416)
    first, last = int(m[1]), int(m[2])
    if first > last:
        raise StorageProtocolError("inverted Content-Range", 416)
    return first, last
