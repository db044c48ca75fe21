"""One thread that makes writes durable for the event loop, in batches (group commit).

A thread hop per write costs the loop a wake-up, an executor future and GIL
hand-offs; one thread running whatever syncs queued up meanwhile pays the
wake-up once per batch. Syncs in a row are cheap after the first: it commits
the file system journal that holds the others' metadata too.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_Item = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class Syncer:
    """Runs short blocking jobs (syncs and the little around them) one after another
    in its own daemon thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def run(self, job: Callable[[], T]) -> T:
        """Run `job` in the sync thread; returns what it returned, raises what it raised."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        if self._thread is None:
            self._start()
        self._queue.put((job, done, loop))
        return await done

    def close(self) -> None:
        """Finish the queued jobs and stop the thread (it starts again if needed)."""
        with self._start_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="syncer", daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while True:  # everything queued meanwhile joins this batch
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outcomes: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
            for item in batch:
                if item is None:
                    stop = True
                    continue
                job, done, loop = item
                result, error = None, None
                try:
                    result = job()
                except BaseException as exc:  # handed to the waiting request
                    error = exc
                outcomes.setdefault(loop, []).append((done, result, error))
            for loop, settled in outcomes.items():
                try:
                    loop.call_soon_threadsafe(_settle, settled)
                except RuntimeError:  # that loop has closed: nobody waits any more
                    continue


def _settle(outcomes: list[_Outcome]) -> None:
    for done, result, error in outcomes:
        if done.cancelled():
            continue
        if error is None:
            done.set_result(result)
        else:
            done.set_exception(error)
