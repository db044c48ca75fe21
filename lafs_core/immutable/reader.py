"""CHK download: fetch, check and decrypt only the segments a range touches.

Every byte is checked before it is returned: a share's UEB against the
cap's UEB hash, its block-tree root against the share hash tree, each block
against its block tree, each decoded segment against the crypttext tree.
A share that fails a check is set aside (and reported in `corrupt_shares`)
and another share takes its place; with fewer than k good shares the read
fails with NotEnoughSharesError, never with wrong bytes.

Shares are reached through `ShareSource` objects, so the same reader serves
local files, memory and storage servers.
"""

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Protocol

from ..codec import Buffer, Codec
from ..crypto import aes_ctr_at
from ..errors import CorruptShareError, NotEnoughSharesError, StorageError
from ..hashes import BLOCK_TAG, CRYPTTEXT_SEGMENT_TAG, TaggedHasher, tagged_hash
from ..hashtree import BadHashError, IncompleteHashTree, leaf_node
from ..uri import CHKReadCap, CHKVerifyCap
from .layout import (
    HEADER_READ_SIZE,
    MAX_UEB_SIZE,
    UEB,
    ShareLayout,
    check_layout,
    decode_ueb,
    parse_chain,
    parse_header,
    parse_tree,
    ueb_hash,
)
from .params import FileGeometry

READ_BATCH = 2 * 1024 * 1024  # bytes of blocks read from one share per request
# A share expected to be at most this big is read whole with its first request (its blocks,
# hash trees and UEB are then at hand): one request per share instead of five for small files.
WHOLE_SHARE_READ = 64 * 1024
SHARE_OVERHEAD_GUESS = 4096  # header, hash trees and UEB of a one-segment share, generously

# What a ShareSource raises when its share cannot be reached (not corrupt).
UNAVAILABLE = (OSError, ConnectionError, asyncio.TimeoutError, StorageError)


class ShareSource(Protocol):
    """One share of a file, wherever it lives."""

    sharenum: int

    async def read(self, offset: int, length: int) -> bytes | bytearray:
        """Up to `length` bytes at `offset` (fewer only at the end of the share)."""
        ...


@dataclass
class OpenShare:
    source: ShareSource
    layout: ShareLayout
    block_tree: IncompleteHashTree
    block_tree_nodes: "asyncio.Future[list[bytes]] | None" = None
    # Blocks fetched ahead, several segments per request, until their segment asks.
    prefetched: "dict[int, asyncio.Future[memoryview]]" = field(default_factory=dict)


@dataclass
class ReadStats:
    """What a read cost, for upload/download results and benchmarks."""

    bytes_fetched: int = 0
    segments: int = 0
    shares_used: set[int] = field(default_factory=set)


