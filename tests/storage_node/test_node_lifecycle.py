"""Node processes: crash and restart, clean stop, reserved space, advisories on the CLI."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lafs_core import base32
from lafs_core import storage_protocol as sp
from lafs_core.errors import ShareNotFoundError, StorageHTTPError
from lafs_core.nurl import parse_nurl
from lafs_core.storage_client import StorageClient
from storage_node.backend import IMMUTABLE_OVERHEAD
from storage_node.cli import LOCK_FILE as NODE_LOCK_FILE
from storage_node.local_grid import LocalGrid
from storage_node.startup import lock_directory

from ..conftest import StorageNodeFactory, storage_node_command
from .helpers import RawClient, random_si


def _incoming_files(node_dir: os.PathLike[str]) -> list[str]:
    incoming = os.path.join(node_dir, "storage", "shares", "incoming")
    return [os.path.join(d, f) for d, _, files in os.walk(incoming) for f in files]


@pytest.mark.anyio
async def test_kill_mid_upload_discards_partial_share(
    storage_node_factory: StorageNodeFactory,
) -> None:
    node = storage_node_factory.create()
    si = random_si()
    renew, cancel, upload = os.urandom(32), os.urandom(32), os.urandom(20)
    size = 4 * 1024 * 1024
    async with node.client() as client:
        await client.allocate_buckets(si, renew, cancel, upload, [0, 1], size)
        await client.write_share_chunk(si, 0, upload, 0, os.urandom(size // 2))
    # Start a PATCH whose body never finishes, then crash the node under it.
    async with RawClient(node.nurl) as raw:
        _, writer = await raw.open_tls()
        secret = sp.secret_header_values({sp.UPLOAD: upload})[0]
        head = (
            f"PATCH {sp.immutable_share_path(si, 0)} HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: {raw.auth}\r\n{sp.SECRET_HEADER}: {secret}\r\n"
            f"Content-Range: bytes {size // 2}-{size - 1}/*\r\n"
            f"Content-Length: {size // 2}\r\n\r\n"
        )
        writer.write(head.encode() + os.urandom(size // 4))
        await writer.drain()
        await asyncio.sleep(0.5)
        assert len(_incoming_files(node.node_dir)) == 2
        node.kill()
        writer.close()
    assert len(_incoming_files(node.node_dir)) == 2  # the crash left them behind
    node.start()
    assert _incoming_files(node.node_dir) == []
    incoming = node.storage_dir / "shares" / "incoming"
    assert incoming.is_dir() and not any(incoming.iterdir())
    async with node.client() as client:
        assert await client.list_shares(si) == frozenset()
        # The upload is forgotten: writing is 404, and the shares can be allocated anew.
        with pytest.raises(ShareNotFoundError):
            await client.write_share_chunk(si, 0, upload, size // 2, b"x")
        again = await client.allocate_buckets(si, renew, cancel, os.urandom(20), [0, 1], size)
        assert again.allocated == {0, 1}
    node.stop()


@pytest.mark.anyio
async def test_a_second_process_on_a_node_is_refused_and_changes_nothing(
    storage_node_factory: StorageNodeFactory, tmp_path: Path
) -> None:
    """Started by mistake on a node directory already served, a second `storage-node run`
    says so and exits before its backend would wipe the first one's uploads in progress;
    one whose port is taken says that. The upload in progress then completes."""
    node = storage_node_factory.create()
    si, upload, size = random_si(), os.urandom(20), 100_000
    data = os.urandom(size)
    async with node.client() as client:
        await client.allocate_buckets(si, os.urandom(32), os.urandom(32), upload, [0], size)
        await client.write_share_chunk(si, 0, upload, 0, data[: size // 2])
        second = subprocess.run(
            [*storage_node_command(), "run", str(node.node_dir)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert second.returncode == 1 and "Traceback" not in second.stderr
        assert second.stderr == (
            f"storage-node: node directory {node.node_dir} is in use by another process "
            f"(pid {node.process.pid})\n"  # type: ignore[union-attr]
        )
        assert len(_incoming_files(node.node_dir)) == 1
        result = await client.write_share_chunk(si, 0, upload, size // 2, data[size // 2 :])
        assert result.finished
        assert await client.read_share_chunk(si, 0, 0, size) == data
    port = parse_nurl(node.nurl).port
    other = tmp_path / "other"
    subprocess.run(
        [*storage_node_command(), "create", str(other), "--port", str(port)],
        check=True, capture_output=True,
    )  # fmt: skip
    taken = subprocess.run(
        [*storage_node_command(), "run", str(other)], capture_output=True, text=True, timeout=60
    )
    assert taken.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in taken.stderr
    node.stop()


def test_a_second_local_grid_on_one_directory_is_refused(tmp_path: Path) -> None:
    command = [*storage_node_command(), "local-grid", str(tmp_path), "--nodes", "2"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as first:
        try:
            assert first.stdout is not None
            assert "2 storage nodes running" in first.stdout.readline()
            second = subprocess.run(command, capture_output=True, text=True, timeout=60)
            assert second.returncode == 1 and "2 storage nodes running" not in second.stdout
            assert second.stderr == (
                f"storage-node: grid directory {tmp_path} is in use by another process "
                f"(pid {first.pid})\n"
            )
            assert first.poll() is None
        finally:
            first.terminate()
            assert first.wait(30) == 0


def test_clean_stop_discards_uploads_in_progress(storage_node_factory: StorageNodeFactory) -> None:
    node = storage_node_factory.create()

    async def allocate() -> None:
        async with node.client() as client:
            await client.allocate_buckets(
                random_si(), os.urandom(32), os.urandom(32), os.urandom(20), [0], 100
            )

    asyncio.run(allocate())
    assert len(_incoming_files(node.node_dir)) == 1
    assert node.stop() == 0
    assert _incoming_files(node.node_dir) == []


@pytest.mark.anyio
async def test_reserved_space_refuses_allocation(storage_node_factory: StorageNodeFactory) -> None:
    node = storage_node_factory.create(reserved_space="1000P")
    si = random_si()
    async with node.client() as client:
        version = await client.get_version()
        assert version.available_space == 0 == version.maximum_immutable_share_size
        result = await client.allocate_buckets(
            si, os.urandom(32), os.urandom(32), os.urandom(20), [0, 1, 2], 1000
        )
        assert result.allocated == frozenset() and result.already_have == frozenset()
    assert _incoming_files(node.node_dir) == []
    si_text = base32.b2a(si)
    assert not (node.storage_dir / "shares" / si_text[:2] / si_text).exists()
    node.stop()


@pytest.mark.anyio
async def test_a_node_that_may_not_write_large_files_declines_large_shares(
    storage_node_factory: StorageNodeFactory,
) -> None:
    """A node process under a file-size limit (RLIMIT_FSIZE, as a service manager may set)
    advertises the largest share it can hold and declines larger ones; it stays up, and
    smaller shares are written whole."""
    limit = 256 * 1024
    node = storage_node_factory.create(file_size_limit=limit)
    largest = limit - IMMUTABLE_OVERHEAD
    big, small = random_si(), random_si()
    async with node.client() as client:
        version = await client.get_version()
        assert version.maximum_immutable_share_size == largest < version.available_space
        result = await client.allocate_buckets(
            big, os.urandom(32), os.urandom(32), os.urandom(20), [0, 1], largest + 1
        )
        assert result.allocated == frozenset()
        upload = os.urandom(20)
        result = await client.allocate_buckets(
            small, os.urandom(32), os.urandom(32), upload, [0], largest
        )
        assert result.allocated == frozenset({0})
        data = os.urandom(largest)
        assert (await client.write_share_chunk(small, 0, upload, 0, data)).finished
        assert await client.read_share_chunk(small, 0, 0, largest) == data
    assert _incoming_files(node.node_dir) == []
    big_text = base32.b2a(big)
    assert not (node.storage_dir / "shares" / big_text[:2] / big_text).exists()
    assert node.process is not None and node.process.poll() is None
    node.stop()


@pytest.mark.anyio
async def test_corruption_advisories_listed_by_cli(
    storage_node_factory: StorageNodeFactory,
) -> None:
    node = storage_node_factory.create()
    si, msi = random_si(), random_si()
    renew, cancel, upload = os.urandom(32), os.urandom(32), os.urandom(20)
    async with node.client() as client:
        await client.allocate_buckets(si, renew, cancel, upload, [2], 3)
        await client.write_share_chunk(si, 2, upload, 0, b"abc")
        await client.advise_corrupt_share(si, 2, "block hash\nmismatch")
        await client.read_test_write(
            msi,
            os.urandom(32),
            renew,
            cancel,
            {0: sp.TestWriteVectors(write=(sp.WriteVector(0, b"x"),))},
        )
        await client.advise_corrupt_mutable_share(msi, 0, "bad signature")
    done = await asyncio.to_thread(
        subprocess.run,
        [*storage_node_command(), "corruption", str(node.node_dir)],
        check=True,
        capture_output=True,
        text=True,
    )
    out = done.stdout
    lines = out.strip().splitlines()
    assert len(lines) == 2
    fields = sorted(line.split("\t")[1:] for line in lines)
    assert fields == [
        ["immutable", base32.b2a(si), "2", "block hash\\nmismatch"],
        ["mutable", base32.b2a(msi), "0", "bad signature"],
    ]
    files = sorted((node.storage_dir / "corruption-advisories").iterdir())
    texts = sorted(f.read_text() for f in files)
    assert (
        f"report: Share Corruption\ntype: immutable\nstorage_index: {base32.b2a(si)}\n"
        "share_number: 2\n\nblock hash\nmismatch\n\n"
    ) in texts
    node.stop()


def test_create_makes_private_files_and_prints_nurl(tmp_path: os.PathLike[str]) -> None:
    node_dir = os.path.join(tmp_path, "n")
    out = subprocess.run(
        [
            *storage_node_command(),
            "create",
            node_dir,
            "--port",
            "4567",
            "--reserved-space",
            "10MiB",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    last = out.strip().splitlines()[-1]
    assert last.startswith("pb://") and last.endswith(":4567/" + last.rsplit("/", 1)[1])
    for name in ("private/node.pem", "private/swissnum"):
        assert os.stat(os.path.join(node_dir, name)).st_mode & 0o777 == 0o600
    assert os.path.isdir(os.path.join(node_dir, "storage", "shares"))
    again = subprocess.run(
        [*storage_node_command(), "create", node_dir], check=False, capture_output=True, text=True
    )
    assert again.returncode != 0


def test_a_local_grid_waits_for_nodes_still_stopping(tmp_path: Path) -> None:
    """A node directory still locked by a process on its way out (the nodes of a gateway
    killed just before) holds up the grid's start for as long, not for ever."""
    grid = LocalGrid(tmp_path / "grid", 2)
    grid.create()
    stopping = lock_directory(grid.node_dirs()[0], NODE_LOCK_FILE, "node directory")
    threading.Timer(1.0, stopping.close).start()
    began = time.monotonic()
    grid.start()
    try:
        assert time.monotonic() - began >= 1.0
        assert all(p.poll() is None for p in grid.processes)
    finally:
        grid.stop()


