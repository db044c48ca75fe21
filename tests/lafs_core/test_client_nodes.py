"""The `Client` makes and opens mutable files and directories (on ten real nodes)."""

import asyncio
import os

from lafs_core.client import Client
from lafs_core.dirnode.caps import parse_dir_cap
from lafs_core.mutable.caps import MutableWriteCap, parse_mutable_cap

from ..conftest import Grid


def test_directory_made_by_one_client_is_read_by_another(healthy_grid: Grid) -> None:
    data = os.urandom(70_000)

    async def write() -> tuple[str, str]:
        async with Client(healthy_grid.config()) as client:
            directory = await client.create_directory()
            cap = (await client.upload_bytes(data)).cap
            await directory.set_uri("photo.jpg", cap.to_string())
            sub = await directory.create_subdirectory("sub", await client.key_pool.get())
            await sub.set_uri("tiny", "URI:LIT:nbswy3dp")
            return directory.cap.to_string(), cap.to_string()

    async def read(dircap: str) -> tuple[list[str], bytes, bytes]:
        async with Client(healthy_grid.config()) as client:
            directory = client.directory(parse_dir_cap(dircap))
            names = sorted(await directory.list())
            photo = await directory.get("photo.jpg")
            sub_child = await directory.get("sub")
            sub = client.directory(sub_child.cap)  # type: ignore[arg-type]
            tiny = await sub.get("tiny")
            return names, await client.read_bytes(photo.cap), await client.read_bytes(tiny.cap)  # type: ignore[arg-type]

    dircap, _ = asyncio.run(write())
    names, photo, tiny = asyncio.run(read(dircap))
    assert names == ["photo.jpg", "sub"] and photo == data and tiny == b"hello"


def test_mutable_file_round_trip(healthy_grid: Grid) -> None:
    async def go() -> tuple[bytes, bytes]:
        async with Client(healthy_grid.config()) as client:
            node = await client.create_mutable(b"first version", format="mdmf")
            cap = parse_mutable_cap(node.cap.to_string())
            other = client.mutable(cap)  # type: ignore[arg-type]
            before = await other.download_best_version()
            await node.overwrite(b"second version")
            return before, await client.mutable(cap).download_best_version()  # type: ignore[arg-type]

    assert asyncio.run(go()) == (b"first version", b"second version")


def test_a_warm_key_pool_makes_directories_without_encoding(healthy_grid: Grid) -> None:
    """A server's client (key pool on) publishes the pool's empty first version, made in
    the key maker: the directory is an ordinary one to every reader and writer."""

    async def go() -> str:
        async with Client(healthy_grid.config(), key_pool_size=1) as client:
            ready = client.key_pool._ready
            while not ready[0].done():
                await asyncio.sleep(0.01)
            fresh = ready[0].result()
            assert fresh.empty is not None
            directory = await client.create_directory()
            si = MutableWriteCap.from_keypair(fresh.keys, "sdmf").storage_index
            assert directory.filenode is not None and directory.filenode.storage_index == si
            for shnum, server in enumerate(client.broker.permuted(si)):
                share = fresh.empty.shares[shnum]
                assert (
                    await server.client.read_mutable_share_chunk(si, shnum, 0, len(share) + 1)
                    == share
                )
            assert await directory.list() == {}
            await directory.set_uri("tiny", "URI:LIT:nbswy3dp")
            return directory.cap.to_string()

    dircap = asyncio.run(go())

    async def read() -> list[str]:
        async with Client(healthy_grid.config()) as client:
            return list(await client.directory(parse_dir_cap(dircap)).list())

    assert asyncio.run(read()) == ["tiny"]
