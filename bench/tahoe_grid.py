"""The real Tahoe-LAFS 1.20 on the same machine, for `bench/grid.py --tahoe`.

Ten real storage nodes and one client node (k=3, happy=7, n=10, 1 MiB
segments, the 1.20 defaults), driven through the client's web API as
`tahoe put` / `tahoe get` do. The node harness is the interop tests' one
(tests/interop/conftest.py), so both start Tahoe the same way.
"""

import contextlib
import http.client
import statistics
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from grid import vm_hwm  # bench/grid.py

from tests.interop.conftest import (
    START_TIMEOUT,
    ServerEntry,
    TahoeClientNode,
    TahoeStorageNode,
    unused_ports,
    wait_until,
)


def _put(port: int, source: Path) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    with open(source, "rb") as body:
        conn.request(
            "PUT", "/uri", body=body, headers={"Content-Length": str(source.stat().st_size)}
        )
        response = conn.getresponse()
        text = response.read().decode()
    if response.status not in (200, 201):
        raise RuntimeError(f"Tahoe PUT /uri: {response.status} {text[-500:]}")
    return text.strip()


def _get(port: int, cap: str, out: Path) -> int:
    """The file's bytes into `out`, as `tahoe get CAP FILE` (and our `lafs get -o`) write."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    conn.request("GET", "/uri/" + urllib.parse.quote(cap))
    response = conn.getresponse()
    total = 0
    with open(out, "wb") as f:
        while chunk := response.read(1 << 20):
            total += f.write(chunk)
    if response.status != 200:
        raise RuntimeError(f"Tahoe GET: {response.status}")
    return total


@contextlib.contextmanager
def tahoe_nodes(
    tmp: Path, nodes: int = 10
) -> Iterator[tuple[TahoeClientNode, list[TahoeStorageNode]]]:
    """`nodes` real storage nodes and a client node connected to them (k=3, happy=7, n=10),
    under tmp/tahoe; all stopped afterwards."""
    work = tmp / "tahoe"
    work.mkdir()
    ports = unused_ports(nodes + 1)
    storage = [TahoeStorageNode(work / f"s{i}", ports[i]) for i in range(nodes)]
    client = TahoeClientNode(work / "client", ports[nodes], (3, 7, 10))
    everyone = [*storage, client]
    try:
        creating = [
            subprocess.Popen(
                n.create_command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            for n in everyone
        ]  # type: ignore[attr-defined]
        for p in creating:
            if p.wait(600):
                raise RuntimeError("tahoe create-node failed")
        for node in storage:
            node.configure()
            node.start()
        wait_until(lambda: all(n.ready() for n in storage), START_TIMEOUT, "Tahoe storage nodes")
        client.configure([ServerEntry.for_tahoe(n) for n in storage])
        client.start()
        client.wait_connected()
        yield client, storage
    finally:
        for node in everyone:
            node.stop()


def bench_tahoe(tmp: Path, source: Path, runs: int, nodes: int) -> dict[str, float]:
    with tahoe_nodes(tmp, nodes) as (client, storage):
        size = source.stat().st_size
        put_times, get_times = [], []
        for _ in range(runs):
            start = time.perf_counter()
            cap = _put(client.web_port, source)
            put_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            if _get(client.web_port, cap, tmp / "tahoe-out") != size:
                raise RuntimeError("Tahoe returned a different size")
            get_times.append(time.perf_counter() - start)
            (tmp / "tahoe-out").unlink()
            for node in storage:  # each run uploads afresh: drop the shares
                for share_dir in (node.storage_dir / "shares").glob("??"):
                    subprocess.run(["rm", "-rf", str(share_dir)], check=True)
        assert client.process is not None
        return {
            "put_MBps": size / statistics.median(put_times) / 1e6,
            "get_MBps": size / statistics.median(get_times) / 1e6,
            "client_rss": vm_hwm(client.process.pid),
            "node_rss": max(vm_hwm(n.process.pid) for n in storage if n.process),
        }
