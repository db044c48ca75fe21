"""CHK encoding as Tahoe-LAFS 1.20 does it (spec/tahoe-immutable.md 4-8).

`CHKEncoder` is a pure state machine. `encode_segment` does the heavy work of
one segment (AES, zfec, SHA-256, all of which release the GIL) and touches no
shared state, so several segments can be encoded at once in worker threads;
`absorb` then takes the results in segment order and keeps the few things
that must be sequential (the whole-ciphertext hash and the hash tree leaves).
`finish` returns, per share, the bytes that follow the blocks.
"""

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass

from ..codec import Codec
from ..crypto import aes_ctr
from ..hashes import (
    BLOCK_TAG,
    CRYPTTEXT_SEGMENT_TAG,
    CRYPTTEXT_TAG,
    TaggedHasher,
    chk_key_hasher,
    storage_index_from_key,
    tagged_hash,
)
from ..hashtree import build_tree, leaf_node, set_iteration_order, uncle_chain
from ..uri import LIT_MAX_SIZE, CHKReadCap
from .layout import ShareLayout, layout_for, pack_chain, pack_header, pack_ueb, ueb_hash
from .params import EncodingParams, FileGeometry

ReadAt = Callable[[int, int], bytes]


def convergent_key_hasher(
    convergence_secret: bytes, params: EncodingParams, size: int
) -> TaggedHasher:
    """Fed the `size` bytes of a plaintext, its digest is their convergent key."""
    return chk_key_hasher(convergence_secret, params.k, params.n, params.segment_size_for(size))


def convergent_key(
    convergence_secret: bytes, params: EncodingParams, size: int, chunks: Iterable[bytes]
) -> bytes:
    """The AES key Tahoe derives from the secret, the parameters and the whole plaintext."""
    hasher = convergent_key_hasher(convergence_secret, params, size)
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.digest()


@dataclass(frozen=True)
class EncodedSegment:
    index: int
    ciphertext: bytes
    segment_hash: bytes
    blocks: list[bytes | memoryview]
    block_hashes: list[bytes]


@dataclass(frozen=True)
class EncodedFile:
    cap: CHKReadCap | None  # None when encoding ciphertext (no key)
    ueb_hash: bytes
    trailers: list[bytes]  # per share: everything after the data area


