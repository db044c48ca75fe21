"""One node of the bucket index (a B-link tree) as the children of a Tahoe directory.

Pure code over directory bodies (spec/tahoe-dirnode.md 2). A node is a mutable
directory whose children are:

* the header, named `HEADER`: metadata {"level", "low", "high"} (its key range
  [low, high), high None = unbounded); its cap slots hold the right sibling
  (write cap encrypted like any child write cap), or stay empty;
* in a leaf (level 0), one child per S3 key: the read slot holds the object's
  cap (empty when the entry has none: Tahoe reads that as an unknown child
  with no caps, which it accepts), the edge metadata is the entry's info;
  leaf entries carry no write cap, so they are packed without encryption;
* in an interior node, one subdirectory per child node, named by its low key;
* in the root, the subdirectory `JOURNAL`: the bucket's journal (see
  `s3gw.bucket_index`), a leaf-shaped node whose header also maps each key it
  changes to the change's sequence number (a key there with no child: deleted).

A leaf's header records `seq`, the highest journal sequence number folded
into it; the journal's records the last one it handed out.

Tahoe NFC-normalizes child names and S3 keys are kept exactly, so a key that
is empty, not NFC, or starts with `MARKER` is stored as MARKER + unpadded
urlsafe base64 of its UTF-8 (ASCII, hence NFC-stable); plain names never start
with MARKER and escaped names never contain "!", so the mapping is reversible
and collision-free.
"""

from __future__ import annotations

import base64
import bisect
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from lafs_core.dirnode import (
    CorruptDirectoryError,
    DirectoryCap,
    Entry,
    pack_children,
    parse_dir_cap,
    unpack_children,
)
from lafs_core.dirnode.format import pack_entry
from lafs_core.errors import CapabilityError
from lafs_core.netstring import netstring

MARKER = "\ue000"  # a private-use character: rare in keys, NFC-stable
HEADER = MARKER + "!node"
JOURNAL = MARKER + "!journal"


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """An object's index entry: its read cap (CHK or LIT; None e.g. for a multipart
    object whose parts are listed in info) and JSON-able metadata chosen by the handlers.
    `info` dicts read from the index are shared with its cache: treat them as read-only."""

    cap: str | None
    info: dict[str, Any]
    # values derived from info by readers (listing rows), kept with the cached entry
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class IndexPage:
    """One ListObjects page: entries and common prefixes in code-point (UTF-8 binary) order."""

    entries: list[tuple[str, IndexEntry]]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None  # last key or common prefix returned, when truncated


def encode_key(key: str) -> str:
    """The directory child name that stores `key`."""
    if key and key[0] != MARKER and unicodedata.is_normalized("NFC", key):
        return key
    return MARKER + base64.urlsafe_b64encode(key.encode("utf-8")).decode("ascii").rstrip("=")


def decode_name(name: str) -> str:
    """The key stored under a child name (inverse of `encode_key`)."""
    if not name.startswith(MARKER):
        return name
    text = name[1:]
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CorruptDirectoryError(f"bad escaped key name {name!r}") from exc


def _stored_size(raw: bytes) -> int:
    return len(raw) + len(str(len(raw))) + 2  # as one netstring of the body


def leaf_entry(key: str, cap: str | None, info: dict[str, Any]) -> Entry:
    """A leaf child, packed now (so bad metadata fails before any publish)."""
    name = encode_key(key)
    entry = Entry(name, cap or None, None, json.loads(json.dumps(info)))
    return replace(entry, raw=pack_entry(entry, None))


def index_entry(entry: Entry) -> IndexEntry:
    return IndexEntry(entry.ro_uri, entry.metadata)


class Link:
    """A link to a child node. Links read from a body are decrypted only when followed
    (a descent follows one of hundreds) and are written back verbatim under the same key."""

    __slots__ = ("_cap", "entry", "writekey")

    def __init__(
        self, cap: DirectoryCap | None = None, entry: Entry | None = None, writekey: bytes = b""
    ) -> None:
        self._cap, self.entry, self.writekey = cap, entry, writekey

    @property
    def cap(self) -> DirectoryCap:
        if self._cap is None:
            assert self.entry is not None
            self._cap = _write_cap(self.entry, self.writekey)
        return self._cap

    def stored(self, name: str, writekey: bytes | None) -> Entry:
        if self.entry is not None and self.writekey == writekey:
            return self.entry
        cap = self.cap
        return Entry(name, cap.readonly().to_string(), cap.to_string(), {})

    @property
    def size(self) -> int:
        if self.entry is not None:
            return _stored_size(self.entry.raw)
        return 2 * len(self.cap.to_string()) + 64


