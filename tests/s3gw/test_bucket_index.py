"""The bucket index (B-link tree of directories) on 10 real storage nodes, against a dict model.

Small leaf limits make splits happen after a few entries, so every test runs
through several levels, right links and root splits.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.dirnode import DirectoryCap, unpack_children
from lafs_core.dirnode.format import normalize
from lafs_core.mutable import MutableFileNode, MutableWriteCap, UncoordinatedWriteError
from s3gw import bucket_index
from s3gw.bucket_index import BucketIndex, IndexEntry
from s3gw.index_cache import NodeCache
from s3gw.index_node import (
    HEADER,
    MARKER,
    IndexNode,
    decode_name,
    encode_key,
    end_of_added_run,
    leaf_entry,
    pack_node,
    parse_node,
)
from s3gw.listing import paginate
from storage_node.container import MUTABLE_HEADER_SIZE, parse_mutable_header

T = TypeVar("T")
LIT = "URI:LIT:mfqwc"
CHK = (
    "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56"
)
SMALL = {"max_entries": 3, "max_bytes": 100_000}
WRITEKEY = bytes(16)


def run(grid: Any, make: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Client(grid.config()) as client:
            return await make(client)

    return asyncio.run(main())


def entry(i: int, cap: str | None = LIT) -> IndexEntry:
    return IndexEntry(cap, {"size": i, "etag": f"{i:032x}", "ct": "text/plain"})


def model_page(
    model: dict[str, IndexEntry], prefix: str, delimiter: str, start_after: str, limit: int
) -> tuple[list[str], list[str], bool]:
    page = paginate(
        sorted(model.items()), prefix=prefix, delimiter=delimiter or None,
        start_after=start_after, max_keys=limit,
    )  # fmt: skip
    return [k for k, _ in page.contents], page.common_prefixes, page.is_truncated


async def all_keys(index: BucketIndex) -> list[str]:
    return [k async for k, _ in index.entries()]


async def journal_length(index: BucketIndex) -> int:
    """Changes waiting in the journal, as the grid has it."""
    return await BucketIndex(index.client, index.cap, ttl=0).journal_length()


# -- pure: names and node bodies ---------------------------------------------------

EDGE_KEYS = [
    "a", "a/b", "a/", "a//b", "/", "//", "a/b/", "\u00e9", "e\u0301", "\uac00", "\u1100\u1161",
    MARKER, MARKER + "abc", "!", MARKER + "!node", "x" * 1024, "\U0001f600/\u00e9/" * 50,
    "a b", " ", "\t", "%2F", "a\u0000b", "\ufffd",
]  # fmt: skip


@given(st.text(max_size=40))
def test_names_round_trip_and_survive_nfc(key: str) -> None:
    name = encode_key(key)
    assert normalize(name) == name and decode_name(name) == key and name != HEADER


def test_edge_keys_get_distinct_nfc_stable_names() -> None:
    names = [encode_key(k) for k in EDGE_KEYS]
    assert len(set(names)) == len(EDGE_KEYS)
    assert all(unicodedata.normalize("NFC", n) == n for n in names)
    assert encode_key("a/b") == "a/b"  # plain keys stay readable in Tahoe listings
    assert encode_key("e\u0301").startswith(MARKER) and encode_key("").startswith(MARKER)


def test_leaf_body_round_trip_and_tahoe_shape() -> None:
    node = IndexNode(0, "b", "m").with_changes(
        {"c": leaf_entry("c", LIT, {"n": 1}), "d": leaf_entry("d", None, {"parts": [CHK]})}
    )
    body = pack_node(node, WRITEKEY)
    back = parse_node(body, WRITEKEY)
    assert (back.low, back.high, back.keys, back.size) == ("b", "m", ["c", "d"], node.size)
    stored = unpack_children(body, WRITEKEY)
    assert stored["c"].ro_uri == LIT and stored["d"].ro_uri is None and stored["d"].rw_uri is None
    assert stored[HEADER].metadata == {"level": 0, "low": "b", "high": "m"}


def test_split_halves_by_bytes() -> None:
    node = IndexNode(0).with_changes({f"k{i}": leaf_entry(f"k{i}", LIT, {}) for i in range(9)})
    left, right = node.split()
    assert left.keys + right.keys == node.keys and left.high == right.low == right.keys[0]
    assert abs(left.size - right.size) <= node.size // 4
    node = replace(
        node.with_changes({f"k{i}": leaf_entry(f"k{i}", LIT, {}) for i in range(20)}), seq=7
    )
    left, right = node.split(0.9)  # after appends: the leaf they grow keeps little
    assert left.keys + right.keys == node.keys and len(right.keys) == 2
    assert left.seq == right.seq == 7  # both reflect the journal changes folded so far


def test_a_leaf_splits_at_the_end_of_a_run_of_added_keys() -> None:
    """Writers each appending in a range of their own add keys in the middle of a leaf:
    it splits where they stopped, so the next keys of that range go to the left part and
    the other ranges' keys to the right."""
    old = IndexNode(0).with_changes({k: leaf_entry(k, LIT, {}) for k in ("a1", "a2", "b1", "b2")})
    new = old.with_changes({k: leaf_entry(k, LIT, {}) for k in ("a3", "a4")})
    assert end_of_added_run(old, new) == "a4"
    left, right = new.split(0.9, after="a4")
    assert left.keys == ["a1", "a2", "a3", "a4"] and right.keys == ["b1", "b2"]
    assert new.split(0.9, after="b2") == new.split(0.9)  # at the end: by bytes
    one = old.with_changes({"a3": leaf_entry("a3", LIT, {})})
    assert end_of_added_run(old, one) is None  # a single key says nothing of order
    scattered = old.with_changes({k: leaf_entry(k, LIT, {}) for k in ("a3", "b3")})
    assert end_of_added_run(old, scattered) is None
    assert end_of_added_run(old, old.with_changes({"a1": leaf_entry("a1", LIT, {"n": 1})})) is None


