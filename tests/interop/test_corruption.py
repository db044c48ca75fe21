"""Corruption advisories across implementations: a real Tahoe 1.20 client reports
corrupt shares to our storage nodes, and our client reports them to real Tahoe
storage nodes (`POST /storage/v1/immutable/:si/:n/corrupt`)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lafs_core.client import Client
from lafs_core.grid_config import load_grid
from lafs_core.immutable.downloader import DownloadResult
from lafs_core.placement import permuted
from lafs_core.uri import CHKReadCap, parse_cap

from .conftest import (
    ServerSet,
    advisories_in,
    corrupt_first_block,
    run_async,
    storage_index_text,
)

pytestmark = pytest.mark.interop

MiB = 1024 * 1024


def _holders(server_set: ServerSet, cap: str) -> dict[int, str]:
    """share number -> the server holding it (each share is stored once here)."""
    return {
        sharenum: nickname
        for nickname, files in server_set.share_files(cap).items()
        for sharenum in files
    }


def test_tahoe_client_reports_corruption_to_our_nodes(ours_set: ServerSet) -> None:
    tahoe = ours_set.tahoe_client()
    data = os.urandom(MiB + 1)
    cap = tahoe.web_put(data)
    si = storage_index_text(cap)
    holders = _holders(ours_set, cap)
    k, _happy, n = ours_set.encoding
    assert sorted(holders) == list(range(n))
    corrupted = set(range(n - k))  # only shares n-k .. n-1 stay good
    files = ours_set.share_files(cap)
    for sharenum in corrupted:
        corrupt_first_block(files[holders[sharenum]][sharenum])

    assert tahoe.web_get(cap) == data

    reported = {}
    for server in ours_set.servers:
        for sharenum, text in advisories_in(server.storage_dir, si).items():
            reported[sharenum] = server.nickname
            assert "type: immutable" in text and f"storage_index: {si}" in text, text
    assert reported, "the Tahoe client sent no corruption advisory to our nodes"
    assert set(reported) <= corrupted, reported
    assert all(holders[s] == nickname for s, nickname in reported.items()), reported


def test_our_client_reports_corruption_to_real_tahoe_nodes(
    real_set: ServerSet, tmp_path: Path
) -> None:
    config = load_grid(real_set.grid_file)
    data = os.urandom(MiB + 1)

    async def upload() -> str:
        async with Client(config) as client:
            return (await client.upload_bytes(data)).cap.to_string()

    cap = run_async(upload())
    parsed = parse_cap(cap)
    assert isinstance(parsed, CHKReadCap)
    si = storage_index_text(cap)
    holders = _holders(real_set, cap)
    k, _happy, n = real_set.encoding
    # Our downloader tries shares in ring order of their servers: corrupt the
    # first n-k it would try, so that it must meet (and report) corrupt ones.
    ring = permuted(
        ((s.nickname, s.permutation_seed) for s in config.servers), parsed.storage_index
    )
    order = [
        sharenum for name in ring for sharenum in sorted(s for s, h in holders.items() if h == name)
    ]
    corrupted = set(order[: n - k])
    files = real_set.share_files(cap)
    for sharenum in corrupted:
        corrupt_first_block(files[holders[sharenum]][sharenum])

    async def download() -> tuple[bytes, DownloadResult]:
        async with Client(config) as client:
            download = client.download(parsed)
            body = b"".join([chunk async for chunk in download.chunks()])
            return body, download.result

    body, result = run_async(download())
    assert body == data
    assert result.corrupt_shares, "our client met no corrupt share"
    assert set(result.corrupt_shares) <= corrupted, result.corrupt_shares
    reported = {}
    for server in real_set.servers:
        for sharenum, text in advisories_in(server.storage_dir, si).items():
            reported[sharenum] = server.nickname
            assert "type: immutable" in text and f"storage_index: {si}" in text, text
    assert reported == {s: holders[s] for s in result.corrupt_shares}, (
        reported,
        result.corrupt_shares,
    )
