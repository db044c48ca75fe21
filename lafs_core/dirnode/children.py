"""A directory entry's cap slots make a known child or an unknown one (tahoe-dirnode.md 1.2, 2.2).

The stronger slot (write cap, else read cap) decides: if it parses as a cap
we know and meets the context's constraints, the child is that cap and the
other slot is ignored. Otherwise the child is "unknown": kept as opaque
strings so it can be listed, copied and deleted, with the `ro.`/`imm.`
prefix rules of Tahoe's UnknownNode. A child whose caps violate their
constraints carries an `error` and is dropped when a directory is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import CapabilityError
from ..mutable.caps import MutableVerifyCap, MutableWriteCap
from ..uri import CHKVerifyCap, is_canonical_cap, parse_cap
from .caps import AnyCap, DirectoryCap, is_immutable, parse_any_cap
from .format import Entry, has_write_cap, read_metadata, read_rw_uri, scan_entries
from .lazy import Lazy, bare

# Prefixes Tahoe's uri.from_string recognises; anything else is a cap from the future.
_KNOWN_PREFIXES = (
    "URI:CHK:", "URI:CHK-Verifier:", "URI:LIT:",
    "URI:SSK:", "URI:SSK-RO:", "URI:SSK-Verifier:",
    "URI:MDMF:", "URI:MDMF-RO:", "URI:MDMF-Verifier:",
    "URI:DIR2:", "URI:DIR2-RO:", "URI:DIR2-Verifier:",
    "URI:DIR2-CHK:", "URI:DIR2-CHK-Verifier:", "URI:DIR2-LIT:",
    "URI:DIR2-MDMF:", "URI:DIR2-MDMF-RO:", "URI:DIR2-MDMF-Verifier:",
)  # fmt: skip


def _unprefixed(text: str) -> str:
    if text.startswith("imm."):
        return text[4:]
    if text.startswith("ro."):
        return text[3:]
    return text


def is_recognised(text: str) -> bool:
    return _unprefixed(text).startswith(_KNOWN_PREFIXES)


def cap_error(text: str, immutable_context: bool) -> str | None:
    """Why Tahoe would refuse `text` (malformed known cap, broken constraint), or None."""
    if not is_recognised(text):
        return None
    try:
        parse_any_cap(text, immutable_context)
    except CapabilityError as exc:
        return str(exc)
    return None


def readonly_string(cap: AnyCap) -> str:
    if isinstance(cap, MutableWriteCap):
        return cap.readonly().to_string()
    if isinstance(cap, DirectoryCap) and not isinstance(
        cap.inner, (CHKVerifyCap, MutableVerifyCap)
    ):
        return cap.readonly().to_string()
    return cap.to_string()


@dataclass(frozen=True)
class Child:
    """A directory child: `cap` when we know its kind, else opaque slots (`is_unknown`)."""

    cap: AnyCap | None
    rw_uri: str | None
    ro_uri: str | None
    error: str | None = None

    @property
    def is_unknown(self) -> bool:
        return self.cap is None

    @property
    def is_directory(self) -> bool:
        return isinstance(self.cap, DirectoryCap)

    @property
    def is_mutable(self) -> bool | None:
        return None if self.cap is None else not is_immutable(self.cap)

    def allowed_in_immutable_directory(self) -> bool:
        if self.cap is None:
            return self.error is None and self.rw_uri is None
        return is_immutable(self.cap)

    def readonly(self) -> Child:
        if self.cap is not None:
            return known_child(parse_any_cap(readonly_string(self.cap)))
        return Child(None, None, self.ro_uri, self.error)

    def __eq__(self, other: object) -> bool:
        """By value, whether or not either cap is parsed yet (`_ImmutableFileChild`)."""
        if not isinstance(other, Child):
            return NotImplemented
        return (self.cap, self.rw_uri, self.ro_uri, self.error) == (
            other.cap,
            other.rw_uri,
            other.ro_uri,
            other.error,
        )


class _ImmutableFileChild(Child):
    """A CHK or LIT file listed from its canonical read cap (`is_canonical_cap`): most
    children of a big directory. The text is all a listing shows, so the cap object
    (base32 decoding) is made on first use. Made by `bare` without `cap`."""

    @Lazy
    def cap(self) -> AnyCap:  # type: ignore[override]
        return parse_cap(self.ro_uri or "")


def listed_file_text(child: Child) -> str | None:
    """The canonical CHK or LIT read cap a listed child was made from (`_ImmutableFileChild`),
    else None: a listing can show such a child from its text, without parsing the cap."""
    return child.ro_uri if type(child) is _ImmutableFileChild else None


def known_child(cap: AnyCap) -> Child:
    writable = isinstance(cap, MutableWriteCap) or (
        isinstance(cap, DirectoryCap) and not cap.is_readonly
    )
    return Child(cap, cap.to_string() if writable else None, readonly_string(cap))


def unknown_child(rw: str | None, ro: str | None, immutable_context: bool = False) -> Child:
    """Tahoe's UnknownNode rules for keeping caps we cannot interpret."""
    rw, ro = rw or None, ro or None
    if rw:
        if immutable_context:
            if rw.startswith("imm.") and not ro:
                pass
            else:
                return Child(None, None, None, "cannot attach unknown rw cap as immutable child")
        if not ro:
            if not rw.startswith(("ro.", "imm.")):
                return Child(None, None, None, "cannot attach unknown rw cap as child")
            rw, ro = None, rw
        elif ro.startswith("imm."):
            return Child(None, None, None, "both rw_uri and an imm.-prefixed ro_uri given")
    if ro:
        error = cap_error(ro, immutable_context)
        if error:
            return Child(None, None, None, error)
    if immutable_context:
        if not ro:
            return Child(None, None, None)
        if ro.startswith("imm."):
            return Child(None, None, ro)
        return Child(None, None, "imm." + _unprefixed(ro) if ro.startswith("ro.") else "imm." + ro)
    if ro and not ro.startswith(("ro.", "imm.")):
        ro = "ro." + ro
    return Child(None, rw, ro)


