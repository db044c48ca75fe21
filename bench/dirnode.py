"""Directory speed on a local grid: mkdir, add-child and list, beside the real Tahoe-LAFS 1.20.

    python bench/dirnode.py                 # ours, and Tahoe 1.20 when $TAHOE_VENV has it
    python bench/dirnode.py --no-tahoe --mkdirs 200

Ours: ten local storage nodes, our client in-process (k=3, happy=7, n=10),
directories made with keys already generated and their empty first versions
already encoded (a warm key pool, as in `s3gw serve`). Tahoe: ten
real 1.20 storage nodes and a client node, driven through its web API one
request at a time on a kept-alive connection (as `tahoe mkdir` / `tahoe ln`
do, minus the command start-up). Operations run one after another, so the
rates are latencies; each add-child goes into a directory that already holds
10, 1,000 or 5,000 children. "list" is our `DirectoryNode.list()` beside Tahoe's
`GET ?t=json`; "ls --json" is ours with the JSON made too (what `lafs ls --json`
prints, in-process) beside the same Tahoe request, which makes both at once.
"""

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tahoe_grid import tahoe_nodes  # noqa: E402  (bench/tahoe_grid.py)

from lafs_core.client import Client  # noqa: E402
from lafs_core.dirnode.caps import DirectoryCap  # noqa: E402
from lafs_core.dirnode.children import make_child  # noqa: E402
from lafs_core.dirnode.listing_json import directory_json, render  # noqa: E402
from lafs_core.dirnode.node import DirectoryNode  # noqa: E402
from lafs_core.grid_config import load_grid  # noqa: E402
from lafs_core.mutable.keymaker import FreshKeys  # noqa: E402
from lafs_core.mutable.keypool import KeyPool  # noqa: E402
from storage_node.local_grid import LocalGrid  # noqa: E402

CHK = (
    "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:"
    "6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:3:10:56"
)
SIZES = (10, 1000, 5000)
PARALLEL = 16  # mkdirs in flight for the throughput figure
LISTS = 3  # lists timed per size, the median reported: one list on a shared machine is noise


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


_T = TypeVar("_T")


async def _median_seconds(op: Callable[[], Awaitable[_T]]) -> tuple[_T, float]:
    """The last result of `LISTS` runs of `op`, and their median time."""
    times = []
    for _ in range(LISTS):
        start = time.perf_counter()
        result = await op()
        times.append(time.perf_counter() - start)
    return result, statistics.median(times)


async def _timed(count: int, op: Callable[[int], Awaitable[object]]) -> float:
    start = time.perf_counter()
    for i in range(count):
        await op(i)
    return rate(count, time.perf_counter() - start)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def bench_ours_async(
    grid_file: Path, mkdirs: int, adds: dict[int, int], node_pids: list[int]
) -> dict[str, float]:
    out: dict[str, float] = {}
    async with Client(load_grid(grid_file)) as client:
        enc = client.config.encoding
        pool_keys = KeyPool(size=2 * mkdirs + len(SIZES) + PARALLEL, empty=(enc.k, enc.n))
        try:
            # Warm: every key is made before any timing starts.
            keys = [await pool_keys.get_fresh() for _ in range(mkdirs + len(SIZES))]
            more = [await pool_keys.get_fresh() for _ in range(mkdirs)]
            warm = [await pool_keys.get_fresh() for _ in range(PARALLEL)]
            pool_keys.close()  # no refills while timing: the CPU figures are the mkdirs' own
            secret = client.config.lease_secret

            def create(fresh: FreshKeys) -> Awaitable[DirectoryNode]:
                return DirectoryNode.create(
                    client.broker, fresh.keys, secret, pool=client.pool, first=fresh.empty
                )

            async def mkdir(i: int) -> object:
                return await create(keys[i])

            await mkdir(0)  # connections up
            out["mkdir"] = await _timed(mkdirs - 1, lambda i: mkdir(i + 1))
            # As many connections open as the parallel mkdirs use, as in a running gateway.
            await asyncio.gather(*(create(fresh) for fresh in warm))
            start, client_cpu, nodes_cpu = (
                time.perf_counter(),
                time.process_time(),
                cpu_seconds(node_pids),
            )
            for batch in range(0, mkdirs, PARALLEL):
                await asyncio.gather(*(create(fresh) for fresh in more[batch : batch + PARALLEL]))
            out["mkdir_parallel"] = rate(mkdirs, time.perf_counter() - start)
            out["mkdir_client_ms"] = (time.process_time() - client_cpu) / mkdirs * 1000
            out["mkdir_nodes_ms"] = (cpu_seconds(node_pids) - nodes_cpu) / mkdirs * 1000
            for j, size in enumerate(SIZES):
                children = {f"child-{i:05}": (make_child(None, CHK), {}) for i in range(size)}
                d = await DirectoryNode.create(
                    client.broker, keys[mkdirs + j].keys, secret, children, pool=client.pool
                )
                d = client.directory(d.cap)  # as an application opens it
                out[f"add{size}"] = await _timed(adds[size], lambda i: d.set_uri(f"new-{i}", CHK))  # noqa: B023
                listed, out[f"list{size}"] = await _median_seconds(
                    lambda: client.directory(d.cap).list()  # noqa: B023
                )
                assert len(listed) == size + adds[size]

                async def ls_json(cap: DirectoryCap = d.cap) -> str:
                    return render(directory_json(cap, await client.directory(cap).list()))

                _, out[f"json{size}"] = await _median_seconds(ls_json)
        finally:
            pool_keys.close()
    return out


