"""Lease renewal from a root, then the storage nodes' expiry: unlinked files go, linked ones stay.

Five storage nodes of their own (expiry enabled with a 60-second lease
duration), so the crawler cannot touch other tests' shares. The crawler
runs against each stopped node's store with its clock set just before the
renewed leases would expire, instead of the test sleeping a lease duration.
"""

import asyncio
import os
import time

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.dirnode import make_child, parse_dir_cap
from lafs_core.grid_config import load_grid
from lafs_core.leases import renew_leases

from ..conftest import LEASE_SECONDS, Grid


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
    before = expiring_grid.share_bytes()
    assert all(base32.b2a(si) in before for si in kept + dropped)

    time.sleep(1.5)  # every lease granted so far is now older than any renewed one
    renewed_at = time.time()

    async def renew() -> None:
        async with Client(config) as client:
            stats = await renew_leases(client, [parse_dir_cap(root_text)])
            assert stats.objects == 11 and stats.complete, stats
            assert stats.leases_renewed == 11 * 5

    asyncio.run(renew())

    # Just inside the renewed leases' lifetime, past every older one.
    freed = expiring_grid.run_expiry(renewed_at + LEASE_SECONDS - 1)
    after = expiring_grid.share_bytes()
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
