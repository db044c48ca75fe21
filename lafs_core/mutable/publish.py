"""Publish a new SDMF or MDMF version to the grid (spec/tahoe-mutable.md 9, 10, 12).

`plan_publish` (pure) decides where each share goes and what each write
must test; `publish` (async) encodes (in a worker thread unless the
plaintext is small, see `formats.INLINE_LIMIT`), sends one
whole-share write (Tahoe's MDMF writer uses several vectors; the bytes
stored are the same)
test-and-set write per (server, share) in parallel, and turns the answers
into success, `UncoordinatedWriteError` or `NotEnoughServersError`.
Publish never retries: that is `MutableFileNode.modify`'s job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeVar

from ..errors import StorageError
from ..grid import Server
from ..secrets import lease_secrets
from ..storage_protocol import (
    INSUFFICIENT_STORAGE,
    ReadVector,
    TestVector,
    TestWriteVectors,
    WriteVector,
)
from .caps import MutableWriteCap
from .errors import NotEnoughServersError, UncoordinatedWriteError
from .formats import INLINE_LIMIT, ShareFormat, Version, format_of
from .keys import KeyPair, write_enabler, write_enabler_master
from .mdmf import MDMFPrefix
from .servermap import ServerMap, ShareInfo

S = TypeVar("S")


@dataclass(frozen=True)
class PublishPlan:
    """Where each share goes and the checkstring its write tests (b"" = must be absent)."""

    seqnum: int
    goal: dict[tuple[object, int], bytes]
    reference: bytes  # what other shares on a server may hold without surprising us

    def shnums_by_server(self) -> dict[object, set[int]]:
        """The share numbers each server of the goal is to hold."""
        out: dict[object, set[int]] = {}
        for server, shnum in self.goal:
            out.setdefault(server, set()).add(shnum)
        return out


def plan_publish(servermap: ServerMap[S] | None, servers: Sequence[S], n: int) -> PublishPlan:
    """Keep every share where the map saw one; deal homeless share numbers round-robin.

    Servers are ordered by (shares already in the goal, permuted position),
    so a fresh file gets share i on server i mod len(servers).
    """
    if not servers:
        raise NotEnoughServersError("no storage servers to publish to")
    smap: ServerMap[S] = servermap or ServerMap()
    goal: dict[tuple[object, int], bytes] = {}
    for (server, shnum), info in smap.shares.items():
        goal[server, shnum] = info.prefix.checkstring
    for (server, shnum), seen in smap.bad.items():
        goal.setdefault((server, shnum), seen)
    placed = {shnum for _, shnum in goal}
    homeless = [i for i in range(n) if i not in placed]
    counts = {s: sum(1 for (x, _) in goal if x == s) for s in servers}
    order = sorted(servers, key=lambda s: (counts[s], servers.index(s)))
    for i, shnum in enumerate(homeless):
        goal[order[i % len(order)], shnum] = b""
    best = smap.best_recoverable()
    # SDMF quirk kept from 1.20: surprises are judged against the old checkstring.
    reference = best.checkstring if best is not None else b""
    return PublishPlan(smap.highest_seqnum() + 1, goal, reference)


def _test_vector(expected: bytes) -> TestVector:
    if not expected:
        return TestVector(0, 1, b"")  # "the share must be absent or empty"
    return TestVector(0, len(expected), expected)


async def publish(
    servers: Sequence[Server],
    cap: MutableWriteCap,
    keys: KeyPair,
    plaintext: bytes,
    servermap: ServerMap[Server] | None,
    lease_secret: bytes,
    k: int,
    n: int,
    pool: Executor | None = None,
    fmt: ShareFormat | None = None,
    version: Version | None = None,
) -> ServerMap[Server]:
    """Write a new version; returns a servermap holding just that version's shares.

    `version`: `plaintext` already encoded under `keys` (a new file's first version,
    made ahead by the key pool). Raises UncoordinatedWriteError if another writer got
    in the way (some shares may be written), NotEnoughServersError if fewer than k
    shares were accepted.
    """
    fmt = fmt or format_of(cap)
    plan = plan_publish(servermap, servers, n)
    if version is not None:
        p = version.prefix
        fits = (p.seqnum, p.k, p.n, p.datalen) == (plan.seqnum, k, n, len(plaintext))
        if not fits or isinstance(p, MDMFPrefix) != (fmt.name == "mdmf"):
            raise ValueError("the version encoded beforehand does not fit this publish")
    elif len(plaintext) <= INLINE_LIMIT:
        version = fmt.encode(keys, plaintext, plan.seqnum, k, n)
    else:
        loop = asyncio.get_running_loop()
        version = await loop.run_in_executor(pool, fmt.encode, keys, plaintext, plan.seqnum, k, n)
    # What other shares on a server may hold without surprising us: 1.20 uses
    # the old checkstring for SDMF and the new one for MDMF.
    reference = plan.reference if fmt.name == "sdmf" else version.prefix.checkstring
    si = cap.storage_index
    wem = write_enabler_master(cap.writekey)
    ours_on = plan.shnums_by_server()
    surprised = False
    written: ServerMap[Server] = ServerMap()
    full: set[str] = set()  # servers that answered 507: no room for the share

    async def write_one(server: Server, shnum: int, expected: bytes) -> None:
        nonlocal surprised
        secrets = lease_secrets(lease_secret, si, server.config.lease_seed)
        share = version.shares[shnum]
        # new_length drops the tail of a longer earlier version (a shrunk bucket journal):
        # readers that fetch a whole share fetch only this one
        vectors = TestWriteVectors((_test_vector(expected),), (WriteVector(0, share),), len(share))
        try:
            result = await server.client.read_test_write(
                si, write_enabler(wem, server.config.lease_seed), secrets.renew, secrets.cancel,
                {shnum: vectors}, [ReadVector(0, fmt.checkstring_size)],
            )  # fmt: skip
        except StorageError as exc:
            if exc.status == INSUFFICIENT_STORAGE:
                full.add(server.nickname)
            return  # that writer is dropped
        ours = ours_on[server]
        for other, data in result.data.items():
            if other not in ours and (data[0] if data else b"") != reference:
                surprised = True
        if not result.success:
            surprised = True
            return
        written.shares[server, shnum] = ShareInfo(version.prefix, len(share))
        written.answered.add(server)

    async with asyncio.TaskGroup() as tg:
        for (server, shnum), expected in plan.goal.items():
            tg.create_task(write_one(server, shnum, expected))  # type: ignore[arg-type]
    if surprised:
        raise UncoordinatedWriteError("another writer changed the file while we published it")
    if len({shnum for _, shnum in written.shares}) < k:
        no_room = f" (no room on: {', '.join(sorted(full))})" if full else ""
        raise NotEnoughServersError(
            f"fewer than k={k} shares of the new version were accepted{no_room}", bool(full)
        )
    return written


__all__ = ["PublishPlan", "plan_publish", "publish"]
