"""A pool of keep-alive HTTP/1.1 connections to one server, for the storage protocol.

Every grid operation is a handful of small requests, so per-request overhead
counts: this is a minimal client on asyncio transports and the llhttp parser
(httptools), doing only what the storage protocol needs (spec/tahoe-storage-
http.md 4): sequential requests on pooled connections, Content-Length request
bodies sent piece by piece under flow control, Content-Length or chunked
response bodies read up to a limit, and TLS pinned by SPKI hash instead of the
web PKI. The pin is checked right after the handshake, before any request byte
(and so the swissnum) is written; on a server's Unix socket (the same server,
on this machine) its user is checked instead, and nothing is encrypted.
Network failures raise `OSError`s (`ConnectionError`, `TimeoutError`,
`ssl.SSLError`). A large Content-Length
body (share data) is received straight into one bytearray of its size: TLS
decrypts into it, and no list of chunks is joined.
"""

from __future__ import annotations

import asyncio
import functools
import os
import socket
import ssl
import struct
from collections import deque
from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import cast

import httptools

from .errors import ServerIdentityError, StorageProtocolError
from .nurl import pins_equal, spki_hash_of_cert

IDLE_EXPIRY = 60.0  # seconds a pooled connection may sit unused (uvicorn keeps them 75 s)
_PIECE = 1 << 20  # large bodies are written in pieces of this size, each after the last drained
_SMALL_BODY = 1 << 16  # smaller bodies go out with the head in one write (one TLS record)
_SCRATCH = 1 << 16  # receive buffer for heads and small or chunked bodies

_UCRED = struct.Struct("3i")  # SO_PEERCRED's answer: pid, uid, gid

BodyPart = bytes | bytearray | memoryview
Body = BodyPart | Sequence[BodyPart]


@dataclass(frozen=True)
class Timeouts:
    """Seconds to open a connection (TCP and TLS), and without any byte moving on it while a
    request is out (response bytes received or request bytes sent)."""

    connect: float = 15.0
    read: float = 60.0


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased; repeated headers joined with ", "
    body: bytes | bytearray  # a bytearray when the body was over _SMALL_BODY with a Content-Length


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The one client context of the process (making one costs milliseconds). No web PKI:
    servers are authenticated by the SPKI pin, checked on each connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _StaleConnection(ConnectionResetError):
    """A reused connection was closed by the peer before any byte of the answer came:
    the usual keep-alive race, so the request is sent again on a fresh connection."""


