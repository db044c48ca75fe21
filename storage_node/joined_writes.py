"""uvicorn's HTTP protocol with the small writes of one event-loop turn joined into one.

uvicorn writes a response's head and its body with two transport writes; over
TLS each becomes a record of its own, an encryption, a send(2) and a wake-up
of the client. Joining what one loop turn writes makes a small response one
of each (half the send(2) calls per small request, measured with strace).

A large write is not joined (that would copy it) and over TLS goes down in
pieces: the TLS layer encrypts a whole write into a memory buffer that keeps
its largest size for the connection's life, so 1 MiB responses on ten
keep-alive connections held ten such buffers (a node's RSS grew by ~10 MiB).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

JOIN_LIMIT = 64 * 1024  # writes up to this size wait for the end of the loop turn
TLS_PIECE = 256 * 1024  # largest write handed to a TLS transport at once


class _JoinedWrites:
    """A transport that buffers small writes until the end of the loop turn.

    Everything else, flow control included, goes straight to the real transport.
    """

    def __init__(
        self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, piece: int
    ) -> None:
        self._transport = transport
        self._loop = loop
        self._piece = piece
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if len(data) <= JOIN_LIMIT:
            if not self._pending:
                self._loop.call_soon(self._flush)
            self._pending.append(data)
            return
        self._flush()  # keeps the order: what came before goes first
        if self._transport.is_closing():
            return
        view = memoryview(data)
        for start in range(0, len(view), self._piece):
            self._transport.write(view[start : start + self._piece])

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
        tls = transport.get_extra_info("ssl_object") is not None
        piece = TLS_PIECE if tls else 1 << 62
        super().connection_made(_JoinedWrites(transport, self.loop, piece))  # type: ignore[arg-type]
