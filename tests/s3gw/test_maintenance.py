"""Gateway maintenance on real storage nodes: lease renewal and expiry, `s3gw fsck`, the schedule.

The expiry test has five storage nodes of its own (expiry on, 60-second
leases) so their crawler cannot touch other tests' shares; it runs the
crawler on each stopped node's store with its clock set just before the
renewed leases run out, instead of sleeping a lease duration (as
tests/lafs_core/test_leases.py does).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.deep_results import storage_index
from lafs_core.dirnode import parse_any_cap, parse_dir_cap
from lafs_core.grid_config import load_grid
from s3gw.catalog import Catalog
from s3gw.cli import main
from s3gw.maintenance import renew_gateway_leases, renew_on_schedule

from ..conftest import LEASE_SECONDS, GatewayProcess, Grid, free_port

OBJECT_BYTES = 5000  # above the 4096 bytes kept inline as LIT caps: a CHK file each


def si_of(cap_text: str) -> str:
    si = storage_index(parse_any_cap(cap_text))
    assert si is not None
    return base32.b2a(si)


def body(i: int, size: int = OBJECT_BYTES) -> bytes:
    return bytes([i % 256]) * 16 + os.urandom(size - 16)


def fsck(gw: GatewayProcess, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`s3gw fsck` against the gateway's data directory and grid: (exit status, stdout)."""
    argv = ["fsck", *args, "--data-dir", str(gw.data_dir)]
    if gw.grid_file is not None:
        argv += ["--grid", str(gw.grid_file)]
    capsys.readouterr()
    status = main(argv)
    return status, capsys.readouterr().out


def multipart(s3: Any, bucket: str, key: str, parts: list[bytes], complete: bool = True) -> str:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for n, data in enumerate(parts, 1):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=data)
        done.append({"PartNumber": n, "ETag": etag["ETag"]})
    if complete:
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
        )
    return str(upload_id)


