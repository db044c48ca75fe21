"""Helpers for storage-node tests: raw HTTP access and on-disk snapshots."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import httpx

from lafs_core import storage_protocol as sp
from lafs_core.nurl import parse_nurl


def random_si() -> bytes:
    return os.urandom(16)


def lease_secrets() -> dict[str, bytes]:
    return {sp.LEASE_RENEW: os.urandom(32), sp.LEASE_CANCEL: os.urandom(32)}


def _insecure_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RawClient:
    """An unpinned httpx client that sends whatever a test asks, for error cases."""

    def __init__(self, nurl: str) -> None:
        n = parse_nurl(nurl)
        self.nurl = n
        self.auth = sp.authorization_value(n.swissnum)
        self.http = httpx.AsyncClient(base_url=n.base_url, verify=_insecure_context(), timeout=30.0)
        del self.http.headers["accept"]  # httpx's default `*/*` would get a 406

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        secrets: Mapping[str, bytes] | None = None,
        body: bytes | None = None,
        headers: list[tuple[str, str]] | None = None,
        auth: str | None = "default",
        accept: str | None = sp.CBOR_MIME,
    ) -> httpx.Response:
        hdrs: list[tuple[str, str]] = []
        if auth == "default":
            hdrs.append(("Authorization", self.auth))
        elif auth is not None:
            hdrs.append(("Authorization", auth))
        if accept is not None:
            hdrs.append(("Accept", accept))
        if secrets:
            hdrs += [(sp.SECRET_HEADER, v) for v in sp.secret_header_values(secrets)]
        hdrs += headers or []
        return await self.http.request(method, path, content=body, headers=hdrs)

    async def open_tls(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(
            self.nurl.host, self.nurl.port, ssl=_insecure_context()
        )

    async def raw_status(self, request_line_and_headers: bytes) -> int:
        """Send bytes verbatim over TLS (no URL normalisation); return the status code."""
        reader, writer = await asyncio.open_connection(
            self.nurl.host, self.nurl.port, ssl=_insecure_context()
        )
        try:
            writer.write(request_line_and_headers)
            await writer.drain()
            status_line = await reader.readline()
            return int(status_line.split()[1])
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ssl.SSLError, ConnectionError):
                pass


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` with a hash of its content (directories as 'dir')."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
    return out
