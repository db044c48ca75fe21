"""RSA-2048 keys made ahead of time in a background thread.

Generating a key takes from tens to hundreds of milliseconds of CPU; a pool
keeps `size` keys in the making so creating a mutable file or directory
rarely waits. The background thread runs at the lowest CPU priority (on
Linux), so refilling the pool uses idle time and never slows the requests
being served; a caller who finds no finished key makes one at normal
priority rather than wait behind it. Futures live in `concurrent.futures`
executors (never fire-and-forget asyncio tasks); `close()` cancels what is
not started.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from .keys import KeyPair

BACKGROUND_NICENESS = 19


def _lower_priority() -> None:
    """Make the calling thread the last to get a CPU (Linux nices threads one by one)."""
    if sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
        except OSError:
            pass  # not allowed here: keys are still made, at normal priority


class KeyPool:
    def __init__(self, size: int = 2, executor: Executor | None = None) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        self.size = size
        self._own = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="rsa-keygen", initializer=_lower_priority
        )
        self._ready: deque[Future[KeyPair]] = deque()
        self._closed = False
        self.fill()

    def fill(self) -> None:
        """Start making keys until `size` are ready or in the making."""
        while not self._closed and len(self._ready) < self.size:
            self._ready.append(self._executor.submit(KeyPair.generate))

    async def get(self) -> KeyPair:
        """A fresh key pair, never handed out twice."""
        if self._closed:
            raise RuntimeError("key pool is closed")
        if self._ready and self._ready[0].done():
            future = self._ready.popleft()
            self.fill()
            return future.result()
        return await asyncio.to_thread(KeyPair.generate)

    def close(self) -> None:
        self._closed = True
        while self._ready:
            self._ready.popleft().cancel()
        if self._own:
            self._executor.shutdown(wait=False, cancel_futures=True)
