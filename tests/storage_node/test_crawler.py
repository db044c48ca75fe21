"""Lease expiry: the pure decision, the crawler on a Backend with a fake clock, and a node."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from lafs_core import storage_protocol as sp
from storage_node import container as c
from storage_node.backend import Backend
from storage_node.config import ExpiryPolicy
from storage_node.crawler import LeaseCrawler, lease_expired

from ..conftest import StorageNodeFactory

DAY = 86400
T0 = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_lease_expired_decisions() -> None:
    fresh = int(T0 + 31 * DAY)  # granted at T0
    old = int(T0 - 100 * DAY)  # granted 131 days before T0
    age = ExpiryPolicy(enabled=True)
    assert not lease_expired(age, "immutable", fresh, T0)
    assert lease_expired(age, "immutable", old, T0)
    override = ExpiryPolicy(enabled=True, override_lease_duration=DAY, mutable=False)
    assert not lease_expired(override, "immutable", fresh, T0 + DAY - 1)
    assert lease_expired(override, "immutable", fresh, T0 + DAY + 1)
    assert not lease_expired(override, "mutable", old, T0)
    cutoff = ExpiryPolicy(enabled=True, mode="cutoff-date", cutoff_date=int(T0), immutable=False)
    assert lease_expired(cutoff, "mutable", fresh - 1, T0)
    assert not lease_expired(cutoff, "mutable", fresh, T0)
    assert not lease_expired(cutoff, "immutable", old, T0)


def _immutable_share(backend: Backend, si: bytes, renew: bytes, data: bytes) -> Path:
    upload = os.urandom(20)
    backend.allocate(si, renew, os.urandom(32), upload, frozenset({0}), len(data))
    u = backend.get_upload(si, 0, upload)
    backend.write_piece(u, 0, data)
    assert backend.commit(u, 0, len(data)) == []
    return backend.share_path(si, 0)


def _mutable_share(backend: Backend, si: bytes, renew: bytes) -> Path:
    req = sp.ReadTestWriteRequest({1: sp.TestWriteVectors(write=(sp.WriteVector(0, b"m" * 50),))})
    assert backend.read_test_write(si, b"w" * 32, renew, os.urandom(32), req).success
    return backend.share_path(si, 1)


def test_crawler_expires_and_reclaims_with_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    backend = Backend(tmp_path / "storage", b"N" * 20, clock=clock)
    imm_si, mut_si = os.urandom(16), os.urandom(16)
    first, second = os.urandom(32), os.urandom(32)
    imm = _immutable_share(backend, imm_si, first, b"i" * 1000)
    mut = _mutable_share(backend, mut_si, first)
    clock.advance(10 * DAY)
    backend.add_or_renew_lease(imm_si, second, os.urandom(32))  # a second, later lease
    backend.add_or_renew_lease(mut_si, second, os.urandom(32))
    (tmp_path / "storage" / "shares" / "zz" / ("z" * 26)).mkdir(parents=True)
    (tmp_path / "storage" / "shares" / "zz" / ("z" * 26) / "0").write_bytes(b"garbage!")

    crawler = LeaseCrawler(backend, ExpiryPolicy(enabled=True), clock)
    report = crawler.run_cycle()
    assert (report.shares_examined, report.leases_examined, report.leases_expired) == (2, 4, 0)
    assert report.corrupt_shares == [f"zz/{'z' * 26}/0"]

    clock.advance(25 * DAY)  # the first leases (T0 + 31 days) are now past
    report = crawler.run_cycle()
    assert (report.leases_expired, report.shares_deleted) == (2, 0)
    assert report.space_recovered == 72
    assert c.parse_immutable_header(imm.read_bytes()).lease_count == 1
    assert imm.read_bytes()[12:1012] == b"i" * 1000
    assert backend.share_leases(mut).expirations == [int(T0 + 10 * DAY + 31 * DAY)]

    clock.advance(10 * DAY)  # now the second leases too
    report = crawler.run_cycle()
    assert (report.leases_expired, report.shares_deleted) == (2, 2)
    assert report.space_recovered > 1000
    assert not imm.exists() and not mut.exists()
    assert backend.list_immutable(imm_si) == frozenset()


def test_disabled_expiry_only_reports(tmp_path: Path) -> None:
    clock = FakeClock()
    backend = Backend(tmp_path / "storage", b"N" * 20, clock=clock)
    share = _immutable_share(backend, os.urandom(16), os.urandom(32), b"x" * 10)
    clock.advance(100 * DAY)
    report = LeaseCrawler(backend, ExpiryPolicy(enabled=False), clock).run_cycle()
    assert report.leases_expired == 1 and report.shares_deleted == 0
    assert share.exists()


def test_cutoff_mode_respects_share_types(tmp_path: Path) -> None:
    clock = FakeClock()
    backend = Backend(tmp_path / "storage", b"N" * 20, clock=clock)
    imm = _immutable_share(backend, os.urandom(16), os.urandom(32), b"x" * 10)
    mut = _mutable_share(backend, os.urandom(16), os.urandom(32))
    policy = ExpiryPolicy(
        enabled=True, mode="cutoff-date", cutoff_date=int(T0 + DAY), immutable=False
    )
    report = LeaseCrawler(backend, policy, clock).run_cycle()
    assert report.shares_deleted == 1
    assert imm.exists() and not mut.exists()


@pytest.mark.anyio
async def test_node_crawler_runs_periodically(storage_node_factory: StorageNodeFactory) -> None:
    node = storage_node_factory.create(
        storage_options={
            "expire.enabled": "true",
            "expire.mode": "age",
            "expire.override_lease_duration": "1s",
            "crawler.first_delay": "0.5",
            "crawler.interval": "0.5",
        }
    )
    si = os.urandom(16)
    renew, cancel, upload = os.urandom(32), os.urandom(32), os.urandom(20)
    async with node.client() as client:
        await client.allocate_buckets(si, renew, cancel, upload, [0], 5)
        await client.write_share_chunk(si, 0, upload, 0, b"hello")
        assert await client.list_shares(si) == {0}
        deadline = time.monotonic() + 15
        while await client.list_shares(si) and time.monotonic() < deadline:
            await asyncio.sleep(0.3)
        assert await client.list_shares(si) == frozenset()
    node.stop()
