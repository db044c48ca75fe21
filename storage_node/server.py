"""The storage protocol as a lean ASGI app: one endpoint per operation.

Per spec/tahoe-storage-http.md 5-8. Checks run in the spec's order (route,
`Authorization`, `X-Tahoe-Authorization`, body, operation) in `StorageServer.__call__`;
errors become responses in one place, `_error_response`. Routing is one dict
look-up per request (no framework router or middleware stack: a request costs
the node a fraction of what it did). Disk work that can wait on the disk
(immutable writes, fsyncs, large reads) runs in worker threads through the
`Backend`; metadata look-ups, small reads and small read-test-writes of the page
cache run inline, cheaper than a thread hop, their syncs made by the kernel through
an `AioSyncer` (Linux), else batched by a `Syncer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from starlette.types import Receive, Scope, Send  # type aliases only: starlette stays unloaded

from lafs_core import storage_protocol as sp
from lafs_core.errors import StorageProtocolError

from .aio_sync import AioSyncer, open_aio_syncer
from .backend import Backend
from .config import NodeConfig
from .crawler import LeaseCrawler, run_periodically
from .errors import StorageNodeError, WriteError
from .syncer import Syncer

WRITE_PIECE = 1 << 20  # bytes of a PATCH body buffered before each disk write
MAX_IOV = 512  # chunks per pwritev (the kernel takes at most 1024)
READ_PIECE = 1 << 20  # bytes per disk read when streaming a share
INLINE_READ = 64 * 1024  # reads up to this size skip the worker thread
INLINE_WRITE = 64 * 1024  # immutable writes up to this size run on the loop, bar the sync
INLINE_RTW = 128 * 1024  # read-test-write reads up to this size run on the loop
# Read-test-write bodies up to this size are written on the loop: a page-cache copy of
# well under a millisecond, cheaper than the worker-thread hop (a full bucket-index
# leaf's share, ~300 KB: 14% less node CPU measured).
INLINE_RTW_BODY = 1 << 20
IDLE_CHECK_INTERVAL = 60.0
SI, SHNUM = "{si}", "{shnum}"
_SI_RE = re.compile(sp.SI_PATTERN)
_SHNUM_RE = re.compile("[0-9]{1,10}")
_log = logging.getLogger(__name__)


class ClientDisconnect(Exception):
    """The client went away before its request body was read."""


@dataclass
class Call:
    """One authorized request: its ASGI scope and body channel, path parameters and secrets."""

    scope: Scope
    receive: Receive
    si: bytes
    shnum: int
    secrets: dict[str, bytes]

    def header(self, name: bytes) -> str | None:
        """The first value of a header (latin-1, as Starlette decodes it)."""
        for key, value in self.scope["headers"]:
            if key == name:
                return bytes(value).decode("latin-1")
        return None

    async def body_chunks(self) -> AsyncIterator[bytes]:
        """The request body as it arrives; ClientDisconnect if the client goes away."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return


