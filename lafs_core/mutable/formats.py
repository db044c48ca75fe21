"""SDMF and MDMF behind one small interface, so servermap, publish and retrieve serve both.

A file's format is fixed by its cap; each `ShareFormat` bundles the pure
functions of `sdmf`/`layout` or `mdmf` that the async code needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CorruptShareError
from . import layout, mdmf, sdmf
from .keys import KeyPair

# Files up to this size are encoded and decoded on the caller's thread: a worker-thread
# hop costs ~0.1 ms of CPU, more than such a job gains from running beside the event loop
# (its RSA signature, ~1 ms, costs the same on either thread).
INLINE_LIMIT = 64 * 1024

Prefix = layout.SDMFPrefix | mdmf.MDMFPrefix
Share = layout.SDMFShare | mdmf.MDMFShare


@dataclass(frozen=True)
class HeadInfo:
    """What a servermap needs from the first bytes of a share."""

    prefix: Prefix
    eof: int
    pubkey_der: bytes
    signature: bytes


@dataclass(frozen=True)
class Version:
    prefix: Prefix
    shares: tuple[bytes, ...]


@dataclass(frozen=True)
class ShareFormat:
    name: str
    checkstring_size: int
    head: Callable[[bytes], HeadInfo]
    parse_and_check: Callable[[bytes, int, bytes], Any]  # -> Share
    decode: Callable[[Mapping[int, Any], bytes], bytes]
    encode: Callable[[KeyPair, bytes, int, int, int], Version]


def _sdmf_head(raw: bytes) -> HeadInfo:
    prefix, o = layout.parse_header(raw)
    if len(raw) < o.share_hash_chain:
        raise CorruptShareError("share head too short to hold the signature")
    return HeadInfo(
        prefix, o.eof, raw[layout.HEADER_SIZE : o.signature], raw[o.signature : o.share_hash_chain]
    )


def _mdmf_head(raw: bytes) -> HeadInfo:
    prefix, o = mdmf.parse_header(raw)
    if len(raw) < o.verification_key_end:
        raise CorruptShareError("share head too short to hold the verification key")
    return HeadInfo(
        prefix,
        o.eof,
        raw[o.verification_key : o.verification_key_end],
        raw[o.signature : o.verification_key],
    )


def _mdmf_parse_and_check(raw: bytes, shnum: int, fingerprint: bytes) -> mdmf.MDMFShare:
    share = mdmf.parse_share(raw)
    mdmf.check_share(share, shnum, fingerprint)
    return share


def _sdmf_encode(keys: KeyPair, plaintext: bytes, seqnum: int, k: int, n: int) -> Version:
    v = sdmf.encode_version(keys, plaintext, seqnum, k, n)
    return Version(v.prefix, v.shares)


def _mdmf_encode(keys: KeyPair, plaintext: bytes, seqnum: int, k: int, n: int) -> Version:
    v = mdmf.encode_version(keys, plaintext, seqnum, k, n)
    return Version(v.prefix, v.shares)


SDMF_FORMAT = ShareFormat(
    "sdmf",
    layout.CHECKSTRING_SIZE,
    _sdmf_head,
    sdmf.parse_and_check,
    sdmf.decode_version,
    _sdmf_encode,
)
MDMF_FORMAT = ShareFormat(
    "mdmf",
    mdmf.CHECKSTRING_SIZE,
    _mdmf_head,
    _mdmf_parse_and_check,
    mdmf.decode_version,
    _mdmf_encode,
)
FORMATS = {"sdmf": SDMF_FORMAT, "mdmf": MDMF_FORMAT}


def format_of(cap: Any) -> ShareFormat:
    """The share format a mutable cap (write, read or verify) names."""
    return FORMATS[cap.format]
