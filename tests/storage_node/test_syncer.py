"""The sync threads: parallel, bounded, reused; results and errors reach their waiter."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from storage_node.syncer import Syncer

pytestmark = pytest.mark.anyio


async def test_syncs_run_in_parallel_off_the_loop() -> None:
    """Concurrent syncs must not wait for each other (they share disk flushes)."""
    syncer = Syncer()
    barrier = threading.Barrier(3, timeout=10)  # breaks unless three jobs run at once
    try:
        threads = await asyncio.gather(
            *(syncer.run(lambda: (barrier.wait(), threading.get_ident())[1]) for _ in range(3))
        )
    finally:
        syncer.close()
    assert len(set(threads)) == 3 and threading.get_ident() not in threads


async def test_threads_are_bounded_and_reused() -> None:
    syncer = Syncer(max_threads=2)
    try:
        threads = await asyncio.gather(
            *(syncer.run(lambda: (time.sleep(0.01), threading.get_ident())[1]) for _ in range(8))
        )
        later = await syncer.run(threading.get_ident)
    finally:
        syncer.close()
    assert len(set(threads)) == 2 and later in threads


async def test_a_failing_job_fails_only_its_waiter() -> None:
    syncer = Syncer()

    def fail() -> None:
        raise OSError(5, "Input/output error")

    done: list[int] = []
    try:
        results = await asyncio.gather(
            syncer.run(lambda: done.append(1)),
            syncer.run(fail),
            syncer.run(lambda: done.append(3) or "three"),
            return_exceptions=True,
        )
    finally:
        syncer.close()
    assert results[0] is None and results[2] == "three"
    assert isinstance(results[1], OSError)
    assert sorted(done) == [1, 3]


async def test_close_stops_the_threads_and_a_later_job_starts_one() -> None:
    syncer = Syncer()
    before = {await syncer.run(threading.get_ident)}
    syncer.close()
    assert not any(t.name == "syncer" and t.ident in before for t in threading.enumerate())
    ran = []
    await syncer.run(lambda: ran.append(True))
    syncer.close()
    assert ran == [True]
    syncer.close()  # idempotent
