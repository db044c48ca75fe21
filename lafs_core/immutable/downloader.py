"""CHK download from the grid: find the shares, then let `CHKReader` fetch and check them.

Our uploader, finding every server writable, puts share i on the i-th server of
the storage index's ring, so shares 0..k-1 are first read from there directly.
Only if that fails (a server was down at upload time, or real Tahoe uploaded the
file: its placement does not follow that layout) is every server asked which
shares it holds (concurrently), and each share read from the first server in
ring order that has it. Shares that fail their hashes are reported to their
server with a corruption advisory.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import Executor
from dataclasses import dataclass, field

from ..errors import ShareNotFoundError, StorageError
from ..grid import Server, StorageBroker
from ..uri import CHKReadCap, CHKVerifyCap
from .reader import CHKReader

DISCOVERY_TIMEOUT = 15.0


@dataclass
class GridShare:
    """A share on one storage server, as a `ShareSource`."""

    server: Server
    storage_index: bytes
    sharenum: int

    async def read(self, offset: int, length: int) -> bytes:
        return await self.server.client.read_share_chunk(
            self.storage_index, self.sharenum, offset, length
        )


@dataclass
class GuessedShare(GridShare):
    """A share looked for where placement should have put it. Its first read is bounded as
    discovery's question is, and a server that fails it other than by lacking the share is
    recorded in `down`, so that discovery, if needed, does not wait for it again."""

    down: dict[Server, str] = field(default_factory=dict)
    opened: bool = False

    async def read(self, offset: int, length: int) -> bytes:
        if self.opened:
            return await super().read(offset, length)
        try:
            data = await asyncio.wait_for(super().read(offset, length), DISCOVERY_TIMEOUT)
        except ShareNotFoundError:
            raise
        except (TimeoutError, StorageError) as exc:
            self.down[self.server] = str(exc) or type(exc).__name__
            raise
        self.opened = True
        return data


@dataclass
class DownloadResult:
    file_size: int
    # server -> shares it holds, as far as the download asked (all servers only if it had to)
    servermap: dict[str, set[int]] = field(default_factory=dict)
    servers_used: dict[int, str] = field(default_factory=dict)  # share read -> server
    corrupt_shares: dict[int, str] = field(default_factory=dict)
    unreachable_servers: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    bytes_fetched: int = 0

    @property
    def rate(self) -> float:
        total = self.timings.get("total", 0.0)
        return self.file_size / total if total else 0.0


async def locate_shares(
    broker: StorageBroker,
    storage_index: bytes,
    result: DownloadResult,
    down: dict[Server, str] | None = None,
) -> list[GridShare]:
    """Ask every server (but those known `down`) for its shares; one source per share
    number, in ring order."""
    down = down or {}
    for server, reason in down.items():
        result.unreachable_servers[server.nickname] = reason
    servers = [s for s in broker.permuted(storage_index) if s not in down]

    async def ask(server: Server) -> frozenset[int]:
        try:
            return await asyncio.wait_for(
                server.client.list_shares(storage_index), DISCOVERY_TIMEOUT
            )
        except (TimeoutError, StorageError) as exc:
            result.unreachable_servers[server.nickname] = str(exc) or type(exc).__name__
            return frozenset()

    answers = await asyncio.gather(*(ask(s) for s in servers))
    sources: dict[int, GridShare] = {}
    for server, shares in zip(servers, answers):
        if shares:
            result.servermap[server.nickname] = set(shares)
        for sharenum in sorted(shares):
            sources.setdefault(sharenum, GridShare(server, storage_index, sharenum))
    return list(sources.values())


class Download:
    """One download: iterate `chunks()`, then read `result`."""

    def __init__(
        self,
        broker: StorageBroker,
        cap: CHKReadCap | CHKVerifyCap,
        pool: Executor | None = None,
        depth: int = 4,
    ) -> None:
        self.broker = broker
        self.cap = cap
        self.pool = pool
        self.depth = depth
        self.result = DownloadResult(cap.size)

    async def chunks(self, offset: int = 0, size: int | None = None) -> AsyncIterator[bytes]:
        started = time.perf_counter()
        storage_index = self.cap.storage_index
        servers = self.broker.permuted(storage_index)
        down: dict[Server, str] = {}
        guesses = [
            GuessedShare(servers[i % len(servers)], storage_index, i, down)
            for i in range(self.cap.k if servers else 0)
        ]

        async def discover() -> list[GridShare]:
            return await locate_shares(self.broker, storage_index, self.result, down)

        reader = CHKReader(self.cap, guesses, self.pool, self.depth, more=discover)
        try:
            await reader.open_first()
            if not self.result.servermap:  # the guesses were right: that is all we know
                for n in reader.open_shares:
                    share = reader.sources[n]
                    assert isinstance(share, GridShare)
                    self.result.servermap.setdefault(share.server.nickname, set()).add(n)
            self.result.timings["peer_selection"] = time.perf_counter() - started
            async for chunk in reader.iter_range(offset, size):
                yield chunk
        finally:
            by_number: dict[int, GridShare] = dict(reader.sources)  # type: ignore[arg-type]
            self.result.corrupt_shares = dict(reader.corrupt_shares)
            self.result.bytes_fetched = reader.stats.bytes_fetched
            self.result.servers_used = {
                n: by_number[n].server.nickname for n in sorted(reader.stats.shares_used)
            }
            await self._advise(by_number, reader.corrupt_shares)
            self.result.timings["total"] = time.perf_counter() - started

    async def _advise(self, sources: dict[int, GridShare], corrupt: dict[int, str]) -> None:
        async def one(share: GridShare, reason: str) -> None:
            try:
                await share.server.client.advise_corrupt_share(
                    share.storage_index, share.sharenum, reason
                )
            except StorageError:
                pass  # the advisory is a courtesy; the download already worked around the share

        await asyncio.gather(*(one(sources[n], why) for n, why in corrupt.items() if n in sources))
