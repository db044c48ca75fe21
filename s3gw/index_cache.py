"""The bucket index's node cache: decoded nodes with an age limit, and single-flight loads.

GET must not touch the grid for every request, so decoded nodes are kept
for a time-to-live (leaves: other processes' writes show within it;
interior nodes may live longer, since right links repair stale routing).
Concurrent readers of one node share one load. A node stored by this
process (its own write) wins over a load that started before it, so a
process always sees its own writes. Bounded by a node count and by bytes
(LRU), so one cache can serve every bucket of a gateway.
A node this process packed (or parsed for a change) keeps its body, so the
next change of it, which starts from that same body, need not parse it again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from .index_node import IndexNode

# fetch(cached version or None) -> (node, version), or None when the cached version is current
Fetch = Callable[[Any], Awaitable[tuple[IndexNode, Any] | None]]


@dataclass
class _Slot:
    node: IndexNode
    version: Any  # the grid version it was read at (None: unknown, e.g. our own publish)
    at: float
    generation: int
    body: bytes | None  # the body the node was packed from or parsed from, if kept

    @property
    def cost(self) -> int:
        """Bytes held, roughly: the entries (packed size) and the kept body."""
        return self.node.size + (len(self.body) if self.body is not None else 0)


class NodeCache:
    def __init__(
        self,
        ttl: float = 1.0,
        interior_ttl: float = 30.0,
        max_nodes: int = 512,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int | None = None,
    ) -> None:
        self.ttl = ttl
        self.interior_ttl = interior_ttl
        self.max_nodes = max_nodes
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0  # sum of the slots' costs
        self._slots: OrderedDict[Hashable, _Slot] = OrderedDict()
        self._loading: dict[Hashable, asyncio.Future[IndexNode]] = {}
        self._generation = 0
        self.loads = 0  # grid reads started (for tests and benchmarks)

    def fresh(self, key: Hashable) -> IndexNode | None:
        """The cached node if it is younger than its time-to-live."""
        slot = self._slots.get(key)
        if slot is None:
            return None
        limit = self.ttl if slot.node.short_lived else self.interior_ttl
        if self.clock() - slot.at >= limit:
            return None
        self._slots.move_to_end(key)
        return slot.node

    def parsed(self, key: Hashable, body: bytes) -> IndexNode | None:
        """The cached node if it was kept with exactly `body` (whatever its age)."""
        slot = self._slots.get(key)
        return slot.node if slot is not None and slot.body == body else None

    def kept(self, key: Hashable) -> tuple[IndexNode, bytes] | None:
        """The cached node and the body it was kept with, if any (whatever its age)."""
        slot = self._slots.get(key)
        return None if slot is None or slot.body is None else (slot.node, slot.body)

    def store(
        self, key: Hashable, node: IndexNode, version: Any = None, body: bytes | None = None
    ) -> None:
        self._generation += 1
        old = self._slots.get(key)
        if old is not None:
            self.bytes -= old.cost
        slot = self._slots[key] = _Slot(node, version, self.clock(), self._generation, body)
        self.bytes += slot.cost
        self._slots.move_to_end(key)
        while len(self._slots) > 1 and (
            len(self._slots) > self.max_nodes
            or (self.max_bytes is not None and self.bytes > self.max_bytes)
        ):
            self.bytes -= self._slots.popitem(last=False)[1].cost

    async def load(self, key: Hashable, fetch: Fetch) -> IndexNode:
        """Re-read a node from the grid (one read shared by concurrent callers)."""
        future = self._loading.get(key)
        if future is None:
            future = asyncio.ensure_future(self._load(key, fetch))
            self._loading[key] = future
            future.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(future)

    async def _load(self, key: Hashable, fetch: Fetch) -> IndexNode:
        self.loads += 1
        before = self._slots.get(key)
        generation = self._generation
        result = await fetch(before.version if before is not None else None)
        now = self._slots.get(key)
        if now is not None and now.generation > generation:
            return now.node  # stored (written by us) while we read: newer than what we read
        if result is None:
            assert before is not None
            self.store(key, before.node, before.version, before.body)
            return before.node
        node, version = result
        self.store(key, node, version)
        return node
