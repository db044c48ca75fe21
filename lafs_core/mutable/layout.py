"""The SDMF share format, byte for byte (spec/tahoe-mutable.md 6).

An SDMF share is one contiguous byte string: a 107-byte header (the 75-byte
signed prefix plus an unsigned offset table), then the verification key,
the signature, the share hash chain, the block hash tree, the one block,
and the encrypted private key. Pure pack/parse over bytes; any malformed or
truncated input raises `CorruptShareError`, never `struct.error`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from ..errors import CorruptShareError
from .errors import UnsupportedMutableFormat

SDMF_VERSION = 0
MDMF_VERSION = 1

_PREFIX = struct.Struct(">BQ32s16sBBQQ")  # the signed prefix
_OFFSETS = struct.Struct(">LLLLQQ")
_CHAIN_ENTRY = struct.Struct(">H32s")
CHECKSTRING_SIZE = 57  # version, seqnum, root hash, IV
SIGNED_PREFIX_SIZE = _PREFIX.size  # 75
HEADER_SIZE = SIGNED_PREFIX_SIZE + _OFFSETS.size  # 107
HASH_SIZE = 32


@dataclass(frozen=True, order=True)
class SDMFPrefix:
    """The signed fields of one version; all N shares of a version carry the same.

    Also the servermap's version key: ordering is by seqnum, then root hash,
    which is how the best version is chosen (spec/tahoe-mutable.md 11).
    """

    seqnum: int
    root_hash: bytes
    iv: bytes
    k: int
    n: int
    segsize: int
    datalen: int

    def pack(self) -> bytes:
        """The 75 bytes the signature covers."""
        return self._packed

    @cached_property
    def _packed(self) -> bytes:
        # made once: every share of a version, its signature and its checkstring need them
        return _PREFIX.pack(
            SDMF_VERSION,
            self.seqnum,
            self.root_hash,
            self.iv,
            self.k,
            self.n,
            self.segsize,
            self.datalen,
        )

    @property
    def checkstring(self) -> bytes:
        """The 57 bytes a test-and-set write compares (version, seqnum, root hash, IV)."""
        return self._packed[:CHECKSTRING_SIZE]


@dataclass(frozen=True)
class SDMFOffsets:
    signature: int
    share_hash_chain: int
    block_hash_tree: int
    share_data: int
    enc_privkey: int
    eof: int

    def pack(self) -> bytes:
        return _OFFSETS.pack(
            self.signature, self.share_hash_chain, self.block_hash_tree,
            self.share_data, self.enc_privkey, self.eof,
        )  # fmt: skip


@dataclass(frozen=True)
class SDMFShare:
    """One parsed share. `share_hash_chain` maps share-tree node index -> hash."""

    prefix: SDMFPrefix
    pubkey_der: bytes
    signature: bytes
    share_hash_chain: Mapping[int, bytes]
    block_hash_tree: tuple[bytes, ...]
    block: bytes
    enc_privkey: bytes
    offsets: SDMFOffsets | None = field(compare=False, default=None)


def checkstring(seqnum: int, root_hash: bytes, iv: bytes) -> bytes:
    return struct.pack(">BQ32s16s", SDMF_VERSION, seqnum, root_hash, iv)


def pack_share(
    prefix: SDMFPrefix,
    pubkey_der: bytes,
    signature: bytes,
    share_hash_chain: Mapping[int, bytes],
    block_hash_tree: tuple[bytes, ...] | list[bytes],
    block: bytes,
    enc_privkey: bytes,
) -> bytes:
    """Assemble a share; the chain is written in ascending node order, as Tahoe does."""
    chain = b"".join(_CHAIN_ENTRY.pack(i, share_hash_chain[i]) for i in sorted(share_hash_chain))
    tree = b"".join(block_hash_tree)
    o_sig = HEADER_SIZE + len(pubkey_der)
    o_shc = o_sig + len(signature)
    o_bht = o_shc + len(chain)
    o_data = o_bht + len(tree)
    o_enc = o_data + len(block)
    offsets = SDMFOffsets(o_sig, o_shc, o_bht, o_data, o_enc, o_enc + len(enc_privkey))
    return b"".join(
        [prefix.pack(), offsets.pack(), pubkey_der, signature, chain, tree, block, enc_privkey]
    )


def share_version(raw: bytes) -> int:
    if not raw:
        raise CorruptShareError("empty mutable share")
    return raw[0]


def parse_header(raw: bytes) -> tuple[SDMFPrefix, SDMFOffsets]:
    """Parse the first 107 bytes (enough for a servermap); checks the offsets are sane."""
    if len(raw) < HEADER_SIZE:
        raise CorruptShareError(f"SDMF header truncated ({len(raw)} bytes)")
    version, seqnum, root, iv, k, n, segsize, datalen = _PREFIX.unpack_from(raw)
    if version == MDMF_VERSION:
        raise UnsupportedMutableFormat("an MDMF share where an SDMF one was expected")
    if version != SDMF_VERSION:
        raise CorruptShareError(f"unknown mutable share version {version}")
    if not 1 <= k <= n:
        raise CorruptShareError(f"impossible encoding k={k} n={n}")
    if segsize % k or datalen > segsize or segsize - datalen >= k:
        raise CorruptShareError(
            f"SDMF segment size {segsize} does not fit data length {datalen}, k={k}"
        )
    offsets = SDMFOffsets(*_OFFSETS.unpack_from(raw, SIGNED_PREFIX_SIZE))
    o = offsets
    if not HEADER_SIZE <= o.signature <= o.share_hash_chain <= o.block_hash_tree <= o.share_data:
        raise CorruptShareError("SDMF offsets out of order")
    if not o.share_data <= o.enc_privkey <= o.eof:
        raise CorruptShareError("SDMF offsets out of order")
    if (o.block_hash_tree - o.share_hash_chain) % _CHAIN_ENTRY.size:
        raise CorruptShareError("SDMF share hash chain has a partial entry")
    tree_size = o.share_data - o.block_hash_tree
    if tree_size != HASH_SIZE:
        raise CorruptShareError("an SDMF block hash tree is exactly one hash")
    if o.enc_privkey - o.share_data != segsize // k:
        raise CorruptShareError("SDMF block size does not match segment size / k")
    prefix = SDMFPrefix(seqnum, root, iv, k, n, segsize, datalen)
    return prefix, offsets


def parse_share(raw: bytes) -> SDMFShare:
    """Parse a whole SDMF share; raises CorruptShareError (or UnsupportedMutableFormat)."""
    prefix, o = parse_header(raw)
    if len(raw) != o.eof:
        raise CorruptShareError(f"SDMF share is {len(raw)} bytes, its offsets say {o.eof}")
    chain_bytes = raw[o.share_hash_chain : o.block_hash_tree]
    chain: dict[int, bytes] = {}
    for pos in range(0, len(chain_bytes), _CHAIN_ENTRY.size):
        index, digest = _CHAIN_ENTRY.unpack_from(chain_bytes, pos)
        if index in chain:
            raise CorruptShareError(f"share hash chain names node {index} twice")
        chain[index] = digest
    tree_bytes = raw[o.block_hash_tree : o.share_data]
    tree = tuple(tree_bytes[i : i + HASH_SIZE] for i in range(0, len(tree_bytes), HASH_SIZE))
    return SDMFShare(
        prefix=prefix,
        pubkey_der=raw[HEADER_SIZE : o.signature],
        signature=raw[o.signature : o.share_hash_chain],
        share_hash_chain=chain,
        block_hash_tree=tree,
        block=raw[o.share_data : o.enc_privkey],
        enc_privkey=raw[o.enc_privkey : o.eof],
        offsets=o,
    )
