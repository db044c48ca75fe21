"""`BucketIndex`: a bucket's keys -> object entries, as a B-link tree of Tahoe directories.

ARCHITECTURE.md "Mapping S3 onto the grid". Every node records its key range
[low, high) and a right-sibling link (Lehman and Yao's B-link tree), so a
reader or writer that reaches a node whose range ends before its key simply
moves right: routing through stale (cached) interior nodes stays correct.

Writers never trust the cache: each change is a `modify` (read, test-and-set
publish, retry on collision) of one leaf that re-checks the leaf's range on
the fresh contents; changes that no longer belong there are re-routed. So
gateways in different processes sharing the root cap need no lock. Within
one process, changes queued for the same leaf are applied by one publish.

A split keeps the tree reachable at every step: the new right sibling is
created first, then the old node shrinks and links to it (only if it did not
change meanwhile), then the separator goes into the parent. The root's cap
never changes: a root split moves its contents into two new children.
Deletes only remove entries (no merging). A PUT rewrites one leaf (plus a
new sibling and the parent on a split), whatever the bucket's size.

A cached node older than its time-to-live is checked before use. The cheap
check reads the version's checkstring from two of the servers it was read
from (`still_held`): a writer's publish rewrites every share it reaches.
Only a publish that missed both (servers down while it ran) goes unseen, and
only until the next full servermap check, at most `FULL_CHECK_SECONDS` later.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lafs_core.client import Client
from lafs_core.dirnode import DirectoryCap
from lafs_core.errors import NotEnoughSharesError
from lafs_core.grid import Server
from lafs_core.mutable import (
    Mode,
    MutableFileNode,
    MutableWriteCap,
    UncoordinatedWriteError,
    retrieve,
)
from lafs_core.mutable.caps import Format
from lafs_core.mutable.formats import Prefix
from lafs_core.mutable.retrieve import still_held

from .index_cache import NodeCache
from .index_node import (
    IndexEntry,
    IndexNode,
    IndexPage,
    index_entry,
    leaf_entry,
    new_root,
    pack_node,
    parse_node,
)
from .listing import paginate

Check = Callable[[IndexEntry | None], None]
MAX_REROUTES = 64
# A PUT rewrites its whole leaf: 250 entries of gateway metadata are ~45 KiB. A PUT into a
# bucket of 20,000 keys then costs 1.3x the CPU of one into an empty bucket (1.7x, and 3x the
# bytes sent, with 1,000-entry leaves), at the price of one RSA key per ~125 keys added.
MAX_LEAF_ENTRIES = 250
MAX_READ_ATTEMPTS = 6
VERSION_READ = 4000  # bytes of each share a version check reads (enough for SDMF and MDMF)
QUICK_HOLDERS = 2  # servers a cheap version check asks
FULL_CHECK_SECONDS = 10.0  # a full servermap check at least this often per cached node


@dataclass
class _Seen:
    """A version of a node this process read and verified, where it lives, and when the
    grid was last asked with a servermap update (not just `still_held`)."""

    version: Prefix
    holders: list[tuple[Server, int]]  # one share per server
    asked_at: float


class _Moved:
    """An op's outcome when its key no longer belongs to the leaf it was queued for."""


MOVED = _Moved()


@dataclass(eq=False)
class _Op:
    key: str
    new: Any  # a packed leaf Entry, or None to delete
    check: Check | None
    future: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


@dataclass
class _LeafQueue:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: list[_Op] = field(default_factory=list)
    users: int = 0


async def _short_backoff(attempt: int, error: UncoordinatedWriteError) -> None:
    """Collisions between gateways are short-lived: retry soon, with jitter, many times."""
    if attempt >= 40:
        raise error
    await asyncio.sleep(random.uniform(0, 0.01 * min(attempt, 20)))


