"""The MDMF share format and its encoder/decoder (spec/tahoe-mutable.md 5, 7).

MDMF splits the file into segments of `next_multiple(131072, k)` bytes, each
with its own random salt (so its own AES key), stored as `salt || block` at
a fixed data offset of 2167; the block hash covers the salt. The header
(version byte 1) carries no IV, and the offset table has eight 8-byte
entries. Pure pack/parse/encode/decode over bytes; malformed shares raise
`CorruptShareError`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..codec import Codec
from ..crypto import aes_ctr
from ..errors import CorruptShareError
from ..hashes import BLOCK_TAG, tagged_hash
from ..hashtree import build_tree, uncle_chain
from .errors import UnsupportedMutableFormat
from .keys import KeyPair, data_key, encrypt_privkey, fingerprint_from_pubkey, verify_signature
from .sdmf import MAX_SHARES, block_tree, check_share_hash_chain, next_multiple, one_version

MDMF_VERSION = 1
_PREFIX = struct.Struct(">BQ32sBBQQ")  # signed: version, seqnum, root, k, N, segsize, datalen
_OFFSETS = struct.Struct(">QQQQQQQQ")
_CHAIN_ENTRY = struct.Struct(">H32s")
HEADER_SIZE = _PREFIX.size + _OFFSETS.size  # 123
CHECKSTRING_SIZE = 41
SHARE_DATA_OFFSET = 2167  # 123 + room for key (1220), signature (260), vk (292), chain (272)
SALT_SIZE = 16
MAX_SEGMENT_SIZE = 131072


@dataclass(frozen=True, order=True)
class MDMFPrefix:
    seqnum: int
    root_hash: bytes
    k: int
    n: int
    segsize: int
    datalen: int

    def pack(self) -> bytes:
        """The 59 signed bytes."""
        return _PREFIX.pack(
            MDMF_VERSION, self.seqnum, self.root_hash, self.k, self.n, self.segsize, self.datalen
        )

    @property
    def checkstring(self) -> bytes:
        return self.pack()[:CHECKSTRING_SIZE]

    @property
    def num_segments(self) -> int:
        return -(-self.datalen // self.segsize) if self.segsize else 0

    def segment_length(self, segnum: int) -> int:
        """Plaintext bytes in segment `segnum` (the tail may be short)."""
        if segnum + 1 < self.num_segments:
            return self.segsize
        tail = self.datalen % self.segsize
        return tail or self.segsize

    def block_size(self, segnum: int) -> int:
        return next_multiple(self.segment_length(segnum), self.k) // self.k


@dataclass(frozen=True)
class MDMFShare:
    prefix: MDMFPrefix
    enc_privkey: bytes
    share_hash_chain: Mapping[int, bytes]
    signature: bytes
    pubkey_der: bytes
    salts_and_blocks: tuple[tuple[bytes, bytes], ...]  # per segment
    block_hash_tree: tuple[bytes, ...]


def segment_size_for(k: int) -> int:
    return next_multiple(MAX_SEGMENT_SIZE, k)


def pack_share(share: MDMFShare) -> bytes:
    """Assemble the share bytes exactly as Tahoe's write vectors leave them (zero gap included)."""
    chain = b"".join(
        _CHAIN_ENTRY.pack(i, share.share_hash_chain[i]) for i in sorted(share.share_hash_chain)
    )
    o_enc = HEADER_SIZE
    o_shc = o_enc + len(share.enc_privkey)
    o_sig = o_shc + len(chain)
    o_vk = o_sig + len(share.signature)
    o_vk_end = o_vk + len(share.pubkey_der)
    if o_vk_end > SHARE_DATA_OFFSET:
        raise ValueError("key, chain and signature do not fit before the share data")
    data = b"".join(salt + block for salt, block in share.salts_and_blocks)
    o_bht = SHARE_DATA_OFFSET + len(data)
    tree = b"".join(share.block_hash_tree)
    offsets = _OFFSETS.pack(
        o_enc, o_shc, o_sig, o_vk, o_vk_end, SHARE_DATA_OFFSET, o_bht, o_bht + len(tree)
    )
    head = share.prefix.pack() + offsets
    head += share.enc_privkey + chain + share.signature + share.pubkey_der
    return head + bytes(SHARE_DATA_OFFSET - len(head)) + data + tree