class CHKEncoder:
    def __init__(
        self,
        key: bytes | None,
        size: int,
        params: EncodingParams,
        storage_index: bytes | None = None,
    ) -> None:
        """With `key` None, segments are given as ciphertext (a repairer holding only
        a verify-cap re-encodes what it decoded) and `storage_index` must be given."""
        if size <= LIT_MAX_SIZE:
            raise ValueError(f"files of {LIT_MAX_SIZE} bytes or fewer are LIT, not CHK")
        if key is None and storage_index is None:
            raise ValueError("without a key, the storage index must be given")
        self.key = key
        self.params = params
        self.geometry = FileGeometry(size, params.k, params.n, params.segment_size_for(size))
        self.layout: ShareLayout = layout_for(self.geometry)
        self.header = pack_header(self.layout)
        self.storage_index = storage_index or storage_index_from_key(key)  # type: ignore[arg-type]
        self.share_size = self.layout.share_size(
            len(self._ueb_for(bytes(32), bytes(32), bytes(32)))
        )
        self._codec = Codec(params.k, params.n)
        self._crypttext_hasher = TaggedHasher(CRYPTTEXT_TAG)
        self._segment_hashes: list[bytes] = []
        self._block_hashes: list[list[bytes]] = [[] for _ in range(params.n)]

    def _ueb_for(self, crypttext_hash: bytes, crypttext_root: bytes, share_root: bytes) -> bytes:
        g = self.geometry
        return pack_ueb(
            {
                "codec_name": b"crs",
                "codec_params": f"{g.segment_size}-{g.k}-{g.n}",
                "crypttext_hash": crypttext_hash,
                "crypttext_root_hash": crypttext_root,
                "needed_shares": g.k,
                "num_segments": g.num_segments,
                "segment_size": g.segment_size,
                "share_root_hash": share_root,
                "size": g.size,
                "tail_codec_params": f"{g.padded_tail_size}-{g.k}-{g.n}",
                "total_shares": g.n,
            }
        )

    def block_offset(self, segment: int) -> int:
        """Where a segment's block sits in every share."""
        return self.layout.data + segment * self.geometry.block_size

    def encode_segment(self, index: int, plaintext: bytes) -> EncodedSegment:
        """Encrypt, erasure-code and hash one segment; safe to call from any thread."""
        offset, length = self.geometry.segment_span(index)
        if len(plaintext) != length:
            raise ValueError(f"segment {index} must be {length} bytes, got {len(plaintext)}")
        ciphertext = plaintext if self.key is None else aes_ctr(self.key, plaintext, offset)
        padding = -length % self.params.k
        padded = ciphertext + bytes(padding) if padding else ciphertext
        blocks = self._codec.encode(padded)
        return EncodedSegment(
            index=index,
            ciphertext=ciphertext,
            segment_hash=tagged_hash(CRYPTTEXT_SEGMENT_TAG, ciphertext),
            blocks=blocks,
            block_hashes=[tagged_hash(BLOCK_TAG, b) for b in blocks],
        )

    def absorb(self, segment: EncodedSegment) -> None:
        """Record an encoded segment; segments must arrive in order."""
        if segment.index != len(self._segment_hashes):
            raise ValueError(f"expected segment {len(self._segment_hashes)}, got {segment.index}")
        self._crypttext_hasher.update(segment.ciphertext)
        self._segment_hashes.append(segment.segment_hash)
        for sharenum, h in enumerate(segment.block_hashes):
            self._block_hashes[sharenum].append(h)

    def finish(self) -> EncodedFile:
        g = self.geometry
        if len(self._segment_hashes) != g.num_segments:
            raise ValueError("not every segment has been absorbed")
        crypttext_tree = build_tree(self._segment_hashes)
        block_trees = [build_tree(hashes) for hashes in self._block_hashes]
        share_tree = build_tree([tree[0] for tree in block_trees])
        ueb = self._ueb_for(self._crypttext_hasher.digest(), crypttext_tree[0], share_tree[0])
        plaintext_area = bytes(self.layout.tree_size)
        crypttext_area = b"".join(crypttext_tree)
        ueb_length = len(ueb).to_bytes(self.layout.ueb_length_size, "big")
        trailers = []
        for sharenum, tree in enumerate(block_trees):
            leaf = leaf_node(g.n, sharenum)
            nodes = set_iteration_order(uncle_chain(g.n, sharenum) + [leaf])
            chain = pack_chain([(node, share_tree[node]) for node in nodes])
            trailers.append(
                plaintext_area + crypttext_area + b"".join(tree) + chain + ueb_length + ueb
            )
        digest = ueb_hash(ueb)
        cap = None if self.key is None else CHKReadCap(self.key, digest, g.k, g.n, g.size)
        return EncodedFile(cap=cap, ueb_hash=digest, trailers=trailers)


def read_chunks(read_at: ReadAt, size: int, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    for offset in range(0, size, chunk_size):
        yield read_at(offset, min(chunk_size, size - offset))


def encoded_segments(
    encoder: CHKEncoder, read_at: ReadAt, pool: Executor, depth: int = 4
) -> Iterator[EncodedSegment]:
    """Encode every segment in `pool`, `depth` at a time, yielding them in order.

    Reading happens in the workers too (`read_at` must be thread-safe, as
    os.pread is), so memory stays at about `depth` segments whatever the size.
    """

    def job(index: int) -> EncodedSegment:
        offset, length = encoder.geometry.segment_span(index)
        return encoder.encode_segment(index, read_at(offset, length))

    pending: deque = deque()
    total = encoder.geometry.num_segments
    next_index = 0
    while next_index < total or pending:
        while next_index < total and len(pending) < depth:
            pending.append(pool.submit(job, next_index))
            next_index += 1
        segment = pending.popleft().result()
        encoder.absorb(segment)
        yield segment


def file_reader(fd: int) -> ReadAt:
    def read_at(offset: int, length: int) -> bytes:
        data = os.pread(fd, length, offset)
        if len(data) != length:
            raise OSError(f"file shrank while being read (wanted {length} bytes at {offset})")
        return data

    return read_at
