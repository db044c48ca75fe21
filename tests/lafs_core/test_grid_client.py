"""The grid client against ten real storage-node processes: placement, faults, corruption."""

import asyncio
import os
import random
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from lafs_core.client import Client
from lafs_core.errors import NotEnoughSharesError
from lafs_core.grid_config import GridConfig, load_grid
from lafs_core.immutable.local import encode_bytes
from lafs_core.immutable.params import EncodingParams
from lafs_core.immutable.uploader import UploadUnhappinessError
from lafs_core.nurl import parse_nurl
from lafs_core.placement import happiness
from lafs_core.uri import CHKReadCap, LiteralCap
from storage_node.backend import IMMUTABLE_OVERHEAD

from ..conftest import Grid


async def put(config: GridConfig, data: bytes):  # type: ignore[no-untyped-def]
    async with Client(config) as client:
        return await client.upload_bytes(data)


async def get(
    config: GridConfig, cap: CHKReadCap | LiteralCap, offset: int = 0, size: int | None = None
) -> bytes:
    async with Client(config) as client:
        return b"".join([c async for c in client.read(cap, offset, size)])


def share_files(grid: Grid, storage_index: bytes) -> list[Path]:
    from lafs_core.base32 import b2a

    si = b2a(storage_index)
    return [p for node in grid.nodes for p in (node.storage_dir / "shares" / si[:2] / si).glob("*")]


def put_chk(grid: Grid, size: int) -> tuple[bytes, CHKReadCap, dict[int, Path]]:
    """Upload `size` random bytes as a CHK file: (the bytes, its cap, its share files by number)."""
    data = os.urandom(size)
    cap = asyncio.run(put(grid.config(), data)).cap
    assert isinstance(cap, CHKReadCap)
    return data, cap, {int(p.name): p for p in share_files(grid, cap.storage_index)}


