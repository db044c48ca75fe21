"""Async client of the Tahoe-LAFS HTTP storage protocol, one per storage server.

Per spec/tahoe-storage-http.md 4-9. TLS skips the web PKI and pins the SPKI
hash from the server's NURL instead: every new connection is checked right
after its handshake, before any request (and so the swissnum) is sent on it
(`http_client`). Messages are built and checked by `storage_protocol`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from . import storage_protocol as sp
from .errors import (
    ShareConflictError,
    ShareNotFoundError,
    StorageConnectionError,
    StorageHTTPError,
    StorageProtocolError,
    StorageUnauthorizedError,
)
from .http_client import Body, HTTPConnectionPool, Response, Timeouts
from .nurl import NURL, parse_nurl
from .storage_protocol import (
    AllocateResult,
    ReadTestWriteResult,
    ReadVector,
    TestWriteVectors,
    VersionInfo,
)

DEFAULT_TIMEOUT = Timeouts(connect=15.0, read=60.0)
DEFAULT_MAX_CONNECTIONS = 10
_STATUS_ERRORS: dict[int, type[StorageHTTPError]] = {
    401: StorageUnauthorizedError,
    404: ShareNotFoundError,
    409: ShareConflictError,
}


@dataclass(frozen=True)
class WriteResult:
    """Answer to a chunk upload: `finished` once the whole share is written."""

    finished: bool
    required: list[tuple[int, int]]  # half-open ranges still missing


# -- the client ----------------------------------------------------------------


class StorageClient:
    """Talks to one storage server; keeps a pool of pinned TLS connections (or, when
    `unix_socket` names the server's socket on this machine, of connections through it).

    Use as `async with StorageClient(nurl) as c:` or call `aclose()`. Errors:
    `StorageHTTPError` (and its 401/404/409 leaves) for refusals,
    `StorageConnectionError` for network trouble, `ServerIdentityError` for a
    wrong certificate, `StorageProtocolError` for a malformed answer.

    The connection pool is made on first use, inside the caller's event loop.
    """

    def __init__(
        self,
        nurl: NURL | str,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        timeout: Timeouts = DEFAULT_TIMEOUT,
        unix_socket: str | None = None,
    ) -> None:
        self.nurl = parse_nurl(nurl) if isinstance(nurl, str) else nurl
        self._unix_socket = unix_socket
        self._max_connections = max_connections
        self._timeout = timeout
        self._pool: HTTPConnectionPool | None = None

    def _http(self) -> HTTPConnectionPool:
        if self._pool is None:
            self._pool = HTTPConnectionPool(
                self.nurl.host,
                self.nurl.port,
                spki_hash=self.nurl.spki_hash,
                unix_socket=self._unix_socket,
                headers=[
                    ("Authorization", sp.authorization_value(self.nurl.swissnum)),
                    ("Accept", sp.CBOR_MIME),
                ],
                max_connections=self._max_connections,
                timeouts=self._timeout,
                max_error_body=sp.MAX_CLIENT_ERROR_BODY,
            )
        return self._pool

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- plumbing ------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        expected: tuple[int, ...],
        secrets: Mapping[str, bytes] | None = None,
        content: Body | None = None,
        headers: Sequence[tuple[str, str]] = (),
        max_body: int = sp.MAX_CLIENT_CBOR_RESPONSE,
    ) -> Response:
        """Send a request; return the answer with its body read (at most `max_body`)."""
        header_list = list(headers)
        if secrets:
            header_list += [(sp.SECRET_HEADER, v) for v in sp.secret_header_values(secrets)]
        try:
            response = await self._http().request(
                method, path, header_list, content, expected=expected, max_body=max_body
            )
        except OSError as exc:
            raise StorageConnectionError(f"{method} {path}: {exc!r}") from exc
        if response.status not in expected:
            cls = _STATUS_ERRORS.get(response.status, StorageHTTPError)
            message = response.body.decode("utf-8", "replace").strip()[:200]
            raise cls(
                f"{method} {path}: HTTP {response.status} {message}".rstrip(), response.status
            )
        return response

    async def _cbor_request(
        self,
        method: str,
        path: str,
        body: Body | None = None,
        *,
        expected: tuple[int, ...] = (200,),
        secrets: Mapping[str, bytes] | None = None,
    ) -> Response:
        headers = [("Content-Type", sp.CBOR_MIME)] if body is not None else []
        return await self._request(
            method, path, expected=expected, secrets=secrets, content=body, headers=headers
        )

    # -- general -------------------------------------------------------------

    async def get_version(self) -> VersionInfo:
        response = await self._cbor_request("GET", sp.version_path())
        return sp.decode_version(response.body)

    async def add_or_renew_lease(
        self, storage_index: bytes, renew_secret: bytes, cancel_secret: bytes
    ) -> bool:
        """Add or renew a lease on every share of the SI; False if the server has none."""
        secrets = {sp.LEASE_RENEW: renew_secret, sp.LEASE_CANCEL: cancel_secret}
        try:
            await self._request(
                "PUT", sp.lease_path(storage_index), expected=(204,), secrets=secrets
            )
        except ShareNotFoundError:
            return False
        return True

    # -- immutable -----------------------------------------------------------

    async def allocate_buckets(
        self,
        storage_index: bytes,
        renew_secret: bytes,
        cancel_secret: bytes,
        upload_secret: bytes,
        share_numbers: Iterable[int],
        allocated_size: int,
    ) -> AllocateResult:
        body = sp.encode_allocate_request(
            sp.AllocateRequest(frozenset(share_numbers), allocated_size)
        )
        secrets = {
            sp.LEASE_RENEW: renew_secret,
            sp.LEASE_CANCEL: cancel_secret,
            sp.UPLOAD: upload_secret,
        }
        response = await self._cbor_request(
            "POST", sp.immutable_path(storage_index), body, secrets=secrets
        )
        return sp.decode_allocate_result(response.body)

    async def write_share_chunk(
        self,
        storage_index: bytes,
        share_number: int,
        upload_secret: bytes,
        offset: int,
        data: bytes | bytearray | memoryview | Sequence[bytes | memoryview],
    ) -> WriteResult:
        """Upload `data` at `offset` of an allocated share (one PATCH, streamed).

        `data` may be a list of consecutive pieces, sent without joining them.
        """
        pieces = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
        parts = [memoryview(p).cast("B") for p in pieces]
        length = sum(p.nbytes for p in parts)
        if not length:
            raise ValueError("cannot write an empty chunk")
        headers = [
            ("Content-Range", f"bytes {offset}-{offset + length - 1}/*"),
            ("Content-Type", sp.OCTET_STREAM_MIME),
        ]
        response = await self._request(
            "PATCH",
            sp.immutable_share_path(storage_index, share_number),
            expected=(200, 201),
            secrets={sp.UPLOAD: upload_secret},
            content=parts,
            headers=headers,
        )
        required = sp.decode_required_ranges(response.body)
        return WriteResult(response.status == 201, required)

    async def abort_upload(
        self, storage_index: bytes, share_number: int, upload_secret: bytes
    ) -> None:
        await self._request(
            "PUT",
            sp.immutable_abort_path(storage_index, share_number),
            expected=(200,),
            secrets={sp.UPLOAD: upload_secret},
        )

    async def list_shares(self, storage_index: bytes) -> frozenset[int]:
        response = await self._cbor_request("GET", sp.immutable_shares_path(storage_index))
        return sp.decode_share_set(response.body)

    async def read_share_chunk(
        self, storage_index: bytes, share_number: int, offset: int, length: int
    ) -> bytes:
        """Up to `length` bytes at `offset` (fewer at the end of the share)."""
        return await self._read(
            sp.immutable_share_path(storage_index, share_number), offset, length
        )

    async def advise_corrupt_share(
        self, storage_index: bytes, share_number: int, reason: str
    ) -> None:
        await self._advise(sp.immutable_corrupt_path(storage_index, share_number), reason)

    # -- mutable -------------------------------------------------------------

    async def read_test_write(
        self,
        storage_index: bytes,
        write_enabler: bytes,
        renew_secret: bytes,
        cancel_secret: bytes,
        tw_vectors: Mapping[int, TestWriteVectors],
        r_vector: Sequence[ReadVector] = (),
    ) -> ReadTestWriteResult:
        body = sp.rtw_request_parts(sp.ReadTestWriteRequest(tw_vectors, tuple(r_vector)))
        secrets = {
            sp.WRITE_ENABLER: write_enabler,
            sp.LEASE_RENEW: renew_secret,
            sp.LEASE_CANCEL: cancel_secret,
        }
        response = await self._cbor_request(
            "POST", sp.mutable_rtw_path(storage_index), body, secrets=secrets
        )
        return sp.decode_rtw_result(response.body)

    async def list_mutable_shares(self, storage_index: bytes) -> frozenset[int]:
        response = await self._cbor_request("GET", sp.mutable_shares_path(storage_index))
        return sp.decode_share_set(response.body)

    async def read_mutable_share_chunk(
        self, storage_index: bytes, share_number: int, offset: int, length: int
    ) -> bytes:
        return await self._read(sp.mutable_share_path(storage_index, share_number), offset, length)

    async def advise_corrupt_mutable_share(
        self, storage_index: bytes, share_number: int, reason: str
    ) -> None:
        await self._advise(sp.mutable_corrupt_path(storage_index, share_number), reason)

    # -- shared parts --------------------------------------------------------

    async def _read(self, path: str, offset: int, length: int) -> bytes:
        if length == 0:
            return b""
        response = await self._request(
            "GET",
            path,
            expected=(204, 206),
            headers=[("Range", sp.format_range(offset, length))],
            max_body=length,
        )
        if response.status == 204:
            return b""
        if response.headers.get("content-type", "").split(";")[0] != sp.OCTET_STREAM_MIME:
            raise StorageProtocolError("share data not labelled application/octet-stream")
        first, last = sp.parse_content_range(response.headers.get("content-range", ""))
        body = response.body
        if first != offset or last >= offset + length or len(body) != last - first + 1:
            raise StorageProtocolError("share read returned a range other than the one asked")
        return body

    async def _advise(self, path: str, reason: str) -> None:
        body = sp.encode_corrupt_request(reason)
        try:
            await self._cbor_request("POST", path, body)
        except ShareNotFoundError:
            pass  # as the 1.20 client: the share is gone anyway
