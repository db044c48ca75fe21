"""Mutable-file capabilities: SDMF (`URI:SSK*`) and MDMF (`URI:MDMF*`), spec/tahoe-mutable.md 3.

Three strengths per file: the write cap holds the writekey, the read cap the
readkey, the verify cap only the storage index; all three carry the public
key's fingerprint, which pins the key that signs every version. Weaker caps
are derived, never parsed out of stronger ones.

Parsing is strict (exact base32 lengths, canonical last characters), except
that MDMF caps may carry `:`-separated extension fields after the
fingerprint, which Tahoe 1.20 ignores and never writes; we drop them too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from .. import base32
from ..errors import CapabilityError
from .keys import KeyPair, readkey_from_writekey, storage_index_from_readkey

Format = Literal["sdmf", "mdmf"]
SDMF: Format = "sdmf"
MDMF: Format = "mdmf"

_B32_16 = "[a-z2-7]{25}[aeimquy4]"
_B32_32 = "[a-z2-7]{51}[aq]"

# (format, strength) -> prefix, and back.
_PREFIXES: dict[tuple[Format, str], str] = {
    (SDMF, "write"): "URI:SSK:",
    (SDMF, "read"): "URI:SSK-RO:",
    (SDMF, "verify"): "URI:SSK-Verifier:",
    (MDMF, "write"): "URI:MDMF:",
    (MDMF, "read"): "URI:MDMF-RO:",
    (MDMF, "verify"): "URI:MDMF-Verifier:",
}
_BY_PREFIX = {p: fs for fs, p in _PREFIXES.items()}
_BODY = {
    SDMF: re.compile(f"({_B32_16}):({_B32_32})"),
    MDMF: re.compile(f"({_B32_16}):({_B32_32})(?::.*)?", re.DOTALL),
}


@dataclass(frozen=True)
class MutableVerifyCap:
    """Finds and checks a mutable file's shares; cannot decrypt or write."""

    storage_index: bytes
    fingerprint: bytes
    format: Format = SDMF

    def to_string(self) -> str:
        return _format(self.format, "verify", self.storage_index, self.fingerprint)

    def verify_cap(self) -> MutableVerifyCap:
        return self


@dataclass(frozen=True)
class MutableReadCap:
    """Reads a mutable file: the readkey decrypts, the fingerprint authenticates."""

    readkey: bytes
    fingerprint: bytes
    format: Format = SDMF

    @cached_property
    def storage_index(self) -> bytes:
        # remembered, as the write cap's: each request of an operation names it
        return storage_index_from_readkey(self.readkey)

    def readonly(self) -> MutableReadCap:
        return self

    def verify_cap(self) -> MutableVerifyCap:
        return MutableVerifyCap(self.storage_index, self.fingerprint, self.format)

    def to_string(self) -> str:
        return _format(self.format, "read", self.readkey, self.fingerprint)


@dataclass(frozen=True)
class MutableWriteCap:
    """Writes a mutable file: the writekey decrypts the private key stored in every share."""

    writekey: bytes
    fingerprint: bytes
    format: Format = SDMF

    @classmethod
    def from_keypair(cls, keys: KeyPair, format: Format = SDMF) -> MutableWriteCap:
        return cls(keys.writekey, keys.fingerprint, format)

    @cached_property
    def readkey(self) -> bytes:
        # remembered: each is two SHA-256d, and a publish or read asks several times
        return readkey_from_writekey(self.writekey)

    @cached_property
    def storage_index(self) -> bytes:
        return storage_index_from_readkey(self.readkey)

    def readonly(self) -> MutableReadCap:
        return MutableReadCap(self.readkey, self.fingerprint, self.format)

    def verify_cap(self) -> MutableVerifyCap:
        return self.readonly().verify_cap()

    def to_string(self) -> str:
        return _format(self.format, "write", self.writekey, self.fingerprint)


MutableCap = MutableWriteCap | MutableReadCap | MutableVerifyCap
_CLASSES: dict[str, type[MutableWriteCap | MutableReadCap | MutableVerifyCap]] = {
    "write": MutableWriteCap,
    "read": MutableReadCap,
    "verify": MutableVerifyCap,
}


def _format(fmt: Format, strength: str, key: bytes, fingerprint: bytes) -> str:
    if len(key) != 16 or len(fingerprint) != 32:
        raise ValueError("a mutable cap needs a 16-byte key or index and a 32-byte fingerprint")
    return f"{_PREFIXES[fmt, strength]}{base32.b2a(key)}:{base32.b2a(fingerprint)}"


def mutable_prefix(text: str) -> str | None:
    """The `URI:SSK…:`/`URI:MDMF…:` prefix `text` starts with, if any."""
    head = text[: text.find(":", 4) + 1] if text.startswith("URI:") else ""
    return head if head in _BY_PREFIX else None


def parse_mutable_cap(text: str) -> MutableCap:
    """Parse an SSK or MDMF write, read or verify cap; raises CapabilityError.

    One trailing newline is tolerated, as in `lafs_core.uri.parse_cap`.
    """
    if not isinstance(text, str):
        raise CapabilityError("a capability must be a string")
    cap = text.removesuffix("\n")
    prefix = mutable_prefix(cap)
    if prefix is None:
        raise CapabilityError(f"not a mutable-file capability: {text[:40]!r}")
    fmt, strength = _BY_PREFIX[prefix]
    m = _BODY[fmt].fullmatch(cap, len(prefix))
    if not m:
        raise CapabilityError(f"malformed {prefix[4:-1]} capability: {text!r}")
    return _CLASSES[strength](base32.a2b(m[1]), base32.a2b(m[2]), fmt)
