"""The bucket index on a local grid: PUT, GET and list costs in an empty and a large bucket.

    python bench/bucket_index.py                   # 100,000 keys, 10 nodes
    python bench/bucket_index.py --keys 20000 --max-bytes 65536

The cost of one PUT (sequential) and of its fold from the journal into the
tree, into an empty index and into one of --keys keys: wall and process CPU
milliseconds, storage requests and KiB sent and received per PUT. In the
large index, "cold" PUTs each go to a leaf this process has not written yet
(it must find and read the leaf's shares first), "warm" ones to a leaf it has
just written (it publishes over what it knows). Then PUT ops/s of 16
concurrent writers of random keys (changes in flight share a journal publish;
folds run in the background), GET ops/s from a warm cache, with ttl=0 (a
version check per GET) and cold (a new index object: root, interior and leaf
reads), and a listing of 10,000 keys in pages of 1000 (wall and process CPU
time, cold and warm).
Entries carry gateway-like metadata (size, etag, mtime, content type: about
150 bytes) and a CHK cap. Leaves split at the gateway's default
index-leaf-bytes unless --max-bytes says otherwise. The large index is written
straight to the grid in the shape the merged-write path gives (leaves --fill
full), not replayed through it.
"""

import argparse
import asyncio
import hashlib
import random
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lafs_core.client import Client  # noqa: E402
from lafs_core.dirnode import DirectoryCap, Entry  # noqa: E402
from lafs_core.grid_config import load_grid  # noqa: E402
from lafs_core.mutable import MutableFileNode, MutableWriteCap  # noqa: E402
from lafs_core.storage_client import StorageClient  # noqa: E402
from s3gw.bucket_index import MAX_LEAF_ENTRIES, BucketIndex, IndexEntry  # noqa: E402
from s3gw.config import GatewayConfig  # noqa: E402
from s3gw.index_node import IndexNode, Link, leaf_entry, pack_node  # noqa: E402
from storage_node.local_grid import LocalGrid  # noqa: E402

CHK = (
    "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a"
    ":3:10:4096"
)


def key(i: int) -> str:
    return f"data/2024/{i % 97:02d}/object-{i:08d}.bin"


def entry(i: int) -> IndexEntry:
    etag = hashlib.md5(str(i).encode()).hexdigest()
    info = {
        "size": 4096 + i,
        "etag": f'"{etag}"',
        "mtime": 1700000000.0 + i / 1000,
        "content-type": "application/octet-stream",
    }
    return IndexEntry(CHK, info)


@dataclass
class Traffic:
    """Storage requests made by this process, and their bytes (a wrapper counts them)."""

    requests: int = 0
    sent: int = 0
    received: int = 0


TRAFFIC = Traffic()
_request = StorageClient._request


async def _counted(self: StorageClient, method: str, path: str, **kwargs: object) -> object:
    content = kwargs.get("content")
    TRAFFIC.requests += 1
    if isinstance(content, bytes | bytearray | memoryview):
        TRAFFIC.sent += memoryview(content).nbytes
    elif isinstance(content, list):  # a read-test-write body sent as pieces
        TRAFFIC.sent += sum(memoryview(part).nbytes for part in content)
    reply = await _request(self, method, path, **kwargs)  # type: ignore[arg-type]
    TRAFFIC.received += len(reply.body)
    return reply


StorageClient._request = _counted  # type: ignore[method-assign]


async def put_cost(index: BucketIndex, ids: list[int], cold: bool = False) -> list[float]:
    """Per sequential PUT of `ids`: wall ms, CPU ms, storage requests, KiB sent, KiB received.
    `cold`: before each, forget the leaves' files, as if this process had not written them."""
    before = replace(TRAFFIC)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in ids:
        if cold:
            index._files.clear()
        await index.put(key(i), entry(i))
        await index.flush()  # and its fold into the tree, which a PUT pays for sooner or later
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    n = len(ids)
    return [
        1000 * wall / n,
        1000 * cpu / n,
        (TRAFFIC.requests - before.requests) / n,
        (TRAFFIC.sent - before.sent) / 1024 / n,
        (TRAFFIC.received - before.received) / 1024 / n,
    ]


