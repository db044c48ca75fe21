"""(4) Files one implementation uploaded, the other downloads; with the same
convergence secret and encoding parameters both give identical caps.

Run on each server set: real Tahoe storage nodes only, ours only, and mixed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lafs_core.client import Client
from lafs_core.grid_config import load_grid
from lafs_core.uri import parse_cap

from .conftest import ServerSet, check_stored_shares, lafs_cli, run_async

pytestmark = pytest.mark.interop

MiB = 1024 * 1024
SETS = ["real", "ours", "mixed"]


@pytest.fixture(params=SETS)
def server_set(request: pytest.FixtureRequest, interop_grid) -> ServerSet:  # type: ignore[no-untyped-def]
    return interop_grid.sets[request.param]


async def _download(grid_file: Path, cap: str) -> bytes:
    async with Client(load_grid(grid_file)) as client:
        return await client.read_bytes(parse_cap(cap))  # type: ignore[arg-type]


async def _upload(grid_file: Path, data: bytes) -> tuple[str, int]:
    async with Client(load_grid(grid_file)) as client:
        result = await client.upload_bytes(data)
        return result.cap.to_string(), result.pushed_shares


def test_tahoe_uploads_our_client_downloads(server_set: ServerSet, tmp_path: Path) -> None:
    tahoe = server_set.tahoe_client()
    k, happy, n = server_set.encoding
    data = os.urandom(MiB + 1)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    tahoe_cap = tahoe.put(src)
    assert run_async(_download(server_set.grid_file, tahoe_cap)) == data
    # Same secret and parameters: `lafs cap` (offline) and an upload by our
    # client give Tahoe's cap, and our client finds every share already there.
    offline = lafs_cli(
        "cap",
        str(src),
        "--convergence-secret",
        tahoe.convergence,
        "-k",
        str(k),
        "--happy",
        str(happy),
        "-n",
        str(n),
    )
    assert offline.stdout.strip().splitlines()[-1] == tahoe_cap
    our_cap, pushed = run_async(_upload(server_set.grid_file, data))
    assert our_cap == tahoe_cap
    assert pushed == 0
    check_stored_shares(server_set, tahoe_cap, data, tmp_path / "expected", leases=None)


def test_our_client_uploads_tahoe_downloads(server_set: ServerSet, tmp_path: Path) -> None:
    tahoe = server_set.tahoe_client()
    data = os.urandom(MiB + 1)
    our_cap, pushed = run_async(_upload(server_set.grid_file, data))
    assert pushed == server_set.encoding[2]
    assert tahoe.get(our_cap, tmp_path / "out.bin") == data
    assert tahoe.web_put(data) == our_cap  # what `tahoe put` does, without its start-up
    check_stored_shares(server_set, our_cap, data, tmp_path / "expected", leases=None)
