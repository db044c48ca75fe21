"""CHK upload to the grid: server selection, servers of happiness, pipelined pushes.

Share i is first allocated on the i-th server of the storage index's ring, as
placement puts it when every server takes a share; only if that fails is
every server asked which shares it holds and placement worked out in full.

The plaintext is read twice: once for the convergent key, once to encode.
Segments are encoded in worker threads `depth` ahead while earlier segments'
blocks are in flight to all servers at once, so memory is about `depth`
segments whatever the file size. Nothing is visible on a server until its
share is written in full; an upload that cannot stay happy aborts every
share it allocated.
"""

import asyncio
import os
import time
from collections import defaultdict
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from ..errors import LafsError, StorageError
from ..grid import Server, StorageBroker
from ..placement import happiness, place_shares
from ..secrets import lease_secrets
from ..storage_protocol import INSUFFICIENT_STORAGE
from ..uri import LIT_MAX_SIZE, CHKReadCap, LiteralCap
from .encoder import CHKEncoder, EncodedSegment, ReadAt, convergent_key, read_chunks
from .params import EncodingParams

DISCOVERY_TIMEOUT = 15.0
WRITE_BATCH = 2 * 1024 * 1024  # bytes per share per write request


class UploadUnhappinessError(LafsError):
    """Too few servers could take shares for the happiness the grid requires.

    `no_room`: some servers that answered had no room for a share (their free space,
    after what they keep in reserve, or the largest file they may write, is smaller than
    one share; or their disk filled while a share was written), so the grid needs space
    rather than time.
    """

    def __init__(self, message: str, no_room: bool = False) -> None:
        super().__init__(message)
        self.no_room = no_room


@dataclass
class UploadResult:
    cap: LiteralCap | CHKReadCap
    file_size: int
    preexisting_shares: int = 0
    pushed_shares: int = 0
    sharemap: dict[int, set[str]] = field(default_factory=dict)  # share -> server nicknames
    servermap: dict[str, set[int]] = field(default_factory=dict)  # server -> shares
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
    happiness: int = 0

    @property
    def rate(self) -> float:
        """Bytes per second over the whole upload."""
        total = self.timings.get("total", 0.0)
        return self.file_size / total if total else 0.0


def unhappiness_message(happy_now: int, k: int, happy: int) -> str:
    return (
        f"shares could be placed on only {happy_now} server(s) such that any {k} of them "
        f"have enough shares to recover the file, but we were asked to place shares "
        f"on at least {happy} such servers"
    )


@dataclass
class Bucket:
    """A share being written to one server."""

    server: Server
    sharenum: int
    upload_secret: bytes
    finished: bool = False  # a write was answered "complete" (writes may finish in any order)


