"""RSA-2048 keys made ahead of time in a background thread.

Generating a key takes from tens to hundreds of milliseconds of CPU; a pool
keeps `size` keys in the making so creating a mutable file or directory
rarely waits. Futures live in a `concurrent.futures` executor (never
fire-and-forget asyncio tasks); `close()` cancels what is not started.
"""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from .keys import KeyPair


class KeyPool:
    def __init__(self, size: int = 2, executor: Executor | None = None) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        self.size = size
        self._own = executor is None
        self._executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="rsa-keygen"
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
        future = self._ready.popleft() if self._ready else self._executor.submit(KeyPair.generate)
        self.fill()
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._closed = True
        while self._ready:
            self._ready.popleft().cancel()
        if self._own:
            self._executor.shutdown(wait=False, cancel_futures=True)