class Reply:
    """A whole response sent as two ASGI messages, headers as Starlette's Response makes them.

    Lighter than a Starlette Response: no header objects, nothing parsed or
    copied per request.
    """

    __slots__ = ("status", "body", "headers")

    def __init__(
        self,
        status: int,
        body: bytes = b"",
        media_type: bytes | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        raw = headers or []
        if status >= 200 and status not in (204, 304):
            raw.append((b"content-length", str(len(body)).encode()))
        if media_type is not None:
            raw.append((b"content-type", media_type))
        self.status, self.body, self.headers = status, body, raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


class FileStream:
    """A share read past one buffer: sent piece by piece as worker threads read it.

    Owns `fd` and closes it once sent; stops reading when the client goes away.
    """

    __slots__ = ("status", "headers", "fd", "pos", "size")

    def __init__(
        self, status: int, headers: list[tuple[bytes, bytes]], fd: int, pos: int, size: int
    ) -> None:
        headers += [(b"content-length", str(size).encode()), (b"content-type", _OCTETS)]
        self.status, self.headers, self.fd, self.pos, self.size = status, headers, fd, pos, size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.ensure_future(_until_disconnect(receive))
        try:
            await send(
                {"type": "http.response.start", "status": self.status, "headers": self.headers}
            )
            pos, remaining = self.pos, self.size
            while remaining > 0 and not gone.done():
                data = await asyncio.to_thread(os.pread, self.fd, min(remaining, READ_PIECE), pos)
                if not data:
                    break
                await send({"type": "http.response.body", "body": data, "more_body": True})
                pos, remaining = pos + len(data), remaining - len(data)
            if not gone.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            os.close(self.fd)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass  # the rest of the request (a GET has no body): not the end


Response = Reply | FileStream
Handler = Callable[["StorageServer", Call], Awaitable[Response]]
_CBOR = sp.CBOR_MIME.encode()
_OCTETS = sp.OCTET_STREAM_MIME.encode()
_TEXT = b"text/plain; charset=utf-8"


def _cbor(data: bytes, status: int = 200) -> Reply:
    return Reply(status, data, _CBOR)


def _text(status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> Reply:
    return Reply(status, text.encode(), _TEXT, headers)


def _error_response(exc: Exception) -> Reply:
    """The one place errors become responses (StorageNodeError and StorageProtocolError)."""
    status = getattr(exc, "status", None) or 500
    if status == sp.INSUFFICIENT_STORAGE:  # a full disk: the client should know, not a crash
        return _text(status, str(exc)[:500])
    if status >= 500:
        return _text(500, "Internal Server Error")
    if status in (406, 413, 415, 416):
        return Reply(status)
    return _text(status, str(exc)[:500])


def _template(path: str) -> tuple[str, str, str]:
    """(route template, SI text, share-number text) of a request path.

    A segment shaped like a storage index becomes `{si}`, one of decimal digits
    `{shnum}`; anything else must match a route literally.
    """
    si = shnum = ""
    segments = path.split("/")
    for i, seg in enumerate(segments):
        if len(seg) == 26 and _SI_RE.fullmatch(seg):
            si, segments[i] = seg, SI
        elif seg[:1].isdigit() and _SHNUM_RE.fullmatch(seg):
            shnum, segments[i] = seg, SHNUM
    return "/".join(segments), si, shnum


class StorageServer:
    """Wires a `Backend` to HTTP; the instance is the ASGI application."""

    def __init__(self, config: NodeConfig, backend: Backend) -> None:
        self.config = config
        self.backend = backend
        self.crawler = LeaseCrawler(backend, config.expiry)
        self.syncer = Syncer()
        self.aio: AioSyncer | None = None  # opened on the serving loop, at start-up
        self._auth = sp.authorization_value(config.swissnum)
        p = sp.PREFIX
        imm, mut = f"{p}/immutable/{SI}", f"{p}/mutable/{SI}"
        S = StorageServer
        # (path, method, handler, the X-Tahoe-Authorization secrets it requires)
        routes: list[tuple[str, str, Handler, frozenset[str]]] = [
            (f"{p}/version", "GET", S.version, sp.NO_SECRETS),
            (f"{p}/lease/{SI}", "PUT", S.add_or_renew_lease, sp.LEASE_SECRETS),
            (imm, "POST", S.allocate, sp.ALLOCATE_SECRETS),
            (f"{imm}/shares", "GET", S.list_immutable, sp.NO_SECRETS),
            (f"{imm}/{SHNUM}", "PATCH", S.write, sp.UPLOAD_SECRETS),
            (f"{imm}/{SHNUM}", "GET", S.read_immutable, sp.NO_SECRETS),
            (f"{imm}/{SHNUM}/abort", "PUT", S.abort, sp.UPLOAD_SECRETS),
            (f"{imm}/{SHNUM}/corrupt", "POST", S.advise_corrupt_immutable, sp.NO_SECRETS),
            (f"{mut}/read-test-write", "POST", S.read_test_write, sp.RTW_SECRETS),
            (f"{mut}/shares", "GET", S.list_mutable, sp.NO_SECRETS),
            (f"{mut}/{SHNUM}", "GET", S.read_mutable, sp.NO_SECRETS),
            (f"{mut}/{SHNUM}/corrupt", "POST", S.advise_corrupt_mutable, sp.NO_SECRETS),
        ]
        self._routes: dict[str, dict[str, tuple[Handler, frozenset[str]]]] = {}
        for path, method, handler, secrets in routes:
            methods = self._routes.setdefault(path, {})
            methods[method] = (handler, secrets)
            if method == "GET":
                methods["HEAD"] = (handler, secrets)

    # -- plumbing ------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            response = await self._dispatch(scope, receive)
        except (StorageNodeError, StorageProtocolError) as exc:
            response = _error_response(exc)
        except ClientDisconnect:
            return
        except Exception:
            _log.exception("error serving %s %s", scope["method"], scope["path"])
            response = _text(500, "Internal Server Error")
        await response(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        template, si_text, shnum = _template(scope["path"])
        methods = self._routes.get(template)
        if methods is None:
            return _text(404, "Not Found")
        route = methods.get(scope["method"])
        if route is None:
            allow = ", ".join(methods).encode()
            return _text(405, "Method Not Allowed", [(b"allow", allow)])
        handler, required = route
        si = sp.si_from_text(si_text) if si_text else b""
        auth, secret_values = None, []
        for key, value in scope["headers"]:
            if key == b"authorization":
                auth = auth if auth is not None else bytes(value)
            elif key == b"x-tahoe-authorization":
                secret_values.append(value.decode("latin-1"))
        if auth is not None:
            try:
                auth.decode("utf-8")
            except UnicodeDecodeError:
                return _text(400, "Authorization is not UTF-8")
        if not sp.authorization_matches(auth, self._auth):
            return _text(401, "Wrong Authorization header")
        secrets = sp.parse_secret_headers(secret_values, required)
        return await handler(self, Call(scope, receive, si, int(shnum) if shnum else -1, secrets))

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        async with self.running():
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The node's background work (syncs, crawler, idle-upload sweep), for as long as
        it serves; a clean stop then discards the uploads in progress."""
        self.aio = open_aio_syncer(asyncio.get_running_loop())
        tasks = [
            asyncio.create_task(
                run_periodically(
                    self.crawler, self.config.crawl_interval, self.config.crawl_first_delay
                )
            ),
            asyncio.create_task(self._abort_idle_uploads()),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # A clean stop discards every upload in progress (spec disk 10).
            await asyncio.to_thread(self.backend.abort_all_uploads)
            await asyncio.to_thread(self.syncer.close)
            if self.aio is not None:
                self.aio.close()
                self.aio = None

    async def _abort_idle_uploads(self) -> None:
        while True:
            await asyncio.sleep(IDLE_CHECK_INTERVAL)
            await asyncio.to_thread(
                self.backend.abort_idle_uploads, self.config.upload_idle_timeout
            )

    # -- endpoints -----------------------------------------------------------

    async def version(self, call: Call) -> Response:
        _require_accept_cbor(call)
        info = self.backend.version()  # one statvfs
        return _cbor(sp.encode_version(info))

    async def add_or_renew_lease(self, call: Call) -> Response:
        self.backend.add_or_renew_lease(  # a few small page-cache writes: inline
            call.si,
            call.secrets[sp.LEASE_RENEW],
            call.secrets[sp.LEASE_CANCEL],
        )
        return Reply(204)

    async def allocate(self, call: Call) -> Response:
        _require_accept_cbor(call)
        body = await _read_cbor_body(call, sp.MAX_ALLOCATE_BODY)
        req = sp.decode_allocate_request(body)
        result = self.backend.allocate(  # small files made in the page cache: inline
            call.si,
            call.secrets[sp.LEASE_RENEW],
            call.secrets[sp.LEASE_CANCEL],
            call.secrets[sp.UPLOAD],
            req.share_numbers,
            req.allocated_size,
        )
        return _cbor(sp.encode_allocate_result(result))

    async def write(self, call: Call) -> Response:
        header = call.header(b"content-range")
        if header is None:
            raise StorageProtocolError("Content-Range is required", 416)
        first, last = sp.parse_content_range(header)
        _require_accept_cbor(call)
        backend = self.backend
        upload = backend.get_upload(call.si, call.shnum, call.secrets[sp.UPLOAD])
        if last >= upload.allocated_size:
            raise WriteError("write past the allocated size")
        expected = last - first + 1
        async with upload.lock:
            pos, chunks, pending = first, [], 0  # chunks go to disk as received, unjoined
            async for chunk in call.body_chunks():
                if pos - first + pending + len(chunk) > expected:
                    raise WriteError("body longer than its Content-Range")
                if not chunk:
                    continue
                chunks.append(chunk)
                pending += len(chunk)
                if pending >= WRITE_PIECE or len(chunks) >= MAX_IOV:
                    await asyncio.to_thread(backend.write_piece, upload, pos, chunks)
                    pos, chunks, pending = pos + pending, [], 0

            def finish(pos: int = pos) -> list[tuple[int, int]]:
                """The last piece and the commit (which syncs a complete share), in one hop."""
                if chunks:
                    backend.write_piece(upload, pos, chunks)
                    pos += pending
                if pos - first != expected:
                    # As 1.20 does: the bytes that arrived stay written, the request fails.
                    backend.commit(upload, first, pos)
                    raise WriteError("body shorter than its Content-Range")
                return backend.commit(upload, first, last + 1)

            # A small last piece joins the batched syncs; a large one gets a thread of its own.
            hop = self.syncer.run if pending <= INLINE_WRITE else asyncio.to_thread
            missing = await hop(finish)
        return _cbor(sp.encode_required_ranges(missing), 200 if missing else 201)

    async def abort(self, call: Call) -> Response:
        await asyncio.to_thread(self.backend.abort, call.si, call.shnum, call.secrets[sp.UPLOAD])
        return Reply(200)

    async def list_immutable(self, call: Call) -> Response:
        _require_accept_cbor(call)
        shares = self.backend.list_immutable(call.si)  # a listdir and 32-byte reads
        return _cbor(sp.encode_share_set(shares))

    async def read_immutable(self, call: Call) -> Response:
        return await self._read(call, self.backend.open_immutable)

    async def advise_corrupt_immutable(self, call: Call) -> Response:
        return await self._advise_corrupt(call, "immutable")

    async def read_test_write(self, call: Call) -> Response:
        _require_accept_cbor(call)
        body = await _read_cbor_body(call, self.config.max_mutable_write_body)
        req = sp.decode_rtw_request(body)
        args = (
            call.si,
            call.secrets[sp.WRITE_ENABLER],
            call.secrets[sp.LEASE_RENEW],
            call.secrets[sp.LEASE_CANCEL],
            req,
        )
        if len(body) <= INLINE_RTW_BODY and sum(r.size for r in req.read_vector) <= INLINE_RTW:
            # Page-cache work on the loop; only the sync, which waits on the disk, is
            # left to the kernel (AIO) or else to a sync thread.
            result, pending = self.backend.apply_read_test_write(*args)
            try:
                if pending and self.aio is not None:
                    await self.aio.sync(pending.fds, list(pending.dirs.values()))
                elif pending:
                    await self.syncer.run(pending.sync)
            finally:
                pending.close()
        else:
            del body
            result = await asyncio.to_thread(self.backend.read_test_write, *args)
        return _cbor(sp.encode_rtw_result(result))

    async def list_mutable(self, call: Call) -> Response:
        _require_accept_cbor(call)
        shares = self.backend.list_mutable(call.si)  # a listdir
        return _cbor(sp.encode_share_set(shares))

    async def read_mutable(self, call: Call) -> Response:
        return await self._read(call, self.backend.open_mutable)

    async def advise_corrupt_mutable(self, call: Call) -> Response:
        return await self._advise_corrupt(call, "mutable")

    # -- shared parts --------------------------------------------------------

    async def _read(
        self, call: Call, opener: Callable[[bytes, int], tuple[int, int, int]]
    ) -> Response:
        range_header = call.header(b"range")
        wanted = sp.parse_range(range_header) if range_header is not None else None
        fd, base, length = opener(call.si, call.shnum)  # an open and a header read
        streaming = False
        try:
            headers: list[tuple[bytes, bytes]] = []
            if wanted is None:
                first, end, status = 0, length, 200
            else:
                first, end, status = wanted[0], min(wanted[1] + 1, length), 206
                if first >= end:
                    return Reply(204)
                headers.append((b"content-range", sp.format_content_range(first, end - 1).encode()))
            size, pos = end - first, base + first
            if size <= INLINE_READ:
                return Reply(status, os.pread(fd, size, pos), _OCTETS, headers)
            if size <= READ_PIECE:
                data = await asyncio.to_thread(os.pread, fd, size, pos)
                return Reply(status, data, _OCTETS, headers)
            streaming = True  # the stream closes fd
            return FileStream(status, headers, fd, pos, size)
        finally:
            if not streaming:
                os.close(fd)

    async def _advise_corrupt(self, call: Call, kind: str) -> Response:
        backend = self.backend
        opener = backend.open_immutable if kind == "immutable" else backend.open_mutable
        fd, _, _ = await asyncio.to_thread(opener, call.si, call.shnum)
        os.close(fd)
        body = await _read_cbor_body(call, sp.MAX_CORRUPT_BODY)
        reason = sp.decode_corrupt_request(body)
        await asyncio.to_thread(backend.advise_corrupt, kind, call.si, call.shnum, reason)
        return Reply(200)


def _require_accept_cbor(call: Call) -> None:
    if not sp.accepts_cbor(call.header(b"accept")):
        raise StorageProtocolError("responses are CBOR only", 406)


async def _read_cbor_body(call: Call, limit: int) -> bytes:
    """The request body, refused with 415 unless CBOR and 413 past `limit`."""
    if not sp.content_type_is_cbor(call.header(b"content-type")):
        raise StorageProtocolError("request bodies must be CBOR", 415)
    declared = call.header(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise StorageProtocolError("request body too large", 413)
    chunks, size = [], 0
    async for chunk in call.body_chunks():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise StorageProtocolError("request body too large", 413)
    return b"".join(chunks)  # one copy (none for a body that came in one piece)


def create_app(config: NodeConfig, backend: Backend | None = None) -> StorageServer:
    """The ASGI app of a node; builds its Backend from `config` unless given one."""
    if backend is None:
        backend = Backend(config.storage_dir, config.nodeid, config.reserved_space)
    return StorageServer(config, backend)