@dataclass(frozen=True)
class MDMFOffsets:
    enc_privkey: int
    share_hash_chain: int
    signature: int
    verification_key: int
    verification_key_end: int
    share_data: int
    block_hash_tree: int
    eof: int


def parse_header(raw: bytes) -> tuple[MDMFPrefix, MDMFOffsets]:
    """Parse the first 123 bytes (enough, with the key and signature, for a servermap)."""
    if len(raw) < HEADER_SIZE:
        raise CorruptShareError("MDMF header truncated")
    version, seqnum, root, k, n, segsize, datalen = _PREFIX.unpack_from(raw)
    if version == 0:
        raise UnsupportedMutableFormat("an SDMF share where an MDMF one was expected")
    if version != MDMF_VERSION:
        raise CorruptShareError(f"unknown mutable share version {version}")
    if not 1 <= k <= n or segsize != segment_size_for(k):
        raise CorruptShareError(f"impossible MDMF parameters k={k} n={n} segsize={segsize}")
    o = MDMFOffsets(*_OFFSETS.unpack_from(raw, _PREFIX.size))
    if not HEADER_SIZE == o.enc_privkey <= o.share_hash_chain <= o.signature:
        raise CorruptShareError("MDMF offsets out of order")
    if not o.signature <= o.verification_key <= o.verification_key_end <= o.share_data:
        raise CorruptShareError("MDMF offsets out of order")
    if not SHARE_DATA_OFFSET == o.share_data <= o.block_hash_tree <= o.eof:
        raise CorruptShareError("MDMF offsets out of order")
    return MDMFPrefix(seqnum, root, k, n, segsize, datalen), o


def parse_share(raw: bytes) -> MDMFShare:
    """Parse a whole MDMF share; every inconsistency is a CorruptShareError."""
    prefix, o = parse_header(raw)
    o_enc, o_shc, o_sig, o_vk = o.enc_privkey, o.share_hash_chain, o.signature, o.verification_key
    o_vk_end, o_data, o_bht, o_eof = o.verification_key_end, o.share_data, o.block_hash_tree, o.eof
    if o_eof != len(raw):
        raise CorruptShareError("MDMF offsets do not match the share length")
    if (o_sig - o_shc) % _CHAIN_ENTRY.size or (o_eof - o_bht) % 32:
        raise CorruptShareError("MDMF hash regions have partial entries")
    chain: dict[int, bytes] = {}
    for pos in range(o_shc, o_sig, _CHAIN_ENTRY.size):
        index, digest = _CHAIN_ENTRY.unpack_from(raw, pos)
        if index in chain:
            raise CorruptShareError(f"share hash chain names node {index} twice")
        chain[index] = digest
    if prefix.num_segments * SALT_SIZE > o_bht - o_data:
        # before the loop: a flipped bit in datalen can claim ~2**60 segments
        raise CorruptShareError("MDMF share data is too short for its segment count")
    blocks = []
    pos = o_data
    for segnum in range(prefix.num_segments):
        size = SALT_SIZE + prefix.block_size(segnum)
        blocks.append((raw[pos : pos + SALT_SIZE], raw[pos + SALT_SIZE : pos + size]))
        pos += size
    if pos != o_bht:
        raise CorruptShareError("MDMF share data does not match the segment layout")
    tree = tuple(raw[i : i + 32] for i in range(o_bht, o_eof, 32))
    expected_nodes = 2 * max(1, _pow2(prefix.num_segments)) - 1
    if len(tree) != expected_nodes:
        raise CorruptShareError("MDMF block hash tree has the wrong size")
    return MDMFShare(
        prefix, raw[o_enc:o_shc], chain, raw[o_sig:o_vk], raw[o_vk:o_vk_end], tuple(blocks), tree
    )


def _pow2(x: int) -> int:
    p = 1
    while p < x:
        p *= 2
    return p


@dataclass(frozen=True)
class MDMFVersion:
    prefix: MDMFPrefix
    signature: bytes
    shares: tuple[bytes, ...]


