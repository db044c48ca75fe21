"""(1) Our client uploads to and downloads from a grid of real Tahoe-LAFS 1.20 storage nodes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from lafs_core.client import Client
from lafs_core.grid_config import load_grid
from lafs_core.storage_client import StorageClient
from lafs_core.uri import LiteralCap, parse_cap

from .conftest import ServerSet, check_stored_shares, lafs_cli, run_async

pytestmark = pytest.mark.interop

MiB = 1024 * 1024
SIZES = {"lit-20B": 20, "56B": 56, "1MiB+1": MiB + 1, "3MiB+5": 3 * MiB + 5}


async def _round_trip(grid_file: Path, data: bytes) -> tuple[str, bytes]:
    async with Client(load_grid(grid_file)) as client:
        result = await client.upload_bytes(data)
        back = await client.read_bytes(result.cap)
    return result.cap.to_string(), back


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_our_client_round_trip_on_real_tahoe_nodes(
    real_set: ServerSet, size: int, tmp_path: Path
) -> None:
    data = os.urandom(size)
    cap, back = run_async(_round_trip(real_set.grid_file, data))
    assert back == data
    if size <= 55:
        assert isinstance(parse_cap(cap), LiteralCap), cap
        return
    held = check_stored_shares(real_set, cap, data, tmp_path / "expected")
    assert all(real_set.kind_of(name) == "real" for name in held)


def test_lafs_cli_put_get_on_real_tahoe_nodes(real_set: ServerSet, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    grid = str(real_set.grid_file)
    cap = lafs_cli("--grid", grid, "put", str(src)).stdout.strip().splitlines()[-1]
    out = tmp_path / "out.bin"
    lafs_cli("--grid", grid, "get", cap, "-o", str(out))
    assert out.read_bytes() == data
    check_stored_shares(real_set, cap, data, tmp_path / "expected")


def test_our_upload_when_writes_arrive_out_of_order(
    real_set: ServerSet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real 1.20 server answers a PATCH with 201 only once it holds every byte
    of the share; a write that completes the share's byte range but arrives
    before an earlier one gets 200 and the still-required ranges. Requests on
    separate connections can be reordered at any time (a busy server, a slow
    link): here the first PATCH of every share is held back for a moment, which
    a correct uploader must tolerate."""
    original = StorageClient.write_share_chunk

    async def first_write_late(self, storage_index, share_number, secret, offset, data):  # type: ignore[no-untyped-def]
        if offset == 0:
            await asyncio.sleep(0.5)
        return await original(self, storage_index, share_number, secret, offset, data)

    monkeypatch.setattr(StorageClient, "write_share_chunk", first_write_late)
    data = os.urandom(3 * MiB + 5)  # several write batches per share
    cap, back = run_async(_round_trip(real_set.grid_file, data))
    assert back == data
    check_stored_shares(real_set, cap, data, tmp_path / "expected")


def test_lafs_grid_status_of_real_tahoe_nodes(real_set: ServerSet) -> None:
    out = lafs_cli("--grid", str(real_set.grid_file), "grid", "status").stdout.splitlines()
    assert out[-1] == f"{len(real_set.servers)} of {len(real_set.servers)} storage nodes reachable"
    for server in real_set.servers:
        line = next(x for x in out if x.startswith(f"{server.nickname}:"))
        assert "reachable, version tahoe-lafs/1.20.0" in line, line