def bench_ours(tmp: Path, mkdirs: int, adds: dict[int, int]) -> dict[str, float]:
    grid = LocalGrid(tmp / "grid", 10)
    grid.start()
    try:
        pids = [p.pid for p in grid.processes]
        # On uvloop, as the gateway and `lafs` run the client.
        return uvloop.run(bench_ours_async(grid.grid_file, mkdirs, adds, pids))
    finally:
        grid.stop()


class TahoeWeb:
    """One kept-alive connection to a Tahoe client node's web API."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method: str, path: str, body: bytes | None = None) -> bytes:
        self.conn.request(method, path, body=body)
        response = self.conn.getresponse()
        data = response.read()
        if response.status not in (200, 201):
            raise RuntimeError(f"Tahoe {method} {path[:60]}: {response.status} {data[-300:]!r}")
        return data


def bench_tahoe(tmp: Path, mkdirs: int, adds: dict[int, int]) -> dict[str, float]:
    out: dict[str, float] = {}
    with tahoe_nodes(tmp) as (client, _storage):
        port = client.web_port
        web = TahoeWeb(port)
        web.call("POST", "/uri?t=mkdir")  # connections up

        async def mkdir(_i: int) -> object:
            return web.call("POST", "/uri?t=mkdir")

        out["mkdir"] = asyncio.run(_timed(mkdirs - 1, mkdir))
        start = time.perf_counter()

        def mkdirs_on_one_connection(count: int) -> None:
            conn = TahoeWeb(port)
            for _ in range(count):
                conn.call("POST", "/uri?t=mkdir")

        with ThreadPoolExecutor(PARALLEL) as threads:
            share = [mkdirs // PARALLEL + (t < mkdirs % PARALLEL) for t in range(PARALLEL)]
            list(threads.map(mkdirs_on_one_connection, share))
        out["mkdir_parallel"] = rate(mkdirs, time.perf_counter() - start)
        for size in SIZES:
            kids = {f"child-{i:05}": ["filenode", {"ro_uri": CHK}] for i in range(size)}
            body = json.dumps(kids).encode()
            dircap = web.call("POST", "/uri?t=mkdir-with-children", body).decode().strip()
            base = "/uri/" + urllib.parse.quote(dircap)

            async def add(i: int) -> object:
                return web.call("PUT", f"{base}/new-{i}?t=uri", CHK.encode())  # noqa: B023

            out[f"add{size}"] = asyncio.run(_timed(adds[size], add))

            async def get_json() -> bytes:
                return web.call("GET", f"{base}?t=json")  # noqa: B023

            body, out[f"list{size}"] = asyncio.run(_median_seconds(get_json))
            assert len(json.loads(body)[1]["children"]) == size + adds[size]
            out[f"json{size}"] = out[f"list{size}"]  # its listing is that JSON already
    return out


def tahoe_available() -> bool:
    venv = Path(os.environ.get("TAHOE_VENV", "/opt/tahoe-venv"))
    return (venv / "bin" / "tahoe").exists()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mkdirs", type=int, default=100, help="directories made (ours)")
    parser.add_argument("--adds", type=int, default=30, help="children added per size (ours)")
    parser.add_argument("--no-tahoe", action="store_true", help="skip the real Tahoe-LAFS 1.20")
    args = parser.parse_args()
    ours_adds = dict.fromkeys(SIZES, args.adds)
    tahoe_adds = {10: 10, 1000: 6, 5000: 3}  # Tahoe is slow; a few operations suffice
    with tempfile.TemporaryDirectory(prefix="lafs-bench-dirnode-") as tmpdir:
        tmp = Path(tmpdir)
        print(f"10 local storage nodes, k=3 happy=7 n=10, {os.cpu_count()} cores")
        ours = bench_ours(tmp, args.mkdirs, ours_adds)
        tahoe = None
        if not args.no_tahoe and tahoe_available():
            tahoe = bench_tahoe(tmp, 20, tahoe_adds)
    rows = [("mkdir/s (warm keys)", "mkdir", True)]
    rows += [(f"mkdir/s, {PARALLEL} in flight", "mkdir_parallel", True)]
    rows += [(f"add-child/s into {n:>5}", f"add{n}", True) for n in SIZES]
    rows += [(f"list {n:>5} children (s)", f"list{n}", False) for n in SIZES]
    rows += [(f"ls --json {n:>5} children (s)", f"json{n}", False) for n in SIZES]
    print(f"{'':28} {'ours':>10} {'Tahoe 1.20':>12} {'ratio':>8}")
    for label, key, higher_better in rows:
        mine = ours[key]
        line = f"{label:28} {mine:10.3f}"
        if tahoe is not None:
            theirs = tahoe[key]
            ratio = mine / theirs if higher_better else theirs / mine
            line += f" {theirs:12.3f} {ratio:7.1f}x"
        print(line)
    client_ms, nodes_ms = ours["mkdir_client_ms"], ours["mkdir_nodes_ms"]
    cores = os.cpu_count() or 1
    print(
        f"ours, {PARALLEL} mkdirs in flight: CPU-ms per mkdir: client {client_ms:.1f} "
        f"(keys and empty versions made beforehand), 10 nodes {nodes_ms:.1f}; all "
        f"{cores} cores busy would give {cores * 1000 / (client_ms + nodes_ms):.0f}/s"
    )


if __name__ == "__main__":
    main()