class UploadJob:
    """One CHK upload in progress: its buckets on servers, and what failed.

    The repairer (`checker.py`) drives one too, for the shares it regenerates.
    """

    def __init__(
        self,
        broker: StorageBroker,
        encoder: CHKEncoder,
        params: EncodingParams,
        lease_secret: bytes,
        pool: Executor | None,
        depth: int,
    ) -> None:
        self.broker = broker
        self.encoder = encoder
        self.params = params
        self.lease_secret = lease_secret
        self.pool = pool
        self.depth = depth
        self.si = encoder.storage_index
        self.buckets: dict[int, Bucket] = {}  # shares we are writing
        self.held: dict[Server, set[int]] = defaultdict(set)  # shares already on servers
        self.failed: dict[str, str] = {}
        self.declined: set[Server] = set()  # answered, but gave fewer buckets than asked for
        self.full: dict[str, int] = {}  # declining servers with no room: nickname -> free bytes
        self.ran_out: set[str] = set()  # servers that answered a write 507: their disk filled
        self.cap: CHKReadCap | None = None

    def sharemap(self) -> dict[Server, set[int]]:
        result: dict[Server, set[int]] = defaultdict(set)
        for server, shares in self.held.items():
            result[server] |= shares
        for bucket in self.buckets.values():
            result[bucket.server].add(bucket.sharenum)
        return result

    def check_happy(self) -> None:
        happy_now = happiness(self.sharemap())
        if happy_now < self.params.happy:
            raise UploadUnhappinessError(
                unhappiness_message(happy_now, self.params.k, self.params.happy)
                + self._failure_suffix(),
                no_room=bool(self.full or self.ran_out),
            )

    def no_room_message(self) -> str:
        """The suffix naming the servers without room for a share ("" if none is full):
        ' (no room for a share of N bytes on: node0 (M bytes), ...)'."""
        if not self.full:
            return ""
        details = ", ".join(f"{name} ({free} bytes)" for name, free in sorted(self.full.items()))
        return f" (no room for a share of {self.encoder.share_size} bytes on: {details})"

    def _failure_suffix(self) -> str:
        suffix = self.no_room_message()
        if self.failed:
            details = "; ".join(f"{name}: {why}" for name, why in sorted(self.failed.items()))
            suffix += f" (unusable servers: {details})"
        return suffix

    async def find_full_servers(self) -> None:
        """Ask the servers that declined shares how much room they have: the protocol gives
        no reason, and a full server is a different trouble from a busy or broken one."""

        async def free_space(server: Server) -> None:
            try:
                version = await asyncio.wait_for(server.client.get_version(), DISCOVERY_TIMEOUT)
            except (TimeoutError, StorageError):
                return
            room = min(version.available_space, version.maximum_immutable_share_size)
            if room < self.encoder.share_size:
                self.full[server.nickname] = room

        await asyncio.gather(*(free_space(s) for s in self.declined))

    async def select_servers(self) -> None:
        candidates = self.broker.permuted(self.si)[: 2 * self.params.n]
        if await self._place_as_expected(candidates[: self.params.n]):
            return
        # a server that just failed to answer is not asked again (and waited for twice)
        candidates = [s for s in candidates if s.nickname not in self.failed]

        async def discover(server: Server) -> frozenset[int] | None:
            try:
                return await asyncio.wait_for(server.client.list_shares(self.si), DISCOVERY_TIMEOUT)
            except (TimeoutError, StorageError) as exc:
                self.failed[server.nickname] = str(exc) or type(exc).__name__
                return None

        found = await asyncio.gather(*(discover(s) for s in candidates))
        writable = [s for s, shares in zip(candidates, found) if shares is not None]
        existing = {s: set(shares) for s, shares in zip(candidates, found) if shares}
        placement = place_shares(writable, [], self.params.n, existing)
        wanted: dict[Server, set[int]] = defaultdict(set)
        for sharenum, server in placement.items():
            wanted[server].add(sharenum)
        await asyncio.gather(*(self.allocate(s, wanted.get(s, set())) for s in writable))
        if happiness(self.sharemap()) < self.params.happy:
            await self.find_full_servers()
        self.check_happy()

    async def _place_as_expected(self, servers: list[Server]) -> bool:
        """Allocate share i on the i-th server of the ring without first asking every server
        which shares it holds (a server's answer names every share it already has): true if
        every share is then placed or held where it was asked for, and the upload is happy.
        Otherwise the buckets it got are given back, and only the servers that failed are
        remembered."""
        if not servers:
            return False
        wanted: dict[Server, set[int]] = defaultdict(set)
        for sharenum, server in place_shares(servers, [], self.params.n, {}).items():
            wanted[server].add(sharenum)
        await asyncio.gather(*(self.allocate(s, shares) for s, shares in wanted.items()))
        placed = set(self.buckets).union(*self.held.values())
        elsewhere = any(not held <= wanted[server] for server, held in self.held.items())
        if (
            not elsewhere  # shares stored in another layout: reuse them, not duplicate them
            and placed >= set(range(self.params.n))
            and happiness(self.sharemap()) >= self.params.happy
        ):
            return True
        await self.abort()
        self.buckets.clear()
        self.held.clear()
        return False

    async def allocate(self, server: Server, shares: set[int]) -> set[int]:
        """Ask `server` for buckets for `shares`; returns the share numbers it gave us."""
        secrets = lease_secrets(self.lease_secret, self.si, server.config.lease_seed)
        upload_secret = os.urandom(32)
        try:
            result = await server.client.allocate_buckets(
                self.si,
                secrets.renew,
                secrets.cancel,
                upload_secret,
                shares,
                self.encoder.share_size,
            )
        except StorageError as exc:
            if exc.status == INSUFFICIENT_STORAGE:
                self.declined.add(server)  # asked for its room if the upload is unhappy
            else:
                self.failed[server.nickname] = str(exc)
            return set()
        self.held[server] |= set(result.already_have)
        if shares - result.allocated - result.already_have:
            self.declined.add(server)
        given = set()
        for sharenum in result.allocated:
            if sharenum not in self.buckets:
                self.buckets[sharenum] = Bucket(server, sharenum, upload_secret)
                given.add(sharenum)
        return given

    async def drop_server(self, server: Server, reason: str) -> None:
        """A server failed mid-upload: forget its shares, fail if no longer happy."""
        self.failed[server.nickname] = reason
        lost = [n for n, b in self.buckets.items() if b.server is server]
        for sharenum in lost:
            del self.buckets[sharenum]
        self.held.pop(server, None)
        self.check_happy()

    async def write(self, bucket: Bucket, offset: int, data: list[bytes | memoryview]) -> None:
        """Write part of a share; the server says when the share is complete."""
        if self.buckets.get(bucket.sharenum) is not bucket:
            return  # its server was dropped
        try:
            result = await bucket.server.client.write_share_chunk(
                self.si, bucket.sharenum, bucket.upload_secret, offset, data
            )
            bucket.finished = bucket.finished or result.finished
        except StorageError as exc:
            if self.buckets.get(bucket.sharenum) is bucket:
                if exc.status == INSUFFICIENT_STORAGE:
                    self.ran_out.add(bucket.server.nickname)
                await self.drop_server(bucket.server, str(exc))

    async def check_complete(self) -> None:
        """After the last write: every share we kept must be complete on its server."""
        for bucket in list(self.buckets.values()):
            if not bucket.finished and self.buckets.get(bucket.sharenum) is bucket:
                await self.drop_server(bucket.server, f"share {bucket.sharenum} is incomplete")

    def batch_bodies(
        self, segments: list[EncodedSegment], trailers: list[bytes] | None
    ) -> tuple[int, dict[int, list[bytes | memoryview]]]:
        """One write per share for consecutive segments' blocks (and, last, the trailers).

        The pieces are sent as they are, not joined: no copy of the blocks is made.
        """
        first = segments[0].index
        offset = 0 if first == 0 else self.encoder.block_offset(first)
        bodies = {}
        for sharenum in self.buckets:
            parts = [self.encoder.header] if first == 0 else []  # header and block 0 are contiguous
            parts += [segment.blocks[sharenum] for segment in segments]
            if trailers is not None:  # the trailer follows the last block
                parts.append(trailers[sharenum])
            bodies[sharenum] = parts
        return offset, bodies

    async def push(self, offset: int, bodies: dict[int, list[bytes | memoryview]]) -> None:
        writes = [
            self.write(bucket, offset, bodies[sharenum])
            for sharenum, bucket in list(self.buckets.items())
            if sharenum in bodies
        ]
        await asyncio.gather(*writes)

    async def abort(self) -> None:
        async def one(bucket: Bucket) -> None:
            try:
                await bucket.server.client.abort_upload(
                    self.si, bucket.sharenum, bucket.upload_secret
                )
            except StorageError:
                pass

        await asyncio.gather(*(one(b) for b in self.buckets.values()))


