"""SDMF publish, servermap, retrieve and modify against 10 real storage-node processes."""

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.grid_config import load_grid
from lafs_core.immutable.params import EncodingParams
from lafs_core.mutable.caps import Format, MutableWriteCap, parse_mutable_cap
from lafs_core.mutable.errors import (
    NotEnoughServersError,
    NotWriteableError,
    UncoordinatedWriteError,
    UnrecoverableFileError,
)
from lafs_core.mutable.keymaker import empty_version
from lafs_core.mutable.keypool import KeyPool
from lafs_core.mutable.keys import KeyPair, write_enabler, write_enabler_master
from lafs_core.mutable.node import MutableFileNode
from lafs_core.mutable.publish import publish
from lafs_core.mutable.retrieve import still_held
from lafs_core.mutable.servermap import Mode
from storage_node.container import MUTABLE_DATA_OFFSET

from ..conftest import Grid

T = TypeVar("T")
_POOL = KeyPool(size=2)


def run(make: Callable[[Client], Awaitable[T]], grid: Any) -> T:
    async def main() -> T:
        async with Client(grid.config()) as client:
            return await make(client)

    return asyncio.run(main())


async def no_wait(attempt: int, error: UncoordinatedWriteError) -> None:
    if attempt >= 10:
        raise error


def node_for(client: Client, cap: Any, keys: KeyPair | None = None) -> MutableFileNode:
    return MutableFileNode(
        client.broker, cap, client.config.lease_secret, keys=keys, backoff=no_wait
    )


async def create(
    client: Client, data: bytes, k: int = 3, n: int = 10, format: Format = "sdmf"
) -> MutableFileNode:
    keys = await _POOL.get()
    return await MutableFileNode.create(
        client.broker, keys, data, client.config.lease_secret, k, n, backoff=no_wait, format=format
    )


def share_files(grid: Any, si: bytes) -> list[tuple[int, Path]]:
    text = base32.b2a(si)
    out = []
    for i, node in enumerate(grid.nodes):
        bucket = node.storage_dir / "shares" / text[:2] / text
        if bucket.exists():
            out += [(i, p) for p in sorted(bucket.iterdir())]
    return out


def test_create_read_overwrite(grid: Any) -> None:
    async def go(client: Client) -> None:
        node = await create(client, b"first version")
        cap_text = node.cap.to_string()
        fresh = node_for(client, parse_mutable_cap(cap_text))
        assert await fresh.download_best_version() == b"first version"
        ro = node_for(client, parse_mutable_cap(node.cap.readonly().to_string()))
        assert await ro.download_best_version() == b"first version"
        await fresh.overwrite(b"second, longer version" * 100)
        assert await ro.download_best_version() == b"second, longer version" * 100
        smap = await ro.get_servermap(Mode.CHECK)
        best = smap.best_recoverable()
        assert best is not None and best.seqnum == 2
        assert len(smap.versions()) == 1 and smap.versions()[best] == set(range(10))
        with pytest.raises(NotWriteableError):
            await ro.overwrite(b"nope")

    run(go, grid)


def test_a_version_the_servers_have_no_room_for_leaves_the_last_one_whole(
    storage_node_factory: Any, tmp_path: Path
) -> None:
    """Nodes that may write files of at most 256 KiB refuse (507) a share that would grow
    past that before changing a byte of it: the publish fails as out of room (which the
    gateway answers 507), and the version before it still reads whole from every server."""
    nodes = storage_node_factory.create_many(3, file_size_limit=256 * 1024)
    names = [f"limited{i}" for i in range(3)]
    grid_file = Grid.write(nodes, tmp_path / "grid.toml", EncodingParams(2, 3, 3), names).grid_file
    small = b"the version that must survive " * 1000  # shares of ~15 KB

    async def go() -> None:
        async with Client(load_grid(grid_file)) as client:
            node = await create(client, small, k=2, n=3)
            with pytest.raises(NotEnoughServersError) as info:
                await node.overwrite(os.urandom(1_000_000))  # shares of ~500 KB
            assert info.value.no_room
            assert "no room on: limited0, limited1, limited2" in str(info.value)
            fresh = node_for(client, node.cap)
            assert await fresh.download_best_version() == small
            smap = await fresh.get_servermap(Mode.CHECK)
            best = smap.best_recoverable()
            assert best is not None and best.seqnum == 1
            assert smap.versions() == {best: {0, 1, 2}}

    asyncio.run(go())


def test_placement_and_write_enablers(grid: Any) -> None:
    async def go(client: Client) -> tuple[MutableWriteCap, list[Any]]:
        node = await create(client, b"placed")
        assert isinstance(node.cap, MutableWriteCap)
        return node.cap, client.broker.permuted(node.storage_index)

    cap, permuted = run(go, grid)
    files = share_files(grid, cap.storage_index)
    assert len(files) == 10
    cfg = grid.config()
    by_nurl = {str(s.nurl): s for s in cfg.servers}
    wem = write_enabler_master(cap.writekey)
    for node_index, path in files:
        server = by_nurl[grid.nodes[node_index].nurl]
        shnum = int(path.name)
        # share i on the i-th server of the permuted ring
        assert permuted[shnum].config.nurl == server.nurl
        raw = path.read_bytes()
        assert raw[52:84] == write_enabler(wem, server.lease_seed)


