"""SigV4 canonical forms and signing primitives (pure), per "Signature Calculations for
the Authorization Header" and "... Transferring Payload in Multiple Chunks" of the S3 API
reference. `s3gw.auth.sigv4` verifies requests with them; `s3gw.auth.chunked` signs chunks.

S3's canonical URI is the path URI-encoded once (``/`` kept) and never normalized; query
names and values are encoded with ``/`` encoded too, then sorted; header values are trimmed
with runs of whitespace collapsed.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import unquote_to_bytes

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")

Headers = Mapping[str, str] | Sequence[tuple[str, str]]


def uri_encode(data: bytes | str, *, keep_slash: bool = False) -> str:
    """SigV4 URI encoding: every byte but A-Z a-z 0-9 - _ . ~ (and / if asked) as %XX."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    out = []
    for b in raw:
        if b in _UNRESERVED or (keep_slash and b == 0x2F):
            out.append(chr(b))
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


def canonical_uri(decoded_path: bytes | str) -> str:
    """The S3 canonical URI of a decoded path: encoded once, not normalized."""
    if not decoded_path:
        return "/"
    return uri_encode(decoded_path, keep_slash=True)


def _as_text(raw: str | bytes) -> str:
    return raw.decode("latin-1") if isinstance(raw, bytes) else raw


def parse_raw_query(raw: str | bytes, *, plus_is_space: bool = False) -> list[tuple[bytes, bytes]]:
    """Split a raw query string into percent-decoded (name, value) byte pairs, in order."""
    text = _as_text(raw)
    pairs = []
    for part in text.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if plus_is_space:
            name, value = name.replace("+", " "), value.replace("+", " ")
        pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def canonical_query(pairs: Iterable[tuple[bytes | str, bytes | str]]) -> str:
    """Canonical query string: each name and value encoded, pairs sorted, joined by &."""
    encoded = sorted((uri_encode(n), uri_encode(v)) for n, v in pairs)
    return "&".join(f"{n}={v}" for n, v in encoded)


def header_items(headers: Headers) -> list[tuple[str, str]]:
    """Headers as (lowercased name, value) pairs, repeated names kept."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(n.lower(), v) for n, v in items]


def header_get(headers: Headers, name: str) -> str | None:
    """The first value of a header (case-insensitive), or None."""
    name = name.lower()
    for n, v in header_items(headers):
        if n == name:
            return v
    return None


def canonical_headers(headers: Headers, signed: Sequence[str]) -> str:
    """The canonical-headers block: ``name:value\\n`` for each signed header, trimmed and
    with runs of whitespace collapsed, repeated headers joined with commas."""
    values: dict[str, list[str]] = {}
    for n, v in header_items(headers):
        values.setdefault(n, []).append(" ".join(v.split()))
    return "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed)


def canonical_request(
    method: str,
    canon_uri: str,
    canon_query: str,
    headers: Headers,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request from already-canonical URI and query."""
    return "\n".join(
        [
            method.upper(),
            canon_uri,
            canon_query,
            canonical_headers(headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canon_request: str) -> str:
    """``AWS4-HMAC-SHA256\\n<date>\\n<scope>\\n<sha256 hex of canonical request>``."""
    digest = hashlib.sha256(canon_request.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


@functools.lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    """kSigning = HMAC chain over "AWS4"+secret, date, region, service, "aws4_request".
    Kept per key and day: four HMACs were ~5% of a small GET."""
    key = hmac.new(("AWS4" + secret).encode("utf-8"), date.encode("ascii"), hashlib.sha256)
    k = key.digest()
    for part in (region, service, "aws4_request"):
        k = hmac.new(k, part.encode("utf-8"), hashlib.sha256).digest()
    return k


def sign(key: bytes, text: str) -> str:
    """Hex HMAC-SHA256 of `text` under a signing key."""
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


def signatures_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(a.encode("ascii", "replace"), b.encode("ascii", "replace"))


def chunk_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, chunk_sha256_hex: str
) -> str:
    """String to sign of one aws-chunked chunk (empty final chunk included)."""
    return (
        f"{ALGORITHM}-PAYLOAD\n{amz_date}\n{scope}\n{previous_signature}\n"
        f"{EMPTY_SHA256}\n{chunk_sha256_hex}"
    )


def trailer_string_to_sign(
    amz_date: str, scope: str, previous_signature: str, trailer_sha256_hex: str
) -> str:
    """String to sign of the signed trailer of STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER."""
    return f"{ALGORITHM}-TRAILER\n{amz_date}\n{scope}\n{previous_signature}\n{trailer_sha256_hex}"


__all__ = [
    "ALGORITHM",
    "EMPTY_SHA256",
    "Headers",
    "canonical_headers",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "chunk_string_to_sign",
    "header_get",
    "header_items",
    "parse_raw_query",
    "sign",
    "signatures_equal",
    "signing_key",
    "string_to_sign",
    "trailer_string_to_sign",
    "uri_encode",
]
