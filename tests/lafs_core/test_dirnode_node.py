"""Mutable directories on 10 real storage nodes: list, set, delete, subdirectories, collisions."""

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from lafs_core.client import Client
from lafs_core.dirnode.caps import DirectoryCap, parse_dir_cap
from lafs_core.dirnode.children import make_child
from lafs_core.dirnode.errors import (
    ChildOfWrongTypeError,
    ExistingChildError,
    NoSuchChildError,
    NotWriteableError,
)
from lafs_core.dirnode.format import Entry, pack_children
from lafs_core.dirnode.node import DirectoryNode
from lafs_core.mutable.caps import MutableWriteCap
from lafs_core.mutable.errors import UncoordinatedWriteError
from lafs_core.mutable.keypool import KeyPool
from lafs_core.uri import LiteralCap

T = TypeVar("T")
CHK = (
    "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56"
)
LIT = "URI:LIT:mfqwc"
_POOL = KeyPool(size=2)


def run(make: Callable[[Client], Awaitable[T]], grid: Any) -> T:
    async def main() -> T:
        async with Client(grid.config()) as client:
            return await make(client)

    return asyncio.run(main())


async def no_wait(attempt: int, error: UncoordinatedWriteError) -> None:
    if attempt >= 10:
        raise error


def ticking() -> Callable[[], float]:
    counter = itertools.count(1)
    return lambda: 1700000000.0 + next(counter)


async def new_dir(client: Client, children: Any = None) -> DirectoryNode:
    return await DirectoryNode.create(
        client.broker, await _POOL.get(), client.config.lease_secret, children,
        backoff=no_wait, clock=ticking(),
    )  # fmt: skip


def test_create_list_set_delete(grid: Any) -> None:
    async def go(client: Client) -> None:
        d = await new_dir(client, {"file": (make_child(None, CHK), {"given": 1})})
        listing = await d.list()
        assert list(listing) == ["file"] and listing["file"][1] == {"given": 1}
        await d.set_uri("lit", LIT)
        child, md = await d.get_child_and_metadata("lit")
        assert child.ro_uri == LIT
        created = md["tahoe"]["linkcrtime"]
        assert md == {"tahoe": {"linkcrtime": created, "linkmotime": created}}
        await d.set_uri("lit", LIT, metadata={"k": "v", "tahoe": {"ignored": True}})
        _, md2 = await d.get_child_and_metadata("lit")
        assert md2["k"] == "v" and md2["tahoe"]["linkcrtime"] == created
        assert md2["tahoe"]["linkmotime"] > created and "ignored" not in md2["tahoe"]
        with pytest.raises(ExistingChildError):
            await d.set_uri("lit", CHK, overwrite=False)
        await d.set_uri("e\u0301", LIT)  # NFD in, NFC stored
        assert await d.has_child("\u00e9")
        assert (await d.delete("\u00e9")) is not None
        with pytest.raises(NoSuchChildError):
            await d.delete("\u00e9")
        assert await d.delete("\u00e9", must_exist=False) is None
        with pytest.raises(ChildOfWrongTypeError):
            await d.delete("lit", must_be_directory=True)
        with pytest.raises(NoSuchChildError):
            await d.get("nope")

    run(go, grid)


def test_subdirectories_paths_and_readonly(grid: Any) -> None:
    async def go(client: Client) -> None:
        root = await new_dir(client)
        sub = await root.create_subdirectory("sub", await _POOL.get())
        await sub.set_uri("deep.txt", None, CHK)
        child, md = await root.get_child_and_metadata_at_path("sub/deep.txt")
        assert child.ro_uri == CHK and "tahoe" in md  # type: ignore[union-attr]
        assert await root.get_child_at_path("") is root
        assert await root.get_child_at_path(["sub", "deep.txt"]) == child
        assert await sub.get_metadata_for("deep.txt") == md
        with pytest.raises(NoSuchChildError):
            await root.get_child_at_path("sub/deep.txt/below")
        # The write dircap child is stored with its write cap; readers see only read caps.
        subchild = await root.get("sub")
        assert subchild.rw_uri == sub.cap.to_string()
        ro = DirectoryNode.from_cap(root.cap.readonly(), root.filenode)  # type: ignore[arg-type]
        listing = await ro.list()
        assert listing["sub"][0].rw_uri is None
        assert listing["sub"][0].ro_uri == sub.cap.readonly().to_string()
        with pytest.raises(NotWriteableError):
            await ro.set_uri("x", LIT)
        with pytest.raises(NotWriteableError):
            await ro.delete("sub")
        # no-write metadata stores the read-only form
        mutable_file = make_child(sub.cap.to_string(), None)
        await root.set_child("frozen", mutable_file, {"no-write": True})
        frozen = await root.get("frozen")
        assert frozen.rw_uri is None and frozen.ro_uri == sub.cap.readonly().to_string()
        # move
        await root.move_child_to("frozen", sub, "moved")
        assert not await root.has_child("frozen")
        assert await sub.has_child("moved")
        # unknown caps are kept
        await root.set_uri("future", "x-tahoe-future:rw", "x-tahoe-future:ro")
        fut = await root.get("future")
        assert (
            fut.is_unknown
            and fut.rw_uri == "x-tahoe-future:rw"
            and fut.ro_uri == "ro.x-tahoe-future:ro"
        )
        reopened = DirectoryNode.from_cap(parse_dir_cap(root.cap.to_string()), root.filenode)  # type: ignore[arg-type]
        assert set(await reopened.list()) == {"sub", "future"}

    run(go, grid)