def test_empty_and_small_k(grid: Any) -> None:
    async def go(client: Client) -> None:
        empty = await create(client, b"")
        assert await node_for(client, empty.cap).download_best_version() == b""
        one = await create(client, b"x" * 1000, k=1, n=2)
        assert await node_for(client, one.cap).download_best_version() == b"x" * 1000

    run(go, grid)


def test_a_first_version_encoded_ahead_is_published_as_it_is(grid: Any) -> None:
    """The key pool's empty first version: its very shares land on the servers; one that
    does not fit the publish (contents, encoding, format) is refused before any write."""

    async def go(client: Client) -> tuple[bytes, tuple[bytes, ...]]:
        keys = await _POOL.get()
        first = empty_version(keys, 3, 10)
        secret = client.config.lease_secret
        misfits: list[tuple[bytes, int, Format]] = [
            (b"x", 3, "sdmf"),
            (b"", 2, "sdmf"),
            (b"", 3, "mdmf"),
        ]
        for contents, k, fmt in misfits:
            with pytest.raises(ValueError, match="does not fit"):
                await MutableFileNode.create(
                    client.broker, keys, contents, secret, k, 10, format=fmt, first=first
                )
        refused = [cap.storage_index for cap in (
            MutableWriteCap.from_keypair(keys, "sdmf"), MutableWriteCap.from_keypair(keys, "mdmf")
        )]  # fmt: skip
        assert not any(share_files(grid, si) for si in refused)
        node = await MutableFileNode.create(client.broker, keys, b"", secret, first=first)
        assert await node_for(client, node.cap).download_best_version() == b""
        return node.storage_index, first.shares

    si, shares = run(go, grid)
    files = share_files(grid, si)
    assert len(files) == 10
    for _, path in files:
        share = shares[int(path.name)]
        assert path.read_bytes()[MUTABLE_DATA_OFFSET : MUTABLE_DATA_OFFSET + len(share)] == share


def test_missing_file_is_unrecoverable(grid: Any) -> None:
    async def go(client: Client) -> None:
        keys = await _POOL.get()
        node = node_for(client, MutableWriteCap.from_keypair(keys))
        with pytest.raises(UnrecoverableFileError):
            await node.download_best_version()
        with pytest.raises(UnrecoverableFileError):
            await node.overwrite(b"x")

    run(go, grid)


def test_modify_and_concurrent_modifiers(grid: Any) -> None:
    async def go(client: Client) -> bytes:
        node = await create(client, b"start")
        calls: list[bool] = []

        def add(word: bytes) -> Callable[[bytes, bool], bytes | None]:
            def modifier(old: bytes, first_time: bool) -> bytes | None:
                calls.append(first_time)
                parts = old.split(b",")
                return None if word in parts else old + b"," + word

            return modifier

        await node.modify(add(b"a"))
        await node.modify(add(b"a"))  # idempotent: no change, no publish
        writers = [node_for(client, node.cap) for _ in range(4)]
        await asyncio.gather(*(w.modify(add(b"w%d" % i)) for i, w in enumerate(writers)))
        return await node_for(client, node.cap).download_best_version()

    result = run(go, grid)
    assert set(result.split(b",")) == {b"start", b"a", b"w0", b"w1", b"w2", b"w3"}


def test_stale_servermap_collides(grid: Any) -> None:
    async def go(client: Client) -> None:
        node = await create(client, b"v1")
        smap = await node.get_servermap(Mode.WRITE)
        assert node._keys is not None
        servers = client.broker.permuted(node.storage_index)
        cap, keys, secret = node.cap, node._keys, client.config.lease_secret
        assert isinstance(cap, MutableWriteCap)
        await publish(servers, cap, keys, b"v2 by A", smap, secret, 3, 10)
        with pytest.raises(UncoordinatedWriteError):
            await publish(servers, cap, keys, b"v2 by B", smap, secret, 3, 10)
        # modify settles whatever mix is left
        await node.modify(lambda old, first: old + b"!")
        assert (await node.download_best_version()).endswith(b"!")

    run(go, grid)


def test_corrupt_shares_are_skipped(grid: Any) -> None:
    async def go(client: Client) -> MutableFileNode:
        return await create(client, b"precious data " * 50)

    node = run(go, grid)
    files = share_files(grid, node.storage_index)
    # Flip a byte in the block of shares 0 and 1, and in the signature of share 2.
    for _, path in files:
        shnum = int(path.name)
        if shnum in (0, 1, 2):
            raw = bytearray(path.read_bytes())
            pos = MUTABLE_DATA_OFFSET + (
                500 if shnum == 2 else len(raw) - MUTABLE_DATA_OFFSET - 1300
            )
            raw[pos] ^= 0x40
            path.write_bytes(bytes(raw))

    async def read(client: Client) -> bytes:
        return await node_for(client, node.cap).download_best_version()

    assert run(read, grid) == b"precious data " * 50


