"""RSA-2048 keys made ahead of time in a child process.

Generating a key takes from tens to hundreds of milliseconds of CPU, and
OpenSSL does it holding the GIL: in a thread of this process it would stall
the event loop (every request in flight) for that long. So keys come from a
`keymaker` child process, which a pool keeps `size` keys ahead, so creating a
mutable file or directory rarely waits. That child runs at the lowest CPU
priority, so refilling uses idle time and never slows the requests being
served; a caller who finds no finished key has one made at normal priority
(by a second child) rather than wait behind it. A thread per child waits on
its pipe, with the GIL released. A pool of size 0 (a one-shot command) starts
no process and makes each key in a thread. `close()` stops the children;
they also stop when this process dies (their stdin closes). A pool told the
grid's encoding (`empty=(k, n)`) also has each background key's first version
of an empty SDMF file encoded and signed in that child (`get_fresh`).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from .keymaker import FreshKeys, read_frame
from .keys import KeyPair


class _KeyMaker:
    """One keymaker child and the thread that talks to it."""

    def __init__(self, idle: bool, empty: tuple[int, int] | None = None) -> None:
        # `-m` would make runpy warn (on our stderr) that the package imported the module
        command = [sys.executable, "-c", "from lafs_core.mutable.keymaker import main; main()"]
        command += ["--idle"] if idle else []
        command += ["--empty", str(empty[0]), str(empty[1])] if empty else []
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        # one thread: requests to the child never interleave on its pipe
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rsa-keymaker")

    def submit(self) -> Future[FreshKeys]:
        return self._thread.submit(self._make)

    def _make(self) -> FreshKeys:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(b"k")
        stdin.flush()
        return read_frame(stdout)

    def close(self) -> None:
        self._thread.shutdown(wait=False, cancel_futures=True)
        self._process.kill()
        self._process.wait()
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()


class KeyPool:
    def __init__(self, size: int = 2, empty: tuple[int, int] | None = None) -> None:
        if size < 0:
            raise ValueError("pool size must be >= 0")
        self.size = size
        self._background = _KeyMaker(idle=True, empty=empty) if size else None
        self._urgent: _KeyMaker | None = None
        self._ready: deque[Future[FreshKeys]] = deque()
        self._closed = False
        self.fill()

    def fill(self) -> None:
        """Start making keys until `size` are ready or in the making."""
        while self._background is not None and not self._closed and len(self._ready) < self.size:
            self._ready.append(self._background.submit())

    async def get(self) -> KeyPair:
        """A fresh key pair, never handed out twice."""
        return (await self.get_fresh()).keys

    async def get_fresh(self) -> FreshKeys:
        """A fresh key pair, with its empty first version if one was encoded ahead: a
        key made on demand (none was ready) comes without, as soon as it can."""
        if self._closed:
            raise RuntimeError("key pool is closed")
        if self._ready and self._ready[0].done():
            future = self._ready.popleft()
            self.fill()
            return future.result()
        if self._background is None:
            return FreshKeys(await asyncio.to_thread(KeyPair.generate))
        if self._urgent is None:
            self._urgent = _KeyMaker(idle=False)
        return await asyncio.wrap_future(self._urgent.submit())

    def close(self) -> None:
        self._closed = True
        while self._ready:
            self._ready.popleft().cancel()
        for maker in (self._background, self._urgent):
            if maker is not None:
                maker.close()
