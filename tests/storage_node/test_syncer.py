"""The sync thread: jobs run in order, in batches; results and errors reach their waiter."""

from __future__ import annotations

import asyncio
import threading

import pytest

from storage_node.syncer import Syncer

pytestmark = pytest.mark.anyio


async def test_jobs_queued_meanwhile_run_as_one_batch() -> None:
    syncer = Syncer()
    release = threading.Event()
    ran: list[tuple[int, int]] = []  # (job, thread)

    def job(i: int) -> None:
        if i == 0:
            release.wait(10)
        ran.append((i, threading.get_ident()))

    try:
        first = asyncio.ensure_future(syncer.run(lambda: job(0)))
        await asyncio.sleep(0.05)  # job 0 is blocking the thread
        rest = [asyncio.ensure_future(syncer.run(lambda i=i: job(i))) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        assert not any(f.done() for f in rest)
        release.set()
        await asyncio.gather(first, *rest)
    finally:
        syncer.close()
    assert [i for i, _ in ran] == list(range(6))
    assert len({t for _, t in ran}) == 1 and ran[0][1] != threading.get_ident()


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
    assert done == [1, 3]


async def test_close_stops_the_thread_and_a_later_job_restarts_it() -> None:
    syncer = Syncer()
    await syncer.run(lambda: None)
    before = {t.ident for t in threading.enumerate() if t.name == "syncer"}
    syncer.close()
    assert not any(t.name == "syncer" and t.ident in before for t in threading.enumerate())
    ran = []
    await syncer.run(lambda: ran.append(True))
    syncer.close()
    assert ran == [True]
    syncer.close()  # idempotent
