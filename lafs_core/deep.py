"""Everything reachable from a directory: the walk, manifest, deep-stats and deep-check.

The walk visits the root, then each directory's children in name order,
then descends into its subdirectories one after another (Tahoe's order), and
visits each object once however many paths reach it (objects are known by
their verify cap, compared as a value since printing one means base32-encoding
its hashes; LIT objects have none and are visited on every path).
Deep-check runs a bounded number of checks at once but reports them in
walk order. The results themselves are pure, in `deep_results`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .check_results import CheckAndRepairResults, CheckResults
from .deep_results import DeepCheckResults, DeepStats, Outcome, Reached, storage_index, verify_cap
from .dirnode.caps import AnyCap, DirectoryCap
from .dirnode.children import Child, list_body
from .errors import LafsError
from .mutable.caps import MutableWriteCap
from .uri import CHKReadCap, LiteralCap

if TYPE_CHECKING:
    from .client import Client

CHECKS_AT_ONCE = 8


@dataclass
class Walk:
    """The walk's side results: directories that could not be listed, and why."""

    errors: list[tuple[tuple[str, ...], str]] = field(default_factory=list)


async def walk(
    client: Client, root: DirectoryCap, state: Walk | None = None
) -> AsyncIterator[Reached]:
    """Every object reachable from `root`, root first (see the module docstring for the order)."""
    state = state or Walk()
    seen: set[AnyCap] = set()
    first = await _list(client, (), root, state)
    yield first[0]
    async for reached in _descend(client, first, seen, state):
        yield reached


async def _list(
    client: Client, path: tuple[str, ...], cap: DirectoryCap, state: Walk
) -> tuple[Reached, list[tuple[str, Child]]]:
    """The directory as reached (with its size) and its (name, child) pairs in name order."""
    try:
        body = await client.directory(cap).read_body()
        inner = cap.inner
        writekey = inner.writekey if isinstance(inner, MutableWriteCap) else None
        listing = list_body(body, writekey, cap.is_mutable)
    except LafsError as exc:
        state.errors.append((path, str(exc)))
        return Reached(path, cap), []
    kids = [(name, listing[name][0]) for name in sorted(listing)]
    return Reached(path, cap, len(body), len(kids)), kids


async def _descend(
    client: Client,
    listed: tuple[Reached, list[tuple[str, Child]]],
    seen: set[AnyCap],
    state: Walk,
) -> AsyncIterator[Reached]:
    parent, kids = listed
    if parent.cap is not None:
        vcap = verify_cap(parent.cap)
        if vcap is not None:
            seen.add(vcap)
    subdirs = []
    for name, child in kids:
        path = (*parent.path, name)
        cap = child.cap
        if cap is None:
            yield Reached(path, None)
            continue
        vcap = verify_cap(cap)
        if vcap is not None:
            if vcap in seen:
                continue
            seen.add(vcap)
        if isinstance(cap, DirectoryCap):
            sub = await _list(client, path, cap, state)
            yield sub[0]
            subdirs.append(sub)
        else:
            yield Reached(path, cap, cap.size if isinstance(cap, LiteralCap | CHKReadCap) else None)
    for sub in subdirs:
        async for reached in _descend(client, sub, seen, state):
            yield reached


async def deep_stats(client: Client, root: DirectoryCap) -> DeepStats:
    stats = DeepStats()
    async for reached in walk(client, root):
        stats.add(reached)
    return stats


async def manifest(client: Client, root: DirectoryCap) -> list[Reached]:
    """Every object reachable from `root`, in walk order (Tahoe's build_manifest)."""
    return [reached async for reached in walk(client, root)]


# -- deep-check ---------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    reached: Reached
    outcome: Outcome

    def to_json(self) -> dict[str, Any]:
        """One line of Tahoe's `t=stream-deep-check` (with `repair=true`: check-and-repair)."""
        out = self.reached.to_json()
        if isinstance(self.outcome, CheckAndRepairResults):
            out["check-and-repair-results"] = self.outcome.to_json()
        elif isinstance(self.outcome, CheckResults):
            out["check-results"] = self.outcome.to_json()
        else:
            out["check-results"] = {"storage-index": "", "results": {"healthy": True}}
        return out


async def deep_check(
    client: Client,
    root: DirectoryCap,
    *,
    verify: bool = False,
    repair: bool = False,
    add_lease: bool = False,
    on_checked: Callable[[Checked], Awaitable[None] | None] | None = None,
    at_once: int = CHECKS_AT_ONCE,
) -> DeepCheckResults:
    """Check (or check and repair) every object reachable from `root`.

    `on_checked` sees each object's outcome, in walk order, as it is known
    (for streaming JSON or a progress bar).
    """
    walk_state = Walk()
    results = DeepCheckResults(storage_index(root) or b"", repair)
    limit = asyncio.Semaphore(at_once)

    async def one(reached: Reached) -> Checked:
        cap = reached.cap
        if cap is None or storage_index(cap) is None:
            return Checked(reached, None)
        async with limit:
            if repair:
                outcome: Outcome = await client.check_and_repair(cap, verify, add_lease)  # type: ignore[arg-type]
            else:
                outcome = await client.check(cap, verify, add_lease)  # type: ignore[arg-type]
        return Checked(reached, outcome)

    async def report(checked: Checked) -> None:
        results.add(checked.reached.path, checked.outcome)
        results.stats.add(checked.reached)
        if on_checked is not None:
            maybe = on_checked(checked)
            if maybe is not None:
                await maybe

    pending: asyncio.Queue[asyncio.Task[Checked] | None] = asyncio.Queue(at_once * 2)

    async def drain() -> None:
        while (task := await pending.get()) is not None:
            await report(await task)

    async with asyncio.TaskGroup() as tg:
        reporter = tg.create_task(drain())
        async for reached in walk(client, root, walk_state):
            await pending.put(tg.create_task(one(reached)))
        await pending.put(None)
        await reporter
    results.walk_errors = walk_state.errors
    return results
