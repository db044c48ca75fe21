"""Capabilities: parse and format LIT, CHK read- and verify-caps (spec/tahoe-immutable.md 9).

Parsing is strict: a string is accepted only if it is exactly what Tahoe
would print for some capability (optionally with Tahoe's `ro.`/`imm.`
prefixes, leading zeros in numbers and one trailing newline), and every
refusal is a `CapabilityError` that says what is wrong.
"""

import re
from dataclasses import dataclass

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

LIT_MAX_SIZE = 55


@dataclass(frozen=True)
class LiteralCap:
    """A tiny file carried inside its own capability; nothing is stored."""

    data: bytes

    def to_string(self) -> str:
        return "URI:LIT:" + base32.b2a(self.data)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class CHKVerifyCap:
    """Finds and checks a CHK file's shares, cannot decrypt them."""

    storage_index: bytes
    ueb_hash: bytes
    k: int
    n: int
    size: int

    def to_string(self) -> str:
        return (
            f"URI:CHK-Verifier:{base32.b2a(self.storage_index)}:{base32.b2a(self.ueb_hash)}"
            f":{self.k}:{self.n}:{self.size}"
        )


@dataclass(frozen=True)
class CHKReadCap:
    """Reads a CHK file: the AES key plus what pins the shares (the UEB hash)."""

    key: bytes
    ueb_hash: bytes
    k: int
    n: int
    size: int

    @property
    def storage_index(self) -> bytes:
        return storage_index_from_key(self.key)

    def verify_cap(self) -> CHKVerifyCap:
        return CHKVerifyCap(self.storage_index, self.ueb_hash, self.k, self.n, self.size)

    def to_string(self) -> str:
        return (
            f"URI:CHK:{base32.b2a(self.key)}:{base32.b2a(self.ueb_hash)}"
            f":{self.k}:{self.n}:{self.size}"
        )


Cap = LiteralCap | CHKReadCap | CHKVerifyCap


def _numbers(cap: str, k: str, n: str, size: str) -> tuple[int, int, int]:
    kk, nn = int(k), int(n)
    if not 1 <= kk <= nn <= MAX_SHARES:
        raise CapabilityError(f"capability has impossible k={kk}, n={nn}: {cap!r}")
    return kk, nn, int(size)


def parse_cap(text: str) -> Cap:
    """Parse a LIT or CHK capability string; raises CapabilityError."""
    if not isinstance(text, str):
        raise CapabilityError("a capability must be a string")
    cap = text[:-1] if text.endswith("\n") else text
    while cap.startswith(("ro.", "imm.")):
        cap = cap.split(".", 1)[1]
    if cap.startswith("URI:LIT:"):
        body = cap[len("URI:LIT:") :]
        if not base32.is_canonical(body):
            raise CapabilityError(f"LIT capability has malformed base32 data: {text!r}")
        return LiteralCap(base32.a2b(body))
    if cap.startswith("URI:CHK:"):
        m = _CHK_READ.fullmatch(cap)
        if not m:
            raise CapabilityError(f"malformed CHK read-cap: {text!r}")
        k, n, size = _numbers(text, *m.group(3, 4, 5))
        return CHKReadCap(base32.a2b(m[1]), base32.a2b(m[2]), k, n, size)
    if cap.startswith("URI:CHK-Verifier:"):
        m = _CHK_VERIFY.fullmatch(cap)
        if not m:
            raise CapabilityError(f"malformed CHK verify-cap: {text!r}")
        k, n, size = _numbers(text, *m.group(3, 4, 5))
        return CHKVerifyCap(base32.a2b(m[1]), base32.a2b(m[2]), k, n, size)
    if cap.startswith("URI:"):
        raise CapabilityError(f"unsupported capability type: {cap.split(':')[1]!r}")
    raise CapabilityError(f"not a capability (must start with 'URI:'): {text[:40]!r}")
