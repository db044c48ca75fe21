"""Find and read mutable files on the grid: the servermap driver and retrieve (spec 11, 13).

Thin async edges around the pure `ServermapUpdater` and `sdmf` decoders:
query servers as the updater asks, then fetch k whole shares of the best
version (lowest share numbers first), validate each, replace bad ones
with other holders, decode in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor

from ..errors import CorruptShareError, NotEnoughSharesError, StorageError
from ..grid import Server
from .caps import MutableReadCap, MutableVerifyCap, MutableWriteCap
from .errors import UncoordinatedWriteError, UnrecoverableFileError
from .layout import SDMFPrefix, SDMFShare
from .sdmf import decode_version, parse_and_check
from .servermap import Mode, ServerMap, ServermapUpdater

AnyMutableCap = MutableWriteCap | MutableReadCap | MutableVerifyCap


async def _query(server: Server, si: bytes, size: int) -> tuple[Server, dict[int, bytes] | None]:
    try:
        shnums = await server.client.list_mutable_shares(si)
        heads = await asyncio.gather(
            *(
                server.client.read_mutable_share_chunk(si, shnum, 0, size)
                for shnum in sorted(shnums)
            )
        )
    except StorageError:
        return server, None
    return server, dict(zip(sorted(shnums), heads))


async def _advise(server: Server, si: bytes, shnum: int, reason: str) -> None:
    try:
        await server.client.advise_corrupt_mutable_share(si, shnum, reason[:1000] or "corrupt")
    except StorageError:
        pass  # advisories are best effort


async def update_servermap(
    servers: Sequence[Server],
    cap: AnyMutableCap,
    mode: Mode,
    k: int = 3,
    n: int = 10,
    old: ServerMap[Server] | None = None,
) -> ServerMap[Server]:
    """Ask servers (in permuted order) what they hold, as the mode's rules say."""
    si = cap.verify_cap().storage_index
    updater = ServermapUpdater(servers, mode, cap.fingerprint, k, n, old)
    async with asyncio.TaskGroup() as tg:
        pending = {tg.create_task(_query(s, si, updater.read_size)) for s in updater.start()}
        while pending and not updater.done:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                server, shares = task.result()
                for nxt in updater.answer(server, shares):
                    pending.add(tg.create_task(_query(nxt, si, updater.read_size)))
        for task in pending:
            task.cancel()
        for server, shnum, reason in updater.corrupt:
            tg.create_task(_advise(server, si, shnum, reason))
    return updater.map


async def fetch_version(
    servermap: ServerMap[Server],
    cap: MutableWriteCap | MutableReadCap,
    version: SDMFPrefix,
) -> dict[int, SDMFShare]:
    """k validated whole shares of `version`; bad ones are marked in the map and advised.

    Raises UncoordinatedWriteError when too few remain because valid shares
    of another version replaced them meanwhile (a writer is active).
    """
    si = cap.storage_index
    good: dict[int, SDMFShare] = {}
    candidates = servermap.holders(version)
    changed = False
    while len(good) < version.k:
        wanted = version.k - len(good)
        batch: list[tuple[Server, int]] = []
        for server, shnum in candidates:
            if shnum not in good and shnum not in {b for _, b in batch} and len(batch) < wanted:
                batch.append((server, shnum))
        if not batch:
            if changed:
                raise UncoordinatedWriteError("the version changed while we were reading it")
            raise NotEnoughSharesError(
                f"only {len(good)} of k={version.k} shares of the best version could be read"
            )
        for item in batch:
            candidates.remove(item)
        results = await asyncio.gather(*(_fetch_one(s, si, n, servermap) for s, n in batch))
        for (server, shnum), raw in zip(batch, results):
            if raw is None:
                continue
            try:
                share = parse_and_check(raw, shnum, cap.fingerprint)
            except CorruptShareError as exc:
                servermap.mark_bad(server, shnum)
                await _advise(server, si, shnum, str(exc))
                continue
            if share.prefix != version:
                changed = True  # a valid share of another version: someone is writing
                servermap.shares.pop((server, shnum), None)
                continue
            good[shnum] = share
    return good


async def _fetch_one(
    server: Server, si: bytes, shnum: int, smap: ServerMap[Server]
) -> bytes | None:
    info = smap.shares.get((server, shnum))
    length = info.offsets.eof if info is not None else 1 << 30
    try:
        return await server.client.read_mutable_share_chunk(si, shnum, 0, length)
    except StorageError:
        smap.shares.pop((server, shnum), None)
        return None


async def retrieve(
    servermap: ServerMap[Server],
    cap: MutableWriteCap | MutableReadCap,
    version: SDMFPrefix | None = None,
    pool: Executor | None = None,
) -> tuple[bytes, SDMFPrefix, dict[int, SDMFShare]]:
    """The plaintext of `version` (default: the best recoverable one), and the shares used."""
    version = version or servermap.best_recoverable()
    if version is None:
        raise UnrecoverableFileError("no recoverable version of this mutable file was found")
    shares = await fetch_version(servermap, cap, version)
    loop = asyncio.get_running_loop()
    readkey = cap.readkey if isinstance(cap, MutableReadCap) else cap.readonly().readkey
    plaintext = await loop.run_in_executor(pool, decode_version, shares, readkey)
    return plaintext, version, shares