class BucketIndex:
    """The interface the S3 handlers use; `cap` (the root's write cap) names the index."""

    def __init__(
        self,
        client: Client,
        cap: DirectoryCap,
        *,
        max_entries: int = MAX_LEAF_ENTRIES,
        max_bytes: int = 64 * 1024,
        ttl: float = 1.0,
        interior_ttl: float = 30.0,
        max_cached_nodes: int = 512,
        format: Format = "sdmf",
        cache: NodeCache | None = None,
    ) -> None:
        """Open an existing index. Leaves split past `max_entries` entries or `max_bytes`
        bytes; other processes' writes show within `ttl` seconds (0: always re-read).
        `cache` (shared by the indexes of many buckets) replaces the own cache those
        settings would make."""
        if not isinstance(cap.inner, MutableWriteCap):
            raise ValueError("a bucket index is opened with its root's write cap")
        self.client = client
        self.cap = cap
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.format = format
        self._cache = cache or NodeCache(ttl, interior_ttl, max_cached_nodes)
        # Each node's file remembers what it last published (for the next modify): as many
        # as nodes cached, least recently used dropped first, so memory stays bounded.
        self._files: OrderedDict[DirectoryCap, MutableFileNode] = OrderedDict()
        self._max_files = max_cached_nodes
        self._queues: dict[DirectoryCap, _LeafQueue] = {}
        self.publishes = 0  # leaf publishes by this object (merged changes count once)

    @classmethod
    async def create(cls, client: Client, **options: Any) -> BucketIndex:
        """A new, empty index on the grid."""
        fmt = options.get("format", "sdmf")
        node = await client.create_mutable(pack_node(IndexNode(0), None), fmt)
        return cls(client, DirectoryCap(node.cap), **options)

    # -- nodes ------------------------------------------------------------------

    def _file(self, cap: DirectoryCap) -> MutableFileNode:
        f = self._files.get(cap)
        if f is None:
            inner = cap.inner
            assert isinstance(inner, MutableWriteCap)
            enc = self.client.config.encoding
            f = MutableFileNode(
                self.client.broker, inner, self.client.config.lease_secret,
                enc.k, enc.n, self.client.pool, backoff=_short_backoff,
            )  # fmt: skip
        self._keep(cap, f)
        return f

    def _keep(self, cap: DirectoryCap, f: MutableFileNode) -> None:
        self._files[cap] = f
        self._files.move_to_end(cap)
        while len(self._files) > self._max_files:
            self._files.popitem(last=False)

    async def _read(
        self, cap: DirectoryCap, known: _Seen | None = None
    ) -> tuple[bytes | None, _Seen]:
        """A node's body and version; body None if the grid's best version is `known`.

        A writer replacing shares while we read is retried (with a wider search)."""
        f = self._file(cap)
        now = time.monotonic()
        if known is not None and now - known.asked_at < FULL_CHECK_SECONDS:
            picks = random.sample(known.holders, min(QUICK_HOLDERS, len(known.holders)))
            if await still_held(picks, f.storage_index, known.version):
                return None, known
        for attempt in range(MAX_READ_ATTEMPTS):
            try:
                mode = Mode.READ if attempt == 0 else Mode.WRITE
                # checking a cached version needs only share headers, not whole shares
                smap = await f.get_servermap(mode, read_size=VERSION_READ if known else None)
                best = smap.best_recoverable()
                if best is not None and known is not None and best == known.version:
                    known.asked_at = now
                    return None, known
                body, version, _ = await retrieve(smap, f.cap, best, pool=self.client.pool)
                holders: dict[Server, int] = {}
                for server, shnum in smap.holders(version):
                    holders.setdefault(server, shnum)
                return body, _Seen(version, list(holders.items()), now)
            except (NotEnoughSharesError, UncoordinatedWriteError):
                if attempt + 1 == MAX_READ_ATTEMPTS:
                    raise
                await asyncio.sleep(random.uniform(0, 0.01 * attempt))
        raise AssertionError("unreachable")

    def _parse(self, cap: DirectoryCap, body: bytes) -> IndexNode:
        """Decode a node body; the body this process last packed or parsed for a change is
        not parsed again (a leaf near its size limit takes milliseconds to parse)."""
        node = self._cache.parsed(cap, body)
        return parse_node(body, _writekey(cap)) if node is None else node

    async def _fetch(
        self, cap: DirectoryCap, known: _Seen | None
    ) -> tuple[IndexNode, _Seen] | None:
        body, version = await self._read(cap, known)
        return None if body is None else (self._parse(cap, body), version)

    async def _node(self, cap: DirectoryCap, fresh: bool = False) -> IndexNode:
        key = cap
        node = None if fresh else self._cache.fresh(key)
        if node is None:
            node = await self._cache.load(key, lambda known: self._fetch(cap, known))
        return node

    async def _descend(self, key: str, level: int = 0) -> tuple[DirectoryCap, IndexNode]:
        """The node at `level` whose range holds `key` (following right links)."""
        cap = self.cap
        node = await self._node(cap)
        restarts = 0
        while True:
            if node.past_high(key):
                assert node.right is not None
                cap = node.right
            elif node.level > level:
                cap = node.child_for(key)
            elif node.level == level and node.low <= key:
                return cap, node
            else:  # routed by stale nodes: start again from a fresh root
                restarts += 1
                if restarts > 3:
                    raise RuntimeError(f"bucket index has no level-{level} node for {key!r}")
                cap, node = self.cap, await self._node(self.cap, fresh=True)
                continue
            node = await self._node(cap)

    def _too_big(self, node: IndexNode) -> bool:
        return node.count > 1 and (node.count > self.max_entries or node.size > self.max_bytes)

    # -- reads ------------------------------------------------------------------

    async def get(self, key: str) -> IndexEntry | None:
        _, leaf = await self._descend(key)
        entry = leaf.entries.get(key)
        return None if entry is None else index_entry(entry)

    async def _leaves(self, start: str = "") -> AsyncIterator[IndexNode]:
        _, leaf = await self._descend(start)
        yield leaf
        while leaf.right is not None:
            leaf = await self._node(leaf.right)
            yield leaf

    async def entries(self) -> AsyncIterator[tuple[str, IndexEntry]]:
        """Every entry in key order."""
        async for leaf in self._leaves():
            for item in leaf.items_from(""):
                yield item

    async def is_empty(self) -> bool:
        async for leaf in self._leaves():
            if leaf.keys:
                return False
        return True

    async def node_caps(self) -> list[DirectoryCap]:
        """Every directory of the tree (root first), for lease renewal and checks."""
        found = [self.cap]
        seen = {self.cap}
        todo = [self.cap]
        while todo:
            node = await self._node(todo.pop())
            links = [link.cap for _, link in node.children] + ([node.right] if node.right else [])
            for cap in links:
                if cap not in seen:
                    seen.add(cap)
                    found.append(cap)
                    todo.append(cap)
        return found

    async def list(
        self, prefix: str = "", delimiter: str = "", start_after: str = "", limit: int = 1000
    ) -> IndexPage:
        """One ListObjects page (s3gw.listing rules), walking leaves left to right."""
        entries: list[tuple[str, IndexEntry]] = []
        prefixes: list[str] = []
        if limit <= 0:
            return IndexPage(entries, prefixes, False, None)
        after, remaining, truncated, skip = start_after, limit, False, ""
        seek = max(prefix, start_after)
        _, leaf = await self._descend(seek)
        while True:
            page = paginate(
                leaf.items_from(seek), prefix=prefix, delimiter=delimiter or None,
                start_after=after, max_keys=max(remaining, 1),
            )  # fmt: skip
            if remaining == 0:  # full: is there anything more, here or in a later leaf?
                if page.contents or page.common_prefixes:
                    truncated = True
                    break
            else:
                entries += page.contents
                prefixes += page.common_prefixes
                remaining -= len(page.contents) + len(page.common_prefixes)
                if page.last is not None:
                    rolled_up = bool(page.common_prefixes) and page.last == page.common_prefixes[-1]
                    after, skip = page.last, _past_prefix(page.last) if rolled_up else ""
                if page.is_truncated:
                    truncated = True
                    break
            high = leaf.high
            if high is None or (high > prefix and not high.startswith(prefix)):
                break  # every later key is past the prefix
            if skip > high:  # the rest of this common prefix: jump over it
                seek = skip
                _, leaf = await self._descend(seek)
            else:
                assert leaf.right is not None
                seek = high
                leaf = await self._node(leaf.right)
        return IndexPage(entries, prefixes, truncated, after if truncated else None)

    # -- writes -----------------------------------------------------------------

    async def put(
        self, key: str, entry: IndexEntry, check: Check | None = None
    ) -> IndexEntry | None:
        """Store `entry` under `key`; returns the previous entry. `check(current)` runs on
        the freshly read current entry inside the read-modify-write and may raise to refuse
        this change (the exception reaches this caller)."""
        return await self._change(key, leaf_entry(key, entry.cap, entry.info), check)

    async def delete(self, key: str, check: Check | None = None) -> IndexEntry | None:
        """Remove `key`; returns the removed entry, None if it was absent."""
        return await self._change(key, None, check)

    async def _change(self, key: str, new: Any, check: Check | None) -> IndexEntry | None:
        for _ in range(MAX_REROUTES):
            cap = await self._route(key)
            op = _Op(key, new, check)
            outcome = await self._submit(cap, op)
            if outcome is not MOVED:
                return outcome  # type: ignore[no-any-return]
        raise RuntimeError(f"bucket index: no leaf would take {key!r}")

    async def _route(self, key: str) -> DirectoryCap:
        """The leaf for a change of `key`. An uncached leaf is not read first: the change's
        modify reads it anyway, and re-routes the change if the leaf no longer covers it."""
        if (await self._node(self.cap)).is_leaf:
            return self.cap
        _, parent = await self._descend(key, 1)
        cap = parent.child_for(key)
        leaf = self._cache.fresh(cap)
        while leaf is not None and leaf.past_high(key):
            assert leaf.right is not None
            cap = leaf.right
            leaf = self._cache.fresh(cap)
        return cap

    async def _submit(self, cap: DirectoryCap, op: _Op) -> Any:
        """Queue `op` for its leaf; the first waiter applies everything queued in one publish."""
        name = cap
        queue = self._queues.setdefault(name, _LeafQueue())
        queue.pending.append(op)
        queue.users += 1
        try:
            async with queue.lock:
                if not op.future.done():
                    batch, queue.pending = queue.pending, []
                    await self._apply(cap, batch)
        finally:
            queue.users -= 1
            if queue.users == 0:
                self._queues.pop(name, None)
        if op.future.cancelled():
            return MOVED
        return op.future.result()

    async def _apply(self, cap: DirectoryCap, batch: Sequence[_Op]) -> None:
        writekey = _writekey(cap)
        state: dict[str, Any] = {}

        def modifier(old: bytes, first_time: bool) -> bytes | None:
            node = self._parse(cap, old)
            outcomes: dict[_Op, Any] = {}
            changes: dict[str, Any] = {}
            for op in batch:
                if not node.is_leaf or not node.covers(op.key):
                    outcomes[op] = MOVED
                    continue
                current = changes[op.key] if op.key in changes else node.entries.get(op.key)
                previous = None if current is None else index_entry(current)
                if op.check is not None:
                    try:
                        op.check(previous)
                    except Exception as exc:  # the caller's refusal, handed back to it
                        outcomes[op] = exc
                        continue
                outcomes[op] = previous
                if current is not None or op.new is not None:
                    changes[op.key] = op.new
            state["outcomes"], state["node"], state["published"] = outcomes, node, 0
            state["body"] = old
            if not changes:
                return None
            state["published"] = 1
            state["node"] = node.with_changes(changes)
            body = state["body"] = pack_node(state["node"], writekey)
            return body

        try:
            await self._file(cap).modify(modifier)
        except Exception as exc:  # e.g. the grid is unreachable: every caller gets it
            for op in batch:
                op.future.set_exception(exc)
            return
        except BaseException:
            for op in batch:
                op.future.cancel()  # interrupted: each op's caller routes it again
            raise
        node: IndexNode = state["node"]
        self.publishes += state["published"]
        self._cache.store(cap, node, body=state["body"])
        for op, outcome in state["outcomes"].items():
            if isinstance(outcome, Exception):
                op.future.set_exception(outcome)
            else:
                op.future.set_result(outcome)
        if node.is_leaf and self._too_big(node):
            await self._split(cap)

    async def _split(self, cap: DirectoryCap) -> None:
        """Split a node until it fits: new right sibling, shrink (if unchanged), link parent."""
        rcap: DirectoryCap | None = None
        while True:
            body, _version = await self._read(cap)
            assert body is not None
            node = self._parse(cap, body)
            self._cache.store(cap, node, body=body)
            if not self._too_big(node):
                return
            left, right = node.split()
            if cap == self.cap:
                if await self._split_root(body, node, left, right):
                    return
                continue
            if rcap is None:
                rcap = await self._create_node(right)
            else:  # unreachable until linked, so it can be rewritten freely
                await self._file(rcap).overwrite(pack_node(right, _writekey(rcap)))
            left = replace(left, right=rcap)
            if await self._replace_if_unchanged(cap, body, left):
                self._cache.store(rcap, right)
                await self._link(node.level + 1, right.low, rcap)
                for half, half_cap in ((left, cap), (right, rcap)):
                    if self._too_big(half):
                        await self._split(half_cap)
                return

    async def _create_node(self, node: IndexNode) -> DirectoryCap:
        """A new directory holding `node` (its links encrypted under its own writekey)."""
        keys = await self.client.key_pool.get()
        cap = DirectoryCap(MutableWriteCap.from_keypair(keys, self.format))
        enc = self.client.config.encoding
        self._keep(cap, await MutableFileNode.create(
            self.client.broker, keys, pack_node(node, _writekey(cap)),
            self.client.config.lease_secret, enc.k, enc.n, self.client.pool, _short_backoff,
            self.format,
        ))  # fmt: skip
        return cap

    async def _rewrite(
        self, cap: DirectoryCap, change: Callable[[bytes, IndexNode], IndexNode | None]
    ) -> tuple[IndexNode, bool]:
        """Read-modify-write one node: `change(old body, old node)` gives the new node, or
        None to leave it. Returns the node as it now stands and whether it was published."""
        writekey = _writekey(cap)
        result: dict[str, Any] = {}

        def modifier(old: bytes, first_time: bool) -> bytes | None:
            node = self._parse(cap, old)
            new = change(old, node)
            result["node"], result["published"] = (node, False) if new is None else (new, True)
            if new is None:
                result["body"] = old
                return None
            body = result["body"] = pack_node(new, writekey)
            return body

        await self._file(cap).modify(modifier)
        self._cache.store(cap, result["node"], body=result["body"])
        return result["node"], result["published"]

    async def _replace_if_unchanged(self, cap: DirectoryCap, body: bytes, new: IndexNode) -> bool:
        """Publish `new` over a node only if it still holds `body` (test-and-set)."""
        _, done = await self._rewrite(cap, lambda old, _node: new if old == body else None)
        return done

    async def _split_root(
        self, body: bytes, node: IndexNode, left: IndexNode, right: IndexNode
    ) -> bool:
        rcap = await self._create_node(right)
        left = replace(left, right=rcap)
        lcap = await self._create_node(left)
        root = new_root(node.level + 1, lcap, right.low, rcap)
        if not await self._replace_if_unchanged(self.cap, body, root):
            return False
        for half, half_cap in ((left, lcap), (right, rcap)):
            self._cache.store(half_cap, half)
            if self._too_big(half):
                await self._split(half_cap)
        return True

    async def _link(self, level: int, low: str, child: DirectoryCap) -> None:
        """Add a separator (a new node's low key) to the level-`level` node that covers it."""

        def add(_old: bytes, node: IndexNode) -> IndexNode | None:
            return node.with_child(low, child) if node.level == level and node.covers(low) else None

        for _ in range(MAX_REROUTES):
            cap, _node = await self._descend(low, level)
            node, linked = await self._rewrite(cap, add)
            if linked or (node.level == level and node.covers(low)):
                if self._too_big(node):
                    await self._split(cap)
                return
        raise RuntimeError(f"bucket index: no level-{level} node would take {low!r}")


def _writekey(cap: DirectoryCap) -> bytes:
    """Each node's body encrypts the write caps it links to under its own writekey."""
    assert isinstance(cap.inner, MutableWriteCap)
    return cap.inner.writekey


def _past_prefix(prefix: str) -> str:
    """The least string above every string starting with `prefix` ("" if there is none)."""
    while prefix and prefix[-1] == "\U0010ffff":
        prefix = prefix[:-1]
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else ""


__all__ = ["BucketIndex", "IndexEntry", "IndexPage"]