def test_round_trip_sizes_and_placement(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    for size in (0, 55, 56, 1000, 3 * 1024 * 1024 + 1):
        data = os.urandom(size)
        result = asyncio.run(put(config, data))
        assert asyncio.run(get(config, result.cap)) == data
        if size > 55:
            assert isinstance(result.cap, CHKReadCap)
            assert result.pushed_shares == 10 and result.preexisting_shares == 0
            assert result.happiness == 10  # ten servers, one share each
            assert sorted(result.sharemap) == list(range(10))
            expected, _ = encode_bytes(data, config.encoding, config.convergence_secret)
            assert result.cap == expected  # same cap as `lafs cap` computes offline
            assert len(share_files(healthy_grid, result.cap.storage_index)) == 10
        else:
            assert isinstance(result.cap, LiteralCap)


def _count_requests(
    client: Client,
    asked: list[str],
    by: list[str] | None = None,
    names: tuple[str, ...] = ("list_shares", "read_share_chunk"),
) -> None:
    for server in client.broker.servers:
        for name in names:
            method = getattr(server.client, name)

            async def counted(*args, _method=method, _name=name, _server=server.nickname):  # type: ignore[no-untyped-def]
                asked.append(_name)
                if by is not None:
                    by.append(_server)
                return await _method(*args)

            setattr(server.client, name, counted)


def test_small_file_is_read_with_k_requests_where_its_shares_should_be(
    healthy_grid: Grid,
) -> None:
    """Shares 0..k-1 are read whole from the first k servers of the ring; a share missing
    there makes the download ask every server, and it still succeeds."""
    config = healthy_grid.config()
    data, cap, files = put_chk(healthy_grid, 20_000)

    async def download() -> tuple[bytes, list[str], dict[str, set[int]]]:
        asked: list[str] = []
        async with Client(config) as client:
            _count_requests(client, asked)
            download = client.download(cap)
            body = b"".join([c async for c in download.chunks()])
            return body, asked, download.result.servermap

    body, asked, servermap = asyncio.run(download())
    assert body == data
    assert asked == ["read_share_chunk"] * 3
    assert sorted(n for shares in servermap.values() for n in shares) == [0, 1, 2]
    files[1].unlink()
    body, asked, servermap = asyncio.run(download())
    assert body == data
    assert asked.count("list_shares") == 10
    assert len(servermap) == 9  # every server that answered with shares


def test_download_asks_a_server_that_failed_its_guessed_read_no_more(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data, cap, files = put_chk(healthy_grid, 20_000)
    victim = next(n for n in healthy_grid.nodes if n.node_dir in files[0].parents)
    victim.stop()

    async def download() -> tuple[bytes, list[str], dict[str, str]]:
        asked: list[str] = []
        servers: list[str] = []
        async with Client(config) as client:
            _count_requests(client, asked, servers)
            download = client.download(cap)
            body = b"".join([c async for c in download.chunks()])
            gone = parse_nurl(victim.nurl)
            nickname = next(s.nickname for s in client.broker.servers if s.config.nurl == gone)
            assert servers.count(nickname) == 1  # the guessed read, not discovery too
            return body, asked, download.result.unreachable_servers

    body, asked, unreachable = asyncio.run(download())
    assert body == data
    assert asked.count("list_shares") == 9
    assert len(unreachable) == 1


def test_reupload_pushes_nothing(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data = os.urandom(100_000)
    first = asyncio.run(put(config, data))
    again = asyncio.run(put(config, data))
    assert again.cap == first.cap
    assert again.pushed_shares == 0 and again.preexisting_shares == 10


def test_upload_allocates_where_placement_expects_without_asking_first(
    healthy_grid: Grid,
) -> None:
    """No server is asked which shares it holds when the first n servers of the ring take
    share i each; with one of them down, the upload asks every other server and is happy."""
    config = healthy_grid.config()

    async def upload(data: bytes) -> tuple[Any, list[str]]:
        asked: list[str] = []
        async with Client(config) as client:
            _count_requests(client, asked)
            return await client.upload_bytes(data), asked

    result, asked = asyncio.run(upload(os.urandom(50_000)))
    assert asked == [] and result.pushed_shares == 10 and result.happiness == 10
    assert {n: len(servers) for n, servers in result.sharemap.items()} == dict.fromkeys(
        range(10), 1
    )
    healthy_grid.nodes[0].stop()
    data = os.urandom(50_000)
    result, asked = asyncio.run(upload(data))
    assert asked.count("list_shares") == 9  # the server that failed is not asked again
    assert result.happiness == 9 and result.pushed_shares == 10
    assert asyncio.run(get(config, result.cap)) == data


def test_a_remainder_smaller_than_a_batch_joins_the_last_write(healthy_grid: Grid) -> None:
    """8 MiB at k=3 is ~2.7 MiB per share, 1.6 write batches: one request per share, not
    two (a multipart upload's usual part); 12 MiB, 2.4 batches, takes two."""
    config = healthy_grid.config()

    async def upload(data: bytes) -> tuple[Any, list[str]]:
        writes: list[str] = []
        async with Client(config) as client:
            _count_requests(client, writes, names=("write_share_chunk",))
            return await client.upload_bytes(data), writes

    for mib, per_share in ((8, 1), (12, 2)):
        data = os.urandom(mib << 20)
        result, writes = asyncio.run(upload(data))
        assert result.pushed_shares == 10 and len(writes) == 10 * per_share
        assert asyncio.run(get(config, result.cap)) == data


def test_upload_with_a_key_hashed_on_the_way_in(healthy_grid: Grid, tmp_path: Path) -> None:
    """The gateway hashes a body as it spools it; the upload then reads the file once."""
    config = healthy_grid.config()
    data = os.urandom(3 * 128 * 1024 + 7)  # several segments and a short tail
    path = tmp_path / "body"
    path.write_bytes(data)

    async def run() -> tuple[CHKReadCap, CHKReadCap]:
        async with Client(config) as client:
            hasher = client.convergence_hasher(len(data))
            for start in range(0, len(data), 50_000):
                hasher.update(data[start : start + 50_000])
            hashed = await client.upload_path(path, key=hasher.digest())
            plain = await client.upload_path(path)
        assert isinstance(hashed.cap, CHKReadCap) and isinstance(plain.cap, CHKReadCap)
        return hashed.cap, plain.cap

    hashed, plain = asyncio.run(run())
    assert hashed == plain == encode_bytes(data, config.encoding, config.convergence_secret)[0]


def test_range_reads(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data = os.urandom(2 * 1024 * 1024 + 12345)
    cap = asyncio.run(put(config, data)).cap
    assert isinstance(cap, CHKReadCap)
    for offset, size in [(0, 1), (1024 * 1024 - 1, 2), (len(data) - 10, 100), (12345, 1024 * 1024)]:
        assert asyncio.run(get(config, cap, offset, size)) == data[offset : offset + size]


def test_any_seven_nodes_down_still_downloads(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    files = [os.urandom(n) for n in (5000, 1024 * 1024 + 7)]
    caps = [asyncio.run(put(config, d)).cap for d in files]
    rng = random.Random(7)
    for _ in range(3):
        down = rng.sample(healthy_grid.nodes, 7)
        for node in down:
            node.stop()
        for cap, data in zip(caps, files):
            assert asyncio.run(get(config, cap)) == data
        for node in down:
            node.start()


def test_eight_nodes_down_is_not_enough_shares(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data = os.urandom(5000)
    cap = asyncio.run(put(config, data)).cap
    for node in healthy_grid.nodes[:8]:
        node.stop()
    with pytest.raises(NotEnoughSharesError):
        asyncio.run(get(config, cap))


def test_four_nodes_down_upload_fails_and_leaves_nothing(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data = os.urandom(200_000)
    expected, _ = encode_bytes(data, config.encoding, config.convergence_secret)
    assert isinstance(expected, CHKReadCap)
    for node in healthy_grid.nodes[:4]:
        node.stop()
    with pytest.raises(UploadUnhappinessError) as info:
        asyncio.run(put(config, data))
    assert "only 6 server(s)" in str(info.value) and "at least 7" in str(info.value)
    assert not info.value.no_room  # the servers are down, not full

    async def listed() -> list[frozenset[int]]:
        async with Client(config) as client:
            return [
                await s.client.list_shares(expected.storage_index)
                for s in client.broker.servers[4:]
            ]

    assert all(not shares for shares in asyncio.run(listed()))
    assert share_files(healthy_grid, expected.storage_index) == []


def test_three_nodes_down_upload_still_happy(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    for node in healthy_grid.nodes[:3]:
        node.stop()
    data = os.urandom(100_000)
    result = asyncio.run(put(config, data))
    assert result.happiness == 7 and result.pushed_shares == 10
    assert happiness(result.servermap) == 7
    assert asyncio.run(get(config, result.cap)) == data


def test_node_killed_during_upload(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data = os.urandom(24 * 1024 * 1024)
    victim = healthy_grid.nodes[5]
    killer = threading.Timer(0.8, victim.kill)
    killer.start()
    try:
        result = asyncio.run(put(config, data))
    finally:
        killer.join()
    victim.start()
    assert asyncio.run(get(config, result.cap)) == data
    assert isinstance(result.cap, CHKReadCap)
    si_files = [
        p
        for p in share_files(healthy_grid, result.cap.storage_index)
        if victim.node_dir in p.parents
    ]
    incoming = victim.storage_dir / "shares" / "incoming"
    leftovers = [p for p in incoming.rglob("*") if p.is_file()] if incoming.exists() else []
    assert leftovers == []
    if "node5" not in {n for names in result.sharemap.values() for n in names}:
        assert si_files == []  # its partial share was discarded, not made visible


def test_corrupt_share_is_detected_advised_and_worked_around(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data, cap, files = put_chk(healthy_grid, 300_000)
    victim = files[0]  # share 0 is among those read first
    raw = bytearray(victim.read_bytes())
    raw[12 + 0x24 + 1000] ^= 0x40  # container header, share header, then data
    victim.write_bytes(bytes(raw))
    assert asyncio.run(get(config, cap)) == data
    node = next(n for n in healthy_grid.nodes if n.node_dir in victim.parents)
    listing = subprocess.run(
        ["storage-node", "corruption", str(node.node_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    from lafs_core.base32 import b2a

    assert b2a(cap.storage_index) in listing


def test_shares_hold_no_plaintext(healthy_grid: Grid) -> None:
    config = healthy_grid.config()
    data = (b"plaintext that must never reach a storage node, " * 6000)[: 256 * 1024]
    data = bytes(b ^ (i % 251) for i, b in enumerate(data))  # no long repeats to hide in
    cap = asyncio.run(put(config, data)).cap
    assert isinstance(cap, CHKReadCap)
    # A 64-byte run of the plaintext would contain a whole 32-aligned 32-byte chunk.
    chunks = {data[i : i + 32] for i in range(0, len(data) - 31, 32)}
    for node in healthy_grid.nodes:
        for path in node.storage_dir.rglob("*"):
            if path.is_file():
                blob = path.read_bytes()
                assert not any(blob[i : i + 32] in chunks for i in range(len(blob) - 31)), path


def test_full_servers_are_named_as_full(storage_node_factory: Any, tmp_path: Path) -> None:
    """Two of five servers keep more in reserve than their disks hold: they take no shares,
    happiness 4 is out of reach, and `lafs put` says which servers have no room."""
    nodes = [*storage_node_factory.create_many(2, reserved_space="1E")]
    nodes += storage_node_factory.create_many(3)
    names = ["full-a", "full-b", "roomy-a", "roomy-b", "roomy-c"]
    grid_file = Grid.write(nodes, tmp_path / "grid.toml", EncodingParams(3, 4, 5), names).grid_file
    source = tmp_path / "data"
    source.write_bytes(os.urandom(50_000))
    with pytest.raises(UploadUnhappinessError) as info:
        asyncio.run(put(load_grid(grid_file), source.read_bytes()))
    assert info.value.no_room and "no room for a share" in str(info.value)
    run = subprocess.run(
        ["lafs", "--grid", str(grid_file), "put", str(source)], capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "no room for a share" in run.stderr and "full-a" in run.stderr and "full-b" in run.stderr
    assert "roomy" not in run.stderr.split("no room")[1]


def test_servers_that_may_not_write_a_share_this_large_are_named(
    storage_node_factory: Any, tmp_path: Path
) -> None:
    """Two of five nodes may write files of at most 256 KiB: they hold their shares of a
    small file, decline those of a large one, and `lafs put` names them with the room
    they have; nothing is left half-written anywhere."""
    limit = 256 * 1024
    nodes = storage_node_factory.create_many(2, file_size_limit=limit)
    nodes += storage_node_factory.create_many(3)
    names = ["small-a", "small-b", "roomy-a", "roomy-b", "roomy-c"]
    grid_file = Grid.write(nodes, tmp_path / "grid.toml", EncodingParams(3, 4, 5), names).grid_file
    config = load_grid(grid_file)
    small = asyncio.run(put(config, os.urandom(300_000)))  # shares of ~100 KB
    assert small.pushed_shares == 5 and all(small.servermap[name] for name in names)
    source = tmp_path / "large"
    source.write_bytes(os.urandom(1_500_000))  # shares of ~500 KB
    with pytest.raises(UploadUnhappinessError) as info:
        asyncio.run(put(config, source.read_bytes()))
    assert info.value.no_room
    run = subprocess.run(
        ["lafs", "--grid", str(grid_file), "put", str(source)], capture_output=True, text=True
    )
    assert run.returncode != 0
    named = run.stderr.split("no room for a share of ")[1]
    room = limit - IMMUTABLE_OVERHEAD
    assert f"small-a ({room} bytes), small-b ({room} bytes))" in named
    assert "roomy" not in named
    for node in nodes:
        incoming = node.storage_dir / "shares" / "incoming"
        assert not [p for p in incoming.rglob("*") if p.is_file()], node.node_dir
        assert node.process.poll() is None


def test_unreachable_and_bad_grid_messages(healthy_grid: Grid, tmp_path: Path) -> None:
    healthy_grid.nodes[0].stop()
    out = subprocess.run(
        ["lafs", "--grid", str(healthy_grid.grid_file), "grid", "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    assert "node0: UNREACHABLE" in out.stdout and "9 of 10 storage nodes reachable" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text("[[storage]]\nnurl = 'not a nurl'\n")
    out = subprocess.run(
        ["lafs", "--grid", str(bad), "put", "/etc/hostname"], capture_output=True, text=True
    )
    assert out.returncode == 1 and "storage" in out.stderr and "Traceback" not in out.stderr
    out = subprocess.run(
        ["lafs", "--grid", str(healthy_grid.grid_file), "get", "URI:CHK:nonsense"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "malformed CHK read-cap" in out.stderr


def test_cli_put_get_round_trip(healthy_grid: Grid, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(1_500_000))
    grid_args = ["lafs", "--grid", str(healthy_grid.grid_file)]
    put_out = subprocess.run(
        [*grid_args, "put", str(src), "--verbose"], capture_output=True, text=True, timeout=120
    )
    assert put_out.returncode == 0, put_out.stderr
    cap = put_out.stdout.splitlines()[-1]
    assert cap.startswith("URI:CHK:") and "pushed shares: 10" in put_out.stderr
    piped = subprocess.run(
        [*grid_args, "put", "-"], input=src.read_bytes(), capture_output=True, timeout=120
    )
    assert piped.stdout.decode().splitlines()[-1] == cap
    got = subprocess.run([*grid_args, "get", cap], capture_output=True, timeout=120)
    assert got.returncode == 0 and got.stdout == src.read_bytes()
    target = tmp_path / "out"
    got = subprocess.run(
        [*grid_args, "get", cap, "-o", str(target), "-v"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert got.returncode == 0 and target.read_bytes() == src.read_bytes()
    assert "read share 0 from" in got.stderr
    for node in healthy_grid.nodes[:4]:
        node.stop()
    failed = subprocess.run(
        [*grid_args, "put", "-"], input=os.urandom(1000), capture_output=True, timeout=120
    )
    message = failed.stderr.decode()
    assert failed.returncode == 1 and "at least 7 such servers" in message
    assert "Traceback" not in message and len(message.strip().splitlines()) == 1
