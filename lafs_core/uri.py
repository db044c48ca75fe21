"""Capabilities: parse and format LIT, CHK read- and verify-caps (spec/tahoe-immutable.md 9).

Parsing is strict: a string is accepted only if it is exactly what Tahoe
would print for some capability (optionally with Tahoe's `ro.`/`imm.`
prefixes, leading zeros in numbers and one trailing newline), and every
refusal is a `CapabilityError` that says what is wrong.
"""

import re
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from . import base32
from .codec import MAX_SHARES
from .errors import CapabilityError
from .hashes import storage_index_from_key

_B32 = "[a-z2-7]"
# 16 bytes: the last char carries 3 data bits. Tahoe accepts "aeimquy4"
# (spec/tahoe-immutable.md 2.1 and 9.5 say "3"; the real parser disagrees).
_B32_16 = f"{_B32}{{25}}[aeimquy4]"
_B32_32 = f"{_B32}{{51}}[aq]"  # 32 bytes: last char carries 1 data bit
_NUMS = r"(\d+):(\d+):(\d+)"
_CHK_READ = re.compile(f"URI:CHK:({_B32_16}):({_B32_32}):{_NUMS}")
_CHK_VERIFY = re.compile(f"URI:CHK-Verifier:({_B32_16}):({_B32_32}):{_NUMS}")
# What `_chk` keeps as its text: ASCII numbers without leading zeros.
_CANONICAL_CHK = re.compile(
    f"URI:CHK(?:-Verifier)?:{_B32_16}:{_B32_32}:([1-9][0-9]*):([1-9][0-9]*):(?:0|[1-9][0-9]*)"
)

LIT_MAX_SIZE = 55


class PrintedOnce:
    """A cap's text is made once, or kept from the string it was parsed from: listing a
    directory parses each child's cap and prints it again (base32 encoding loops in Python)."""

    def _format(self) -> str:
        raise NotImplementedError

    @cached_property
    def _text(self) -> str:
        return self._format()

    def to_string(self) -> str:
        return self._text


_P = TypeVar("_P", bound=PrintedOnce)


def with_text(cap: _P, text: str) -> _P:
    """`cap`, remembering `text` as its printed form (the caller checked it is canonical)."""
    cap.__dict__["_text"] = text
    return cap


@dataclass(frozen=True)
class LiteralCap(PrintedOnce):
    """A tiny file carried inside its own capability; nothing is stored."""

    data: bytes

    def _format(self) -> str:
        return "URI:LIT:" + base32.b2a(self.data)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class CHKVerifyCap(PrintedOnce):
    """Finds and checks a CHK file's shares, cannot decrypt them."""

    storage_index: bytes
    ueb_hash: bytes
    k: int
    n: int
    size: int

    def _format(self) -> str:
        return (
            f"URI:CHK-Verifier:{base32.b2a(self.storage_index)}:{base32.b2a(self.ueb_hash)}"
            f":{self.k}:{self.n}:{self.size}"
        )


@dataclass(frozen=True)
class CHKReadCap(PrintedOnce):
    """Reads a CHK file: the AES key plus what pins the shares (the UEB hash)."""

    key: bytes
    ueb_hash: bytes
    k: int
    n: int
    size: int

    @cached_property
    def storage_index(self) -> bytes:
        return storage_index_from_key(self.key)

    def verify_cap(self) -> CHKVerifyCap:
        return CHKVerifyCap(self.storage_index, self.ueb_hash, self.k, self.n, self.size)

    def _format(self) -> str:
        return (
            f"URI:CHK:{base32.b2a(self.key)}:{base32.b2a(self.ueb_hash)}"
            f":{self.k}:{self.n}:{self.size}"
        )


Cap = LiteralCap | CHKReadCap | CHKVerifyCap


_C = TypeVar("_C", CHKReadCap, CHKVerifyCap)


def _chk(kind: type[_C], cap: str, m: re.Match[str], text: str) -> _C:
    """The matched CHK cap; it keeps `cap` as its text when that is canonical
    (ASCII digits without leading zeros)."""
    k, n, size = m.group(3, 4, 5)
    kk, nn = int(k), int(n)
    if not 1 <= kk <= nn <= MAX_SHARES:
        raise CapabilityError(f"capability has impossible k={kk}, n={nn}: {text!r}")
    parsed = kind(base32.a2b_checked(m[1]), base32.a2b_checked(m[2]), kk, nn, int(size))
    if k[0] != "0" and n[0] != "0" and (size[0] != "0" or size == "0") and cap.isascii():
        with_text(parsed, cap)
    return parsed


def parse_cap(text: str) -> Cap:
    """Parse a LIT or CHK capability string; raises CapabilityError."""
    if not isinstance(text, str):
        raise CapabilityError("a capability must be a string")
    cap = text[:-1] if text.endswith("\n") else text
    while cap.startswith(("ro.", "imm.")):
        cap = cap.split(".", 1)[1]
    if cap.startswith("URI:LIT:"):
        try:
            data = base32.a2b(cap[len("URI:LIT:") :])
        except ValueError:
            raise CapabilityError(f"LIT capability has malformed base32 data: {text!r}") from None
        return with_text(LiteralCap(data), cap)
    if cap.startswith("URI:CHK:"):
        m = _CHK_READ.fullmatch(cap)
        if not m:
            raise CapabilityError(f"malformed CHK read-cap: {text!r}")
        return _chk(CHKReadCap, cap, m, text)
    if cap.startswith("URI:CHK-Verifier:"):
        m = _CHK_VERIFY.fullmatch(cap)
        if not m:
            raise CapabilityError(f"malformed CHK verify-cap: {text!r}")
        return _chk(CHKVerifyCap, cap, m, text)
    if cap.startswith("URI:"):
        raise CapabilityError(f"unsupported capability type: {cap.split(':')[1]!r}")
    raise CapabilityError(f"not a capability (must start with 'URI:'): {text[:40]!r}")


def is_canonical_cap(text: str) -> bool:
    """True if `parse_cap(text)` succeeds and prints `text` back (a CHK or LIT cap as
    Tahoe writes it): a cheap check, so a reader can defer the parse to first use."""
    m = _CANONICAL_CHK.fullmatch(text)
    if m is not None:
        return int(m[1]) <= int(m[2]) <= MAX_SHARES
    return text.startswith("URI:LIT:") and base32.is_canonical(text[8:])