def make_child(rw: str | None, ro: str | None, immutable_context: bool = False) -> Child:
    """The child the two slots describe (spec 2.2 step 7); check `.error` before using it."""
    big = rw or ro
    if not big:
        return Child(None, None, None)
    if is_recognised(big):
        try:
            cap = parse_any_cap(big, immutable_context)
        except CapabilityError:
            pass  # Tahoe: an unknown cap carrying an error; UnknownNode decides below
        else:
            # Tahoe makes nodes of every cap except mutable and directory verify caps.
            verifier = isinstance(cap, MutableVerifyCap) or (
                isinstance(cap, DirectoryCap)
                and isinstance(cap.inner, (CHKVerifyCap, MutableVerifyCap))
            )
            if not verifier:
                return known_child(cap)
    return unknown_child(rw, ro, immutable_context)


Listing = dict[str, tuple[Child, dict[str, Any]]]


def _listed(rw: str | None, ro: str | None, immutable: bool) -> Child | None:
    """The child Tahoe lists for these slots, or None: it drops a child whose caps are
    refused (or mutable, in an immutable directory) silently (spec 2.2 step 8)."""
    if rw is None and ro is not None and is_canonical_cap(ro):
        # make_child's answer minus the parse; an immutable file fits any directory
        return bare(_ImmutableFileChild, {"rw_uri": None, "ro_uri": ro, "error": None})
    child = make_child(rw, ro, immutable)
    if child.error is None and (not immutable or child.allowed_in_immutable_directory()):
        return child
    return None


def visible_children(entries: Mapping[str, Entry], immutable: bool = False) -> Listing:
    """The children Tahoe lists, with their metadata."""
    out: Listing = {}
    for name, e in entries.items():
        child = _listed(e.rw_uri, e.ro_uri, immutable)
        if child is not None:
            out[name] = (child, e.metadata)
    return out


def list_body(data: bytes, writekey: bytes | None, mutable: bool = True) -> Listing:
    """`visible_children(unpack_children(data, writekey, mutable), not mutable)` without
    the stored entries (a listing reads every field of every entry once)."""
    slots = {name: (ro, rw, md) for _, name, ro, rw, md in scan_entries(data, mutable)}
    out: Listing = {}
    for name, (ro, rwcapdata, metadata_json) in slots.items():
        rw = None
        if writekey is not None and has_write_cap(rwcapdata):
            rw = read_rw_uri(name, writekey, rwcapdata)
        child = _listed(rw, ro, not mutable)
        if child is not None:
            out[name] = (child, read_metadata(name, metadata_json))
    return out