def test_a_local_grid_is_reached_through_its_nodes_unix_sockets(tmp_path: Path) -> None:
    """Each node also listens on private/node.sock (0600; gone after a clean stop) and the
    grid file names it: a client on this machine gets there with no TCP port at all (here
    every NURL's port is wrong), and the socket still wants the node's swissnum."""
    from lafs_core.grid import StorageBroker
    from lafs_core.grid_config import format_grid, load_grid

    grid = LocalGrid(tmp_path / "grid", 2)
    # a grid file written before nodes had sockets gains them; one edited since is kept
    grid.create()
    servers = [(d.name, (d / "node.nurl").read_text().strip(), None) for d in grid.node_dirs()]
    grid.grid_file.write_text(format_grid(grid.encoding, servers) + "# mine\n")
    grid.create()
    assert "local-socket" not in grid.grid_file.read_text()
    grid.grid_file.write_text(format_grid(grid.encoding, servers))
    grid.start()
    sockets = [d / "private" / "node.sock" for d in grid.node_dirs()]
    try:
        assert [oct(s.stat().st_mode & 0o777) for s in sockets] == ["0o600", "0o600"]
        text = grid.grid_file.read_text()
        assert 'local-socket = "node1/private/node.sock"' in text
        no_tcp = tmp_path / "grid" / "no-tcp.toml"
        no_tcp.write_text(re.sub(r"@127\.0\.0\.1:\d+/", "@127.0.0.1:1/", text))
        config = load_grid(no_tcp)
        assert config.servers[0].local_socket == str(sockets[0])

        async def use() -> None:
            broker = StorageBroker(config)
            try:
                for server in broker.servers:
                    assert (await server.client.get_version()).available_space > 0
            finally:
                await broker.aclose()
            wrong = dataclasses.replace(config.servers[0].nurl, swissnum="wrong" * 6)
            impostor = StorageClient(wrong, unix_socket=str(sockets[0]))
            try:
                with pytest.raises(StorageHTTPError) as exc:
                    await impostor.get_version()
                assert exc.value.status == 401
            finally:
                await impostor.aclose()

        asyncio.run(use())
    finally:
        grid.stop()
    assert not any(s.exists() for s in sockets)
