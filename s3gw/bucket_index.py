"""`BucketIndex`: a bucket's keys -> object entries, as a B-link tree of Tahoe directories.

ARCHITECTURE.md "Mapping S3 onto the grid". Every node records its key range
[low, high) and a right-sibling link (Lehman and Yao's B-link tree), so a
reader or writer that reaches a node whose range ends before its key simply
moves right: routing through stale (cached) interior nodes stays correct.

Changes go first to the bucket's journal: one more node, linked from the
root, that maps each changed key to its new entry (or to nothing: deleted)
and to a sequence number. Every change in flight in this process, whatever
its key, goes out in one journal publish (group commit), and is answered
after it. Readers merge the journal over the leaves. The journal's changes
are folded into their leaves in the background (one publish per leaf for
all of its changes), then dropped from the journal. Each leaf records the
journal's last sequence number it has folded, so a stale fold (a retry, or
another process's) changes nothing; a change checked against the current
entry (`check`) reads the journal, then the leaf, and publishes only if the
journal did not change in between.

Every write is a `modify` (read, test-and-set publish, retry on collision)
that re-checks what it relies on in the fresh contents (a leaf re-checks its
range; changes that no longer belong there are re-routed), so gateways in
different processes sharing the root cap need no lock.

A split keeps the tree reachable at every step: the new right sibling is
created first, then the old node shrinks and links to it (only if it did not
change meanwhile), then the separator goes into the parent. The root's cap
never changes: a root split moves its contents into two new children.
Deletes only remove entries (no merging). A fold rewrites one leaf per leaf
it changes (plus a new sibling and the parent on a split), whatever the
bucket's size; a journal holds at most `JOURNAL_MAX_BYTES`.

A cached node older than its time-to-live is checked before use. The cheap
check reads the version's checkstring from two of the servers it was read
from (`still_held`): a writer's publish rewrites every share it reaches.
Only a publish that missed both (servers down while it ran) goes unseen, and
only until the next full servermap check, at most `FULL_CHECK_SECONDS` later.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import logging
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lafs_core.client import Client
from lafs_core.dirnode import DirectoryCap, Entry
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
    end_of_added_run,
    index_entry,
    leaf_entry,
    new_root,
    pack_node,
    parse_node,
)
from .listing import paginate

log = logging.getLogger("s3gw")
Check = Callable[[IndexEntry | None], None]
MAX_REROUTES = 64
MAX_HOPS = 64  # nodes one descent visits before it starts again from a fresh root
# A change rewrites its whole leaf (now: the fold that applies it): 250 entries of gateway
# metadata are ~45 KiB. Measured before the journal, a PUT into a bucket of 20,000 keys cost
# 1.3x the CPU of one into an empty bucket (1.7x, and 3x the bytes sent, with 1,000-entry
# leaves), at the price of one RSA key per ~125 keys added.
MAX_LEAF_ENTRIES = 250
MAX_READ_ATTEMPTS = 6
# The journal is folded into the leaves past this many changes or bytes, or once changes pause
# this long; changes wait for a fold while it is over JOURNAL_MAX_BYTES.
FOLD_ENTRIES = 1024
FOLD_BYTES = 1 << 20
FOLD_IDLE_SECONDS = 2.0
FOLD_POLL_SECONDS = 0.05
JOURNAL_MAX_BYTES = 4 << 20
# A journal publish waits up to GATHER_SECONDS for as many changes as were in flight at once
# in the last GATHER_WINDOW (writers between two requests): 4 KiB PUTs from 16 client
# threads shared a publish ~8 at a time without, ~16 with (+13% PUTs/s); a lone writer
# never waits. Longer waits (20 ms) left the cores idle.
GATHER_SECONDS = 0.01
GATHER_WINDOW = 0.1
APPEND_SPLIT = 0.9  # the left part's share of a leaf split after keys were appended to it
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


@dataclass
class _Dropped:
    """A change this process saw leave the journal (folded by someone): until `until`, a
    cached leaf older than the fold (its mark below `seq`) may not show it yet."""

    seq: int
    entry: Entry | None
    until: float

    def unseen_in(self, leaf: IndexNode, now: float) -> bool:
        """True if `leaf` (a cached copy) may not show this change yet."""
        return self.seq > leaf.seq and self.until > now


class _Retry:
    """An op's outcome when the publish it waited for was interrupted: submit it again."""


RETRY = _Retry()


class _JournalMoved(Exception):
    """The journal changed after a checked change read it and the leaves: read again."""