def one_per_leaf(firsts: list[int], puts: int) -> list[int]:
    """New ids, one in each of up to `puts` leaves spread over the index (`firsts`: the id
    of each leaf's first key): id + 97 sorts right after id (same residue mod 97)."""
    return [i + 97 for i in firsts[:: max(1, len(firsts) // puts)][:puts]]


async def put_rate(index: BucketIndex, ids: list[int], writers: int) -> float:
    """PUT ops/s of new keys `ids`, by `writers` concurrent tasks."""
    todo = list(ids)

    async def writer() -> None:
        while todo:
            i = todo.pop()
            await index.put(key(i), entry(i))

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return len(ids) / (time.perf_counter() - start)


async def get_rate(index: BucketIndex, ids: list[int]) -> float:
    start = time.perf_counter()
    for i in ids:
        if await index.get(key(i)) is None:
            raise RuntimeError(f"missing {key(i)}")
    return len(ids) / (time.perf_counter() - start)


async def list_cost(index: BucketIndex, count: int) -> tuple[float, float]:
    """(wall, process CPU) seconds to list `count` keys in pages of 1000."""
    wall, cpu = time.perf_counter(), time.process_time()
    after, listed = "", 0
    while listed < count:
        page = await index.list(prefix="data/2024/", start_after=after, limit=1000)
        listed += len(page.entries)
        if not page.is_truncated:
            break
        after = page.next_marker or ""
    if listed < count:
        raise RuntimeError(f"listed {listed} keys, wanted {count}")
    return time.perf_counter() - wall, time.process_time() - cpu


async def bulk_load(client: Client, index: BucketIndex, count: int, fill: float) -> list[int]:
    """Write a tree of `count` keys (even ids) straight into the index's root, leaves
    `fill` full: the shape the merged-write path gives, built without replaying it.
    Returns the id of each leaf's first key."""
    ids = sorted(range(0, 2 * count, 2), key=key)
    groups: list[list[tuple[str, Entry]]] = [[]]
    firsts = ids[:1]
    size = 0
    for i in ids:
        e = leaf_entry(key(i), entry(i).cap, entry(i).info)
        if groups[-1] and (size + len(e.raw) > fill * index.max_bytes
                           or len(groups[-1]) >= fill * index.max_entries):  # fmt: skip
            groups.append([])
            firsts.append(i)
            size = 0
        groups[-1].append((key(i), e))
        size += len(e.raw) + 8
    nodes = [IndexNode(0).with_changes(dict(g)) for g in groups]
    level = 0
    while len(nodes) > 1:
        lows = ["", *(n.keys[0] if n.is_leaf else n.low for n in nodes[1:])]
        highs = [*lows[1:], None]
        pairs = [(await client.key_pool.get(), n) for n in nodes]
        caps = [DirectoryCap(MutableWriteCap.from_keypair(keys)) for keys, _ in pairs]
        creates = []
        for j, (keys, n) in enumerate(pairs):
            right = caps[j + 1] if j + 1 < len(caps) else None
            shaped = replace(n, low=lows[j], high=highs[j], right=right)
            body = pack_node(shaped, keys.writekey)
            enc = client.config.encoding
            creates.append(MutableFileNode.create(
                client.broker, keys, body, client.config.lease_secret, enc.k, enc.n, client.pool
            ))  # fmt: skip
        for start in range(0, len(creates), 16):
            await asyncio.gather(*creates[start : start + 16])
        level += 1
        per = max(2, int(fill * index.max_entries))
        nodes = [
            IndexNode(
                level,
                low=lows[j],  # the next level up routes by it
                children=[(lo, Link(c)) for lo, c in zip(lows[j : j + per], caps[j : j + per])],
            )
            for j in range(0, len(caps), per)
        ]
    journal = (await index._node(index.cap)).journal  # linked from the root it replaces
    root = replace(nodes[0], low="", high=None, right=None, journal=journal)
    assert isinstance(index.cap.inner, MutableWriteCap)
    await client.mutable(index.cap.inner).overwrite(pack_node(root, index.cap.inner.writekey))
    await index._node(index.cap, fresh=True)  # not the empty root it cached
    return firsts


async def bench(grid_file: Path, args: argparse.Namespace) -> None:
    opts = {
        "max_entries": args.max_entries,
        "max_bytes": args.max_bytes,
        "max_cached_nodes": args.cache_nodes,
    }
    rng = random.Random(1)
    async with Client(load_grid(grid_file)) as client:
        empty = await BucketIndex.create(client, **opts)
        await put_cost(empty, [2 * i + 1 for i in range(10)])  # the first publishes of its leaf
        seq_empty = await put_cost(empty, [2 * i + 1 for i in range(10, 10 + args.puts)])
        cold_empty = await put_cost(empty, [2 * i + 1 for i in range(200, 200 + args.puts)], True)
        con_empty = await put_rate(empty, [10**7 + i for i in range(args.puts * 2)], 16)

        large = await BucketIndex.create(client, **opts)
        start = time.perf_counter()
        firsts = await bulk_load(client, large, args.keys, args.fill)
        built = time.perf_counter() - start
        caps = await large.node_caps()
        cold_ids = one_per_leaf(firsts, args.puts)
        seq_cold = await put_cost(large, cold_ids)
        seq_warm = await put_cost(large, [i + 2 * 97 for i in cold_ids])  # the same leaves
        odd = [2 * rng.randrange(args.keys) + 1 for _ in range(args.puts * 2)]
        con_large = await put_rate(large, odd, 16)

        existing = [2 * rng.randrange(args.keys) for _ in range(3000)]
        await get_rate(large, existing[:1000])  # warm the cache
        large._cache.ttl = 3600.0
        warm = await get_rate(large, existing)
        zero = await get_rate(BucketIndex(client, large.cap, ttl=0, **opts), existing[:200])
        cold_start = time.perf_counter()
        for i in existing[:50]:
            await BucketIndex(client, large.cap, **opts).get(key(i))
        cold = 50 / (time.perf_counter() - cold_start)

        lister = BucketIndex(client, large.cap, **opts)
        cold_list = await list_cost(lister, min(10_000, args.keys))
        lister._cache.ttl = 3600.0
        warm_list = await list_cost(lister, min(10_000, args.keys))

    print(f"leaf limits: {args.max_entries} entries, {args.max_bytes} bytes;", end="")
    print(f" cache {args.cache_nodes} nodes")
    print(f"built {args.keys} keys in {built:.1f} s: {len(caps)} nodes")
    print("one PUT (sequential)    wall ms  CPU ms  requests  KiB sent  KiB received")
    for name, cost in (("empty, warm leaf", seq_empty), ("empty, cold leaf", cold_empty),
                       ("large, warm leaf", seq_warm), ("large, cold leaf", seq_cold)):  # fmt: skip
        print(f"  {name:18} {cost[0]:9.1f} {cost[1]:7.1f} {cost[2]:9.1f} {cost[3]:9.1f}", end="")
        print(f" {cost[4]:13.1f}")
    for name, large_cost, empty_cost in (
        ("warm leaf / warm leaf", seq_warm, seq_empty),
        ("cold leaf / cold leaf", seq_cold, cold_empty),
        ("cold leaf / warm leaf", seq_cold, seq_empty),
    ):
        print(f"  large/empty, {name}: {large_cost[0] / empty_cost[0]:.2f}x wall,", end="")
        print(f" {large_cost[1] / empty_cost[1]:.2f}x CPU")
    print(f"PUT 16 writers   empty {con_empty:7.1f}/s  large {con_large:7.1f}/s")
    print(f"GET cached {warm:8.0f}/s   ttl=0 {zero:6.1f}/s   cold {cold:6.1f}/s")
    print(f"list 10,000 keys cold: {cold_list[0]:.3f} s wall, {cold_list[1]:.3f} s CPU")
    print(f"list 10,000 keys warm: {warm_list[0]:.3f} s wall, {warm_list[1]:.3f} s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--puts", type=int, default=100, help="sequential PUTs measured")
    parser.add_argument("--fill", type=float, default=0.7, help="leaf fill of the large index")
    parser.add_argument("--max-entries", type=int, default=MAX_LEAF_ENTRIES)
    parser.add_argument("--max-bytes", type=int, default=GatewayConfig().index_leaf_bytes)
    parser.add_argument("--cache-nodes", type=int, default=1024, help="node cache size")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--grid", type=Path, help="an existing grid file (else a new local grid)")
    args = parser.parse_args()
    if args.grid:
        asyncio.run(bench(args.grid, args))
        return
    with tempfile.TemporaryDirectory() as tmp:
        grid = LocalGrid(Path(tmp) / "grid", args.nodes)
        grid.start()
        try:
            asyncio.run(bench(grid.grid_file, args))
        finally:
            grid.stop()


if __name__ == "__main__":
    main()
