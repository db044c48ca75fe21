"""Directory capabilities: a file cap under a `URI:DIR2…:` prefix (spec/tahoe-dirnode.md 1).

A directory cap is the cap of the file holding the directory's serialised
children, with the file prefix swapped for a directory prefix; everything
after the prefix is the file cap's remainder. So a `DirectoryCap` is just a
wrapper around the inner file cap, and parsing re-prefixes and delegates.

`parse_any_cap` is the one parser for every cap string we understand (CHK,
LIT, SSK, MDMF and all directory forms), applying the `ro.`/`imm.`
constraints of spec/tahoe-dirnode.md 1.2.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import CapabilityError
from ..mutable.caps import (
    MDMF,
    SDMF,
    MutableCap,
    MutableReadCap,
    MutableVerifyCap,
    MutableWriteCap,
    parse_mutable_cap,
)
from ..uri import CHKReadCap, CHKVerifyCap, LiteralCap, PrintedOnce, with_text
from ..uri import parse_cap as parse_immutable_cap

FileCap = MutableCap | CHKReadCap | CHKVerifyCap | LiteralCap

# directory prefix -> the prefix of the file cap it wraps
_INNER_PREFIX = {
    "URI:DIR2:": "URI:SSK:",
    "URI:DIR2-RO:": "URI:SSK-RO:",
    "URI:DIR2-Verifier:": "URI:SSK-Verifier:",
    "URI:DIR2-MDMF:": "URI:MDMF:",
    "URI:DIR2-MDMF-RO:": "URI:MDMF-RO:",
    "URI:DIR2-MDMF-Verifier:": "URI:MDMF-Verifier:",
    "URI:DIR2-CHK:": "URI:CHK:",
    "URI:DIR2-CHK-Verifier:": "URI:CHK-Verifier:",
    "URI:DIR2-LIT:": "URI:LIT:",
}
_OUTER_PREFIX = {inner: outer for outer, inner in _INNER_PREFIX.items()}


def _file_prefix(cap_string: str) -> str:
    return cap_string[: cap_string.index(":", 4) + 1]


@dataclass(frozen=True)
class DirectoryCap(PrintedOnce):
    """A directory, named by the cap of the file that stores its children."""

    inner: FileCap

    @property
    def is_mutable(self) -> bool:
        return isinstance(self.inner, (MutableWriteCap, MutableReadCap, MutableVerifyCap))

    @property
    def is_readonly(self) -> bool:
        return not isinstance(self.inner, MutableWriteCap)

    @property
    def storage_index(self) -> bytes | None:
        return None if isinstance(self.inner, LiteralCap) else self.inner.storage_index

    def readonly(self) -> DirectoryCap:
        inner = self.inner
        if isinstance(inner, (CHKVerifyCap, MutableVerifyCap)):
            raise TypeError("a verify cap has no read-only form")
        if isinstance(inner, MutableWriteCap):
            return DirectoryCap(inner.readonly())
        return self

    def verify_cap(self) -> DirectoryCap | None:
        """The `…-Verifier` form; None for a LIT directory (nothing is stored)."""
        inner = self.inner
        if isinstance(inner, LiteralCap):
            return None
        if isinstance(inner, CHKVerifyCap):
            return self
        return DirectoryCap(inner.verify_cap())

    def _format(self) -> str:
        text = self.inner.to_string()
        prefix = _file_prefix(text)
        return _OUTER_PREFIX[prefix] + text[len(prefix) :]


AnyCap = FileCap | DirectoryCap


def directory_prefix(text: str) -> str | None:
    if not text.startswith("URI:DIR2"):
        return None
    head = text[: text.find(":", 4) + 1]
    return head if head in _INNER_PREFIX else None


def parse_dir_cap(text: str) -> DirectoryCap:
    """Parse one of the nine directory cap forms; raises CapabilityError."""
    if not isinstance(text, str):
        raise CapabilityError("a capability must be a string")
    cap = text.removesuffix("\n")
    prefix = directory_prefix(cap)
    if prefix is None:
        raise CapabilityError(f"not a directory capability: {text[:40]!r}")
    inner_text = _INNER_PREFIX[prefix] + cap[len(prefix) :]
    if inner_text.startswith(("URI:CHK", "URI:LIT")):
        inner: FileCap = parse_immutable_cap(inner_text)
    else:
        inner = parse_mutable_cap(inner_text)
    parsed = DirectoryCap(inner)
    return with_text(parsed, cap) if inner.to_string() == inner_text else parsed


def _parse_plain(cap: str) -> AnyCap:
    if cap.startswith("URI:DIR2"):
        return parse_dir_cap(cap)
    if cap.startswith(("URI:SSK", "URI:MDMF")):
        return parse_mutable_cap(cap)
    if cap.startswith(("ro.", "imm.")):
        raise CapabilityError(f"doubled ro./imm. prefix: {cap[:40]!r}")
    return parse_immutable_cap(cap)


def is_verify_cap(cap: AnyCap) -> bool:
    inner = cap.inner if isinstance(cap, DirectoryCap) else cap
    return isinstance(inner, (CHKVerifyCap, MutableVerifyCap))


def is_readonly(cap: AnyCap) -> bool:
    if isinstance(cap, DirectoryCap):
        return cap.is_readonly
    return not isinstance(cap, MutableWriteCap)


def is_immutable(cap: AnyCap) -> bool:
    if isinstance(cap, DirectoryCap):
        return not cap.is_mutable
    return isinstance(cap, (CHKReadCap, CHKVerifyCap, LiteralCap))


def parse_any_cap(text: str, immutable_context: bool = False) -> AnyCap:
    """Parse any cap we know; `ro.` demands read-only, `imm.` (or the context) immutable.

    Raises CapabilityError for malformed or unknown caps and for caps that
    break their constraint (e.g. `ro.URI:SSK:…`); a directory reader turns
    such errors into an unknown or dropped child (spec/tahoe-dirnode.md 1.2).
    """
    if not isinstance(text, str):
        raise CapabilityError("a capability must be a string")
    if text.startswith("URI:CHK:"):  # most children: read-only and immutable, nothing to check
        return parse_immutable_cap(text)
    cap = text.removesuffix("\n")
    must_be_readonly = must_be_immutable = immutable_context
    if cap.startswith("ro."):
        cap, must_be_readonly = cap[3:], True
    elif cap.startswith("imm."):
        cap, must_be_readonly, must_be_immutable = cap[4:], True, True
    parsed = _parse_plain(cap)
    if is_verify_cap(parsed):
        return parsed  # Tahoe applies no constraint to verify caps: they can neither read nor write
    if must_be_immutable and not is_immutable(parsed):
        raise CapabilityError(f"cap is not immutable, as its context demands: {text[:60]!r}")
    if must_be_readonly and not is_readonly(parsed):
        raise CapabilityError(f"cap is not read-only, as its context demands: {text[:60]!r}")
    return parsed


__all__ = [
    "MDMF",
    "SDMF",
    "AnyCap",
    "DirectoryCap",
    "FileCap",
    "directory_prefix",
    "is_immutable",
    "is_readonly",
    "is_verify_cap",
    "parse_any_cap",
    "parse_dir_cap",
]
