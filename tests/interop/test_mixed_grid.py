"""(3) A mixed grid (five of our storage nodes, five real Tahoe 1.20 ones) serves both clients."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lafs_core.client import Client
from lafs_core.grid_config import load_grid

from .conftest import ServerSet, check_stored_shares, run_async

pytestmark = pytest.mark.interop

MiB = 1024 * 1024
SIZES = {"56B": 56, "2MiB+3": 2 * MiB + 3}


def _kinds(server_set: ServerSet, held: dict[str, set[int]]) -> set[str]:
    return {server_set.kind_of(name) for name in held}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_our_client_on_mixed_grid(mixed_set: ServerSet, size: int, tmp_path: Path) -> None:
    data = os.urandom(size)

    async def go() -> tuple[str, bytes]:
        async with Client(load_grid(mixed_set.grid_file)) as client:
            result = await client.upload_bytes(data)
            return result.cap.to_string(), await client.read_bytes(result.cap)

    cap, back = run_async(go())
    assert back == data
    held = check_stored_shares(mixed_set, cap, data, tmp_path / "expected")
    assert _kinds(mixed_set, held) == {"ours", "real"}, held


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_tahoe_client_on_mixed_grid(mixed_set: ServerSet, size: int, tmp_path: Path) -> None:
    tahoe = mixed_set.tahoe_client()
    data = os.urandom(size)
    # The web API, as `tahoe put` / `tahoe get` use it (their CLI is exercised elsewhere).
    cap = tahoe.web_put(data)
    assert tahoe.web_get(cap) == data
    held = check_stored_shares(mixed_set, cap, data, tmp_path / "expected")
    assert _kinds(mixed_set, held) == {"ours", "real"}, held
