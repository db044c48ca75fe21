"""Keeping the gateway's data alive: lease renewal over everything its root reaches.

Storage nodes reclaim shares whose leases expired, so the gateway renews,
well within the lease duration, every object it still links: the root,
bucket directories, index nodes, objects, multipart uploads and their parts
(a directory walk from the root finds all of these), plus the parts of
completed multipart objects, whose caps live only in index entry metadata.
What S3 deleted is no longer reached, so its leases run out and the nodes'
expiry crawlers give the space back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from lafs_core import Client
from lafs_core.dirnode import AnyCap, DirectoryCap, parse_any_cap
from lafs_core.errors import LafsError
from lafs_core.leases import RenewalStats, reachable, renew_object_leases
from s3gw.catalog import Catalog
from s3gw.errors import S3Error

log = logging.getLogger("s3gw")

FIRST_RUN_SECONDS = 60.0  # after start: soon, but not in the way of a burst of first requests

Errors = list[tuple[tuple[str, ...], str]]


def part_caps(info: dict[str, Any]) -> list[str]:
    """The part caps of a multipart object's index entry ([cap, size, etag] per part)."""
    return [str(part[0]) for part in info.get("parts", ())]


def multipart_caps(info: dict[str, Any]) -> list[str]:
    """Every cap a multipart object keeps alive: its parts and the directory listing them."""
    listing = info.get("parts-cap")
    return part_caps(info) + ([str(listing)] if listing else [])


async def _multipart_caps(catalog: Catalog, errors: Errors) -> AsyncIterator[AnyCap]:
    """The caps of every completed multipart object, bucket by bucket."""
    try:
        buckets = await catalog.list_buckets()
    except LafsError as exc:
        errors.append(((), f"cannot list buckets: {exc}"))
        return
    for info in buckets:
        try:
            bucket = await catalog.get(info.name)
            async for key, entry in bucket.index.entries():
                if entry.cap is not None:
                    continue
                for text in multipart_caps(entry.info):
                    try:
                        cap = parse_any_cap(text)
                    except LafsError as exc:
                        errors.append(((info.name, key), f"bad part cap: {exc}"))
                        continue
                    yield cap
        except (LafsError, S3Error) as exc:  # e.g. deleted meanwhile, or an index node lost
            errors.append(((info.name,), f"cannot read the bucket index: {exc!r}"))


async def _gateway_caps(
    client: Client, root: DirectoryCap, errors: Errors
) -> AsyncIterator[AnyCap]:
    async for cap in reachable(client, [root], errors):
        yield cap
    async for cap in _multipart_caps(Catalog(client, client.directory(root)), errors):
        yield cap


async def renew_gateway_leases(client: Client, root: DirectoryCap) -> RenewalStats:
    """Renew our leases on everything the gateway root `root` keeps (each object once)."""
    stats = RenewalStats()
    return await renew_object_leases(client, _gateway_caps(client, root, stats.walk_errors), stats)


def _report(stats: RenewalStats, seconds: float) -> None:
    print(
        f"s3gw: lease renewal: {stats.objects} objects, {stats.leases_renewed} leases "
        f"renewed in {seconds:.1f} s",
        flush=True,
    )
    if stats.unheld:
        log.warning("lease renewal: %d objects are held by no server", len(stats.unheld))
    for server, error in stats.server_errors.items():
        log.warning("lease renewal: server %s: %s", server, error)
    for path, error in stats.walk_errors:
        log.warning("lease renewal: /%s: %s", "/".join(path), error)


async def renew_on_schedule(
    client: Client, root: DirectoryCap, hours: float, first_delay: float = FIRST_RUN_SECONDS
) -> None:
    """Renew every `hours` (the first time after `first_delay`, or sooner if the interval is
    shorter) until cancelled. A failed run is logged and the schedule goes on."""
    interval = hours * 3600
    delay = min(first_delay, interval)
    while True:
        await asyncio.sleep(delay)
        started = time.monotonic()
        try:
            stats = await renew_gateway_leases(client, root)
        except Exception:  # the grid may be down now and back by the next run
            log.exception("lease renewal failed")
        else:
            _report(stats, time.monotonic() - started)
        delay = interval
