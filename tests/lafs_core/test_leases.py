"""Lease renewal from a root, then the storage nodes' expiry: unlinked files go, linked ones stay.

Five storage nodes of their own (expiry enabled with a 60-second lease
duration), so the crawler cannot touch other tests' shares. The crawler
runs against each stopped node's store with its clock set just before the
renewed leases would expire, instead of the test sleeping a lease duration.
"""

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.dirnode import make_child, parse_dir_cap
from lafs_core.grid_config import format_grid, load_grid
from lafs_core.immutable.params import EncodingParams
from lafs_core.leases import renew_leases
from storage_node.backend import Backend
from storage_node.config import read_config
from storage_node.crawler import LeaseCrawler

from ..conftest import Grid, StorageNodeFactory

LEASE_SECONDS = 60


@pytest.fixture(scope="module")
def expiring_grid(
    storage_node_factory: StorageNodeFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Grid]:
    options = {
        "expire.enabled": "true",
        "expire.override_lease_duration": f"{LEASE_SECONDS}s",
        "crawler.first_delay": "86400",  # the test runs the crawler itself
    }
    nodes = storage_node_factory.create_many(5, storage_options=options)
    grid_file = tmp_path_factory.mktemp("expiring-grid") / "grid.toml"
    servers = [(f"node{i}", node.nurl) for i, node in enumerate(nodes)]
    grid_file.write_text(format_grid(EncodingParams(3, 4, 5), servers))
    yield Grid(nodes, grid_file)
    for node in nodes:
        node.stop()


def stored(grid: Grid) -> dict[str, int]:
    """Storage index (base32) -> bytes of its share files, over every node."""
    sizes: dict[str, int] = {}
    for node in grid.nodes:
        for path in (node.storage_dir / "shares").glob("??/*/*"):
            si = path.parent.name
            sizes[si] = sizes.get(si, 0) + path.stat().st_size
    return sizes


def test_unlinked_files_expire_and_linked_ones_stay(expiring_grid: Grid) -> None:
    config = load_grid(expiring_grid.grid_file)

    async def build() -> tuple[str, list[bytes], list[bytes]]:
        async with Client(config) as client:
            caps = await asyncio.gather(
                *(client.upload_bytes(os.urandom(300) + bytes([i])) for i in range(100))
            )
            root = await client.create_directory()
            await root.set_children(
                {
                    f"f{i:03}": (make_child(c.cap.to_string(), None), None)
                    for i, c in enumerate(caps)
                }
            )
            for i in range(10, 100):
                await root.delete(f"f{i:03}")
            sis = [c.cap.storage_index for c in caps]
            return root.cap.to_string(), sis[:10], sis[10:]

    root_text, kept, dropped = asyncio.run(build())
    before = stored(expiring_grid)
    assert all(base32.b2a(si) in before for si in kept + dropped)

    time.sleep(1.5)  # every lease granted so far is now older than any renewed one
    renewed_at = time.time()

    async def renew() -> None:
        async with Client(config) as client:
            stats = await renew_leases(client, [parse_dir_cap(root_text)])
            assert stats.objects == 11 and stats.complete, stats
            assert stats.leases_renewed == 11 * 5

    asyncio.run(renew())

    freed = 0
    for node in expiring_grid.nodes:
        node.stop()
        cfg = read_config(Path(node.node_dir))
        backend = Backend(cfg.storage_dir, cfg.nodeid)
        # Just inside the renewed leases' lifetime, past every older one.
        crawler = LeaseCrawler(backend, cfg.expiry, clock=lambda: renewed_at + LEASE_SECONDS - 1)
        report = crawler.run_cycle()
        freed += report.space_recovered
        node.start()
    after = stored(expiring_grid)
    assert not any(base32.b2a(si) in after for si in dropped)
    gone = sum(size for si, size in before.items() if si not in after)
    assert freed == gone and gone >= 90 * 5 * 300
    for si in kept:
        assert after[base32.b2a(si)] == before[base32.b2a(si)]
    assert len(after) == 11

    async def check() -> None:
        async with Client(config) as client:
            root = parse_dir_cap(root_text)
            listing = await client.directory(root).list()
            assert sorted(listing) == [f"f{i:03}" for i in range(10)]
            for child, _ in listing.values():
                assert (await client.check(child.cap, verify=True)).healthy  # type: ignore[arg-type]
            assert (await client.check(root)).healthy

    asyncio.run(check())
