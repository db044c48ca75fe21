"""uvicorn's HTTP protocol with the writes of one event-loop turn joined into one.

uvicorn writes a response's head and its body with two transport writes; over
TLS each becomes a record of its own, an encryption, a send(2) and a wake-up
of the client. Joining what one loop turn writes makes a small response one
of each (half the send(2) calls per small request, measured with strace).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _JoinedWrites:
    """A transport that buffers writes until the end of the loop turn.

    Everything else, flow control included, goes straight to the real transport.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        data = b"".join(self._pending)  # one item: no copy
        self._pending.clear()
        if data and not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class JoinedWritesProtocol(HttpToolsProtocol):
    """Pass as uvicorn's `http` protocol class."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_JoinedWrites(transport, self.loop))  # type: ignore[arg-type]
