"""(2) A real Tahoe-LAFS 1.20 client node uses our storage nodes by their NURLs;
(5) `tahoe check --verify` and `tahoe check --add-lease` on files stored on our nodes."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.grid_config import load_grid
from lafs_core.secrets import lease_secrets
from lafs_core.uri import CHKReadCap, parse_cap

from .conftest import CONTAINER_HEADER, Container, ServerSet, check_stored_shares, run_async

pytestmark = pytest.mark.interop

MiB = 1024 * 1024
SIZES = {"lit-20B": 20, "56B": 56, "1MiB+1": MiB + 1, "3MiB+5": 3 * MiB + 5}


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_tahoe_put_get_through_our_nodes(ours_set: ServerSet, size: int, tmp_path: Path) -> None:
    tahoe = ours_set.tahoe_client()
    data = os.urandom(size)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    cap = tahoe.put(src)
    assert tahoe.get(cap, tmp_path / "out.bin") == data
    if size <= 55:
        assert cap.startswith("URI:LIT:"), cap
        return
    held = check_stored_shares(ours_set, cap, data, tmp_path / "expected")
    assert all(ours_set.kind_of(name) == "ours" for name in held)


def _upload_ours(server_set: ServerSet, data: bytes) -> str:
    async def go() -> str:
        async with Client(load_grid(server_set.grid_file)) as client:
            return (await client.upload_bytes(data)).cap.to_string()

    return run_async(go())


def _check_json(server_set: ServerSet, cap: str, *options: str) -> dict[str, Any]:
    res = server_set.tahoe_client().cli("check", "--raw", *options, cap)
    doc = json.loads(res.stdout)
    assert "results" in doc, doc
    return doc["results"]


def test_tahoe_check_verify_on_our_nodes(ours_set: ServerSet, tmp_path: Path) -> None:
    _k, _happy, n = ours_set.encoding
    data = os.urandom(MiB + 1)
    cap = _upload_ours(ours_set, data)
    held = check_stored_shares(ours_set, cap, data, tmp_path / "expected")

    results = _check_json(ours_set, cap, "--verify")
    assert results["healthy"] is True, results
    assert results["count-shares-good"] == n, results
    assert results["count-corrupt-shares"] == 0, results

    # Corrupt one block of one share on one of our nodes: the verifier, which
    # reads every byte of every share through our server, must notice.
    victim = min(held)
    sharenum = min(held[victim])
    path = ours_set.share_files(cap)[victim][sharenum]
    original = path.read_bytes()
    offset = CONTAINER_HEADER.size + 0x44 + 10  # inside the first block (after the v1 share header)
    corrupted = bytearray(original)
    corrupted[offset] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    try:
        results = _check_json(ours_set, cap, "--verify")
        assert results["healthy"] is False, results
        assert results["count-shares-good"] == n - 1, results
        assert results["count-corrupt-shares"] == 1, results
        assert [int(x[2]) for x in results["list-corrupt-shares"]] == [sharenum], results
    finally:
        path.write_bytes(original)
    results = _check_json(ours_set, cap, "--verify")
    assert results["count-shares-good"] == n, results


def test_tahoe_check_add_lease_on_our_nodes(ours_set: ServerSet, tmp_path: Path) -> None:
    _k, _happy, n = ours_set.encoding
    data = os.urandom(100_000)
    cap = _upload_ours(ours_set, data)
    check_stored_shares(ours_set, cap, data, tmp_path / "expected", leases=1)

    results = _check_json(ours_set, cap, "--add-lease")
    assert results["healthy"] is True, results
    assert results["count-shares-good"] == n, results
    # The Tahoe client has its own lease secret: every share gains a second lease,
    # whose secrets are those Tahoe derives for (its secret, SI, the server's tub ID).
    parsed = parse_cap(cap)
    assert isinstance(parsed, CHKReadCap)
    tahoe_secret = ours_set.tahoe.lease_secret
    seeds = {s.nickname: base32.a2b(s.lease_seed) for s in ours_set.servers}

    def containers() -> dict[tuple[str, int], Container]:
        return {
            (nickname, sharenum): Container.parse(path.read_bytes())
            for nickname, files in ours_set.share_files(cap).items()
            for sharenum, path in files.items()
        }

    before = containers()
    assert len(before) == n
    for (nickname, sharenum), container in before.items():
        assert len(container.leases) == 2, f"{nickname} share {sharenum}: {container.leases}"
        expect = lease_secrets(tahoe_secret, parsed.storage_index, seeds[nickname])
        _owner, renew, cancel, _expiry = container.leases[1]
        assert (renew, cancel) == (
            container.stored(expect.renew),
            container.stored(expect.cancel),
        ), (
            f"{nickname} share {sharenum}: the lease Tahoe added has other secrets than "
            f"lafs_core.secrets derives for Tahoe's client secret"
        )

    # Again: the same client renews its lease, it does not add a third.
    _check_json(ours_set, cap, "--add-lease")
    assert {key: len(c.leases) for key, c in containers().items()} == {key: 2 for key in before}


def test_tahoe_check_repair_on_our_nodes(ours_set: ServerSet, tmp_path: Path) -> None:
    """Tahoe's repairer re-uploads lost shares to our nodes (allocate reports the
    shares still there as already held, the missing ones are written again)."""
    _k, _happy, n = ours_set.encoding
    data = os.urandom(300_000)
    cap = _upload_ours(ours_set, data)
    files = ours_set.share_files(cap)
    lost = []
    for nickname in sorted(files)[:2]:  # every share of two of our nodes
        for sharenum, path in files[nickname].items():
            path.unlink()
            lost.append(sharenum)
    assert lost

    res = ours_set.tahoe_client().cli("check", "--raw", "--repair", cap)
    doc = json.loads(res.stdout)
    assert doc["repair-attempted"] is True, doc
    assert doc["repair-successful"] is True, doc
    assert doc["pre-repair-results"]["results"]["count-shares-good"] == n - len(lost), doc
    assert doc["post-repair-results"]["results"]["count-shares-good"] == n, doc
    check_stored_shares(ours_set, cap, data, tmp_path / "expected", leases=None)
    assert ours_set.tahoe.web_get(cap) == data
