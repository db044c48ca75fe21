"""Directories under stress on 10 real storage nodes: concurrent writers, a node dying."""

import asyncio
import random
from typing import Any

import pytest

from lafs_core.client import Client
from lafs_core.dirnode.caps import DirectoryCap
from lafs_core.dirnode.errors import NotWriteableError
from lafs_core.dirnode.node import DirectoryNode
from lafs_core.mutable.errors import UncoordinatedWriteError
from lafs_core.mutable.servermap import Mode

LIT = "URI:LIT:mfqwc"


async def short_backoff(attempt: int, error: UncoordinatedWriteError) -> None:
    """Retry soon (a few ms, randomised so the writers drift apart); never give up early."""
    if attempt >= 50:
        raise error
    await asyncio.sleep(random.uniform(0, 0.02 * attempt))


def writer(client: Client, cap: DirectoryCap) -> DirectoryNode:
    node = client.directory(cap)
    assert node.filenode is not None
    node.filenode.backoff = short_backoff
    return node


def test_two_clients_add_100_children_each(grid: Any) -> None:
    async def go() -> tuple[set[str], int]:
        async with Client(grid.config()) as a, Client(grid.config()) as b:
            d = await a.create_directory()
            collisions = 0

            async def add_all(client: Client, prefix: str) -> None:
                nonlocal collisions
                node = writer(client, d.cap)
                assert node.filenode is not None
                counting = node.filenode.backoff

                async def count(attempt: int, error: UncoordinatedWriteError) -> None:
                    nonlocal collisions
                    collisions += 1
                    await counting(attempt, error)

                node.filenode.backoff = count
                for i in range(100):
                    await node.set_uri(f"{prefix}{i:03}", LIT)

            await asyncio.gather(add_all(a, "a"), add_all(b, "b"))
            fresh = Client(grid.config())
            async with fresh:
                return set(await fresh.directory(d.cap).list()), collisions

    names, collisions = asyncio.run(go())
    assert names == {f"a{i:03}" for i in range(100)} | {f"b{i:03}" for i in range(100)}
    assert collisions > 0  # the writers really interleaved


def test_read_only_caps_cannot_write(grid: Any) -> None:
    async def go() -> None:
        async with Client(grid.config()) as client:
            d = await client.create_directory("mdmf")
            await d.set_uri("kept", LIT)
            ro = client.directory(d.cap.readonly())
            sub = await client.create_directory()
            attempts = [
                ro.set_uri("x", LIT),
                ro.set_node("x", sub),
                ro.add_file("x", b"data"),
                ro.delete("kept"),
                ro.set_metadata_for("kept", {"a": 1}),
                ro.create_subdirectory("x", await client.key_pool.get()),
                ro.move_child_to("kept", d, "moved"),
            ]
            for attempt in attempts:
                with pytest.raises(NotWriteableError):
                    await attempt
            assert list(await d.list()) == ["kept"]
            mutable = client.mutable((await client.create_mutable(b"v1")).cap.readonly())
            with pytest.raises(NotWriteableError):
                await mutable.overwrite(b"v2")
            assert await mutable.download_best_version() == b"v1"

    asyncio.run(go())


def test_node_dies_during_publish(healthy_grid: Any) -> None:
    victim = healthy_grid.nodes[4]

    async def go() -> int:
        async with Client(healthy_grid.config()) as client:
            d = await client.create_directory()
            await d.set_uri("before", LIT)
            loop = asyncio.get_running_loop()
            killing = loop.run_in_executor(None, victim.kill)
            await asyncio.gather(d.set_uri("during", LIT), killing)
            await d.set_uri("after", LIT)
            assert d.filenode is not None
            smap = await d.filenode.get_servermap(Mode.CHECK)
            best = smap.best_recoverable()
            assert best is not None and best.seqnum == 4
            assert set(await client.directory(d.cap).list()) == {"before", "during", "after"}
            return len({server for (server, _), info in smap.shares.items() if info.prefix == best})

    holders = asyncio.run(go())
    assert victim.process.poll() is not None  # it really was down
    assert holders >= 7  # happy servers hold the new version