def test_deleted_objects_expire_and_live_ones_stay(
    expiring_grid: Grid,
    gateway_factory: Callable[..., GatewayProcess],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = tmp_path / "s3gw.toml"
    config.write_text("lease-renewal-hours = 0\n")  # the test renews, at a known time
    gw = gateway_factory(expiring_grid.grid_file, config=config)
    s3 = gw.s3()
    s3.create_bucket(Bucket="leases")
    data = {f"k{i:03}": body(i) for i in range(100)}

    def put(key: str) -> str:
        reply = s3.put_object(Bucket="leases", Key=key, Body=data[key])
        return str(reply["ResponseMetadata"]["HTTPHeaders"]["x-lafs-cap"])

    with ThreadPoolExecutor(4) as pool:
        caps = dict(zip(data, pool.map(put, data)))
    # A multipart object (its part caps live only in index metadata) and an upload in progress.
    mp_data = body(200)
    multipart(s3, "leases", "mp", [mp_data])
    multipart(s3, "leases", "pending", [body(201)], complete=False)
    deleted = sorted(data)[10:]
    for start in range(0, 90, 45):
        chunk = deleted[start : start + 45]
        s3.delete_objects(Bucket="leases", Delete={"Objects": [{"Key": k} for k in chunk]})
    dropped = {si_of(caps[k]) for k in deleted}
    root = parse_dir_cap((gw.data_dir / "root.cap").read_text().strip())

    async def folded() -> bool:
        """The gateway folds the bucket's journal in the background once changes pause."""
        async with Client(load_grid(expiring_grid.grid_file)) as client:
            bucket = await Catalog(client, client.directory(root), 0).get("leases")
            return await bucket.index.journal_length() == 0

    deadline = time.monotonic() + 30
    while not asyncio.run(folded()):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    before = expiring_grid.share_bytes()
    assert dropped <= set(before)

    time.sleep(1.5)  # every lease granted so far is now older than any renewed one
    renewed_at = time.time()

    async def renew() -> None:
        async with Client(load_grid(expiring_grid.grid_file)) as client:
            stats = await renew_gateway_leases(client, root)
        assert stats.complete, stats
        assert stats.objects == len(before) - 91  # all still linked (see below), the part too
        assert stats.leases_renewed == stats.objects * 5

    asyncio.run(renew())

    freed = expiring_grid.run_expiry(renewed_at + LEASE_SECONDS - 1)  # past all but the renewed
    after = expiring_grid.share_bytes()
    gone = set(before) - set(after)
    # The 90 objects go, and the parts directory "mp" left behind when it completed.
    assert dropped <= gone and len(gone) == 91
    assert all(after[si] == before[si] for si in after)  # live objects and directories intact
    assert freed == sum(before[si] for si in gone) >= 90 * OBJECT_BYTES * 5 // 3

    for key in sorted(data)[:10]:
        assert s3.get_object(Bucket="leases", Key=key)["Body"].read() == data[key]
    assert s3.get_object(Bucket="leases", Key="mp")["Body"].read() == mp_data
    listed = s3.list_objects_v2(Bucket="leases")["Contents"]
    assert [o["Key"] for o in listed] == [*sorted(data)[:10], "mp"]
    status, out = fsck(gw, capsys, "leases", "--verify")
    assert status == 0, out
    assert "0 unhealthy, 0 unrecoverable" in out


def share_dirs(grid: Grid, si: str) -> list[Path]:
    return [d for node in grid.nodes if (d := node.storage_dir / "shares" / si[:2] / si).exists()]


def test_fsck_finds_and_repairs_objects_parts_and_index(
    healthy_grid: Grid, gateway: GatewayProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = gateway.s3()
    name = "fsck-" + os.urandom(6).hex()
    s3.create_bucket(Bucket=name)
    plain = body(1, 100_000)
    s3.put_object(Bucket=name, Key="plain", Body=plain)
    s3.put_object(Bucket=name, Key="tiny", Body=b"LIT")
    s3.put_object(Bucket=name, Key="same", Body=plain)  # shares the stored file with "plain"
    parts = [body(2, 5 * 1024 * 1024), body(3, 70_000)]
    multipart(s3, name, "mp", parts)

    status, out = fsck(gateway, capsys, name, "--json")
    assert status == 0, out
    lines = [json.loads(line) for line in out.splitlines()]
    summary = lines.pop()
    assert summary["type"] == "summary" and summary["healthy"] is True
    assert summary["count-objects-checked"] == len(lines) - 1  # every target but the LIT one
    assert summary["count-literal-objects"] == 1
    kinds = [(u["type"], u["key"], u["part"]) for u in lines]
    assert kinds == [
        ("bucket", None, None),
        ("index-node", None, None),  # the root
        ("index-node", None, None),  # the journal
        ("part", "mp", 1),
        ("part", "mp", 2),
        ("parts-list", "mp", None),
        ("object", "plain", None),
        ("object", "same", None),
        ("object", "tiny", None),
        ("uploads", None, None),
    ]
    by_kind = {(u["type"], u["key"], u["part"]): u["storage-index"] for u in lines}
    damaged = {
        "object 'plain'": by_kind[("object", "plain", None)],
        "object 'mp' part 2": by_kind[("part", "mp", 2)],
        f"index node {by_kind[('index-node', None, None)]}": by_kind[("index-node", None, None)],
    }
    for si in damaged.values():
        for d in share_dirs(healthy_grid, si)[:3]:
            shutil.rmtree(d)

    status, out = fsck(gateway, capsys, name)
    assert status == 2, out
    for label in damaged:
        assert re.search(f"^unhealthy: {re.escape(label)}: Not Healthy: 7 shares", out, re.M), out
    assert "unhealthy: object 'same'" in out  # the same stored file, reported under both keys
    assert out.splitlines()[-1].startswith(f"fsck {name}: 9 checked, 1 LIT objects; 5 healthy")

    status, out = fsck(gateway, capsys, name, "--repair")
    assert status == 0, out
    for label in damaged:
        assert re.search(f"^repaired: {re.escape(label)}: Not Healthy: .* -> Healthy$", out, re.M)
    assert "now 9 healthy, 0 unhealthy" in out

    status, out = fsck(gateway, capsys, name, "--verify")
    assert status == 0 and "9 healthy, 0 unhealthy, 0 unrecoverable, 0 corrupt" in out, out
    for si in damaged.values():
        assert len(share_dirs(healthy_grid, si)) == 10
    assert s3.get_object(Bucket=name, Key="mp")["Body"].read() == b"".join(parts)
    assert s3.get_object(Bucket=name, Key="plain")["Body"].read() == plain


def test_fsck_reports_unrecoverable_and_missing_bucket(
    healthy_grid: Grid, gateway: GatewayProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    s3 = gateway.s3()
    name = "fsck-" + os.urandom(6).hex()
    s3.create_bucket(Bucket=name)
    cap = s3.put_object(Bucket=name, Key="gone", Body=body(4))["ResponseMetadata"]["HTTPHeaders"][
        "x-lafs-cap"
    ]
    multipart(s3, name, "pending", [body(5)], complete=False)
    for d in share_dirs(healthy_grid, si_of(cap))[:8]:
        shutil.rmtree(d)
    status, out = fsck(gateway, capsys, name, "--repair")
    assert status == 2
    assert re.search(r"^repair failed: object 'gone': Not Healthy: 2 shares", out, re.M), out
    assert "upload 'pending'" not in out  # the upload in progress and its part are healthy
    status, _ = fsck(gateway, capsys, "no-such-bucket-here")
    assert status == 1


def test_scheduled_renewal_runs_while_serving(
    healthy_grid: Grid,
    gateway_factory: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> None:
    config = tmp_path / "s3gw.toml"
    config.write_text("lease-renewal-hours = 0.0002\n")  # every 0.72 s
    gw = gateway_factory(healthy_grid.grid_file, config=config)
    s3 = gw.s3()
    s3.create_bucket(Bucket="renewed")
    multipart(s3, "renewed", "mp", [body(6)])
    log = gw.data_dir / "gateway.log"
    runs: list[int] = []
    deadline = time.monotonic() + 30
    i = 0
    # root, bucket, index and its journal, uploads; the part and the directory listing it;
    # the objects
    while len(runs) < 3 or runs[-1] != 5 + 2 + 5:
        assert time.monotonic() < deadline, log.read_text()
        if i < 5:
            s3.put_object(Bucket="renewed", Key=f"k{i}", Body=body(10 + i))
            i += 1
        assert s3.get_object(Bucket="renewed", Key="mp")["Body"].read()[:1] == b"\x06"
        found = re.findall(r"lease renewal: (\d+) objects, (\d+) leases renewed", log.read_text())
        assert all(int(leases) >= 7 * int(n) for n, leases in found), found
        runs = [int(n) for n, _ in found]
        time.sleep(0.2)
    stopping = time.monotonic()
    gw.stop()  # the schedule is cancelled at shutdown, not waited for
    assert time.monotonic() - stopping < 10
    text = log.read_text()
    assert "failed" not in text and "Traceback" not in text, text


def test_schedule_goes_on_when_the_grid_is_unreachable(
    gateway: GatewayProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert gateway.grid_file is not None
    dead = re.sub(
        r"127\.0\.0\.1:\d+", lambda _: f"127.0.0.1:{free_port()}", gateway.grid_file.read_text()
    )
    grid_file = tmp_path / "grid.toml"
    grid_file.write_text(dead)
    root = parse_dir_cap((gateway.data_dir / "root.cap").read_text().strip())

    async def run() -> None:
        async with Client(load_grid(grid_file)) as client:
            task = asyncio.create_task(renew_on_schedule(client, root, 0.0001, first_delay=0))
            await asyncio.sleep(1.0)  # a run every 0.36 s, each failing to reach anything
            assert not task.done()
            task.cancel()

    with caplog.at_level("WARNING", logger="s3gw"):
        asyncio.run(run())
    failures = [r.getMessage() for r in caplog.records if "cannot list buckets" in r.getMessage()]
    assert len(failures) >= 2, caplog.text
