"""The `Client` makes and opens mutable files and directories (on ten real nodes)."""

import asyncio
import os

from lafs_core.client import Client
from lafs_core.dirnode.caps import parse_dir_cap
from lafs_core.mutable.caps import parse_mutable_cap

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
