"""Encrypt, encode and sign an SDMF version; validate and decode its shares.

spec/tahoe-mutable.md 5 and 6: one segment, one random IV, AES-CTR under a
key derived from (IV, readkey), zfec into N blocks, a one-leaf block hash
tree per share, a share hash tree over the N block-tree roots whose root
is signed (with the rest of the 75-byte prefix) by the file's RSA key.
Pure: no I/O; the caller runs these in a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..codec import Codec
from ..crypto import aes_ctr
from ..errors import CorruptShareError, NotEnoughSharesError
from ..hashes import BLOCK_TAG, tagged_hash
from ..hashtree import BadHashError, IncompleteHashTree, build_tree, empty_leaf_hash, uncle_chain
from .keys import (
    KeyPair,
    data_key,
    decrypt_privkey,
    encrypt_privkey,
    fingerprint_from_pubkey,
    readkey_from_writekey,
    verify_signature,
)
from .layout import SDMFPrefix, SDMFShare, pack_share, parse_share

MAX_SHARES = 255  # k and N are one byte each in the share header
IV_SIZE = 16


def next_multiple(x: int, k: int) -> int:
    return -(-x // k) * k


def block_tree(block_hashes: list[bytes]) -> list[bytes]:
    """A block hash tree; an empty file has no leaves and gets the one empty-leaf node."""
    return build_tree(block_hashes) if block_hashes else [empty_leaf_hash(0)]


@dataclass(frozen=True)
class SDMFVersion:
    """Every share of one new version, plus what the servermap records about it."""

    prefix: SDMFPrefix
    signature: bytes
    shares: tuple[bytes, ...]  # share number -> share bytes

    @property
    def checkstring(self) -> bytes:
        return self.prefix.checkstring


def encode_version(
    keys: KeyPair,
    plaintext: bytes,
    seqnum: int,
    k: int,
    n: int,
    iv: bytes | None = None,
    signature: bytes | None = None,
) -> SDMFVersion:
    """Build all N shares of one SDMF version.

    `iv` defaults to 16 random bytes. `signature` lets a test replay a
    signature made elsewhere (PSS is randomised, so only then are shares
    reproducible); it is checked, never trusted blindly.
    """
    if not 1 <= k <= n <= MAX_SHARES:
        raise ValueError(f"need 1 <= k <= n <= {MAX_SHARES}, got k={k} n={n}")
    iv = os.urandom(IV_SIZE) if iv is None else iv
    if len(iv) != IV_SIZE:
        raise ValueError("the SDMF IV is 16 bytes")
    writekey = keys.writekey
    readkey = readkey_from_writekey(writekey)
    segsize = next_multiple(len(plaintext), k)
    if plaintext:
        crypttext = aes_ctr(data_key(iv, readkey), plaintext)
        blocks = [bytes(b) for b in Codec(k, n).encode(crypttext + bytes(segsize - len(crypttext)))]
        trees = [block_tree([tagged_hash(BLOCK_TAG, b)]) for b in blocks]
    else:
        blocks = [b""] * n
        trees = [block_tree([])] * n
    share_tree = build_tree([t[0] for t in trees])
    prefix = SDMFPrefix(seqnum, share_tree[0], iv, k, n, segsize, len(plaintext))
    signed = prefix.pack()
    if signature is None:
        signature = keys.sign(signed)
    elif not verify_signature(keys.pubkey_der, signature, signed):
        raise ValueError("the given signature does not verify for this version")
    encprivkey = encrypt_privkey(writekey, keys.privkey_der)
    shares = tuple(
        pack_share(
            prefix,
            keys.pubkey_der,
            signature,
            {j: share_tree[j] for j in uncle_chain(n, i)},
            trees[i],
            blocks[i],
            encprivkey,
        )
        for i in range(n)
    )
    return SDMFVersion(prefix, signature, shares)


def check_signature(share: SDMFShare, fingerprint: bytes) -> None:
    """The share's key must match the cap's fingerprint and sign its prefix."""
    if fingerprint_from_pubkey(share.pubkey_der) != fingerprint:
        raise CorruptShareError("verification key does not match the cap's fingerprint")
    if not verify_signature(share.pubkey_der, share.signature, share.prefix.pack()):
        raise CorruptShareError("bad signature on the share's prefix")


def check_share(share: SDMFShare, shnum: int, fingerprint: bytes) -> None:
    """Fully validate one share: key, signature, block hash, chain up to the signed root."""
    check_signature(share, fingerprint)
    p = share.prefix
    if not 0 <= shnum < p.n:
        raise CorruptShareError(f"share number {shnum} out of range for N={p.n}", shnum)
    leaf = tagged_hash(BLOCK_TAG, share.block) if p.datalen else empty_leaf_hash(0)
    if share.block_hash_tree != (leaf,):
        raise CorruptShareError("block does not match its block hash tree", shnum)
    check_share_hash_chain(share.share_hash_chain, p.n, p.root_hash, shnum, leaf)


def check_share_hash_chain(
    chain: Mapping[int, bytes], n: int, root_hash: bytes, shnum: int, leaf: bytes
) -> None:
    """The chain must hold exactly the share's uncles and lead from `leaf` to the root."""
    if set(chain) != set(uncle_chain(n, shnum)):
        raise CorruptShareError("share hash chain has the wrong nodes", shnum)
    tree = IncompleteHashTree(n, root_hash)
    try:
        tree.add(chain, {shnum: leaf})
    except BadHashError as exc:
        raise CorruptShareError(f"share hash chain does not reach the root: {exc}", shnum) from exc


class _HasPrefix(Protocol):
    @property
    def prefix(self) -> Any: ...


ShareT = TypeVar("ShareT", bound=_HasPrefix)


def one_version(shares: Mapping[int, ShareT]) -> tuple[ShareT, list[int]]:
    """A share of the one version all `shares` hold, and the k lowest share numbers to use."""
    if not shares:
        raise NotEnoughSharesError("no shares to decode")
    first = next(iter(shares.values()))
    if any(s.prefix != first.prefix for s in shares.values()):
        raise ValueError("shares of different versions")
    if len(shares) < first.prefix.k:
        raise NotEnoughSharesError(f"need {first.prefix.k} shares, have {len(shares)}")
    return first, sorted(shares)[: first.prefix.k]


def parse_and_check(raw: bytes, shnum: int, fingerprint: bytes) -> SDMFShare:
    share = parse_share(raw)
    check_share(share, shnum, fingerprint)
    return share


def decode_version(shares: Mapping[int, SDMFShare], readkey: bytes) -> bytes:
    """Plaintext from any k validated shares of one version (lowest numbers used first)."""
    first, chosen = one_version(shares)
    prefix = first.prefix
    if prefix.datalen == 0:
        return b""
    padded = Codec(prefix.k, prefix.n).decode({i: shares[i].block for i in chosen})
    return aes_ctr(data_key(prefix.iv, readkey), padded[: prefix.datalen])


def recover_privkey(writekey: bytes, share: SDMFShare) -> bytes:
    der = decrypt_privkey(writekey, share.enc_privkey)
    if der is None:
        raise CorruptShareError("encrypted private key does not match the writekey")
    return der