def test_survives_a_dead_server(healthy_grid: Any) -> None:
    async def go(client: Client) -> MutableFileNode:
        return await create(client, b"resilient")

    node = run(go, healthy_grid)
    healthy_grid.nodes[0].kill()
    healthy_grid.nodes[5].kill()

    async def read_and_write(client: Client) -> bytes:
        n = node_for(client, node.cap)
        await n.overwrite(b"resilient 2")
        return await n.download_best_version()

    assert run(read_and_write, healthy_grid) == b"resilient 2"


def test_key_pool_gives_distinct_keys() -> None:
    async def go() -> list[KeyPair]:
        pool = KeyPool(size=1)
        try:
            return [await pool.get(), await pool.get()]
        finally:
            pool.close()

    a, b = asyncio.run(go())
    assert a != b and len(a.pubkey_der) == 294


def test_mdmf_file_on_the_grid(grid: Any) -> None:
    big = bytes(range(256)) * 1200  # 307200 bytes: three segments

    async def go(client: Client) -> None:
        node = await create(client, b"small mdmf", format="mdmf")
        assert node.cap.to_string().startswith("URI:MDMF:")
        fresh = node_for(client, parse_mutable_cap(node.cap.to_string()))
        assert await fresh.download_best_version() == b"small mdmf"
        await fresh.overwrite(big)
        ro = node_for(client, parse_mutable_cap(node.cap.readonly().to_string()))
        assert await ro.download_best_version() == big
        await node.modify(lambda old, first: old + b"!")
        assert await ro.download_best_version() == big + b"!"
        smap = await ro.get_servermap(Mode.CHECK)
        best = smap.best_recoverable()
        assert best is not None and best.seqnum == 3 and len(smap.versions()) == 1
        empty = await create(client, b"", format="mdmf")
        assert await node_for(client, empty.cap).download_best_version() == b""

    run(go, grid)


def test_still_held_sees_another_writers_version(grid: Any) -> None:
    async def go(client: Client) -> list[bool]:
        node = await create(client, b"first")
        smap = await node.get_servermap(Mode.READ)
        best = smap.best_recoverable()
        assert best is not None
        holders = smap.holders(best)[:2]
        si = node.storage_index
        seen = [await still_held(holders, si, best), await still_held([], si, best)]
        await node_for(client, node.cap).overwrite(b"second, by another writer")
        seen.append(await still_held(holders, si, best))
        return seen

    assert run(go, grid) == [True, False, False]


def count_calls(client: Client, names: tuple[str, ...]) -> list[str]:
    """Record which storage-client calls are made from now on (the calls still go out)."""
    asked: list[str] = []
    for server in client.broker.servers:
        for name in names:
            method = getattr(server.client, name)

            async def counted(*args, _method=method, _name=name):  # type: ignore[no-untyped-def]
                asked.append(_name)
                return await _method(*args)

            setattr(server.client, name, counted)
    return asked


def test_a_writer_asks_each_server_once(grid: Any) -> None:
    """With the write cap, a servermap update reads every share a server holds with one
    read-test-write (no writes, so nothing changes); a reader lists, then reads."""
    names = ("list_mutable_shares", "read_mutable_share_chunk", "read_test_write")

    async def go(client: Client) -> tuple[list[str], list[str], bytes]:
        node = await create(client, b"asked once")
        asked = count_calls(client, names)
        writer = node_for(client, node.cap)
        smap = await writer.get_servermap(Mode.WRITE)
        as_writer = sorted(asked)
        asked.clear()
        reader = node_for(client, node.cap.readonly())
        await reader.get_servermap(Mode.WRITE)
        as_reader = sorted(set(asked))
        best = smap.best_recoverable()
        assert best is not None and len(smap.holders(best)) == 10
        return as_writer, as_reader, await writer.download_best_version()

    as_writer, as_reader, data = run(go, grid)
    assert as_writer == ["read_test_write"] * 10
    assert as_reader == ["list_mutable_shares", "read_mutable_share_chunk"]
    assert data == b"asked once"


def test_a_share_under_another_write_enabler_is_still_found(grid: Any) -> None:
    """A share whose write enabler differs (its server was moved) refuses the writer's
    one-request query; the server is then asked as a reader would, and the share counts."""

    async def go(client: Client) -> MutableFileNode:
        return await create(client, b"moved server")

    node = run(go, grid)
    (index, path), *_ = share_files(grid, node.storage_index)
    raw = bytearray(path.read_bytes())
    raw[52:84] = bytes(32)
    path.write_bytes(raw)

    async def look(client: Client) -> int:
        smap = await node_for(client, node.cap).get_servermap(Mode.WRITE)
        best = smap.best_recoverable()
        assert best is not None
        return len(smap.holders(best))

    assert run(look, grid) == 10
