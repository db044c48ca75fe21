"""Threads that make writes durable for the event loop, lighter than `asyncio.to_thread`.

A sync waits on the disk, so it cannot run on the loop. Per job this costs a
queue put and get, and the loop is woken once for all the jobs that finish
while it is busy (not once per job, with an executor future each). Syncs run in
parallel, several threads at a time: concurrent fsyncs of different files share
journal commits and disk cache flushes, where one after another each would wait
for its own.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_THREADS = 8
_Item = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class Syncer:
    """Runs short blocking jobs (syncs and the little around them) in daemon threads."""

    def __init__(self, max_threads: int = MAX_THREADS) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job and not yet promised one
        self._max = max_threads
        self._finished: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}

    async def run(self, job: Callable[[], T]) -> T:
        """Run `job` in a sync thread; returns what it returned, raises what it raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._idle:
                self._idle -= 1
            elif len(self._threads) < self._max:
                thread = threading.Thread(target=self._serve, name="syncer", daemon=True)
                self._threads.append(thread)
                thread.start()
        self._queue.put((job, done, loop))
        return await done

    def close(self) -> None:
        """Finish the queued jobs and stop the threads (new ones start if needed)."""
        with self._lock:
            threads, self._threads, self._idle = self._threads, [], 0
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            job, done, loop = item
            result, error = None, None
            try:
                result = job()
            except BaseException as exc:  # handed to the waiting request
                error = exc
            with self._lock:
                finished = self._finished.setdefault(loop, [])
                finished.append((done, result, error))
                wake = len(finished) == 1  # else a wake-up is already on its way
                self._idle += 1
            if wake:
                try:
                    loop.call_soon_threadsafe(self._settle, loop)
                except RuntimeError:  # that loop has closed: nobody waits any more
                    with self._lock:
                        self._finished.pop(loop, None)

    def _settle(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            outcomes = self._finished.pop(loop, [])
        for done, result, error in outcomes:
            if done.cancelled():
                continue
            if error is None:
                done.set_result(result)
            else:
                done.set_exception(error)