def encode_version(
    keys: KeyPair,
    plaintext: bytes,
    seqnum: int,
    k: int,
    n: int,
    salts: Sequence[bytes] | None = None,
    signature: bytes | None = None,
) -> MDMFVersion:
    """All N shares of one MDMF version; `salts` (one per segment) and `signature`
    default to fresh ones and are given only to reproduce shares made elsewhere."""
    if not 1 <= k <= n <= MAX_SHARES:
        raise ValueError(f"need 1 <= k <= n <= {MAX_SHARES}, got k={k} n={n}")
    segsize = segment_size_for(k)
    shape = MDMFPrefix(seqnum, bytes(32), k, n, segsize, len(plaintext))
    nseg = shape.num_segments
    salts = [os.urandom(SALT_SIZE) for _ in range(nseg)] if salts is None else list(salts)
    if len(salts) != nseg or any(len(s) != SALT_SIZE for s in salts):
        raise ValueError(f"need {nseg} salts of {SALT_SIZE} bytes")
    readkey = keys.readkey
    codec = Codec(k, n)
    per_share: list[list[tuple[bytes, bytes]]] = [[] for _ in range(n)]
    for segnum in range(nseg):
        start = segnum * segsize
        chunk = plaintext[start : start + shape.segment_length(segnum)]
        crypttext = aes_ctr(data_key(salts[segnum], readkey), chunk)
        padded = crypttext + bytes(shape.block_size(segnum) * k - len(crypttext))
        for i, block in enumerate(codec.encode(padded)):
            per_share[i].append((salts[segnum], bytes(block)))
    trees = [block_tree([tagged_hash(BLOCK_TAG, s + b) for s, b in blocks]) for blocks in per_share]
    share_tree = build_tree([t[0] for t in trees])
    prefix = MDMFPrefix(seqnum, share_tree[0], k, n, segsize, len(plaintext))
    signed = prefix.pack()
    if signature is None:
        signature = keys.sign(signed)
    elif not verify_signature(keys.pubkey_der, signature, signed):
        raise ValueError("the given signature does not verify for this version")
    encprivkey = encrypt_privkey(keys.writekey, keys.privkey_der)
    shares = tuple(
        pack_share(
            MDMFShare(
                prefix,
                encprivkey,
                {j: share_tree[j] for j in uncle_chain(n, i)},
                signature,
                keys.pubkey_der,
                tuple(per_share[i]),
                tuple(trees[i]),
            )
        )
        for i in range(n)
    )
    return MDMFVersion(prefix, signature, shares)


def check_share(share: MDMFShare, shnum: int, fingerprint: bytes) -> None:
    """Key, signature, every block's hash, the block tree and the chain up to the signed root."""
    p = share.prefix
    if fingerprint_from_pubkey(share.pubkey_der) != fingerprint:
        raise CorruptShareError("verification key does not match the cap's fingerprint", shnum)
    if not verify_signature(share.pubkey_der, share.signature, p.pack()):
        raise CorruptShareError("bad signature on the share's prefix", shnum)
    if not 0 <= shnum < p.n:
        raise CorruptShareError(f"share number {shnum} out of range for N={p.n}", shnum)
    leaves = [tagged_hash(BLOCK_TAG, s + b) for s, b in share.salts_and_blocks]
    if tuple(block_tree(leaves)) != share.block_hash_tree:
        raise CorruptShareError("blocks do not match the block hash tree", shnum)
    check_share_hash_chain(
        share.share_hash_chain, p.n, p.root_hash, shnum, share.block_hash_tree[0]
    )


def decode_version(shares: Mapping[int, MDMFShare], readkey: bytes) -> bytes:
    """Plaintext from any k validated shares of one version."""
    first, chosen = one_version(shares)
    prefix = first.prefix
    codec = Codec(prefix.k, prefix.n)
    out = []
    for segnum in range(prefix.num_segments):
        salt = shares[chosen[0]].salts_and_blocks[segnum][0]
        padded = codec.decode({i: shares[i].salts_and_blocks[segnum][1] for i in chosen})
        crypttext = padded[: prefix.segment_length(segnum)]
        out.append(aes_ctr(data_key(salt, readkey), crypttext))
    return b"".join(out)
