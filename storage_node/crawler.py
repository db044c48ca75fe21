"""Lease expiry and space reclamation (spec/tahoe-disk-and-leases.md 8).

`LeaseCrawler` takes the backend and a clock, so tests advance time instead of
sleeping; `run_periodically` is the server's loop around it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .backend import Backend, Clock
from .config import ExpiryPolicy
from .container import LEASE_DURATION, ShareKind
from .errors import CorruptContainerError

log = logging.getLogger(__name__)


def lease_expired(policy: ExpiryPolicy, kind: ShareKind, expiration: int, now: float) -> bool:
    """Whether one lease is expired under `policy` (whether or not expiry is enabled)."""
    if not (policy.immutable if kind == "immutable" else policy.mutable):
        return False
    granted = expiration - LEASE_DURATION
    if policy.mode == "cutoff-date":
        return policy.cutoff_date is not None and granted < policy.cutoff_date
    if policy.override_lease_duration is not None:
        return now - granted > policy.override_lease_duration
    return expiration < now


@dataclass
class CycleReport:
    shares_examined: int = 0
    leases_examined: int = 0
    leases_expired: int = 0
    shares_deleted: int = 0
    space_recovered: int = 0
    corrupt_shares: list[str] = field(default_factory=list)


class LeaseCrawler:
    """Walks every share once per cycle, cancelling expired leases if expiry is enabled."""

    def __init__(self, backend: Backend, policy: ExpiryPolicy, clock: Clock = time.time) -> None:
        self.backend = backend
        self.policy = policy
        self.clock = clock
        self.last_report: CycleReport | None = None

    def run_cycle(self) -> CycleReport:
        report = CycleReport()
        now = self.clock()
        for path in self.backend.iter_share_files():
            try:
                sweep = self.backend.sweep_leases(
                    path,
                    lambda kind, expiration: lease_expired(self.policy, kind, expiration, now),
                    remove=self.policy.enabled,
                )
            except (CorruptContainerError, OSError):
                report.corrupt_shares.append(str(path.relative_to(self.backend.shares_dir)))
                continue
            report.shares_examined += 1
            report.leases_examined += sweep.leases
            report.leases_expired += sweep.expired
            report.space_recovered += sweep.space_recovered
            report.shares_deleted += sweep.deleted
        self.last_report = report
        return report


async def run_periodically(
    crawler: LeaseCrawler,
    interval: float,
    first_delay: float,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run a cycle after `first_delay`, then every `interval` seconds, until cancelled."""
    await sleep(first_delay)
    while True:
        try:
            report = await asyncio.to_thread(crawler.run_cycle)
            log.info("lease crawler: %s", report)
        except OSError:
            log.exception("lease crawler cycle failed")
        await sleep(interval)
