"""The async storage client against real storage-node processes (lafs_core.storage_client)."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from lafs_core import storage_protocol as sp
from lafs_core.errors import (
    ServerIdentityError,
    StorageConnectionError,
    StorageError,
    StorageHTTPError,
)
from lafs_core.nurl import NURL, parse_nurl
from lafs_core.storage_client import StorageClient, WriteResult
from lafs_core.storage_protocol import AllocateResult, VersionInfo

from ..conftest import StorageNodeFactory, StorageNodeProcess

pytestmark = pytest.mark.anyio


def secrets() -> tuple[bytes, bytes, bytes]:
    return os.urandom(32), os.urandom(32), os.urandom(20)


async def test_wrong_spki_pin_is_refused(storage_nodes: list[StorageNodeProcess]) -> None:
    real = parse_nurl(storage_nodes[0].nurl)
    impostor_pin = parse_nurl(storage_nodes[1].nurl).spki_hash
    for pin in [impostor_pin, "A" * 43]:
        async with StorageClient(NURL(pin, real.host, real.port, real.swissnum)) as client:
            with pytest.raises(ServerIdentityError):
                await client.get_version()
            with pytest.raises(ServerIdentityError):
                await client.list_shares(os.urandom(16))


async def test_unreachable_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound but not listening: connections are refused
        port = s.getsockname()[1]
        async with StorageClient(NURL("A" * 43, "127.0.0.1", port, "x")) as client:
            with pytest.raises(StorageConnectionError):
                await client.get_version()


async def test_typed_results(storage_node: StorageNodeProcess) -> None:
    si = os.urandom(16)
    renew, cancel, upload = secrets()
    async with StorageClient(storage_node.nurl) as client:
        assert isinstance(await client.get_version(), VersionInfo)
        result = await client.allocate_buckets(si, renew, cancel, upload, range(4), 6)
        assert result == AllocateResult(frozenset(), frozenset(range(4)))
        assert await client.write_share_chunk(si, 0, upload, 0, b"abc") == WriteResult(
            False, [(3, 6)]
        )
        assert await client.write_share_chunk(si, 0, upload, 3, bytearray(b"def")) == (
            WriteResult(True, [])
        )
        assert await client.read_share_chunk(si, 0, 1, 4) == b"bcde"
        assert await client.read_share_chunk(si, 0, 0, 0) == b""
        for n in (1, 2, 3):
            await client.abort_upload(si, n, upload)
        again = await client.allocate_buckets(si, renew, cancel, os.urandom(20), [0, 1], 6)
        assert again == AllocateResult(frozenset({0}), frozenset({1}))


async def test_conflict_in_a_later_piece_writes_nothing(storage_node: StorageNodeProcess) -> None:
    """A 409 found after the server has streamed earlier pieces to disk counts nothing."""
    si = os.urandom(16)
    renew, cancel, upload = secrets()
    size = 3 * 1024 * 1024
    data = os.urandom(size)
    async with StorageClient(storage_node.nurl) as client:
        await client.allocate_buckets(si, renew, cancel, upload, [0], size)
        await client.write_share_chunk(si, 0, upload, size - 10, data[-10:])
        bad = data[: size - 10] + b"X" * 10
        with pytest.raises(StorageHTTPError) as e:
            await client.write_share_chunk(si, 0, upload, 0, bad)
        assert e.value.status == 409
        w = await client.write_share_chunk(si, 0, upload, 10, data[10:20])
        assert w.required == [(0, 10), (20, size - 10)]


async def test_concurrent_uploads_to_several_servers(
    storage_nodes: list[StorageNodeProcess],
) -> None:
    si = os.urandom(16)
    share_size = 1024 * 1024 + 17
    shares = {n: os.urandom(share_size) for n in range(6)}
    clients = [StorageClient(node.nurl) for node in storage_nodes]
    try:

        async def upload(n: int) -> None:
            client = clients[n % len(clients)]
            renew, cancel, up = secrets()
            res = await client.allocate_buckets(si, renew, cancel, up, [n], share_size)
            assert res.allocated == {n}
            view = memoryview(shares[n])
            pieces = [(o, view[o : o + 256 * 1024]) for o in range(0, share_size, 256 * 1024)]
            results = await asyncio.gather(
                *(client.write_share_chunk(si, n, up, o, p) for o, p in pieces)
            )
            assert sum(r.finished for r in results) == 1

        async with asyncio.TaskGroup() as tg:
            for n in shares:
                tg.create_task(upload(n))
        for n, data in shares.items():
            client = clients[n % len(clients)]
            assert n in await client.list_shares(si)
            got = await asyncio.gather(
                *(client.read_share_chunk(si, n, o, 100_000) for o in range(0, share_size, 100_000))
            )
            assert b"".join(got) == data
    finally:
        for c in clients:
            await c.aclose()


async def test_pooled_connections_outlive_a_node_restart(
    storage_node_factory: StorageNodeFactory,
) -> None:
    """Kept-alive connections die with the node; the next requests, sent on them before
    their end is noticed, go out again on fresh ones."""
    node = storage_node_factory.create()
    try:
        async with StorageClient(node.nurl, max_connections=4) as client:
            await asyncio.gather(*(client.get_version() for _ in range(8)))
            node.restart()  # blocks the loop: the ends of the old connections are seen late
            versions = await asyncio.gather(*(client.get_version() for _ in range(8)))
        assert all(isinstance(v, VersionInfo) for v in versions)
    finally:
        node.stop()


def test_error_hierarchy() -> None:
    assert issubclass(ServerIdentityError, StorageError)
    assert StorageHTTPError("x", 503).status == 503
    assert sp.MAX_CLIENT_CBOR_RESPONSE == 30 * 1024 * 1024
