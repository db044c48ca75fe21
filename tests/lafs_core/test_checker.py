"""check / verify / repair of CHK files on ten real storage nodes."""

import asyncio
import json
import os
import subprocess
from pathlib import Path

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.grid_config import GridConfig
from lafs_core.immutable.params import EncodingParams
from lafs_core.uri import CHKReadCap
from storage_node.backend import IMMUTABLE_OVERHEAD

from ..conftest import Grid, StorageNodeFactory


def upload(config: GridConfig, data: bytes) -> CHKReadCap:
    async def run() -> CHKReadCap:
        async with Client(config) as client:
            cap = (await client.upload_bytes(data)).cap
            assert isinstance(cap, CHKReadCap)
            return cap

    return asyncio.run(run())


def share_files(grid: Grid, cap: CHKReadCap) -> dict[Path, int]:
    si = base32.b2a(cap.storage_index)
    found = {}
    for node in grid.nodes:
        for path in (node.storage_dir / "shares" / si[:2] / si).glob("*"):
            found[path] = int(path.name)
    return found


def lafs(grid: Grid, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["lafs", "--grid", str(grid.grid_file), *args], capture_output=True, text=True, timeout=300
    )


def check_json(grid: Grid, *args: str) -> dict:  # type: ignore[type-arg]
    out = lafs(grid, *args, "--json")
    assert out.returncode in (0, 2), out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_missing_shares_are_repaired(healthy_grid: Grid) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    cap = upload(healthy_grid.config(), data)
    files = share_files(healthy_grid, cap)
    victims = sorted(files, key=lambda p: files[p])[:3]
    for path in victims:
        path.unlink()
    before = check_json(healthy_grid, "check", cap.to_string())["results"]
    assert before["healthy"] is False and before["recoverable"] is True
    assert before["count-shares-good"] == 7 and before["count-shares-expected"] == 10
    assert before["count-unrecoverable-versions"] == 0
    repaired = check_json(healthy_grid, "repair", cap.to_string())
    assert repaired["repair-attempted"] and repaired["repair-successful"]
    post = repaired["post-repair-results"]["results"]
    assert (
        post["healthy"] and post["count-shares-good"] == 10 and post["count-good-share-hosts"] == 10
    )
    after = check_json(healthy_grid, "verify", cap.to_string())["results"]
    assert after["healthy"] and after["count-corrupt-shares"] == 0
    assert sorted(share_files(healthy_grid, cap).values()) == list(range(10))

    async def read() -> bytes:
        async with Client(healthy_grid.config()) as client:
            return await client.read_bytes(cap)

    assert asyncio.run(read()) == data


def test_corrupt_byte_found_named_repaired_and_advised(healthy_grid: Grid) -> None:
    cap = upload(healthy_grid.config(), os.urandom(500_000))
    files = share_files(healthy_grid, cap)
    path = next(p for p, n in files.items() if n == 4)
    raw = bytearray(path.read_bytes())
    raw[12 + 0x24 + 777] ^= 0x01
    path.write_bytes(bytes(raw))
    node = next(n for n in healthy_grid.nodes if n.node_dir in path.parents)
    nickname = f"node{healthy_grid.nodes.index(node)}"
    plain = check_json(healthy_grid, "check", cap.to_string())["results"]
    assert plain["healthy"]  # listing alone cannot see it
    verified = check_json(healthy_grid, "verify", cap.to_string())
    results = verified["results"]
    assert results["healthy"] is False and results["count-corrupt-shares"] == 1
    assert results["list-corrupt-shares"] == [[nickname, verified["storage-index"], 4]]
    text = lafs(healthy_grid, "verify", cap.to_string()).stdout
    assert f"server {nickname}, share 4" in text
    advisories = subprocess.run(
        ["storage-node", "corruption", str(node.node_dir)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert verified["storage-index"] in advisories
    repaired = check_json(healthy_grid, "repair", cap.to_string())
    assert repaired["repair-successful"]
    assert repaired["post-repair-results"]["results"]["count-shares-good"] == 10


def test_unrecoverable_repair_fails_and_changes_nothing(healthy_grid: Grid) -> None:
    cap = upload(healthy_grid.config(), os.urandom(100_000))
    files = share_files(healthy_grid, cap)
    for path, sharenum in files.items():
        if sharenum >= 2:
            path.unlink()
    left = set(share_files(healthy_grid, cap))
    results = check_json(healthy_grid, "check", cap.to_string())["results"]
    assert results["recoverable"] is False and results["count-unrecoverable-versions"] == 1
    out = lafs(healthy_grid, "repair", cap.to_string())
    assert out.returncode == 2 and "Repair unsuccessful: unrecoverable" in out.stdout
    assert set(share_files(healthy_grid, cap)) == left


def test_a_repair_with_no_room_anywhere_names_the_full_servers(
    storage_node_factory: StorageNodeFactory, tmp_path: Path
) -> None:
    """Two shares lost, and every node now limited to files smaller than a share: the
    repair places nothing, and says which servers have no room, with the room they have."""
    nodes = storage_node_factory.create_many(5)
    names = [f"node{i}" for i in range(5)]
    grid = Grid.write(nodes, tmp_path / "grid.toml", EncodingParams(3, 4, 5))
    cap = upload(grid.config(), os.urandom(300_000))  # shares of ~100 KB
    files = share_files(grid, cap)
    for path in sorted(files, key=lambda p: files[p])[:2]:
        path.unlink()
    limit = 64 * 1024
    for node in nodes:
        node.file_size_limit = limit
        node.restart()
    out = lafs(grid, "repair", cap.to_string())
    assert out.returncode == 2, out.stderr
    failure = "Repair unsuccessful: no server accepted a new share (no room for a share of"
    assert failure in out.stdout
    room = limit - IMMUTABLE_OVERHEAD
    assert ", ".join(f"{name} ({room} bytes)" for name in names) in out.stdout
    assert len(share_files(grid, cap)) == 3


def test_add_lease_and_verify_cap(healthy_grid: Grid) -> None:
    cap = upload(healthy_grid.config(), os.urandom(70_000))
    out = lafs(healthy_grid, "check", "--add-lease", cap.verify_cap().to_string())
    assert out.returncode == 0 and "Summary: Healthy" in out.stdout
    lit = lafs(healthy_grid, "check", "URI:LIT:nbswy3dp", "--json")
    assert json.loads(lit.stdout) == {"storage-index": "", "results": {"healthy": True}}