def test_leaf_hands_out_the_same_entries_until_they_change() -> None:
    node = IndexNode(0).with_changes({k: leaf_entry(k, LIT, {"n": k}) for k in "abc"})
    first = dict(node.items_from(""))
    assert first == {k: IndexEntry(LIT, {"n": k}) for k in "abc"}
    first["a"].memo["row"] = "kept"
    assert all(e is first[k] for k, e in node.items_from(""))
    changed = dict(node.with_changes({"b": leaf_entry("b", LIT, {"n": "new"})}).items_from(""))
    assert changed["a"] is first["a"] and changed["c"] is first["c"]
    assert changed["b"] == IndexEntry(LIT, {"n": "new"}) and changed["b"].memo == {}
    assert [k for k, _ in node.items_from("b")] == ["b", "c"]


# -- on the grid ---------------------------------------------------------------------

OPS = st.lists(
    st.tuples(
        st.sampled_from(["put", "put", "delete"]),
        st.text(alphabet="ab/\u00e9e\u0301", min_size=1, max_size=5),
    ),
    min_size=5,
    max_size=25,
)
LISTS = st.lists(
    st.tuples(
        st.sampled_from(["", "a", "a/", "b"]),
        st.sampled_from(["", "/"]),
        st.sampled_from(["", "a", "a/b", "b/"]),
        st.integers(0, 6),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, lists=LISTS)
def test_matches_a_dict_model(grid: Any, ops: list[tuple[str, str]], lists: Any) -> None:
    async def go(client: Client) -> None:
        index = await BucketIndex.create(client, **SMALL)
        model: dict[str, IndexEntry] = {}
        # Batches of concurrent changes (distinct keys): merged publishes and splits.
        for start in range(0, len(ops), 6):
            batch = dict((key, op) for op, key in ops[start : start + 6])
            await asyncio.gather(
                *(
                    index.put(key, entry(i)) if op == "put" else index.delete(key)
                    for i, (key, op) in enumerate(batch.items())
                )
            )
            if start % 12:
                await index.flush()  # some changes in the leaves, some still in the journal
            for i, (key, op) in enumerate(batch.items()):
                if op == "put":
                    model[key] = entry(i)
                else:
                    model.pop(key, None)
        for key in {k for _, k in ops}:
            assert await index.get(key) == model.get(key)
        for prefix, delimiter, after, limit in lists:
            page = await index.list(prefix, delimiter, after, limit)
            got = ([k for k, _ in page.entries], page.common_prefixes, page.is_truncated)
            assert got == model_page(model, prefix, delimiter, after, limit)
            assert all(e == model[k] for k, e in page.entries)
        reopened = BucketIndex(client, index.cap)
        assert await all_keys(reopened) == sorted(model)
        assert await reopened.is_empty() == (not model)
        await reopened.flush()
        assert await journal_length(reopened) == 0  # everything folded into the leaves
        assert await all_keys(BucketIndex(client, index.cap)) == sorted(model)

    run(grid, go)


def test_full_page_looks_past_leaves_inside_a_rolled_up_prefix(grid: Any) -> None:
    """The page fills with common prefix "/"; the leaf where the keys after "/" would start
    holds only "/..." keys, so the next result ("a") is two leaves on."""

    async def go(client: Client) -> list[tuple[list[str], list[str], bool]]:
        index = await BucketIndex.create(client, **SMALL)
        model: dict[str, IndexEntry] = {}
        for i, key in enumerate(["/", "a", "b"] + [f"/{c}" for c in "abcdefghij"]):
            model[key] = entry(i)
            await index.put(key, model[key])
        await index.flush()
        assert len(await index.node_caps()) > 4  # several leaves of "/..." keys
        pages = []
        for limit in (1, 2, 3):
            page = await index.list("", "/", "", limit)
            got = ([k for k, _ in page.entries], page.common_prefixes, page.is_truncated)
            assert got == model_page(model, "", "/", "", limit)
            pages.append(got)
        return pages

    assert run(grid, go) == [([], ["/"], True), (["a"], ["/"], True), (["a", "b"], ["/"], False)]


def test_edge_keys_kept_exactly_and_restart(grid: Any) -> None:
    async def go(client: Client) -> None:
        index = await BucketIndex.create(client, **SMALL)
        await asyncio.gather(*(index.put(k, entry(i)) for i, k in enumerate(EDGE_KEYS)))
        await index.put("a", entry(99, None))
        reopened = BucketIndex(client, index.cap)
        for i, key in enumerate(EDGE_KEYS):
            assert await reopened.get(key) == (entry(99, None) if key == "a" else entry(i))
        assert await all_keys(reopened) == sorted(EDGE_KEYS)
        page = await reopened.list(delimiter="/", limit=1000)
        assert page.common_prefixes == sorted(
            {k[: k.index("/") + 1] for k in EDGE_KEYS if "/" in k}
        )
        assert await reopened.get("\u00e9") != await reopened.get("e\u0301")
        assert await reopened.get("a/b/c") is None and await reopened.get("") is None
        # A big inline LIT cap (the handler keeps small objects inline).
        big = "URI:LIT:" + "a" * 20_000
        await index.put("big", IndexEntry(big, {"size": 12_500}))
        assert (await BucketIndex(client, index.cap).get("big")) == IndexEntry(
            big, {"size": 12_500}
        )

    run(grid, go)


class PreconditionFailed(Exception):
    pass


def if_none_match(current: IndexEntry | None) -> None:
    if current is not None:
        raise PreconditionFailed


def test_check_refuses_one_change_only(grid: Any) -> None:
    seen: list[IndexEntry | None] = []

    async def go(client: Client) -> None:
        index = await BucketIndex.create(client, **SMALL)
        await index.put("k", entry(1))
        with pytest.raises(PreconditionFailed):
            await index.put("k", entry(2), check=if_none_match)
        assert await index.get("k") == entry(1)
        # In one merged batch: the refused change fails, the others land.
        results = await asyncio.gather(
            index.put("k", entry(3), check=if_none_match),
            index.put("n", entry(4), check=if_none_match),
            index.delete("k", check=seen.append),
            return_exceptions=True,
        )
        assert isinstance(results[0], PreconditionFailed)
        assert results[1:] == [None, None] and seen == [entry(1)]
        fresh = BucketIndex(client, index.cap)
        assert await fresh.get("k") is None and await fresh.get("n") == entry(4)
        assert await index.delete("absent") is None

    run(grid, go)


def test_merged_publishes_from_many_tasks(grid: Any) -> None:
    async def go(client: Client) -> None:
        index = await BucketIndex.create(client, max_entries=1000)
        keys = [f"obj/{i:03d}" for i in range(60)]
        await asyncio.gather(*(index.put(k, entry(i)) for i, k in enumerate(keys)))
        assert index.publishes <= 10  # one leaf: changes queued during a publish share the next
        assert await all_keys(BucketIndex(client, index.cap)) == keys

    run(grid, go)


def test_a_checked_change_whose_publish_seemed_to_fail_is_not_checked_against_itself(
    grid: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal publish that reached the servers but reported a collision is retried; the
    retry finds the change already in the journal, and must not check it against itself
    (If-None-Match: * would refuse its own PUT)."""
    publish = MutableFileNode._publish
    collisions: list[bool] = []

    async def lands_then_collides(node: MutableFileNode, *args: Any, **kwargs: Any) -> None:
        await publish(node, *args, **kwargs)
        if not collisions:
            collisions.append(True)
            raise UncoordinatedWriteError("published, but another writer seemed to be there")

    async def go(client: Client) -> None:
        index = await BucketIndex.create(client)
        given: list[IndexEntry | None] = []

        def absent(found: IndexEntry | None) -> None:
            given.append(found)
            assert found is None, found

        monkeypatch.setattr(MutableFileNode, "_publish", lands_then_collides)
        await index.put("k", entry(1), check=absent)
        assert collisions and len(given) >= 2  # checked again after the collision
        assert await BucketIndex(client, index.cap).get("k") == entry(1)

    run(grid, go)


def test_writers_between_changes_are_waited_for_a_moment(grid: Any) -> None:
    """Sixteen writers, each pausing between its changes (as a client does between
    requests): a publish waits briefly for the writers seen lately, so most changes share a
    publish with many others; a lone writer never waits."""

    async def go(client: Client) -> None:
        index = await BucketIndex.create(client)

        async def writer(w: int) -> None:
            for i in range(6):
                await index.put(f"w{w:02d}/{i}", entry(i))
                await asyncio.sleep(0.002 * (w % 3))

        await asyncio.gather(*(writer(w) for w in range(16)))
        # 96 changes: 12 publishes without waiting (measured), 7 with
        assert index.publishes <= 9 and index.gathered > 0, index.publishes
        assert await all_keys(index) == sorted(f"w{w:02d}/{i}" for w in range(16) for i in range(6))
        alone = await BucketIndex.create(client)
        for i in range(6):
            await alone.put(f"k{i}", entry(i))
        assert alone.publishes == 6 and alone.gathered == 0

    run(grid, go)


def test_two_gateways_racing_splits_lose_nothing(grid: Any) -> None:
    async def go(client: Client) -> None:
        a = await BucketIndex.create(client, **SMALL)
        b = BucketIndex(client, a.cap, **SMALL)  # another process: its own cache and queues
        await a.put("m", entry(0))
        keys_a = [f"k{i:02d}a" for i in range(14)]
        keys_b = [f"k{i:02d}b" for i in range(14)]

        async def writer(index: BucketIndex, keys: list[str]) -> None:
            for start in range(0, len(keys), 4):
                await asyncio.gather(*(index.put(k, entry(1)) for k in keys[start : start + 4]))

        await asyncio.gather(writer(a, keys_a), writer(b, keys_b))
        expected = sorted(["m", *keys_a, *keys_b])
        assert await all_keys(BucketIndex(client, a.cap)) == expected  # from the journal
        await asyncio.gather(a.flush(), b.flush())  # racing folds (and splits)
        assert await all_keys(BucketIndex(client, a.cap)) == expected
        page = await BucketIndex(client, a.cap).list(prefix="k1", limit=100)
        assert [k for k, _ in page.entries] == [k for k in expected if k.startswith("k1")]
        caps = await BucketIndex(client, a.cap).node_caps()
        assert caps[0] == a.cap and len(caps) == len(set(caps)) > 5
        # A plain directory reader (each node under its own writekey) sees the same tree.
        linked = set()
        for cap in caps:
            for child, _md in (await client.directory(cap).list()).values():
                if child.is_directory:
                    linked.add(child.cap)
        assert linked == set(caps[1:])

    run(grid, go)


async def journal_cap(index: BucketIndex) -> DirectoryCap:
    cap = (await index._node(index.cap, fresh=True)).journal
    assert cap is not None
    return cap


def test_two_processes_writing_and_folding_at_once_lose_nothing(
    grid: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two index objects (as two gateways) change interleaved keys while both fold the one
    journal in the background, often; each reads its own writes back at once, and its
    checked changes find its own last change."""
    monkeypatch.setattr(bucket_index, "FOLD_ENTRIES", 4)
    monkeypatch.setattr(bucket_index, "FOLD_IDLE_SECONDS", 0.02)
    folds: dict[int, int] = {}
    fold = BucketIndex._fold

    async def counted(index: BucketIndex, cap: DirectoryCap, journal: IndexNode) -> None:
        folds[id(index)] = folds.get(id(index), 0) + 1
        await fold(index, cap, journal)

    monkeypatch.setattr(BucketIndex, "_fold", counted)

    async def go(client: Client) -> None:
        a = await BucketIndex.create(client, **SMALL)
        b = BucketIndex(client, a.cap, **SMALL)
        model: dict[str, IndexEntry] = {}

        async def writer(index: BucketIndex, name: str) -> None:
            for step in range(36):
                key = f"k{step % 12:02d}{name}"
                if step % 5 == 4:
                    await index.delete(key)
                    model.pop(key, None)
                    assert await index.get(key) is None
                else:
                    # every third change checks that it finds this writer's last one
                    last = model.get(key)

                    def unchanged(found: IndexEntry | None, last: Any = last) -> None:
                        assert found == last, (found, last)

                    await index.put(key, entry(step), check=unchanged if step % 3 == 0 else None)
                    model[key] = entry(step)
                    assert await index.get(key) == entry(step)

        await asyncio.gather(writer(a, "a"), writer(b, "b"))
        assert folds.get(id(a)) and folds.get(id(b))  # both folded (some found it done)
        fresh = BucketIndex(client, a.cap)
        assert [(k, e) async for k, e in fresh.entries()] == sorted(model.items())
        await asyncio.gather(a.flush(), b.flush())
        assert await journal_length(a) == 0
        fresh = BucketIndex(client, a.cap)
        assert [(k, e) async for k, e in fresh.entries()] == sorted(model.items())

    run(grid, go)


def test_a_stale_fold_changes_nothing(grid: Any) -> None:
    """A fold of an older journal (a retry, or a slow process) after a newer one has
    reached the leaves: the leaves' mark turns it away, and the newer entries stay."""

    async def go(client: Client) -> None:
        index = await BucketIndex.create(client, **SMALL)
        await asyncio.gather(*(index.put(f"k{i}", entry(1)) for i in range(5)))
        cap = await journal_cap(index)
        old = await index._node(cap, fresh=True)
        await index.put("k1", entry(2))
        await index.delete("k2")
        await index.flush()
        assert await journal_length(index) == 0
        await index._fold(cap, old)  # would put k1 back to 1 and k2 back
        fresh = BucketIndex(client, index.cap)
        assert await fresh.get("k1") == entry(2) and await fresh.get("k2") is None
        assert await all_keys(fresh) == ["k0", "k1", "k3", "k4"]

    run(grid, go)


def test_a_fold_cut_off_before_its_trim_is_harmless(grid: Any) -> None:
    async def go(client: Client) -> None:
        index = await BucketIndex.create(client, **SMALL)
        await asyncio.gather(*(index.put(f"k{i}", entry(i)) for i in range(5)))
        submit = index._submit

        async def no_trims(cap: DirectoryCap, op: Any) -> Any:
            if op.trims is not None:
                raise ConnectionError("gone before the trim")
            return await submit(cap, op)

        index._submit = no_trims  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await index.flush()
        index._submit = submit  # type: ignore[method-assign]
        assert await journal_length(index) == 5  # in the leaves and still in the journal
        fresh = BucketIndex(client, index.cap)
        assert [(k, e.info["size"]) async for k, e in fresh.entries()] == [
            (f"k{i}", i) for i in range(5)
        ]
        await index.put("k0", entry(9))
        await fresh.flush()  # another process's fold: applies k0, finds the rest applied
        assert await journal_length(index) == 0
        assert await BucketIndex(client, index.cap).get("k0") == entry(9)

    run(grid, go)


def test_a_reader_sees_changes_its_cached_leaf_has_not_caught_up_with(grid: Any) -> None:
    """A reader whose cached leaf predates a fold, and whose journal is newer than it, still
    shows what the fold moved out of the journal (until its leaf is re-read)."""

    async def go(client: Client) -> None:
        writer = await BucketIndex.create(client, **SMALL)
        await writer.put("gone", entry(0))
        await writer.flush()
        reader = BucketIndex(client, writer.cap, ttl=60)
        assert await reader.get("k") is None and await reader.get("gone") == entry(0)
        await writer.put("k", entry(1))
        await writer.delete("gone")
        cap = await journal_cap(reader)
        await reader._node(cap, fresh=True)  # the journal re-read, the leaf not
        assert await reader.get("k") == entry(1) and await reader.get("gone") is None
        await writer.flush()
        await reader._node(cap, fresh=True)  # now without them: moved into the leaf
        assert await reader.get("k") == entry(1) and await reader.get("gone") is None
        assert [k for k, _ in (await reader.list()).entries] == ["k"]
        assert (await reader._node(reader.cap)).keys == ["gone"]  # the stale cached leaf

    run(grid, go)


def test_checked_changes_see_folded_entries(grid: Any) -> None:
    async def go(client: Client) -> None:
        a = await BucketIndex.create(client, **SMALL)
        b = BucketIndex(client, a.cap, **SMALL)
        await a.put("k", entry(1))
        await a.flush()
        for index in (a, b):
            with pytest.raises(PreconditionFailed):
                await index.put("k", entry(2), check=if_none_match)
        await b.put("new", entry(3), check=if_none_match)
        with pytest.raises(PreconditionFailed):
            await a.put("new", entry(4), check=if_none_match)
        assert await BucketIndex(client, a.cap).get("new") == entry(3)

    run(grid, go)


def test_an_index_without_a_journal_gets_one(grid: Any) -> None:
    """Indexes made before journals: the first change links one from the root; a reader
    re-checks a root without one as often as a leaf, so it finds the journal in time."""

    async def go(client: Client) -> None:
        old = await client.create_mutable(pack_node(IndexNode(0).with_changes(
            {"a": leaf_entry("a", LIT, entry(0).info)}
        ), None))  # fmt: skip
        cap = DirectoryCap(old.cap)
        reader = BucketIndex(client, cap, ttl=0.2)
        assert await reader.get("a") == entry(0)
        writer = BucketIndex(client, cap)
        await asyncio.gather(writer.put("b", entry(1)), writer.put("c", entry(2)))
        assert (await writer._node(cap, fresh=True)).journal is not None
        await asyncio.sleep(0.3)
        assert await all_keys(reader) == ["a", "b", "c"]

    run(grid, go)


def test_cache_ttl_and_own_writes(grid: Any) -> None:
    async def go(client: Client) -> None:
        a = await BucketIndex.create(client, ttl=60)
        b = BucketIndex(client, a.cap, ttl=60)
        zero = BucketIndex(client, a.cap, ttl=0)
        assert await b.get("k") is None
        await a.put("k", entry(1))
        assert await a.get("k") == entry(1)  # own writes at once
        assert await zero.get("k") == entry(1)  # ttl 0: always re-read
        assert await b.get("k") is None  # cached for its ttl
        b._cache.ttl = 0
        assert await b.get("k") == entry(1)
        # Concurrent readers of one node share one grid read (here: the root and the journal).
        loads = zero._cache.loads
        await asyncio.gather(*(zero.get("k") for _ in range(10)))
        assert zero._cache.loads == loads + 2

    run(grid, go)


def test_unchanged_cached_node_is_checked_with_two_small_reads(grid: Any) -> None:
    async def go(client: Client) -> None:
        writer = await BucketIndex.create(client)
        await writer.put("k", entry(1))
        reader = BucketIndex(client, writer.cap, ttl=0)
        assert await reader.get("k") == entry(1)  # read and verified: a full servermap
        asked: list[str] = []
        for server in client.broker.servers:
            for name in ("list_mutable_shares", "read_mutable_share_chunk", "read_test_write"):
                method = getattr(server.client, name)

                async def counted(*args, _method=method, _name=name):  # type: ignore[no-untyped-def]
                    asked.append(_name)
                    return await _method(*args)

                setattr(server.client, name, counted)
        assert await reader.get("k") == entry(1)
        # no listing, two holders asked, of the root and of the journal
        assert asked == ["read_mutable_share_chunk"] * 4
        await writer.put("k", entry(2))
        asked.clear()
        assert await reader.get("k") == entry(2)  # the quick check saw the new version
        assert "read_test_write" in asked  # then a servermap update (one read-only rtw each)

    run(grid, go)


def test_cache_is_bounded_by_bytes_least_recently_used_first() -> None:
    node = IndexNode(0).with_changes({f"k{i}": leaf_entry(f"k{i}", LIT, {}) for i in range(50)})
    body = pack_node(node, None)
    cost = node.size + len(body)
    cache = NodeCache(max_bytes=3 * cost)
    for name in ("a", "b", "c"):
        cache.store(name, node, body=body)
    assert cache.bytes == 3 * cost
    assert cache.fresh("a") is node  # "a" used: "b" is now the least recently used
    cache.store("d", node, body=body)
    assert [n for n in "abcd" if cache.fresh(n) is not None] == ["a", "c", "d"]
    cache.store("d", node)  # replaced without its body: cheaper
    assert cache.bytes == 2 * cost + node.size
    huge = NodeCache(max_bytes=1)
    huge.store("only", node, body=body)
    assert huge.fresh("only") is node  # the newest node stays, whatever its size


def test_cache_keeps_the_body_a_node_was_packed_from() -> None:
    cache = NodeCache()
    node = IndexNode(0).with_changes({"k": leaf_entry("k", LIT, {})})
    body = pack_node(node, None)
    cache.store("leaf", node, body=body)
    assert cache.parsed("leaf", bytes(body)) is node
    assert cache.parsed("leaf", body + b"x") is None and cache.parsed("other", body) is None

    async def unchanged(_known: Any) -> None:  # a version check finding the cached version
        return None

    cache.ttl = 0
    assert asyncio.run(cache.load("leaf", unchanged)) is node
    assert cache.parsed("leaf", body) is node
    cache.store("leaf", node)
    assert cache.parsed("leaf", body) is None


def test_a_change_starts_from_the_node_it_last_wrote(grid: Any) -> None:
    """The next change of the journal this process wrote starts from the node it packed, not
    a parse of the body; a journal another process changed meanwhile is read and parsed again."""

    async def go(client: Client) -> None:
        a = await BucketIndex.create(client, max_entries=1000)
        b = BucketIndex(client, a.cap, max_entries=1000)
        journal = (await a._node(a.cap)).journal
        assert journal is not None
        await a.put("k1", entry(1))
        body = await client.mutable(_write_cap(journal)).download_best_version()
        node = a._cache.parsed(journal, body)
        assert node is not None and node.keys == ["k1"]
        await a.put("k2", entry(2))
        assert a._cache.parsed(journal, body) is None  # the new body replaced it
        await b.put("k3", entry(3))
        await a.put("k4", entry(4))  # from b's version, read from the grid
        fresh = BucketIndex(client, a.cap)
        assert await all_keys(fresh) == ["k1", "k2", "k3", "k4"]
        body = await client.mutable(_write_cap(journal)).download_best_version()
        assert a._cache.parsed(journal, body) is a._cache.fresh(journal)

    run(grid, go)


def test_files_kept_are_bounded_like_the_cache(grid: Any) -> None:
    async def go(client: Client) -> None:
        index = await BucketIndex.create(client, **SMALL, max_cached_nodes=4)
        keys = [f"k{i:02d}" for i in range(24)]
        for start in range(0, len(keys), 6):
            await asyncio.gather(*(index.put(k, entry(1)) for k in keys[start : start + 6]))
            await index.flush()
        assert len(index._files) <= 4 < len(await index.node_caps())
        assert await all_keys(BucketIndex(client, index.cap)) == keys

    run(grid, go)


def _write_cap(node: DirectoryCap) -> MutableWriteCap:
    cap = node.inner
    assert isinstance(cap, MutableWriteCap)
    return cap


def _share_files(grid: Any) -> dict[str, tuple[int, int]]:
    """Every share file on the storage nodes' disks: path -> (mtime_ns, share length). The
    length is the share's, not the file's: a mutable container never shrinks, so a journal
    once long keeps its file size, but a publish writes only the share."""
    out = {}
    for node in grid.nodes:
        for path in node.storage_dir.rglob("*"):
            if path.is_file() and path.parent.parent.parent.name == "shares":
                with path.open("rb") as f:
                    header = f.read(MUTABLE_HEADER_SIZE)
                if header.startswith(b"Tahoe mutable container"):  # not other tests' CHK shares
                    length = parse_mutable_header(header).data_length
                    out[str(path)] = (path.stat().st_mtime_ns, length)
    return out


def test_bytes_rewritten_per_put_do_not_grow_with_the_bucket(grid: Any) -> None:
    """Share bytes written on the nodes' disks by one PUT and its fold, in a small and a
    large bucket; and how many of the large bucket's nodes that touches."""
    opts = {"max_entries": 8, "max_bytes": 100_000}
    probes = [f"key/{i:05d}" for i in (3, 11, 17, 25, 29)]
    touched: list[tuple[int, int]] = []  # (storage indexes changed, nodes the probe added)

    async def own(index: BucketIndex) -> set[str]:
        """The storage indexes of the index's nodes: the grid is shared, and other tests'
        gateways may publish meanwhile (folds, lease renewals)."""
        return {base32.b2a(_write_cap(cap).storage_index) for cap in await index.node_caps()}

    async def rewritten(index: BucketIndex) -> list[int]:
        costs = []
        for key in probes:
            before, nodes = _share_files(grid), await own(index)
            await index.put(key, entry(7))
            await index.flush()
            mine = nodes | await own(index)
            changed = {
                p: v
                for p, v in _share_files(grid).items()
                if before.get(p) != v and Path(p).parent.name in mine
            }
            costs.append(sum(v[1] for v in changed.values()))
            added = len(mine) - len(nodes)
            touched.append((len({Path(p).parent.name for p in changed}), added))
        return costs

    async def go(client: Client) -> tuple[list[int], list[int], int]:
        small = await BucketIndex.create(client, **opts)
        large = await BucketIndex.create(client, **opts)
        for index, count in ((small, 16), (large, 240)):
            keys = [f"key/{i:05d}" for i in range(0, 2 * count, 2)]
            for start in range(0, len(keys), 60):
                await asyncio.gather(*(index.put(k, entry(1)) for k in keys[start : start + 60]))
            await index.flush()
        costs = await rewritten(small), await rewritten(large)
        return *costs, len(await large.node_caps())

    small_costs, large_costs, large_nodes = run(grid, go)
    assert 0 < sorted(large_costs)[2] <= 1.5 * sorted(small_costs)[2]
    # The journal and one leaf, of many nodes. A split (whether a probe lands in a full leaf
    # depends on how the fills' folds fell) adds a sibling and links it in the parent, which
    # may split too; its last publishes may land in the next probe's count.
    in_large = [count for count, added in touched[len(probes) :] if not added]
    assert 2 in in_large, touched
    assert max(count for count, _ in touched) <= 10 and large_nodes >= 20