def test_concurrent_writers_both_land(grid: Any) -> None:
    async def go(client: Client) -> set[str]:
        d = await new_dir(client)
        assert isinstance(d.cap, DirectoryCap) and d.filenode is not None
        others = [DirectoryNode.from_cap(d.cap, d.filenode) for _ in range(3)]
        await asyncio.gather(*(o.set_uri(f"child{i}", LIT) for i, o in enumerate(others)))
        return set(await d.list())

    assert run(go, grid) == {"child0", "child1", "child2"}


def test_mdmf_directory(grid: Any) -> None:
    async def go(client: Client) -> None:
        d = await DirectoryNode.create(
            client.broker, await _POOL.get(), client.config.lease_secret,
            backoff=no_wait, clock=ticking(), format="mdmf",
        )  # fmt: skip
        assert d.cap.to_string().startswith("URI:DIR2-MDMF:")
        await d.set_uri("a", LIT)
        again = DirectoryNode.from_cap(parse_dir_cap(d.cap.to_string()), d.filenode)  # type: ignore[arg-type]
        assert list(await again.list()) == ["a"]
        ro = DirectoryNode.from_cap(d.cap.readonly(), d.filenode)  # type: ignore[arg-type]
        assert ro.cap.to_string().startswith("URI:DIR2-MDMF-RO:")
        assert list(await ro.list()) == ["a"]

    run(go, grid)


def test_immutable_directories(grid: Any) -> None:
    async def upload(body: bytes) -> Any:
        return (await client_ref[0].upload_bytes(body)).cap

    client_ref: list[Client] = []

    async def go(client: Client) -> None:
        client_ref.append(client)
        lit_dir = await DirectoryNode.create_immutable({}, upload)
        assert lit_dir.cap.to_string() == "URI:DIR2-LIT:"
        assert await lit_dir.list() == {}
        children = {
            "file": (make_child(None, CHK, True), {"m": 1}),
            "lit": (make_child(LIT, None, True), {}),
            "empty-dir": (make_child(None, lit_dir.cap.to_string(), True), {}),
            "future": (make_child(None, "x-tahoe-future:ro", True), {}),
        }
        d = await DirectoryNode.create_immutable(children, upload, client.read_bytes)
        assert d.cap.to_string().startswith("URI:DIR2-CHK:")
        listing = await d.list()
        assert listing["file"][0].ro_uri == CHK and listing["file"][1] == {"m": 1}
        assert listing["future"][0].ro_uri == "imm.x-tahoe-future:ro"
        sub = d.open_child(listing["empty-dir"][0])
        assert isinstance(sub, DirectoryNode) and await sub.list() == {}
        with pytest.raises(NotWriteableError):
            await d.set_uri("x", LIT)
        mutable = await new_dir(client)
        with pytest.raises(ValueError):
            await DirectoryNode.create_immutable(
                {"m": (make_child(mutable.cap.to_string(), None), {})}, upload
            )

    run(go, grid)


def test_nodes_files_and_metadata(grid: Any) -> None:
    async def go(client: Client) -> None:
        root = await client.create_directory()
        sub = await client.create_directory("mdmf")
        mfile = await client.create_mutable(b"mutable")
        assert await root.set_node("sub", sub, {"k": "v"}) is sub
        await root.set_nodes({"m": (mfile, None), "lit": (make_child(LIT, None), {})})
        small = await root.add_file("small", b"tiny", {"note": 1})
        big = await root.add_file("big", b"x" * 1000)
        assert small.ro_uri is not None and small.ro_uri.startswith("URI:LIT:")
        assert big.ro_uri is not None and big.ro_uri.startswith("URI:CHK:")
        listing = await root.list()
        assert set(listing) == {"sub", "m", "lit", "small", "big"}
        assert listing["sub"][0].rw_uri == sub.cap.to_string()
        assert listing["m"][0].rw_uri == mfile.cap.to_string()
        assert (await root.get_metadata_for("small"))["note"] == 1
        assert (await root.get_metadata_for("sub"))["k"] == "v"
        assert await client.read_bytes(big.cap) == b"x" * 1000  # type: ignore[arg-type]
        with pytest.raises(ExistingChildError):
            await root.add_file("big", b"other", overwrite=False)
        with pytest.raises(ExistingChildError):
            await root.set_node("sub", mfile, overwrite="only-files")
        await root.set_node("big", mfile, overwrite="only-files")
        assert (await root.get("big")).rw_uri == mfile.cap.to_string()
        ro = client.directory(root.cap.readonly())
        with pytest.raises(NotWriteableError):
            await ro.add_file("x", b"x")
        with pytest.raises(NotWriteableError):
            await ro.set_node("x", sub)
        with pytest.raises(NoSuchChildError):
            await ro.get_metadata_for("missing")

    run(go, grid)


def test_one_child_is_read_as_list_shows_it() -> None:
    """get/has_child look at one entry only, and agree with list() on refused children."""
    ssk_ro = MutableWriteCap(b"\1" * 16, b"\2" * 32).readonly().to_string()
    stored = {
        "file": Entry("file", LIT, None, {"n": 1}),
        "mutable": Entry("mutable", ssk_ro, None, {}),  # not allowed in an immutable directory
        "broken": Entry("broken", "URI:CHK:bad", None, {}),  # a malformed known cap
        "future": Entry("future", "x-tahoe-future:ro", None, {}),
    }
    d = DirectoryNode(DirectoryCap(LiteralCap(pack_children(stored, None, deep_immutable=True))))

    async def check() -> None:
        listing = await d.list()
        assert sorted(listing) == ["file", "future"]
        for name in [*stored, "absent"]:
            assert await d.has_child(name) == (name in listing)
            if name in listing:
                assert await d.get_child_and_metadata(name) == listing[name]
            else:
                with pytest.raises(NoSuchChildError):
                    await d.get(name)

    asyncio.run(check())
