"""The key pool: background keys at idle priority, callers never wait behind them."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import time

import pytest

from lafs_core.mutable.keymaker import IDLE_NICENESS, FreshKeys, empty_version, frame, read_frame
from lafs_core.mutable.keypool import KeyPool
from lafs_core.mutable.keys import KeyPair
from lafs_core.mutable.sdmf import decode_version, parse_and_check


def test_background_keys_are_made_at_idle_priority() -> None:
    async def go() -> tuple[int, int]:
        pool = KeyPool(size=1)
        try:
            await pool.get()  # none ready yet: made at once by the second, normal-priority child
            assert pool._background is not None and pool._urgent is not None
            while not pool._ready[0].done():  # the background child has started for sure
                await asyncio.sleep(0.01)
            background = pool._background._process.pid
            urgent = pool._urgent._process.pid
            return os.getpriority(os.PRIO_PROCESS, background), os.getpriority(
                os.PRIO_PROCESS, urgent
            )
        finally:
            pool.close()

    background, urgent = asyncio.run(go())
    assert background == IDLE_NICENESS
    assert urgent == os.getpriority(os.PRIO_PROCESS, 0)


def test_finished_keys_are_handed_out_at_once_and_only_once() -> None:
    async def go() -> tuple[list[KeyPair], float]:
        pool = KeyPool(size=3)
        try:
            while not all(f.done() for f in pool._ready):
                await asyncio.sleep(0.05)
            start = time.perf_counter()
            ready = [await pool.get() for _ in range(3)]
            took = time.perf_counter() - start
            more = [await pool.get() for _ in range(2)]  # made on demand or by the refill
            return ready + more, took
        finally:
            pool.close()

    keys, took = asyncio.run(go())
    assert took < 0.05  # no key generation on the caller's path
    assert len({k.privkey_der for k in keys}) == 5
    assert all(len(k.pubkey_der) == 294 for k in keys)


def test_closed_pool_refuses() -> None:
    async def go() -> None:
        pool = KeyPool(size=0)
        pool.close()
        with pytest.raises(RuntimeError):
            await pool.get()

    asyncio.run(go())


def test_making_keys_never_stalls_the_event_loop() -> None:
    """OpenSSL holds the GIL while it makes a key (100-300 ms here): made in a thread, it
    froze every request in flight. The pool's keys come from another process."""

    async def go() -> float:
        pool = KeyPool(size=2)
        try:
            worst, last = 0.0, time.perf_counter()
            urgent = asyncio.ensure_future(asyncio.gather(*(pool.get() for _ in range(4))))
            while not (urgent.done() and all(f.done() for f in pool._ready)):
                await asyncio.sleep(0.002)
                now = time.perf_counter()
                worst, last = max(worst, now - last), now
            assert len({k.privkey_der for k in await urgent}) == 4
            return worst
        finally:
            pool.close()

    assert asyncio.run(go()) < 0.1


def test_key_maker_frames_round_trip() -> None:
    keys = KeyPair.generate()
    bare, prepared = FreshKeys(keys), FreshKeys(keys, empty_version(keys, 3, 10))
    wire = frame(bare) + frame(prepared) + frame(bare)
    stream = io.BytesIO(wire)
    assert [read_frame(stream) for _ in range(3)] == [bare, prepared, bare]
    for cut in (5, len(frame(bare)) - 1, len(frame(prepared)) - 1):
        with pytest.raises(RuntimeError, match="stopped"):
            read_frame(io.BytesIO(frame(prepared)[:cut]))


def test_background_keys_come_with_an_empty_first_version() -> None:
    """Encoded and signed in the key maker, so that a new empty directory publishes at once."""

    async def go() -> tuple[FreshKeys, FreshKeys]:
        pool = KeyPool(size=1, empty=(2, 5))
        try:
            urgent = await pool.get_fresh()  # none ready yet: made at once, without
            while not pool._ready[0].done():
                await asyncio.sleep(0.01)
            return urgent, await pool.get_fresh()
        finally:
            pool.close()

    urgent, fresh = asyncio.run(go())
    assert urgent.empty is None and fresh.empty is not None
    prefix = fresh.empty.prefix
    assert (prefix.seqnum, prefix.k, prefix.n, prefix.datalen) == (1, 2, 5, 0)
    shares = {
        shnum: parse_and_check(share, shnum, fresh.keys.fingerprint)
        for shnum, share in enumerate(fresh.empty.shares)
    }
    assert len(shares) == 5 and decode_version(shares, fresh.keys.readkey) == b""


def test_key_makers_write_nothing_to_stderr() -> None:
    """Their stderr is the gateway's: a warning there would land in every server log."""
    script = (
        "import asyncio\n"
        "from lafs_core.mutable.keypool import KeyPool\n"
        "async def go():\n"
        "    pool = KeyPool(size=1)\n"
        "    await pool.get()\n"
        "    while not pool._ready[0].done():\n"
        "        await asyncio.sleep(0.01)\n"
        "    pool.close()\n"
        "asyncio.run(go())\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert run.returncode == 0 and run.stderr == b"", run.stderr.decode(errors="replace")
