"""Find and read mutable files on the grid: the servermap driver and retrieve (spec 11, 13).

Thin async edges around the pure `ServermapUpdater` and the SDMF/MDMF decoders:
query servers as the updater asks, then fetch k whole shares of the best
version (lowest share numbers first), validate each, replace bad ones
with other holders, decode (in a worker thread unless the file is small).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from ..errors import (
    CorruptShareError,
    NotEnoughSharesError,
    StorageError,
    StorageUnauthorizedError,
)
from ..grid import Server
from ..secrets import lease_secrets
from ..storage_protocol import ReadVector
from .caps import MutableReadCap, MutableVerifyCap, MutableWriteCap
from .errors import UncoordinatedWriteError, UnrecoverableFileError
from .formats import INLINE_LIMIT, Prefix, Share, ShareFormat, format_of
from .keys import write_enabler, write_enabler_master
from .servermap import Mode, ServerMap, ServermapUpdater

AnyMutableCap = MutableWriteCap | MutableReadCap | MutableVerifyCap


@dataclass(frozen=True)
class Writer:
    """What a holder of the write cap may present: with it, a server is asked in one
    read-test-write with no writes (it reads every share the server holds), not a listing
    followed by a read per share. `lease_secret` must be the real one: Tahoe renews the
    leases of the shares such a request reads."""

    write_enabler_master: bytes
    lease_secret: bytes

    async def query(self, server: Server, si: bytes, size: int) -> dict[int, bytes]:
        secrets = lease_secrets(self.lease_secret, si, server.config.lease_seed)
        result = await server.client.read_test_write(
            si,
            write_enabler(self.write_enabler_master, server.config.lease_seed),
            secrets.renew,
            secrets.cancel,
            {},
            [ReadVector(0, size)],
        )
        return {shnum: data[0] if data else b"" for shnum, data in result.data.items()}


async def _query(
    server: Server, si: bytes, size: int, writer: Writer | None = None
) -> tuple[Server, dict[int, bytes] | None]:
    if writer is not None:
        try:
            return server, await writer.query(server, si, size)
        except StorageUnauthorizedError:
            pass  # a share under another write enabler (a moved server): read it as anyone
        except StorageError:
            return server, None
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
    read_size: int | None = None,
    lease_secret: bytes | None = None,
) -> ServerMap[Server]:
    """Ask servers (in permuted order) what they hold, as the mode's rules say.

    `read_size` overrides how much of each share is read (e.g. a header's worth when only
    the version matters). With a write cap and the `lease_secret`, each server is asked in
    one request instead of two (see `Writer`)."""
    si = cap.verify_cap().storage_index
    updater = ServermapUpdater(servers, mode, cap.fingerprint, k, n, old, format_of(cap), read_size)
    writer = None
    if isinstance(cap, MutableWriteCap) and lease_secret is not None:
        writer = Writer(write_enabler_master(cap.writekey), lease_secret)
    async with asyncio.TaskGroup() as tg:
        size = updater.read_size
        pending = {tg.create_task(_query(s, si, size, writer)) for s in updater.start()}
        while pending and not updater.done:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in finished:
                server, shares = task.result()
                for nxt in updater.answer(server, shares):
                    pending.add(tg.create_task(_query(nxt, si, size, writer)))
        for task in pending:
            task.cancel()
        for server, shnum, reason in updater.corrupt:
            tg.create_task(_advise(server, si, shnum, reason))
    return updater.map


async def still_held(
    holders: Sequence[tuple[Server, int]], storage_index: bytes, version: Prefix
) -> bool:
    """True if every (server, share number) in `holders` still starts with `version`'s
    checkstring: one small read each, no listing, no signature to check.

    A cheap "is my cached copy current?" for a reader that already verified
    `version`: any change a writer makes rewrites those checkstrings on every
    server it reaches. False (also on any error) means: ask properly, with a
    servermap update.
    """
    want = version.checkstring

    async def one(server: Server, shnum: int) -> bool:
        try:
            got = await server.client.read_mutable_share_chunk(storage_index, shnum, 0, len(want))
        except StorageError:
            return False
        return bytes(got) == want

    return bool(holders) and all(await asyncio.gather(*(one(s, n) for s, n in holders)))


async def fetch_version(
    servermap: ServerMap[Server],
    cap: MutableWriteCap | MutableReadCap,
    version: Prefix,
) -> dict[int, Share]:
    """k validated whole shares of `version`; bad ones are marked in the map and advised.

    Raises UncoordinatedWriteError when too few remain because valid shares
    of another version replaced them meanwhile (a writer is active).
    """
    si = cap.storage_index
    fmt = format_of(cap)
    good: dict[int, Share] = {}
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
        results = await asyncio.gather(
            *(_fetch_one(s, si, n, servermap, version, fmt, cap.fingerprint) for s, n in batch)
        )
        for (server, shnum), share in zip(batch, results):
            if isinstance(share, _Changed):
                changed = True  # a valid share of another version: someone is writing
                servermap.shares.pop((server, shnum), None)
            elif isinstance(share, CorruptShareError):
                servermap.mark_bad(server, shnum)
                await _advise(server, si, shnum, str(share))
            elif share is not None:
                good[shnum] = share
    return good


class _Changed:
    """Marker: the share now holds another version."""


async def _fetch_one(
    server: Server,
    si: bytes,
    shnum: int,
    smap: ServerMap[Server],
    version: Prefix,
    fmt: ShareFormat,
    fingerprint: bytes,
) -> Share | CorruptShareError | _Changed | None:
    """Read and validate one whole share; None if the server failed.

    A share that fails validation is read once more before it is called
    corrupt: a writer may have been rewriting it under us (the read then
    sees another version, or a torn mix), which is not corruption.
    """
    info = smap.shares.get((server, shnum))
    length = info.eof if info is not None else 1 << 30
    error: CorruptShareError | None = None
    seen = smap.whole.pop((server, shnum), None)  # read whole by the servermap query
    for _attempt in range(2):
        try:
            if seen is not None:
                raw, seen = seen, None
            else:
                raw = await server.client.read_mutable_share_chunk(si, shnum, 0, length)
        except StorageError:
            smap.shares.pop((server, shnum), None)
            return None
        try:
            head = fmt.head(raw)
            if head.prefix != version:
                return _Changed()
            if head.eof != len(raw):
                raise CorruptShareError("share length does not match its offsets", shnum)
            share: Share = fmt.parse_and_check(raw, shnum, fingerprint)
        except CorruptShareError as exc:
            error = exc
            length = max(length, 1 << 20)
            continue
        return share
    return error


async def retrieve(
    servermap: ServerMap[Server],
    cap: MutableWriteCap | MutableReadCap,
    version: Prefix | None = None,
    pool: Executor | None = None,
) -> tuple[bytes, Prefix, dict[int, Share]]:
    """The plaintext of `version` (default: the best recoverable one), and the shares used."""
    version = version or servermap.best_recoverable()
    if version is None:
        raise UnrecoverableFileError("no recoverable version of this mutable file was found")
    shares = await fetch_version(servermap, cap, version)
    readkey = cap.readkey if isinstance(cap, MutableReadCap) else cap.readonly().readkey
    decode = format_of(cap).decode
    if version.datalen <= INLINE_LIMIT:
        return decode(shares, readkey), version, shares
    loop = asyncio.get_running_loop()
    plaintext = await loop.run_in_executor(pool, decode, shares, readkey)
    return plaintext, version, shares
