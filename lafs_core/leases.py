"""Renew this client's leases on everything reachable from some roots.

Storage nodes reclaim shares whose leases all expired, so whatever a
deployment still links must be renewed well within the lease duration
(31 days): the gateway renews its root on a schedule, adding the caps only
it knows (kept in entry metadata) through `renew_object_leases`. Anything
no longer linked from a root stops being renewed, and the nodes' expiry
crawlers give its space back. Each object costs one
add-or-renew request per server; a server without shares answers "none".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .deep import Walk, walk
from .deep_results import storage_index
from .dirnode.caps import AnyCap, DirectoryCap
from .errors import StorageError
from .grid import Server, add_leases

if TYPE_CHECKING:
    from .client import Client

OBJECTS_AT_ONCE = 8


@dataclass
class RenewalStats:
    objects: int = 0  # distinct stored objects reached (LIT ones hold no shares)
    leases_renewed: int = 0  # (object, server) pairs where a lease was added or renewed
    unheld: list[bytes] = field(default_factory=list)  # storage indexes no server had
    server_errors: dict[str, str] = field(default_factory=dict)  # nickname -> last error
    walk_errors: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """Every object was reached and renewed on every server that answered."""
        return not (self.unheld or self.server_errors or self.walk_errors)


async def _renew_one(servers: list[Server], si: bytes, secret: bytes, stats: RenewalStats) -> None:
    held = 0
    for server, answer in (await add_leases(servers, si, secret)).items():
        if isinstance(answer, StorageError):
            stats.server_errors[server.nickname] = str(answer)
        else:
            held += answer
    stats.leases_renewed += held
    if not held:
        stats.unheld.append(si)


async def reachable(
    client: Client, root_caps: Iterable[DirectoryCap], errors: list[tuple[tuple[str, ...], str]]
) -> AsyncIterator[AnyCap]:
    """Every cap reachable from the roots; directories that could not be listed go to `errors`."""
    for root in root_caps:
        state = Walk()
        async for reached in walk(client, root, state):
            if reached.cap is not None:
                yield reached.cap
        errors.extend(state.errors)


async def renew_object_leases(
    client: Client,
    caps: AsyncIterable[AnyCap],
    stats: RenewalStats | None = None,
    at_once: int = OBJECTS_AT_ONCE,
) -> RenewalStats:
    """Add or renew our lease on every share of each object named (once each; LIT caps have
    no shares). For callers that know caps a directory walk cannot see."""
    stats = stats or RenewalStats()
    done: set[bytes] = set()
    limit = asyncio.Semaphore(at_once)
    secret = client.config.lease_secret
    servers = client.broker.servers

    async def renew(si: bytes) -> None:
        try:
            await _renew_one(servers, si, secret, stats)
        finally:
            limit.release()

    async with asyncio.TaskGroup() as tg:
        async for cap in caps:
            si = storage_index(cap)
            if si is None or si in done:
                continue
            done.add(si)
            stats.objects += 1
            await limit.acquire()  # bounds the tasks alive, not just those running
            tg.create_task(renew(si))
    return stats


async def renew_leases(
    client: Client, root_caps: Iterable[DirectoryCap], at_once: int = OBJECTS_AT_ONCE
) -> RenewalStats:
    """Add or renew our lease on every share of every object reachable from the roots."""
    stats = RenewalStats()
    caps = reachable(client, root_caps, stats.walk_errors)
    return await renew_object_leases(client, caps, stats, at_once)
