"""The keep-alive connection pool (lafs_core.http_client) against small servers started here,
each answering with the raw bytes a test needs."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lafs_core import http_client
from lafs_core.errors import ServerIdentityError, StorageProtocolError
from lafs_core.http_client import HTTPConnectionPool, Response, Timeouts
from lafs_core.nurl import spki_hash_of_cert

from ..s3gw.capture import make_self_signed

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", ("asyncio", {"use_uvloop": True})], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> object:
    """The gateway runs on uvloop, the rest on the stock loop: the pool must work on both."""
    return request.param


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Server:
    """A TCP (or TLS) server on 127.0.0.1 running `handler` per connection; it counts
    connections, the most open at once, and keeps the requests it read."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[tuple[bytes, bytes]] = []  # (head, body)
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self.open -= 1
            writer.transport.abort()

    async def read_request(self, reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
        """One request, or None at EOF."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        body = await reader.readexactly(length)
        self.requests.append((head, body))
        return head, body


@asynccontextmanager
async def serving(
    handler: Callable[[Server, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[Server]:
    server = Server(lambda r, w: handler(server, r, w))
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=tls)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server
        listener.close()


async def answer_each(
    server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter
) -> None:
    """Keep-alive: answer every request with 200 and its own body echoed back."""
    while (request := await server.read_request(reader)) is not None:
        body = request[1]
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await w.drain()


def pool(server: Server, **kwargs: object) -> HTTPConnectionPool:
    return HTTPConnectionPool("127.0.0.1", server.port, spki_hash=None, **kwargs)  # type: ignore[arg-type]


async def get(p: HTTPConnectionPool, body: object = None, max_body: int = 1 << 20) -> Response:
    return await p.request("POST", "/x", body=body, expected=(200,), max_body=max_body)  # type: ignore[arg-type]


async def test_keep_alive_reuses_one_connection_and_sends_a_complete_head() -> None:
    async with serving(answer_each) as server:
        p = HTTPConnectionPool(
            "127.0.0.1", server.port, spki_hash=None, headers=[("Authorization", "T x")]
        )
        try:
            for i in range(5):
                assert (await get(p, b"hello %d" % i)).body == b"hello %d" % i
            got = await p.request(
                "GET", "/y", [("Range", "bytes=0-1")], expected=(200,), max_body=9
            )
        finally:
            await p.aclose()
    assert got == Response(200, {"content-length": "0"}, b"")
    assert server.connections == 1
    assert server.requests[0] == (
        b"POST /x HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: T x\r\n"
        b"Content-Length: 7\r\n\r\n" % server.port,
        b"hello 0",
    )
    assert b"Content-Length" not in server.requests[-1][0]  # a GET without a body


async def test_idle_connections_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_client, "IDLE_EXPIRY", 0.4)
    async with serving(answer_each) as server:
        p = pool(server)
        try:
            await asyncio.gather(get(p), get(p))  # two connections
            for _ in range(2):
                await asyncio.sleep(0.25)
                await get(p)  # on the last used one; the other expires, and is closed
            for _ in range(100):
                if server.open == 1:
                    break
                await asyncio.sleep(0.01)
            open_before_the_last = server.open
            await asyncio.sleep(0.45)
            await get(p)  # the last one expired too
        finally:
            await p.aclose()
    assert open_before_the_last == 1
    assert server.connections == 3


async def test_requests_beyond_max_connections_wait_for_a_free_one() -> None:
    async def slow(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while await server.read_request(reader) is not None:
            await asyncio.sleep(0.05)
            w.write(OK)

    async with serving(slow) as server:
        p = pool(server, max_connections=2)
        try:
            replies = await asyncio.gather(*(get(p) for _ in range(6)))
        finally:
            await p.aclose()
    assert [r.body for r in replies] == [b"ok"] * 6
    assert server.connections == server.most_open == 2


async def test_connection_close_is_not_reused() -> None:
    async def closing(
        server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
        await w.drain()
        await reader.read()  # the client closes

    async with serving(closing) as server:
        p = pool(server)
        try:
            for _ in range(3):
                assert (await get(p)).headers["connection"] == "close"
        finally:
            await p.aclose()
    assert server.connections == 3


async def test_chunked_body_then_reuse() -> None:
    async def chunked(
        server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        while await server.read_request(reader) is not None:
            w.write(b"HTTP/1.1 206 Partial Content\r\nTransfer-Encoding: chunked\r\n")
            w.write(b"Content-Type: application/octet-stream\r\n\r\n5\r\nhello\r\n")
            await w.drain()
            await asyncio.sleep(0.01)
            w.write(b"6\r\n world\r\n0\r\n\r\n")

    async with serving(chunked) as server:
        p = pool(server)
        try:
            for _ in range(2):
                r = await p.request("GET", "/", expected=(206,), max_body=11)
                assert (r.status, r.body) == (206, b"hello world")
                assert r.headers["content-type"] == "application/octet-stream"
        finally:
            await p.aclose()
    assert server.connections == 1


async def test_bodies_over_the_limit() -> None:
    async def big(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while (request := await server.read_request(reader)) is not None:
            kind = request[0].split()[1]
            if kind == b"/declared":
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100)
            elif kind == b"/chunked":
                chunk = b"40\r\n" + b"y" * 64 + b"\r\n"
                w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                w.write(chunk * 2 + b"0\r\n\r\n")
            else:
                w.write(b"HTTP/1.1 409 Conflict\r\nContent-Length: 50\r\n\r\n" + b"z" * 50)

    async with serving(big) as server:
        p = pool(server, max_error_body=20)
        try:
            for path in ("/declared", "/chunked"):
                with pytest.raises(StorageProtocolError):
                    await p.request("GET", path, expected=(200,), max_body=99)
            error = await p.request("GET", "/error", expected=(200,), max_body=99)
            assert (error.status, error.body) == (409, b"z" * 20)
            assert (await p.request("GET", "/declared", expected=(200,), max_body=100)).body
        finally:
            await p.aclose()
    assert server.connections == 4  # none of the cut ones was reused


async def test_no_body_statuses_and_head() -> None:
    async def empty(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while (request := await server.read_request(reader)) is not None:
            if request[0].startswith(b"HEAD"):
                w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
            else:
                w.write(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with serving(empty) as server:
        p = pool(server)
        try:
            for method in ("PUT", "HEAD", "GET", "HEAD", "PUT"):
                r = await p.request(method, "/", expected=(200, 204), max_body=0)
                assert r.body == b""
                assert r.status == (200 if method == "HEAD" else 204)
        finally:
            await p.aclose()
    assert server.connections == 1
    assert b"Content-Length: 0" in server.requests[0][0]  # a PUT without a body says so


async def test_idle_connection_closed_by_the_peer_is_retried_once() -> None:
    """The server takes the second request on each connection, then hangs up unanswered:
    the keep-alive race. The pool sends it again on a fresh connection, once."""

    async def forgetful(
        server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        w.write(OK)
        await server.read_request(reader)

    async with serving(forgetful) as server:
        p = pool(server)
        try:
            for _ in range(3):
                assert (await get(p)).body == b"ok"
        finally:
            await p.aclose()
    assert server.connections == 3
    assert len(server.requests) == 5

    async def rude(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await server.read_request(reader)

    async with serving(rude) as server:
        p = pool(server)
        try:
            with pytest.raises(ConnectionError):
                await get(p)  # a fresh connection is not retried
        finally:
            await p.aclose()
    assert server.connections == 1


async def test_cancelled_request_closes_its_connection() -> None:
    got_request = asyncio.Event()
    closed = asyncio.Event()

    async def silent(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        got_request.set()
        if await reader.read() == b"":
            closed.set()

    async with serving(silent) as server:
        p = pool(server)
        try:
            task = asyncio.create_task(get(p))
            await got_request.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.wait_for(closed.wait(), 5)
        finally:
            await p.aclose()


async def test_read_timeout() -> None:
    async def silent(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await server.read_request(reader)
        await reader.read()

    async with serving(silent) as server:
        p = pool(server, timeouts=Timeouts(read=0.2))
        start = time.monotonic()
        try:
            with pytest.raises(TimeoutError):
                await get(p)
        finally:
            await p.aclose()
    assert time.monotonic() - start < 3


async def test_malformed_answer() -> None:
    async def garbage(
        server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        await server.read_request(reader)
        w.write(b"HTTQ/9 nonsense\r\n\r\n")
        await reader.read()

    async with serving(garbage) as server:
        p = pool(server)
        try:
            with pytest.raises(ConnectionError, match="malformed"):
                await get(p)
        finally:
            await p.aclose()


async def test_large_body_in_pieces_and_an_early_answer() -> None:
    """A list of views goes out as it is, under flow control; a server answering before it
    has read the whole body gets its answer delivered and the connection dropped."""
    data = [memoryview(bytes([n]) * (3 << 20)) for n in range(3)]

    async def slow_reader(
        server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter
    ) -> None:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"/early" in head:
                w.write(b"HTTP/1.1 409 Conflict\r\nContent-Length: 0\r\n\r\n")
                await reader.read()
                return
            body = bytearray()
            while len(body) < 9 << 20 and (piece := await reader.read(1 << 16)):
                body += piece
                await asyncio.sleep(0)
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            server.requests.append((head, bytes(body)))

    async with serving(slow_reader) as server:
        p = pool(server)
        try:
            assert (await get(p, data)).status == 200
            early = await p.request("PATCH", "/early", body=data, expected=(200,), max_body=0)
            assert early.status == 409
            assert (await get(p, data)).status == 200
        finally:
            await p.aclose()
    assert server.requests[0][1] == b"".join(data)
    assert server.connections == 2


async def test_pinned_tls(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    pin = spki_hash_of_cert(cert.read_text())

    async with serving(answer_each, tls) as server:
        wrong = HTTPConnectionPool("127.0.0.1", server.port, spki_hash="A" * 43)
        right = HTTPConnectionPool("127.0.0.1", server.port, spki_hash=pin)
        try:
            with pytest.raises(ServerIdentityError):
                await get(wrong, b"secret")
            assert (await get(right, b"hi")).body == b"hi"
            assert (await get(right, b"again")).body == b"again"
        finally:
            await wrong.aclose()
            await right.aclose()
    assert [body for _, body in server.requests] == [b"hi", b"again"]  # nothing to the impostor


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
async def test_large_bodies_received_whole_then_reuse(tmp_path: Path, tls: bool) -> None:
    """Bodies over 64 KiB with a Content-Length are read into one buffer, in whatever pieces
    they arrive (the head's packet may carry part of them); the connection is reused after,
    and one cut short fails."""
    sizes = [70_000, 3 << 20, 5, 1 << 20]

    async def pieces(server: Server, reader: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while (request := await server.read_request(reader)) is not None:
            size = sizes[len(server.requests) - 1] if request[0].split()[1] != b"/cut" else 0
            body = bytes(i % 251 for i in range(size or 1 << 17))
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:1000])
            await w.drain()
            await asyncio.sleep(0.01)
            if not size:
                w.write(body[1000:50_000])
                return  # the answer is cut short: the connection closes
            for pos in range(1000, len(body), 300_000):
                w.write(body[pos : pos + 300_000])
                await w.drain()

    context, pin = None, None
    if tls:
        cert, key = make_self_signed(tmp_path)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        pin = spki_hash_of_cert(cert.read_text())
    async with serving(pieces, context) as server:
        p = HTTPConnectionPool("127.0.0.1", server.port, spki_hash=pin)
        try:
            for size in sizes:
                r = await p.request("GET", "/", expected=(200,), max_body=4 << 20)
                assert r.body == bytes(i % 251 for i in range(size))
            with pytest.raises(ConnectionResetError):
                await p.request("GET", "/cut", expected=(200,), max_body=4 << 20)
        finally:
            await p.aclose()
    assert server.connections == 1  # every answer, the cut one too, on one connection


async def test_local_socket_first_then_tcp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the server's Unix socket named, connections go there (no TLS, nothing pinned);
    when nothing listens there, over TCP and TLS with the pin; a socket served by another
    user is refused before a byte is written."""
    cert, key = make_self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    pin = spki_hash_of_cert(cert.read_text())
    path = str(tmp_path / "node.sock")
    local = Server(lambda r, w: answer_each(local, r, w))
    async with serving(answer_each, tls) as remote:
        listener = await asyncio.start_unix_server(local._serve, path)
        p = HTTPConnectionPool("127.0.0.1", remote.port, spki_hash=pin, unix_socket=path)
        try:
            assert (await get(p, b"near")).body == b"near"
            assert [body for _, body in local.requests] == [b"near"] and remote.requests == []
            # the socket's server stops: new connections go over TCP and TLS
            listener.close()
            await listener.wait_closed()
            await p.aclose()
            assert (await get(p, b"far")).body == b"far"
            assert [body for _, body in remote.requests] == [b"far"]
            # a socket whose server runs as another user is not trusted
            listener = await asyncio.start_unix_server(local._serve, path)
            await p.aclose()
            real_uid = http_client.os.getuid()
            monkeypatch.setattr(http_client.os, "getuid", lambda: real_uid + 1)
            with pytest.raises(ServerIdentityError):
                await get(p, b"secret")
            assert [body for _, body in local.requests] == [b"near"]
        finally:
            listener.close()
            await p.aclose()