class CHKReader:
    def __init__(
        self,
        cap: CHKReadCap | CHKVerifyCap,
        sources: Sequence[ShareSource],
        pool: Executor | None = None,
        depth: int = 4,
        more: Callable[[], Awaitable[Sequence[ShareSource]]] | None = None,
    ) -> None:
        """`more`, if given, is asked once for further sources when `sources` run out."""
        self.cap = cap
        self.pool = pool
        self.depth = depth
        self.stats = ReadStats()
        self.corrupt_shares: dict[int, str] = {}
        self.unavailable_shares: dict[int, str] = {}
        self._candidates = sorted(sources, key=lambda s: s.sharenum)
        self._more = more
        self._open: dict[int, OpenShare] = {}
        self._ueb: UEB | None = None
        self._geometry: FileGeometry | None = None
        self._share_tree: IncompleteHashTree | None = None
        self._crypttext_tree: IncompleteHashTree | None = None
        self._crypttext_nodes: dict[int, asyncio.Future[list[bytes]]] = {}
        self._codec = Codec(cap.k, cap.n)
        self._lock = asyncio.Lock()
        self._range_last = 0
        self._tasks: set[asyncio.Task[None]] = set()
        guess = -(-cap.size // cap.k) + SHARE_OVERHEAD_GUESS
        self._first_read = guess if guess <= WHOLE_SHARE_READ else HEADER_READ_SIZE
        # each share's first read (from offset 0), and whether it was the whole share
        self._held: dict[int, tuple[bytes | bytearray, bool]] = {}

    # -- public API ---------------------------------------------------------

    async def read(self, offset: int = 0, size: int | None = None) -> bytes:
        return b"".join([chunk async for chunk in self.iter_range(offset, size)])

    async def iter_range(self, offset: int = 0, size: int | None = None) -> AsyncIterator[bytes]:
        """Yield the plaintext of [offset, offset+size), prefetching: each segment in up to k
        chunks (its decrypted pieces, not joined), or, for a verify-cap, the segment's
        ciphertext as one chunk."""
        end = self.cap.size if size is None else min(self.cap.size, offset + size)
        if offset < 0 or (size is not None and size < 0):
            raise ValueError("offset and size must not be negative")
        if offset >= end:
            return
        await self._ensure_open()
        geometry = self._geometry
        assert geometry is not None
        first = offset // geometry.segment_size
        last = (end - 1) // geometry.segment_size
        self._range_last = last
        # At least two requests' worth of segments ahead: one batch of blocks arrives
        # while the one before is decoded.
        ahead = max(self.depth, 2 * self._batch_blocks)
        pending: deque[tuple[int, asyncio.Task[list[bytes]]]] = deque()
        next_index = first
        try:
            while next_index <= last or pending:
                while next_index <= last and len(pending) < ahead:
                    task = asyncio.ensure_future(self._segment(next_index))
                    pending.append((next_index, task))
                    next_index += 1
                index, task = pending.popleft()
                position = geometry.segment_span(index)[0]
                for piece in await task:
                    low, high = max(offset - position, 0), min(end - position, len(piece))
                    if low < high:
                        yield piece if high - low == len(piece) else piece[low:high]
                    position += len(piece)
        finally:
            for _, task in pending:
                task.cancel()

    async def open_first(self) -> None:
        """Open and check k shares (NotEnoughSharesError if the sources cannot give them)."""
        await self._ensure_open()

    @property
    def sources(self) -> dict[int, ShareSource]:
        """The source of each share number tried or offered."""
        return {s.sharenum: s for s in self._candidates}

    @property
    def open_shares(self) -> list[int]:
        return sorted(self._open)

    async def open_all(self) -> dict[int, "OpenShare"]:
        """Open and check every share offered (not just k); returns the good ones."""
        untried = [
            s
            for s in self._candidates
            if s.sharenum not in self._open
            and s.sharenum not in self.corrupt_shares
            and s.sharenum not in self.unavailable_shares
        ]
        await asyncio.gather(*(self._open_share(s) for s in untried))
        return dict(self._open)

    @property
    def geometry(self) -> FileGeometry:
        if self._geometry is None:
            raise RuntimeError("no share has been opened yet")
        return self._geometry

    @property
    def ueb(self) -> UEB:
        if self._ueb is None:
            raise RuntimeError("no share has been opened yet")
        return self._ueb

    def mark_corrupt(self, sharenum: int, reason: str) -> None:
        self.corrupt_shares[sharenum] = reason
        self._open.pop(sharenum, None)

    def mark_unavailable(self, sharenum: int, exc: BaseException) -> None:
        self.unavailable_shares[sharenum] = str(exc) or type(exc).__name__
        self._open.pop(sharenum, None)

    # -- opening shares ----------------------------------------------------

    async def _ensure_open(self, wanted: int | None = None) -> None:
        """Open (fetch and check the hashes of) shares until `wanted` are good."""
        wanted = self.cap.k if wanted is None else wanted
        async with self._lock:
            while len(self._open) < wanted:
                untried = [
                    s
                    for s in self._candidates
                    if s.sharenum not in self._open
                    and s.sharenum not in self.corrupt_shares
                    and s.sharenum not in self.unavailable_shares
                ]
                if not untried and self._more is not None:
                    self._add_sources(await self._more())
                    self._more = None
                    continue
                if not untried:
                    raise NotEnoughSharesError(self._shortage_message())
                batch = untried[: wanted - len(self._open)]
                await asyncio.gather(*(self._open_share(s) for s in batch))

    def _add_sources(self, found: Sequence[ShareSource]) -> None:
        """Take further sources: share numbers not yet offered, and those that could not be
        reached where they were first looked for (now offered by another server)."""
        known = {s.sharenum: s for s in self._candidates}
        for source in found:
            n = source.sharenum
            if n not in known or (n in self.unavailable_shares and source is not known[n]):
                known[n] = source
                self.unavailable_shares.pop(n, None)
                self._held.pop(n, None)
        self._candidates = sorted(known.values(), key=lambda s: s.sharenum)

    def _shortage_message(self) -> str:
        parts = [f"found {len(self._open)} good shares of the {self.cap.k} needed"]
        if self.corrupt_shares:
            parts.append(f"corrupt: {sorted(self.corrupt_shares)}")
        if self.unavailable_shares:
            parts.append(f"unreachable: {sorted(self.unavailable_shares)}")
        return "; ".join(parts)

    async def _open_share(self, source: ShareSource) -> None:
        try:
            share = await self._check_share(source)
        except CorruptShareError as exc:
            self.mark_corrupt(source.sharenum, str(exc))
        except UNAVAILABLE as exc:
            self.mark_unavailable(source.sharenum, exc)
        else:
            self._open[source.sharenum] = share

    async def _fetch(self, source: ShareSource, offset: int, length: int) -> bytes | bytearray:
        held = self._held.get(source.sharenum)
        if held is not None and (offset + length <= len(held[0]) or held[1]):
            return held[0][offset : offset + length]
        data = await source.read(offset, length)
        self.stats.bytes_fetched += len(data)
        return data

    async def _check_share(self, source: ShareSource) -> OpenShare:
        sharenum = source.sharenum
        if not 0 <= sharenum < self.cap.n:
            raise CorruptShareError(f"share number {sharenum} is out of range", sharenum)
        first = await self._fetch(source, 0, self._first_read)
        self._held[sharenum] = (first, len(first) < self._first_read)
        layout = parse_header(first)
        tail_length = layout.chain_size + layout.ueb_length_size + MAX_UEB_SIZE
        if not 0 < layout.chain_size <= 9 * 34 or layout.share_chain < layout.data:
            raise CorruptShareError("share header has impossible offsets", sharenum)
        tail = await self._fetch(source, layout.share_chain, tail_length)
        chain_raw = tail[: layout.chain_size]
        length_field = tail[layout.chain_size : layout.chain_size + layout.ueb_length_size]
        ueb_size = int.from_bytes(length_field, "big")
        ueb_start = layout.chain_size + layout.ueb_length_size
        ueb_raw = tail[ueb_start : ueb_start + ueb_size]
        if len(length_field) != layout.ueb_length_size or ueb_size > MAX_UEB_SIZE:
            raise CorruptShareError("share has a malformed URI extension block length", sharenum)
        if len(ueb_raw) != ueb_size or ueb_hash(ueb_raw) != self.cap.ueb_hash:
            raise CorruptShareError("URI extension block does not match the cap", sharenum)
        if self._ueb is None:
            self._adopt_ueb(decode_ueb(ueb_raw))
        assert self._geometry is not None and self._share_tree is not None
        try:
            check_layout(layout, self._geometry)
        except CorruptShareError as exc:
            raise CorruptShareError(str(exc), sharenum) from exc
        chain = parse_chain(chain_raw)
        leaf = leaf_node(self.cap.n, sharenum)
        if leaf not in chain:
            raise CorruptShareError("share hash chain lacks the share's own leaf", sharenum)
        try:
            self._share_tree.add(chain)
        except BadHashError as exc:
            raise CorruptShareError(f"share hash chain is wrong: {exc}", sharenum) from exc
        block_root = self._share_tree.known[leaf]
        block_tree = IncompleteHashTree(self._geometry.num_segments, block_root)
        return OpenShare(source, layout, block_tree)

    def _adopt_ueb(self, ueb: UEB) -> None:
        cap = self.cap
        if (ueb.k, ueb.n, ueb.size) != (cap.k, cap.n, cap.size):
            raise CorruptShareError("URI extension block disagrees with the cap")
        geometry = FileGeometry(cap.size, cap.k, cap.n, ueb.segment_size)
        if ueb.num_segments != geometry.num_segments or ueb.segment_size % cap.k:
            raise CorruptShareError("URI extension block has an impossible segment size")
        self._ueb = ueb
        self._geometry = geometry
        self._share_tree = IncompleteHashTree(cap.n, ueb.share_root_hash)
        self._crypttext_tree = IncompleteHashTree(geometry.num_segments, ueb.crypttext_root_hash)

    # -- segments -------------------------------------------------------------

    async def _segment(self, index: int) -> list[bytes]:
        while True:
            await self._ensure_open()
            chosen = [self._open[n] for n in sorted(self._open)[: self.cap.k]]
            raw = await asyncio.gather(*(self._raw_block(share, index) for share in chosen))
            blocks = {s.source.sharenum: b for s, b in zip(chosen, raw) if b is not None}
            if len(blocks) < self.cap.k:
                continue
            # Hash, decode and decrypt in one trip to a worker thread, then check the
            # block hashes; a bad block throws the segment away and another share is tried.
            block_hashes, plaintext, segment_hash = await self._run(self._decode, index, blocks)
            if all(
                [await self._check_block(s, index, block_hashes[s.source.sharenum]) for s in chosen]
            ):
                break
        await self._check_segment(index, segment_hash)
        self.stats.segments += 1
        self.stats.shares_used.update(blocks)
        return plaintext

    async def _raw_block(self, share: OpenShare, index: int) -> memoryview | None:
        """The share's (unchecked) block for a segment, or None if the share fails."""
        sharenum = share.source.sharenum
        try:
            block = await self._prefetched_block(share, index)
            if len(block) != self.geometry.block_span(index)[1]:
                raise CorruptShareError("share data is truncated", sharenum)
            return block
        except CorruptShareError as exc:
            self.mark_corrupt(sharenum, f"segment {index}: {exc}")
        except UNAVAILABLE as exc:
            self.mark_unavailable(sharenum, exc)
        return None

    def _prefetched_block(self, share: OpenShare, index: int) -> "asyncio.Future[memoryview]":
        """A future for the block, reading it with the next few of the range in one request."""
        future = share.prefetched.pop(index, None)
        if future is not None:
            return future
        geometry = self.geometry
        last = min(index + self._batch_blocks - 1, self._range_last)
        end = index
        while end < last and end + 1 not in share.prefetched:
            end += 1
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(index, end + 1)]
        for future in futures:  # a batch member nobody asks for must not log an error
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
        share.prefetched.update(zip(range(index + 1, end + 1), futures[1:]))
        start = geometry.block_span(index)[0]
        stop = sum(geometry.block_span(end))

        async def fetch() -> None:
            try:
                data = await self._fetch(share.source, share.layout.data + start, stop - start)
            except BaseException as exc:
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
                return
            view = memoryview(data)  # blocks are views into the one response body
            for i, future in zip(range(index, end + 1), futures):
                offset, length = geometry.block_span(i)
                if not future.done():
                    future.set_result(view[offset - start : offset - start + length])

        self._tasks.add(task := asyncio.ensure_future(fetch()))
        task.add_done_callback(self._tasks.discard)
        return futures[0]

    @property
    def _batch_blocks(self) -> int:
        """Blocks of one share read per request."""
        return max(1, READ_BATCH // self.geometry.block_size)

    async def _check_block(self, share: OpenShare, index: int, block_hash: bytes) -> bool:
        """Check a block's hash against the share's block tree; set the share aside if wrong."""
        sharenum = share.source.sharenum
        try:
            if share.block_tree_nodes is None:
                area = (share.layout.block_tree, share.layout.tree_size)
                share.block_tree_nodes = asyncio.ensure_future(self._tree_area(share, *area))
            nodes = await asyncio.shield(share.block_tree_nodes)
            tree = share.block_tree
            tree.add(
                {node: nodes[node] for node in tree.needed_for_leaf(index)}, {index: block_hash}
            )
            return True
        except (CorruptShareError, BadHashError) as exc:
            self.mark_corrupt(sharenum, f"segment {index}: {exc}")
        except UNAVAILABLE as exc:
            self.mark_unavailable(sharenum, exc)
        return False

    def _decode(
        self, index: int, blocks: dict[int, memoryview]
    ) -> tuple[dict[int, bytes], list[bytes], bytes]:
        """Hash the blocks, and hash and decrypt the segment they make piece by piece,
        without joining them (a verify-cap gets the ciphertext, joined)."""
        block_hashes = {n: tagged_hash(BLOCK_TAG, b) for n, b in blocks.items()}
        offset, length = self.geometry.segment_span(index)
        pieces: list[Buffer] = []
        room = length  # the padding after the segment's end is not part of it
        for piece in self._codec.pieces(blocks):
            pieces.append(memoryview(piece)[:room])
            room -= len(pieces[-1])
        hasher = TaggedHasher(CRYPTTEXT_SEGMENT_TAG)
        for piece in pieces:
            hasher.update(piece)
        if isinstance(self.cap, CHKVerifyCap):
            return block_hashes, [b"".join(pieces)], hasher.digest()  # checks, cannot decrypt
        cipher = aes_ctr_at(self.cap.key, offset)
        return block_hashes, [cipher.update(piece) for piece in pieces], hasher.digest()

    async def _check_segment(self, index: int, segment_hash: bytes) -> None:
        """Check a decoded segment against the crypttext tree, whose nodes any share carries."""
        tree = self._crypttext_tree
        assert tree is not None
        for sharenum in sorted(self._open):
            needed = tree.needed_for_leaf(index)
            try:
                nodes = await self._crypttext_nodes_of(sharenum) if needed else []
                tree.add({node: nodes[node] for node in needed}, {index: segment_hash})
                return
            except (CorruptShareError, BadHashError, IndexError) as exc:
                self.mark_corrupt(sharenum, f"crypttext hash tree: {exc}")
        raise NotEnoughSharesError(
            f"no share could prove segment {index}: {self._shortage_message()}"
        )

    async def _crypttext_nodes_of(self, sharenum: int) -> list[bytes]:
        if sharenum not in self._crypttext_nodes:
            share = self._open[sharenum]
            area = (share.layout.crypttext_tree, share.layout.tree_size)
            self._crypttext_nodes[sharenum] = asyncio.ensure_future(self._tree_area(share, *area))
        return await asyncio.shield(self._crypttext_nodes[sharenum])

    async def _tree_area(self, share: OpenShare, offset: int, length: int) -> list[bytes]:
        raw = await self._fetch(share.source, offset, length)
        if len(raw) != length:
            raise CorruptShareError("hash tree area is truncated", share.source.sharenum)
        return parse_tree(raw)

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        if self.pool is None:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