class HTTPConnectionPool:
    """Up to `max_connections` connections to one host:port, reused while kept alive.

    Requests beyond that wait for a free connection, first come first served. TLS with
    the SPKI pin `spki_hash`, or plain TCP if it is None. `unix_socket`, if given, is the
    same server's socket on this machine: connections go there first, in plain HTTP,
    once its peer is known to run as our own user (the socket's file mode admits no
    other); over TCP when it cannot be reached. `headers` go on every request.
    A response whose status is not among a request's `expected` ones has its body cut
    at `max_error_body`. `aclose()` closes every connection; the pool stays usable.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        spki_hash: str | None,
        unix_socket: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        max_connections: int = 10,
        timeouts: Timeouts = Timeouts(),
        max_error_body: int = 10_000,
    ) -> None:
        self.host, self.port = host, port
        self._pin = spki_hash
        self._unix_socket = unix_socket
        self._timeouts = timeouts
        self._max_error_body = max_error_body
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        fixed = [("Host", authority), *headers]
        self._fixed_head = "".join(f"{name}: {value}\r\n" for name, value in fixed)
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: deque[_Connection] = deque()  # most recently used last
        self._live: set[_Connection] = set()

    async def request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]] = (),
        body: Body | None = None,
        *,
        expected: Container[int],
        max_body: int,
    ) -> Response:
        """Send one request and read its whole answer.

        Raises `OSError` for network trouble or a malformed answer, `ServerIdentityError`
        for a wrong certificate, `StorageProtocolError` for a body over `max_body`.
        """
        parts: Sequence[BodyPart] = (
            () if body is None else (body,) if isinstance(body, BodyPart) else body
        )
        length = sum(memoryview(p).nbytes for p in parts)
        lines = [f"{method} {target} HTTP/1.1\r\n", self._fixed_head]
        lines += [f"{name}: {value}\r\n" for name, value in headers]
        if body is not None or method not in ("GET", "HEAD"):
            lines.append(f"Content-Length: {length}\r\n")
        lines.append("\r\n")
        exchange = _Exchange(
            "".join(lines).encode("latin-1"),
            parts,
            length,
            method == "HEAD",
            expected,
            max_body,
            self._max_error_body,
        )
        async with self._slots:
            conn = self._take_idle()
            if conn is not None:
                try:
                    return await self._run(conn, exchange)
                except _StaleConnection:
                    pass
            return await self._run(await self._connect(), exchange)

    async def aclose(self) -> None:
        """Close every connection now; requests still out on them fail."""
        live, self._live = self._live, set()
        self._idle.clear()
        for conn in live:
            conn.abort()
        await asyncio.gather(*(conn.lost for conn in live))

    # -- connections ----------------------------------------------------------

    async def _run(self, conn: _Connection, exchange: _Exchange) -> Response:
        try:
            response = await conn.exchange(exchange)
        except BaseException:
            conn.abort()  # also when cancelled: its state is unknown, it is not reused
            raise
        if conn.reusable:
            conn.idle_since = now = asyncio.get_running_loop().time()
            self._idle.append(conn)
            while self._idle[0].closed or now - self._idle[0].idle_since >= IDLE_EXPIRY:
                self._idle.popleft().abort()  # the least recently used, long unused
        else:
            conn.abort()
        return response

    def _take_idle(self) -> _Connection | None:
        now = asyncio.get_running_loop().time()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_EXPIRY:
                return conn
            conn.abort()
        return None

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        self._live = {c for c in self._live if not c.closed}
        if self._unix_socket is not None:
            local = await self._connect_unix(loop)
            if local is not None:
                self._live.add(local)
                return local
        context = tls_context() if self._pin is not None else None
        try:
            async with asyncio.timeout(self._timeouts.connect):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop, self._timeouts.read),
                    self.host,
                    self.port,
                    ssl=context,
                )
        except TimeoutError as exc:
            raise TimeoutError(f"no connection to {self.host}:{self.port} in time") from exc
        self._live.add(conn)
        if self._pin is not None and not conn.peer_pin_is(self._pin):
            conn.abort()  # no goodbye owed to an impostor; nothing was sent to it
            await conn.lost
            raise ServerIdentityError("server certificate does not match the NURL's SPKI hash")
        return conn

    async def _connect_unix(self, loop: asyncio.AbstractEventLoop) -> _Connection | None:
        """A connection through the local socket; None if nothing serves there."""
        assert self._unix_socket is not None
        try:
            async with asyncio.timeout(self._timeouts.connect):
                _, conn = await loop.create_unix_connection(
                    lambda: _Connection(loop, self._timeouts.read), self._unix_socket
                )
        except TimeoutError as exc:
            raise TimeoutError(f"no connection to {self._unix_socket} in time") from exc
        except OSError:
            return None  # nothing there (the server is elsewhere, or stopped): TCP says
        uid = conn.peer_uid()
        if uid != os.getuid():
            conn.abort()
            await conn.lost
            if uid is None:
                return None  # no way to tell who serves it here: TCP and TLS instead
            raise ServerIdentityError(f"{self._unix_socket} is served by another user")
        return conn


@dataclass(slots=True)
class _Exchange:
    """One request, ready to send, and what is accepted in its answer."""

    head: bytes
    parts: Sequence[BodyPart]
    length: int
    head_only: bool
    expected: Container[int]
    max_body: int
    max_error_body: int


class _Connection(asyncio.BufferedProtocol):
    """One connection: writes a request, feeds what arrives to the parser, which calls
    the `on_*` methods; the answer, or the failure, ends up in `_answer`.

    Once the head of a large Content-Length answer is parsed, the rest of its body is
    received straight into `_body` (the parser is bypassed, and replaced after)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout: float) -> None:
        self._loop = loop
        self._read_timeout = read_timeout
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[None] = loop.create_future()
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._used = False  # an answer came on it before: a failure may be a stale keep-alive
        self._paused = False
        self._drained: asyncio.Future[None] | None = None
        # the exchange in progress
        self._x: _Exchange | None = None
        self._answer: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._got_bytes = False
        self._sent_all = False
        self._status = 0
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = 0
        self._truncate = False
        self._scratch = memoryview(bytearray(_SCRATCH))
        self._body: bytearray | None = None  # the preallocated body being received
        self._direct = False  # the rest of `_body` is read straight into it
        self._keep_alive = False

    def peer_pin_is(self, pin: str) -> bool:
        assert self._transport is not None
        ssl_object = self._transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        return der is not None and pins_equal(spki_hash_of_cert(der), pin)

    def peer_uid(self) -> int | None:
        """The user the process at the other end of a Unix socket runs as (Linux)."""
        assert self._transport is not None
        sock = self._transport.get_extra_info("socket")
        if sock is None or not hasattr(socket, "SO_PEERCRED"):
            return None
        credentials = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        return int(_UCRED.unpack(credentials)[1])

    def abort(self) -> None:
        if self._transport is not None and not self.closed:
            self._transport.abort()

    async def exchange(self, x: _Exchange) -> Response:
        if self.closed:
            raise _StaleConnection("connection closed by the peer while idle")
        self.reusable = False
        self._x, self._got_bytes, self._sent_all = x, False, False
        self._answer = answer = self._loop.create_future()
        self._last_activity = self._loop.time()
        self._timer = self._loop.call_later(self._read_timeout, self._check_activity)
        try:
            await self._send(x)
            response = await answer
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self._x = self._answer = None
        self.reusable = self.reusable and self._sent_all and not self.closed
        self._used = True
        return response

    async def _send(self, x: _Exchange) -> None:
        assert self._transport is not None and self._answer is not None
        if x.length <= _SMALL_BODY:
            self._transport.write(x.head + b"".join(x.parts) if x.parts else x.head)
            self._sent_all = True
            return
        self._transport.write(x.head)
        for part in x.parts:
            view = memoryview(part).cast("B")
            for pos in range(0, len(view), _PIECE):
                if self._answer.done():
                    return  # answered (or failed) before taking the whole body
                self._transport.write(view[pos : pos + _PIECE])
                self._last_activity = self._loop.time()
                if self._paused:
                    self._drained = self._loop.create_future()
                    await self._drained
        self._sent_all = True

    def _check_activity(self) -> None:
        idle = self._loop.time() - self._last_activity
        if idle < self._read_timeout:
            self._timer = self._loop.call_later(self._read_timeout - idle, self._check_activity)
        else:
            self._fail(TimeoutError(f"nothing received for {self._read_timeout:g} s"))

    def _settle(self) -> None:
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self._settle()

    def _finish(self, keep_alive: bool) -> None:
        if self._answer is not None and not self._answer.done():
            body = self._body if self._body is not None else b"".join(self._chunks)
            self._answer.set_result(Response(self._status, self._headers, body))
            self.reusable = keep_alive
        self._chunks, self._body, self._direct = [], None, False
        self._settle()

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._direct:
            assert self._body is not None
            return memoryview(self._body)[self._size :]  # never past this answer's end
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._answer is None:  # nothing was asked: the peer is confused, stop talking to it
            self.abort()
            return
        self._got_bytes = True
        self._last_activity = self._loop.time()
        if self._direct:
            assert self._body is not None
            self._size += nbytes
            if self._size == len(self._body):
                self._parser = httptools.HttpResponseParser(self)  # the old one is mid-body
                self._finish(self._keep_alive)
            return
        try:
            self._parser.feed_data(self._scratch[:nbytes])
        except httptools.HttpParserError as exc:
            self._fail(ConnectionError(f"malformed HTTP response: {exc}"))
            self.abort()
            return
        self._direct = self._body is not None and self._size < len(self._body)

    def eof_received(self) -> bool:
        return False  # close: a response is never ended by EOF in this protocol

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._used and not self._got_bytes:
            error: ConnectionError = _StaleConnection("closed by the peer before answering")
        else:
            error = ConnectionResetError("connection closed before the response ended")
        error.__cause__ = exc
        self._fail(error)
        if not self.lost.done():
            self.lost.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._last_activity = self._loop.time()
        self._settle()

    # -- parser callbacks (httptools) ------------------------------------------

    def on_message_begin(self) -> None:
        self._headers, self._chunks, self._size, self._body = {}, [], 0, None

    def on_header(self, name: bytes, value: bytes) -> None:
        key, text = name.decode("latin-1").lower(), value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]}, {text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        x, status = self._x, self._parser.get_status_code()
        self._status = status
        if x is None or status < 200:
            return  # nothing asked, or an interim answer (100 Continue): the real one follows
        self._truncate = status not in x.expected
        self._limit = x.max_error_body if self._truncate else x.max_body
        declared = self._headers.get("content-length")
        if x.head_only:
            # llhttp cannot be told a HEAD answer has no body: the next answer gets a new parser
            keep_alive = self._parser.should_keep_alive()
            self._parser = httptools.HttpResponseParser(self)
            self._finish(keep_alive)
        elif declared is not None and int(declared) > self._limit and not self._truncate:
            self._fail(StorageProtocolError(f"response body larger than {self._limit} bytes"))
        elif declared is not None and int(declared) > _SMALL_BODY and not self._truncate:
            self._body = bytearray(int(declared))
            self._keep_alive = self._parser.should_keep_alive()

    def on_body(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            return
        if self._body is not None:
            self._body[self._size : self._size + len(data)] = data
            self._size += len(data)
            return
        self._size += len(data)
        if self._size <= self._limit:
            self._chunks.append(data)
        elif self._truncate:
            self._chunks.append(data[: len(data) - (self._size - self._limit)])
            self._finish(keep_alive=False)
        else:
            self._fail(StorageProtocolError(f"response body larger than {self._limit} bytes"))

    def on_message_complete(self) -> None:
        if self._status >= 200:
            self._finish(self._parser.should_keep_alive())