@dataclass(frozen=True)
class IndexNode:
    """A decoded node. Leaves fill `entries` (key -> stored child) and `keys` (sorted);
    interior nodes fill `children`: (low key, link to the child), sorted by low key."""

    level: int
    low: str = ""
    high: str | None = None
    right: DirectoryCap | None = None
    entries: dict[str, Entry] = field(default_factory=dict)
    keys: list[str] = field(default_factory=list)
    children: list[tuple[str, Link]] = field(default_factory=list)
    size: int = 0  # bytes of the packed children (header excluded)
    seq: int = 0  # a leaf: journal changes folded up to here; the journal: the last handed out
    seqs: dict[str, int] = field(default_factory=dict)  # the journal: key -> its change's seq
    journal: DirectoryCap | None = None  # the root: the bucket's journal
    # IndexEntry by key, made on first read: a cached leaf hands out the same objects
    indexed: dict[str, IndexEntry] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_leaf(self) -> bool:
        return self.level == 0

    @property
    def count(self) -> int:
        return len(self.keys) if self.is_leaf else len(self.children)

    def past_high(self, key: str) -> bool:
        """True when `key` lies right of this node: follow the right link."""
        return self.high is not None and key >= self.high

    @property
    def short_lived(self) -> bool:
        """Cached for the leaves' time-to-live: leaves, and a root without a journal yet
        (another process may link one, and its changes must show as soon as a leaf's)."""
        return self.is_leaf or (self.low == "" and self.high is None and self.journal is None)

    def covers(self, key: str) -> bool:
        return self.low <= key and not self.past_high(key)

    def child_for(self, key: str) -> DirectoryCap:
        i = bisect.bisect_right(self.children, key, key=lambda c: c[0]) - 1
        return self.children[max(i, 0)][1].cap

    def items_from(self, key: str) -> Iterator[tuple[str, IndexEntry]]:
        """(key, entry) from `key` on; each entry is made once per node (and its memo kept)."""
        indexed, entries = self.indexed, self.entries
        for k in self.keys[bisect.bisect_left(self.keys, key) :]:
            found = indexed.get(k)
            if found is None:
                found = indexed[k] = index_entry(entries[k])
            yield k, found

    def with_changes(self, changes: dict[str, Entry | None]) -> IndexNode:
        """A leaf with entries set (Entry) or removed (None)."""
        entries = dict(self.entries)
        keys = list(self.keys)
        size = self.size
        for key, new in changes.items():
            old = entries.pop(key, None)
            if old is not None:
                size -= _stored_size(old.raw)
                keys.pop(bisect.bisect_left(keys, key))
            if new is not None:
                entries[key] = new
                size += _stored_size(new.raw)
                bisect.insort(keys, key)
        indexed = {k: e for k, e in self.indexed.items() if k not in changes}
        return replace(self, entries=entries, keys=keys, size=size, indexed=indexed)

    def with_child(self, low: str, cap: DirectoryCap) -> IndexNode:
        """An interior node with one more child (no-op if `low` is present)."""
        if any(c[0] == low for c in self.children):
            return self
        link = Link(cap)
        children = sorted([*self.children, (low, link)], key=lambda c: c[0])
        return replace(self, children=children, size=self.size + _child_size(low, link))

    def split(
        self, left_share: float = 0.5, after: str | None = None
    ) -> tuple[IndexNode, IndexNode]:
        """(left, right) parts, a leaf's by stored bytes (`left_share` of them left), or
        right after key `after` when that is not the leaf's last; left.right must still be
        set to right's cap."""
        if self.count < 2:
            raise ValueError("a node with one child cannot be split")
        if self.is_leaf:
            if after is not None and after < self.keys[-1]:
                i = bisect.bisect_right(self.keys, after)
            else:
                half, acc, i = self.size * left_share, 0, 0
                while i < len(self.keys) - 1 and acc < half:
                    acc += _stored_size(self.entries[self.keys[i]].raw)
                    i += 1
            i = max(i, 1)
            sep = self.keys[i]
            lk, rk = self.keys[:i], self.keys[i:]
            left = _leaf(self.low, sep, None, {k: self.entries[k] for k in lk}, lk, self.seq)
            right = _leaf(
                sep, self.high, self.right, {k: self.entries[k] for k in rk}, rk, self.seq
            )
            return left, right
        i = len(self.children) // 2
        sep = self.children[i][0]
        left = _interior(self.level, self.low, sep, None, self.children[:i])
        right = _interior(self.level, sep, self.high, self.right, self.children[i:])
        return left, right


