"""check / verify / repair of mutable files and directories on ten real storage nodes."""

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.dirnode.caps import DirectoryCap, parse_any_cap
from lafs_core.mutable.caps import MutableWriteCap, parse_mutable_cap
from lafs_core.mutable.layout import parse_header
from storage_node.container import MUTABLE_DATA_OFFSET

from ..conftest import Grid
from .test_checker import check_json, lafs


def make_object(grid: Grid, kind: str, data: bytes) -> tuple[str, bytes]:
    """A new mutable file or directory; returns its write cap and storage index."""

    async def run() -> tuple[str, bytes]:
        async with Client(grid.config()) as client:
            if kind == "directory":
                directory = await client.create_directory()
                await directory.set_uri("child", (await client.upload_bytes(data)).cap.to_string())
                assert isinstance(directory.cap.inner, MutableWriteCap)
                return directory.cap.to_string(), directory.cap.inner.storage_index
            node = await client.create_mutable(data, format="mdmf" if kind == "mdmf" else "sdmf")
            return node.cap.to_string(), node.storage_index

    return asyncio.run(run())


def read_back(grid: Grid, cap_text: str) -> bytes:
    async def run() -> bytes:
        async with Client(grid.config()) as client:
            cap = parse_any_cap(cap_text)
            if isinstance(cap, DirectoryCap):
                return repr(sorted(await client.directory(cap).list())).encode()
            assert isinstance(cap, MutableWriteCap)
            return await client.mutable(cap).download_best_version()

    return asyncio.run(run())


def share_files(grid: Grid, si: bytes) -> dict[Path, tuple[str, int]]:
    """Every share file of `si`: path -> (server nickname, share number)."""
    text = base32.b2a(si)
    found = {}
    for i, node in enumerate(grid.nodes):
        for path in (node.storage_dir / "shares" / text[:2] / text).glob("*"):
            found[path] = (f"node{i}", int(path.name))
    return found


@pytest.mark.parametrize("kind", ["sdmf", "mdmf", "directory"])
def test_missing_shares_are_repaired(healthy_grid: Grid, kind: str) -> None:
    cap, si = make_object(healthy_grid, kind, os.urandom(3000))
    before_contents = read_back(healthy_grid, cap)
    files = share_files(healthy_grid, si)
    assert len(files) == 10
    for path in sorted(files, key=lambda p: files[p][1])[:3]:
        path.unlink()
    before = check_json(healthy_grid, "check", cap)["results"]
    assert before["healthy"] is False and before["recoverable"] is True
    assert before["count-shares-good"] == 7 and before["count-shares-expected"] == 10
    assert before["count-recoverable-versions"] == 1
    assert before["count-unrecoverable-versions"] == 0
    repaired = check_json(healthy_grid, "repair", cap)
    assert repaired["repair-attempted"] and repaired["repair-successful"], repaired
    post = repaired["post-repair-results"]["results"]
    assert post["healthy"] and post["count-good-share-hosts"] == 10
    after = check_json(healthy_grid, "verify", cap)["results"]
    assert after["healthy"] and after["count-corrupt-shares"] == 0
    assert after["count-wrong-shares"] == 0
    held = share_files(healthy_grid, si).values()
    assert sorted(n for _, n in held) == list(range(10))
    assert len({server for server, _ in held}) == 10
    assert read_back(healthy_grid, cap) == before_contents


def test_corrupt_byte_found_named_repaired_and_advised(healthy_grid: Grid) -> None:
    cap, si = make_object(healthy_grid, "sdmf", os.urandom(5000))
    files = share_files(healthy_grid, si)
    path, (nickname, shnum) = next(iter(sorted(files.items(), key=lambda kv: kv[1][1])))
    raw = bytearray(path.read_bytes())
    _prefix, offsets = parse_header(bytes(raw[MUTABLE_DATA_OFFSET:]))
    raw[MUTABLE_DATA_OFFSET + offsets.share_data + 100] ^= 0x01
    path.write_bytes(bytes(raw))
    assert check_json(healthy_grid, "check", cap)["results"]["healthy"]  # headers are fine
    verified = check_json(healthy_grid, "verify", cap)
    results = verified["results"]
    assert results["healthy"] is False and results["count-corrupt-shares"] == 1
    assert results["list-corrupt-shares"] == [[nickname, verified["storage-index"], shnum]]
    assert f"server {nickname}, share {shnum}" in lafs(healthy_grid, "verify", cap).stdout
    node_dir = healthy_grid.nodes[int(nickname.removeprefix("node"))].node_dir
    advisories = subprocess.run(
        ["storage-node", "corruption", str(node_dir)], capture_output=True, text=True, check=True
    ).stdout
    assert verified["storage-index"] in advisories
    repaired = check_json(healthy_grid, "repair", cap)
    assert repaired["repair-successful"], repaired
    assert repaired["pre-repair-results"]["results"]["count-corrupt-shares"] == 1
    assert repaired["post-repair-results"]["results"]["count-corrupt-shares"] == 0
    assert check_json(healthy_grid, "verify", cap)["results"]["healthy"]


def test_unrecoverable_repair_fails_and_changes_nothing(healthy_grid: Grid) -> None:
    cap, si = make_object(healthy_grid, "directory", os.urandom(100))
    for path, (_server, shnum) in share_files(healthy_grid, si).items():
        if shnum >= 2:
            path.unlink()
    left = {path: path.read_bytes() for path in share_files(healthy_grid, si)}
    results = check_json(healthy_grid, "check", cap)["results"]
    assert results["recoverable"] is False and results["count-unrecoverable-versions"] == 1
    assert results["count-recoverable-versions"] == 0
    out = lafs(healthy_grid, "repair", cap)
    assert out.returncode == 2 and "Repair unsuccessful: unrecoverable" in out.stdout
    assert {path: path.read_bytes() for path in share_files(healthy_grid, si)} == left


def test_read_cap_cannot_repair(healthy_grid: Grid) -> None:
    cap, si = make_object(healthy_grid, "sdmf", b"x" * 200)
    next(iter(share_files(healthy_grid, si))).unlink()
    write = parse_mutable_cap(cap)
    assert isinstance(write, MutableWriteCap)
    readcap = write.readonly().to_string()
    out = lafs(healthy_grid, "repair", readcap)
    assert out.returncode == 2 and "needs its write cap" in out.stdout
    verify_cap = write.verify_cap().to_string()
    results = check_json(healthy_grid, "verify", verify_cap)["results"]
    assert results["count-shares-good"] == 9 and results["recoverable"]
