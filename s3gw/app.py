"""The ASGI application: authenticate, route, call the handler, render every error as S3 XML.

A plain ASGI callable rather than a Starlette router: S3 picks the
operation from method, host, path, query and headers together, which
`s3gw.routes.route` does as pure code; Starlette's responses do the rest.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from s3gw.api import Gateway, S3Request
from s3gw.auth import verify_request
from s3gw.auth.post import verify_post
from s3gw.credentials import Credentials
from s3gw.errors import (
    AccessDenied,
    InsufficientStorage,
    NotModified,
    S3Error,
    S3NotImplemented,
    ServiceUnavailable,
    SlowDown,
    from_exception,
    render_error,
)
from s3gw.routes import bucket_from_host, route

log = logging.getLogger("s3gw")

SERVER = "s3gw"


def _request_id() -> str:
    return secrets.token_hex(8).upper()


class S3App:
    def __init__(
        self,
        gateway: Gateway | None,
        credentials: Credentials,
        *,
        base_domains: tuple[str, ...] = (),
        strict_region: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_startup: Callable[[], Any] | None = None,
        on_shutdown: Callable[[], Any] | None = None,
    ) -> None:
        self.gateway = gateway
        self.credentials = credentials
        self.base_domains = base_domains
        self.strict_region = strict_region
        self.clock = clock
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_id = _request_id()
        body = RequestBody(receive)
        try:
            response = await self._handle(scope, body, request_id)
        except ClientDisconnect:
            return
        except Exception as exc:  # every failure answers as S3 XML
            err = from_exception(exc)
            if isinstance(err, ServiceUnavailable | InsufficientStorage | SlowDown):
                # the grid's state (nodes down or full, writers colliding), not a fault of
                # the gateway: the message says which nodes; a traceback would bury it
                log.warning("request %s: %s: %s", request_id, err.code, exc)
            # NotImplemented answers a client probing features (s3cmd info asks for the
            # policy, cors and acl of every object): not a fault of the gateway
            elif err.status >= 500 and not isinstance(err, S3NotImplemented):
                log.error("request %s failed: %r", request_id, exc, exc_info=exc)
            response = self._error_response(err, scope, request_id)
        response.headers["x-amz-request-id"] = request_id
        response.headers["server"] = SERVER
        origin = _header(scope, b"origin")
        if origin is not None and scope["method"] != "OPTIONS":
            response.headers.update(await self._cors_headers(scope, origin))
        if not body.finished and _has_body(scope["headers"]):
            # the client may still send the body we did not read (after Expect: 100-continue);
            # a closed connection keeps it from being read as the next request
            response.headers["connection"] = "close"
        await response(scope, receive, send)

    def _error_response(self, err: S3Error, scope: Scope, request_id: str) -> Response:
        headers = dict(err.headers)
        if isinstance(err, NotModified) or scope["method"] == "HEAD":
            return Response(status_code=err.status, headers=headers)
        resource = scope.get("path", "/")
        return Response(
            render_error(err, request_id, resource),
            err.status,
            headers,
            media_type="application/xml",
        )

    async def _handle(self, scope: Scope, body: RequestBody, request_id: str) -> Response:
        gateway = self.gateway
        if gateway is None:
            raise ServiceUnavailable("The gateway is starting; retry shortly.")
        method = scope["method"]
        header_pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        headers: dict[str, str] = {}
        for name, value in header_pairs:
            name = name.lower()
            headers[name] = headers[name] + "," + value if name in headers else value
        host = headers.get("host", "")
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        if method in ("POST", "OPTIONS"):
            r = route(method, host, raw_path, query, headers, base_domains=self.base_domains)
            if r.operation == "PostObject":  # signed by its form's fields, not by the request
                url = f"{scope.get('scheme', 'http')}://{host}{raw_path.decode('latin-1')}"
                return await gateway.post_object(
                    r, headers, body.chunks(), self._form_account, url, self.clock()
                )
            if r.operation == "PreflightRequest":  # browsers send it unsigned
                assert r.bucket is not None
                return await gateway.preflight(r.bucket, headers)
        vbucket = bucket_from_host(host, self.base_domains)
        auth = verify_request(
            method,
            raw_path,
            query,
            header_pairs,
            self.credentials.secret_for,
            self.clock(),
            region=gateway.region if self.strict_region else None,
            virtual_host_bucket=vbucket,
        )
        key = self.credentials.lookup(auth.access_key)
        if key is None:
            raise AccessDenied()
        r = route(method, host, raw_path, query, headers, base_domains=self.base_domains)
        handler = gateway.handler(r.operation)
        request = S3Request(r, method, headers, auth, key.account, body.chunks(), request_id)
        return await handler(request)

    async def _cors_headers(self, scope: Scope, origin: str) -> dict[str, str]:
        """What the bucket's CORS rules let a browser page at `origin` see of this answer."""
        if self.gateway is None:
            return {}
        try:
            r = route(
                scope["method"],
                _header(scope, b"host") or "",
                scope.get("raw_path") or scope["path"].encode(),
                scope.get("query_string", b""),
                base_domains=self.base_domains,
            )
        except S3Error:
            return {}
        if r.bucket is None:
            return {}
        return await self.gateway.cors_headers(r.bucket, origin, scope["method"])

    def _form_account(self, fields: Mapping[str, str]) -> str:
        """The account whose key signed a browser upload's form."""
        gateway = self.gateway
        assert gateway is not None
        region = gateway.region if self.strict_region else None
        access_key = verify_post(fields, self.credentials.secret_for, region=region)
        key = self.credentials.lookup(access_key)
        if key is None:
            raise AccessDenied()
        return key.account

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self.on_startup is not None:
                        await self.on_startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown is not None:
                    await self.on_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def _header(scope: Scope, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k.lower() == name), None)


def _has_body(raw_headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in raw_headers:
        name = name.lower()
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


class RequestBody:
    """The request body as an async iterator of chunks; `finished` once all of it was read."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.finished = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self.finished:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            self.finished = not message.get("more_body", False)
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