_UNCHECKED = object()  # _Op.checked before its check first ran


@dataclass(eq=False)
class _Op:
    key: str
    new: Entry | None  # a packed leaf entry, or None to delete
    check: Check | None = None
    trims: dict[str, int] | None = None  # a fold's: key -> the change's seq it applied
    checked: Any = _UNCHECKED  # the entry `check` was last given
    future: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _same(a: Entry | None, b: Entry | None) -> bool:
    return a is b or (a is not None and b is not None and a.raw == b.raw)


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
        self._lock = asyncio.Lock()  # one journal publish at a time; changes queue meanwhile
        self._pending: list[_Op] = []
        self._in_flight = 0  # changes submitted and not yet answered
        self._peaks: collections.deque[tuple[float, int]] = collections.deque()  # (when, in flight)
        self._arrived = asyncio.Event()  # set when a change joins the queue
        self._linking = asyncio.Lock()
        self._folder: asyncio.Task[None] | None = None
        self._folded = asyncio.Event()  # set (and replaced) when a fold ends
        self._changed_at = 0.0
        self._seen_journal: IndexNode | None = None
        self._dropped: dict[str, _Dropped] = {}
        self._journal_keys: tuple[IndexNode | None, list[str]] = (None, [])  # `_sorted_keys`
        self.publishes = 0  # journal publishes by this object (merged changes count once)
        self.folds = 0  # leaf publishes by this object's folds
        self.gathered = 0  # journal publishes that waited for more changes (`_gather`)

    @classmethod
    async def create(cls, client: Client, **options: Any) -> BucketIndex:
        """A new, empty index (and its journal) on the grid."""
        fmt = options.get("format", "sdmf")
        node = await client.create_mutable(pack_node(IndexNode(0), None), fmt)
        index = cls(client, DirectoryCap(node.cap), **options)
        await index._journal_for_write()
        return index

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
        restarts = hops = 0
        while True:
            if node.level == level and node.low <= key and not node.past_high(key):
                return cap, node
            hops += 1
            if hops <= MAX_HOPS and node.past_high(key):
                assert node.right is not None
                cap = node.right
            elif hops <= MAX_HOPS and node.level > level:
                cap = node.child_for(key)
            else:
                # Routed by stale cached nodes (below the level, or round in a circle, which
                # would never yield to the loop): again from a fresh root, reading fresh.
                restarts += 1
                if restarts > 3:
                    raise RuntimeError(f"bucket index has no level-{level} node for {key!r}")
                cap, node, hops = self.cap, await self._node(self.cap, fresh=True), 0
                continue
            node = await self._node(cap, fresh=restarts > 0)

    def _too_big(self, node: IndexNode) -> bool:
        return node.count > 1 and (node.count > self.max_entries or node.size > self.max_bytes)

    # -- reads ------------------------------------------------------------------

    async def _journal(self) -> IndexNode | None:
        """The journal as cached, noting the changes that left it since last seen."""
        cap = (await self._node(self.cap)).journal
        if cap is None:
            return None
        journal = await self._node(cap)
        self._note(journal)
        return journal

    def _note(self, journal: IndexNode) -> None:
        """Remember the changes that left the journal since this process last saw it."""
        seen = self._seen_journal
        if journal is seen:
            return
        now = time.monotonic()
        if self._dropped:
            self._dropped = {k: d for k, d in self._dropped.items() if d.until > now}
        if seen is not None:
            until = now + self._cache.ttl
            for key, seq in seen.seqs.items():
                if key not in journal.seqs:
                    self._dropped[key] = _Dropped(seq, seen.entries.get(key), until)
        self._seen_journal = journal

    def _sorted_keys(self, journal: IndexNode) -> list[str]:
        """The keys `journal` changes, in order (kept for the journal last asked about)."""
        if self._journal_keys[0] is not journal:
            self._journal_keys = (journal, sorted(journal.seqs))
        return self._journal_keys[1]

    def _merged(self, leaf: IndexNode, journal: IndexNode | None) -> IndexNode:
        """A leaf as it stands: with the journal's changes in its range, and those folded
        into it since this cached copy was read."""
        changes: dict[str, Entry | None] = {}
        if self._dropped:
            now = time.monotonic()
            for key, dropped in self._dropped.items():
                if dropped.unseen_in(leaf, now) and leaf.covers(key):
                    changes[key] = dropped.entry
        if journal is not None and journal.seqs:
            keys = self._sorted_keys(journal)
            end = len(keys) if leaf.high is None else bisect.bisect_left(keys, leaf.high)
            for key in keys[bisect.bisect_left(keys, leaf.low) : end]:
                changes[key] = journal.entries.get(key)
        return leaf.with_changes(changes) if changes else leaf

    async def get(self, key: str) -> IndexEntry | None:
        journal = await self._journal()
        if journal is not None and key in journal.seqs:
            entry = journal.entries.get(key)
        else:
            _, leaf = await self._descend(key)
            dropped = self._dropped.get(key)
            if dropped is not None and dropped.unseen_in(leaf, time.monotonic()):
                entry = dropped.entry
            else:
                entry = leaf.entries.get(key)
        return None if entry is None else index_entry(entry)

    async def _leaves(self, start: str = "") -> AsyncIterator[IndexNode]:
        """The leaves from the one holding `start` on, merged with the journal."""
        journal = await self._journal()
        _, leaf = await self._descend(start)
        yield self._merged(leaf, journal)
        while leaf.right is not None:
            leaf = await self._node(leaf.right)
            yield self._merged(leaf, journal)

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
        """Every directory of the tree (root first) and the journal, for leases and checks."""
        found = [self.cap]
        seen = {self.cap}
        todo = [self.cap]
        while todo:
            node = await self._node(todo.pop())
            links = [link.cap for _, link in node.children] + ([node.right] if node.right else [])
            links += [node.journal] if node.journal else []
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
        journal = await self._journal()
        _, leaf = await self._descend(seek)
        while True:
            view = self._merged(leaf, journal)
            page = paginate(
                view.items_from(seek), prefix=prefix, delimiter=delimiter or None,
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

    async def put(self, key: str, entry: IndexEntry, check: Check | None = None) -> None:
        """Store `entry` under `key`. `check(current)` runs on the current entry inside the
        journal's read-modify-write and may raise to refuse this change (the exception
        reaches this caller)."""
        await self._change(key, leaf_entry(key, entry.cap, entry.info), check)

    async def delete(self, key: str, check: Check | None = None) -> None:
        """Remove `key` (absent or not)."""
        await self._change(key, None, check)

    async def _change(self, key: str, new: Entry | None, check: Check | None) -> None:
        cap = await self._journal_for_write()
        for _ in range(MAX_REROUTES):
            await self._room(cap)
            if await self._submit(cap, _Op(key, new, check)) is not RETRY:
                return
        raise RuntimeError(f"bucket index: the change of {key!r} was interrupted too often")

    async def _journal_for_write(self) -> DirectoryCap:
        """The journal's cap; an index made before journals gets one linked from its root."""
        cap = (await self._node(self.cap)).journal
        if cap is not None:
            return cap
        async with self._linking:
            root = await self._node(self.cap, fresh=True)
            if root.journal is None:
                journal = await self._create_node(IndexNode(0))

                def link(_old: bytes, node: IndexNode) -> IndexNode | None:
                    return None if node.journal else replace(node, journal=journal)

                root, _ = await self._rewrite(self.cap, link)
            assert root.journal is not None
            return root.journal

    async def _room(self, cap: DirectoryCap) -> None:
        """Changes wait while the journal is over its limit and a fold is under way."""
        while True:
            journal = self._cache.fresh(cap)
            folding = self._folder is not None and not self._folder.done()
            if journal is None or journal.size <= JOURNAL_MAX_BYTES or not folding:
                return
            await self._folded.wait()

    async def _submit(self, cap: DirectoryCap, op: _Op) -> Any:
        """Queue `op`; the first waiter publishes everything queued in one journal change."""
        self._pending.append(op)
        self._arrived.set()
        self._in_flight += 1
        self._peaks.append((time.monotonic(), self._in_flight))
        try:
            async with self._lock:
                if not op.future.done():
                    await self._gather()
                    batch, self._pending = self._pending, []
                    await self._append(cap, batch)
        finally:
            self._in_flight -= 1
        if op.future.cancelled():
            return RETRY
        return op.future.result()

    async def _gather(self) -> None:
        """With other changes on their way (their writers are between two of them), wait a
        moment for them: the journal is sent whole with each publish, so a publish for more
        changes costs each of them less."""
        now = time.monotonic()
        while self._peaks and self._peaks[0][0] < now - GATHER_WINDOW:
            self._peaks.popleft()
        writers = max((n for _, n in self._peaks), default=0)
        if len(self._pending) >= writers:
            return
        self.gathered += 1
        deadline = now + GATHER_SECONDS
        while len(self._pending) < writers:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), left)
            except TimeoutError:
                return

    async def _append(self, cap: DirectoryCap, batch: Sequence[_Op]) -> None:
        checked = {op.key for op in batch if op.check is not None}
        try:
            for _ in range(MAX_REROUTES):
                base: bytes | None = None
                before: dict[str, Entry | None] = {}
                if checked:
                    # Journal first, then leaves: if the journal is still this body when
                    # we publish, no change of these keys was folded and dropped meanwhile.
                    base, _seen = await self._read(cap)
                    leaves = await asyncio.gather(*(self._fresh_leaf(k) for k in checked))
                    before = {k: leaf.entries.get(k) for k, leaf in zip(checked, leaves)}
                try:
                    outcomes = await self._publish_journal(cap, batch, base, before)
                    break
                except _JournalMoved:
                    continue
            else:
                raise RuntimeError("bucket index: the journal kept changing under a check")
        except Exception as exc:  # e.g. the grid is unreachable: every caller gets it
            for op in batch:
                op.future.set_exception(exc)
            return
        except BaseException:
            for op in batch:
                op.future.cancel()  # interrupted: each op's caller submits it again
            raise
        for op, outcome in outcomes.items():
            if isinstance(outcome, Exception):
                op.future.set_exception(outcome)
            else:
                op.future.set_result(None)
        self._changed_at = time.monotonic()
        if self._folder is None or self._folder.done():
            self._folder = asyncio.create_task(self._folding(cap))

    async def _publish_journal(
        self,
        cap: DirectoryCap,
        batch: Sequence[_Op],
        base: bytes | None,
        before: dict[str, Entry | None],
    ) -> dict[_Op, Exception | None]:
        """One read-modify-write of the journal: each change gets the next sequence number;
        a fold's trims drop the changes it applied (unless changed again since)."""
        outcomes: dict[_Op, Exception | None] = {}
        seen: list[IndexNode] = []

        def change(old: bytes, journal: IndexNode) -> IndexNode | None:
            if base is not None and old != base:
                raise _JournalMoved
            seen[:] = [journal]
            outcomes.clear()
            seq, seqs = journal.seq, dict(journal.seqs)
            changes: dict[str, Entry | None] = {}
            for op in batch:
                outcomes[op] = None
                if op.trims is not None:
                    for key, folded in op.trims.items():
                        if seqs.get(key) == folded:
                            del seqs[key]
                            changes[key] = None
                    continue
                if op.check is not None:
                    if op.key in seqs:
                        current = changes.get(op.key, journal.entries.get(op.key))
                    else:
                        current = before[op.key]
                    if op.checked is not _UNCHECKED and _same(current, op.new):
                        # this very change, published by an attempt that seemed to fail
                        current = op.checked
                    op.checked = current
                    try:
                        op.check(None if current is None else index_entry(current))
                    except Exception as exc:  # the caller's refusal, handed back to it
                        outcomes[op] = exc
                        continue
                seq += 1
                seqs[op.key] = seq
                changes[op.key] = op.new
            if seq == journal.seq and seqs == journal.seqs:
                return None
            return replace(journal.with_changes(changes), seq=seq, seqs=seqs)

        node, published = await self._rewrite(cap, change)
        self.publishes += published
        self._note(seen[0])  # what others dropped; not our own trims (our leaves show them)
        self._seen_journal = node
        return outcomes

    async def _fresh_leaf(self, key: str) -> IndexNode:
        """The leaf holding `key`, as the grid has it now (not as cached)."""
        for _ in range(MAX_REROUTES):
            cap, _leaf = await self._descend(key)
            leaf = await self._node(cap, fresh=True)
            while leaf.is_leaf and leaf.past_high(key):
                assert leaf.right is not None
                leaf = await self._node(leaf.right, fresh=True)
            if leaf.is_leaf and leaf.covers(key):
                return leaf
            await self._node(self.cap, fresh=True)  # the tree grew a level: route again
        raise RuntimeError(f"bucket index has no leaf for {key!r}")

    # -- folds ------------------------------------------------------------------

    async def _folding(self, cap: DirectoryCap) -> None:
        """Fold the journal when it is long, or once changes pause; until it is empty."""
        try:
            while True:
                # what this process last wrote or read (whatever its age: polling the grid
                # while waiting would cost requests, and an old snapshot folds safely)
                kept = self._cache.kept(cap)
                journal = kept[0] if kept is not None else await self._node(cap)
                if not journal.seqs:
                    return
                quiet = time.monotonic() - self._changed_at
                long = len(journal.seqs) >= FOLD_ENTRIES or journal.size >= FOLD_BYTES
                if long or quiet >= FOLD_IDLE_SECONDS:
                    await self._fold(cap, journal)
                else:
                    await asyncio.sleep(min(FOLD_POLL_SECONDS, FOLD_IDLE_SECONDS - quiet))
        except Exception as exc:  # the journal keeps the changes; the next change folds again
            log.warning("bucket index: folding the journal failed: %r", exc)
        finally:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        self._folded.set()
        self._folded = asyncio.Event()

    async def journal_length(self) -> int:
        """Changes not yet folded into the leaves (as cached)."""
        journal = await self._journal()
        return 0 if journal is None else len(journal.seqs)

    async def flush(self) -> None:
        """Fold the whole journal into the leaves now (tests and tools; never needed for
        correctness: readers merge the journal)."""
        cap = (await self._node(self.cap)).journal
        if cap is None:
            return
        journal = await self._node(cap, fresh=True)
        if journal.seqs:
            await self._fold(cap, journal)

    async def _fold(self, cap: DirectoryCap, journal: IndexNode) -> None:
        """Apply `journal`'s changes to their leaves, then drop them from the journal.

        Each leaf takes, in one publish, every change in its range and records the
        journal's last sequence number: a fold from an older journal that comes later
        (another process's, or a retry) finds that mark and changes nothing."""
        keys = self._sorted_keys(journal)
        todo = set(keys)
        for _ in range(MAX_REROUTES):
            if not todo:
                break
            targets: dict[DirectoryCap, None] = {}
            for key in keys:
                if key in todo:
                    targets[await self._route(key)] = None
            done = await asyncio.gather(*(self._fold_leaf(t, journal, keys) for t in targets))
            for covered in done:
                todo.difference_update(covered)
        else:
            raise RuntimeError("bucket index: the journal's changes found no leaves")
        await self._submit(cap, _Op("", None, trims=dict(journal.seqs)))
        self._wake_waiters()

    async def _route(self, key: str) -> DirectoryCap:
        """The leaf for a change of `key`. An uncached leaf is not read first: the fold's
        modify reads it anyway, and leaves the change to another leaf if it no longer
        covers it."""
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

    async def _fold_leaf(
        self, cap: DirectoryCap, journal: IndexNode, keys: Sequence[str]
    ) -> Sequence[str]:
        """Fold into one leaf the changes of `keys` in its range; returns the keys it covers."""
        covered: list[str] = []

        def change(_old: bytes, node: IndexNode) -> IndexNode | None:
            covered.clear()
            if not node.is_leaf:
                return None
            lo = bisect.bisect_left(keys, node.low)
            hi = len(keys) if node.high is None else bisect.bisect_left(keys, node.high)
            covered.extend(keys[lo:hi])
            if node.seq >= journal.seq:
                return None  # a later fold got here first
            updates = {k: journal.entries.get(k) for k in covered if journal.seqs[k] > node.seq}
            if not updates:
                return None
            new = replace(node.with_changes(updates), seq=journal.seq)
            run_end[0] = end_of_added_run(node, new)
            return new

        run_end: list[str | None] = [None]
        node, published = await self._rewrite(cap, change)
        self.folds += published
        if self._too_big(node):
            # Keys written in order (a sync, a backup's packs; each of several writers in a
            # range of its own) grow a leaf at the end of what they added: split it there,
            # or near its end when that is the leaf's, so that the leaf they grow stays small.
            await self._split(cap, APPEND_SPLIT if run_end[0] else 0.5, run_end[0])
        return covered

    async def _split(
        self, cap: DirectoryCap, left_share: float = 0.5, after: str | None = None
    ) -> None:
        """Split a node until it fits: new right sibling, shrink (if unchanged), link parent.
        A leaf splits right after key `after`, else by `left_share` of its bytes."""
        rcap: DirectoryCap | None = None
        kept = self._cache.kept(cap)  # first from what this process just wrote: no read
        while True:
            if kept is not None:
                node, body = kept
                kept = None
            else:
                fresh, _version = await self._read(cap)
                assert fresh is not None
                body, node = fresh, self._parse(cap, fresh)
                self._cache.store(cap, node, body=body)
            if not self._too_big(node):
                return
            left, right = node.split(left_share, after) if node.is_leaf else node.split()
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
        root = new_root(node.level + 1, lcap, right.low, rcap, node.journal)
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