def end_of_added_run(old: IndexNode, new: IndexNode) -> str | None:
    """The last of the keys `new` adds to leaf `old`, if they are several and next to each
    other (keys written in order); None if it adds one (no sign of order: split it as any
    other leaf), none, or scattered ones."""
    added = [k for k in new.keys if k not in old.entries]
    if len(added) < 2:
        return None
    first = bisect.bisect_left(new.keys, added[0])
    return added[-1] if new.keys[first + len(added) - 1] == added[-1] else None


def _leaf(
    low: str,
    high: str | None,
    right: DirectoryCap | None,
    entries: dict[str, Entry],
    keys: list[str],
    seq: int = 0,
) -> IndexNode:
    size = sum(_stored_size(e.raw) for e in entries.values())
    return IndexNode(0, low, high, right, entries, keys, [], size, seq)


def _child_size(low: str, link: Link) -> int:
    return len(encode_key(low).encode("utf-8")) + link.size


def _interior(
    level: int,
    low: str,
    high: str | None,
    right: DirectoryCap | None,
    children: list[tuple[str, Link]],
) -> IndexNode:
    size = sum(_child_size(low, link) for low, link in children)
    return IndexNode(level, low, high, right, children=list(children), size=size)


def new_root(
    level: int, left: DirectoryCap, sep: str, right: DirectoryCap, journal: DirectoryCap | None
) -> IndexNode:
    """The root after a root split: two children under the root's fixed cap."""
    root = _interior(level, "", None, None, [("", Link(left)), (sep, Link(right))])
    return replace(root, journal=journal)


def _link_entry(name: str, cap: DirectoryCap | None) -> Entry:
    if cap is None:
        return Entry(name, None, None, {})
    return Entry(name, cap.readonly().to_string(), cap.to_string(), {})


def _header(node: IndexNode) -> Entry:
    metadata: dict[str, Any] = {"level": node.level, "low": node.low, "high": node.high}
    if node.seq:
        metadata["seq"] = node.seq
    if node.seqs:
        metadata["seqs"] = node.seqs
    return replace(_link_entry(HEADER, node.right), metadata=metadata)


def pack_node(node: IndexNode, writekey: bytes | None) -> bytes:
    """The directory body of a node (`writekey` encrypts the write caps it links to)."""
    children = {HEADER: _header(node)}
    if node.journal is not None:
        children[JOURNAL] = _link_entry(JOURNAL, node.journal)
    if node.is_leaf:
        children.update((e.name, e) for e in node.entries.values())
    else:
        for low, link in node.children:
            name = encode_key(low)
            children[name] = link.stored(name, writekey)
    return pack_children(children, writekey)


def _write_cap(entry: Entry, writekey: bytes) -> DirectoryCap:
    """The child write cap of one entry read without the writekey."""
    (full,) = unpack_children(netstring(entry.raw), writekey).values()
    try:
        cap = parse_dir_cap(full.rw_uri or "")
    except CapabilityError as exc:
        raise CorruptDirectoryError(f"index link {entry.name!r} is not a directory") from exc
    if cap.is_readonly:
        raise CorruptDirectoryError(f"index link {entry.name!r} is read-only")
    return cap


def parse_node(body: bytes, writekey: bytes) -> IndexNode:
    """Decode a node body; raises CorruptDirectoryError if it is not an index node."""
    stored = unpack_children(body, None)
    header = stored.pop(HEADER, None)
    link = stored.pop(JOURNAL, None)
    md = header.metadata if header is not None else {}
    level, low, high = md.get("level"), md.get("low"), md.get("high")
    seq, seqs = md.get("seq", 0), md.get("seqs", {})
    if (
        not isinstance(level, int)
        or level < 0
        or not isinstance(low, str)
        or not (high is None or isinstance(high, str))
        or not isinstance(seq, int)
        or not isinstance(seqs, dict)
        or not all(isinstance(s, int) for s in seqs.values())
    ):
        raise CorruptDirectoryError("not a bucket index node (bad or missing header)")
    assert header is not None
    right = _write_cap(header, writekey) if header.ro_uri else None
    journal = _write_cap(link, writekey) if link is not None else None
    if level == 0:
        entries = {decode_name(e.name): e for e in stored.values()}
        keys = sorted(entries)
        return replace(_leaf(low, high, right, entries, keys, seq), seqs=seqs, journal=journal)
    children = sorted(
        ((decode_name(e.name), Link(None, e, writekey)) for e in stored.values()),
        key=lambda c: c[0],
    )
    return replace(_interior(level, low, high, right, children), journal=journal)


__all__ = [
    "HEADER",
    "JOURNAL",
    "MARKER",
    "IndexEntry",
    "IndexNode",
    "IndexPage",
    "Link",
    "decode_name",
    "encode_key",
    "end_of_added_run",
    "index_entry",
    "leaf_entry",
    "new_root",
    "pack_node",
    "parse_node",
]
