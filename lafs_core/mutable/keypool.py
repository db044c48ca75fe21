"""RSA-2048 keys made ahead of time in a background process.

Generating a key takes from tens to hundreds of milliseconds of CPU, and
OpenSSL does it holding the GIL: in a thread it would stall the event loop
(every request in flight) for that long. So keys are made in a child
process, which a pool keeps `size` keys ahead, so creating a mutable file
or directory rarely waits. The child runs at the lowest CPU priority (on
Linux), so refilling uses idle time and never slows the requests being
served; a caller who finds no finished key has one made at normal priority
(in a second child) rather than wait behind it. A pool of size 0 (a
one-shot command) starts no process and makes each key in a thread.
`close()` cancels what is not started; the children also exit when this
process dies (their pipe closes).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import threading
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor

from .keys import KeyPair

BACKGROUND_NICENESS = 19


def _lower_priority() -> None:
    """Make the calling thread the last to get a CPU (Linux nices threads one by one)."""
    if sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICENESS)
        except OSError:
            pass  # not allowed here: keys are still made, at normal priority


def _make_key() -> tuple[bytes, bytes]:
    """Run in a key process: a fresh pair as DER (plain bytes cross the pipe)."""
    keys = KeyPair.generate()
    return keys.privkey_der, keys.pubkey_der


def _key_process(background: bool) -> ProcessPoolExecutor:
    # spawn, not fork: the parent has threads (and an event loop) a fork would copy mid-step
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_lower_priority if background else None,
    )


class KeyPool:
    def __init__(self, size: int = 2) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        self.size = size
        self._background = _key_process(background=True) if size else None
        self._urgent: ProcessPoolExecutor | None = None
        self._ready: deque[Future[tuple[bytes, bytes]]] = deque()
        self._closed = False
        self.fill()

    def fill(self) -> None:
        """Start making keys until `size` are ready or in the making."""
        while self._background is not None and not self._closed and len(self._ready) < self.size:
            self._ready.append(self._background.submit(_make_key))

    async def get(self) -> KeyPair:
        """A fresh key pair, never handed out twice."""
        if self._closed:
            raise RuntimeError("key pool is closed")
        if self._ready and self._ready[0].done():
            future = self._ready.popleft()
            self.fill()
            return KeyPair(*future.result())
        if self._background is None:
            return await asyncio.to_thread(KeyPair.generate)
        if self._urgent is None:
            self._urgent = _key_process(background=False)
        loop = asyncio.get_running_loop()
        return KeyPair(*await loop.run_in_executor(self._urgent, _make_key))

    def close(self) -> None:
        self._closed = True
        while self._ready:
            self._ready.popleft().cancel()
        for executor in (self._background, self._urgent):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
