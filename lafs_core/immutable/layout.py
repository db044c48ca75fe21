"""CHK share layout, URI extension block and share-hash chains (spec/tahoe-immutable.md 7-8).

Pure functions over bytes. A share is: header, data (the blocks), a zeroed
plaintext-tree area, the crypttext tree, this share's block tree, its
share-hash chain, then the length-prefixed UEB.
"""

import struct
from dataclasses import dataclass

from ..errors import CorruptShareError
from ..hashes import UEB_TAG, tagged_hash
from ..hashtree import pow2ceil
from .params import FileGeometry

HASH_SIZE = 32
CHAIN_ENTRY_SIZE = 2 + HASH_SIZE
MAX_UEB_SIZE = 2000  # larger is treated as corruption, as Tahoe's readers do
_FIELDS = ("data", "plaintext_tree", "crypttext_tree", "block_tree", "share_chain", "ueb")


@dataclass(frozen=True)
class ShareLayout:
    """Where each section of a share starts; `ueb` is the UEB length field."""

    version: int
    block_size: int
    data_size: int
    data: int
    plaintext_tree: int
    crypttext_tree: int
    block_tree: int
    share_chain: int
    ueb: int

    @property
    def header_size(self) -> int:
        return 0x24 if self.version == 1 else 0x44

    @property
    def ueb_length_size(self) -> int:
        return 4 if self.version == 1 else 8

    @property
    def tree_size(self) -> int:
        return self.block_tree - self.crypttext_tree

    @property
    def chain_size(self) -> int:
        return self.ueb - self.share_chain

    def share_size(self, ueb_size: int) -> int:
        return self.ueb + self.ueb_length_size + ueb_size


def tree_area_size(num_segments: int) -> int:
    return (2 * pow2ceil(num_segments) - 1) * HASH_SIZE


def chain_area_size(n: int) -> int:
    return (pow2ceil(n).bit_length()) * CHAIN_ENTRY_SIZE


def layout_for(geometry: FileGeometry, version: int | None = None) -> ShareLayout:
    """The layout a writer uses: v1 unless some offset needs more than 32 bits."""
    tree = tree_area_size(geometry.num_segments)
    chain = chain_area_size(geometry.n)
    data_size = geometry.share_data_size

    def build(v: int) -> ShareLayout:
        start = 0x24 if v == 1 else 0x44
        return ShareLayout(
            version=v,
            block_size=geometry.block_size,
            data_size=data_size,
            data=start,
            plaintext_tree=start + data_size,
            crypttext_tree=start + data_size + tree,
            block_tree=start + data_size + 2 * tree,
            share_chain=start + data_size + 3 * tree,
            ueb=start + data_size + 3 * tree + chain,
        )

    if version is None:
        v1 = build(1)
        fits = max(v1.ueb, v1.data_size, v1.block_size) < 2**32
        return v1 if fits else build(2)
    return build(version)


def pack_header(layout: ShareLayout) -> bytes:
    values = (layout.block_size, layout.data_size) + tuple(getattr(layout, f) for f in _FIELDS)
    if layout.version == 1:
        return struct.pack(">L8L", 1, *values)
    return struct.pack(">L8Q", 2, *values)


HEADER_READ_SIZE = 0x44  # enough bytes to parse either version's header


def parse_header(raw: bytes) -> ShareLayout:
    """Parse a share header (at least its first 0x24 or 0x44 bytes)."""
    if len(raw) < 4:
        raise CorruptShareError("share is too short to hold a header")
    (version,) = struct.unpack(">L", raw[:4])
    if version == 1 and len(raw) >= 0x24:
        values = struct.unpack(">8L", raw[4:0x24])
    elif version == 2 and len(raw) >= 0x44:
        values = struct.unpack(">8Q", raw[4:0x44])
    elif version in (1, 2):
        raise CorruptShareError("share is too short to hold its header")
    else:
        raise CorruptShareError(f"unknown share layout version {version}")
    return ShareLayout(version, *values)


def check_layout(found: ShareLayout, geometry: FileGeometry) -> None:
    """A share must have exactly the layout its file's geometry implies."""
    if found != layout_for(geometry, found.version):
        raise CorruptShareError("share header does not match the file's geometry")


def pack_ueb(fields: dict[str, bytes | int | str]) -> bytes:
    out = []
    for key in sorted(fields):
        value = fields[key]
        raw = value if isinstance(value, bytes) else str(value).encode("ascii")
        out.append(b"%s:%d:%s," % (key.encode("ascii"), len(raw), raw))
    return b"".join(out)


def parse_ueb(raw: bytes) -> dict[str, bytes]:
    fields: dict[str, bytes] = {}
    pos = 0
    while pos < len(raw):
        colon = raw.find(b":", pos)
        colon2 = raw.find(b":", colon + 1)
        if colon < 0 or colon2 < 0 or not raw[colon + 1 : colon2].isdigit():
            raise CorruptShareError("malformed URI extension block")
        length = int(raw[colon + 1 : colon2])
        end = colon2 + 1 + length
        if raw[end : end + 1] != b",":
            raise CorruptShareError("malformed URI extension block")
        fields[raw[pos:colon].decode("ascii", "replace")] = raw[colon2 + 1 : end]
        pos = end + 1
    return fields


def ueb_hash(ueb: bytes) -> bytes:
    return tagged_hash(UEB_TAG, ueb)


@dataclass(frozen=True)
class UEB:
    """The fields of a URI extension block that a reader relies on."""

    segment_size: int
    num_segments: int
    size: int
    k: int
    n: int
    crypttext_root_hash: bytes
    share_root_hash: bytes
    crypttext_hash: bytes


def decode_ueb(raw: bytes) -> UEB:
    fields = parse_ueb(raw)
    try:
        ueb = UEB(
            segment_size=int(fields["segment_size"]),
            num_segments=int(fields["num_segments"]),
            size=int(fields["size"]),
            k=int(fields["needed_shares"]),
            n=int(fields["total_shares"]),
            crypttext_root_hash=fields["crypttext_root_hash"],
            share_root_hash=fields["share_root_hash"],
            crypttext_hash=fields["crypttext_hash"],
        )
    except (KeyError, ValueError) as exc:
        raise CorruptShareError(f"URI extension block lacks or garbles {exc}") from exc
    hashes = (ueb.crypttext_root_hash, ueb.share_root_hash, ueb.crypttext_hash)
    if any(len(h) != HASH_SIZE for h in hashes) or ueb.segment_size < 1:
        raise CorruptShareError("URI extension block has malformed values")
    return ueb


def pack_chain(entries: list[tuple[int, bytes]]) -> bytes:
    return b"".join(struct.pack(">H", node) + h for node, h in entries)


def parse_chain(raw: bytes) -> dict[int, bytes]:
    if len(raw) % CHAIN_ENTRY_SIZE:
        raise CorruptShareError("share hash chain is not a whole number of entries")
    chain = {}
    for pos in range(0, len(raw), CHAIN_ENTRY_SIZE):
        (node,) = struct.unpack(">H", raw[pos : pos + 2])
        chain[node] = raw[pos + 2 : pos + CHAIN_ENTRY_SIZE]
    return chain


def parse_tree(raw: bytes) -> list[bytes]:
    if len(raw) % HASH_SIZE:
        raise CorruptShareError("hash tree area is not a whole number of hashes")
    return [raw[i : i + HASH_SIZE] for i in range(0, len(raw), HASH_SIZE)]