async def _run(pool: Executor | None, fn: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)


async def upload(
    broker: StorageBroker,
    read_at: ReadAt,
    size: int,
    params: EncodingParams,
    convergence_secret: bytes | None,
    lease_secret: bytes,
    pool: Executor | None = None,
    depth: int = 4,
    key: bytes | None = None,
) -> UploadResult:
    """Upload `size` bytes read through `read_at` (thread-safe); return the cap and what happened.

    The AES key is `key` if given, else convergent (with a secret) or random."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    if size <= LIT_MAX_SIZE:
        data = await _run(pool, read_at, 0, size) if size else b""
        timings["total"] = time.perf_counter() - started
        return UploadResult(LiteralCap(data), size, timings=timings)
    if key is None and convergence_secret is not None:
        key = await _run(
            pool,
            lambda: convergent_key(convergence_secret, params, size, read_chunks(read_at, size)),
        )
    elif key is None:
        key = os.urandom(16)
    timings["cumulative_hashing"] = time.perf_counter() - started
    encoder = CHKEncoder(key, size, params)
    job = UploadJob(broker, encoder, params, lease_secret, pool, depth)
    mark = time.perf_counter()
    try:
        await job.select_servers()
        timings["peer_selection"] = time.perf_counter() - mark
        mark = time.perf_counter()
        await _encode_and_push(job, read_at, pool, depth)
        timings["encode_and_push"] = time.perf_counter() - mark
    except BaseException:
        await asyncio.shield(job.abort())
        raise
    timings["total"] = time.perf_counter() - started
    sharemap: dict[int, set[str]] = defaultdict(set)
    servermap: dict[str, set[int]] = defaultdict(set)
    for server, shares in job.sharemap().items():
        for sharenum in shares:
            sharemap[sharenum].add(server.nickname)
            servermap[server.nickname].add(sharenum)
    assert job.cap is not None
    return UploadResult(
        cap=job.cap,
        file_size=size,
        preexisting_shares=sum(len(s) for s in job.held.values()),
        pushed_shares=len(job.buckets),
        sharemap=dict(sharemap),
        servermap=dict(servermap),
        timings=timings,
        happiness=happiness(job.sharemap()),
    )


async def _encode_and_push(
    job: UploadJob, read_at: ReadAt, pool: Executor | None, depth: int
) -> None:
    """Encode ahead in threads while earlier batches of segments are pushed.

    Blocks of several consecutive segments go to each share in one request
    (about WRITE_BATCH bytes), which costs client and servers far less than a
    request per block; at most `depth` batches are encoded or in flight. A
    remainder smaller than a batch joins the last one: a share of 1.6 batches
    (an 8 MiB multipart part's, at k=3) goes in one request, not two.
    """
    encoder = job.encoder
    total = encoder.geometry.num_segments
    per_batch = max(1, WRITE_BATCH // encoder.geometry.block_size)

    def encode(index: int) -> EncodedSegment:
        offset, length = encoder.geometry.segment_span(index)
        return encoder.encode_segment(index, read_at(offset, length))

    loop = asyncio.get_running_loop()
    encoding: dict[int, asyncio.Future[EncodedSegment]] = {}
    pushing: list[asyncio.Task[None]] = []
    batch: list[EncodedSegment] = []
    try:
        for index in range(total):
            for ahead in range(index, min(index + per_batch, total)):
                if ahead not in encoding:
                    encoding[ahead] = loop.run_in_executor(pool, encode, ahead)
            segment = await encoding.pop(index)
            encoder.absorb(segment)
            batch.append(segment)
            after = total - 1 - index  # segments still to come
            if after and (len(batch) < per_batch or after < per_batch):
                continue
            trailers = None
            if index == total - 1:
                result = encoder.finish()
                trailers, job.cap = result.trailers, result.cap
            offset, bodies = job.batch_bodies(batch, trailers)
            batch = []
            pushing.append(asyncio.ensure_future(job.push(offset, bodies)))
            while len(pushing) >= max(1, depth // 2):
                await pushing.pop(0)
        await asyncio.gather(*pushing)
        await job.check_complete()
    finally:
        for task in pushing:
            task.cancel()
        for future in encoding.values():
            future.cancel()
