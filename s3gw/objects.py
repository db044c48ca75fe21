"""Object bodies in and out of the grid.

In: the request body goes through a `PayloadReader` (framing, signatures,
checksums, MD5) and is either kept in memory, when small enough to live in
the bucket index as a LIT cap, or spooled to a file that is then uploaded as
one CHK file (convergent encryption needs the whole body before the first
share). Nothing is uploaded before `PayloadReader.verify` has proved the
body (and its Content-MD5, if sent), and the spool file is removed whatever
happens.

Out: a single-file object is read straight from its cap; a multipart object
is the concatenation of its parts, so a range reads only the parts (and
within them only the segments) it covers.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lafs_core import Client
from lafs_core.dirnode import DirectoryNode, make_child
from lafs_core.uri import CHKReadCap, LiteralCap, parse_cap
from s3gw.auth.payload import PayloadReader, PayloadResult
from s3gw.etag import Md5Etag
from s3gw.parts import UploadedPart, part_range

FEED_BATCH = 1 << 20  # raw body bytes handed to a worker thread at a time
# Spooled bodies encoded and uploaded at once. Each holds a pipeline of segments in memory,
# and two already keep both cores busy: more only add memory (boto3 sends 10 parts at once).
UPLOADS_AT_ONCE = 2


@dataclass(frozen=True)
class StoredBody:
    cap: str
    payload: PayloadResult


def read_cap(text: str) -> LiteralCap | CHKReadCap:
    cap = parse_cap(text)
    if not isinstance(cap, LiteralCap | CHKReadCap):
        raise ValueError(f"not an object cap: {text[:20]}...")
    return cap


class ObjectStore:
    def __init__(
        self, client: Client, spool_dir: Path, inline_max_bytes: int, convergent: bool = True
    ) -> None:
        self.client = client
        self.spool_dir = spool_dir
        self.inline_max_bytes = inline_max_bytes
        self.convergent = convergent
        self._uploads = asyncio.Semaphore(UPLOADS_AT_ONCE)
        spool_dir.mkdir(parents=True, exist_ok=True)

    async def receive(self, body: AsyncIterator[bytes], reader: PayloadReader) -> StoredBody:
        """Read, verify and store one object body; returns its cap and what was proven.

        A body whose size is known only at its end (a browser upload's file) is spooled
        whatever its size, and kept inline if it turns out small."""
        size = reader.expected_size
        if size is not None and size <= self.inline_max_bytes:
            pieces = [reader.feed(raw) async for raw in body]
            payload = reader.finish()
            return StoredBody(LiteralCap(b"".join(pieces)).to_string(), payload)
        fd, name = tempfile.mkstemp(dir=self.spool_dir, prefix="put-")
        # the convergent key is hashed on the way in, so the upload reads the spool once
        hasher = None
        if self.convergent and size is not None:
            hasher = self.client.convergence_hasher(size)
        etag = reader.take_etag()
        # Without a Content-MD5 to check first, the ETag's MD5 (the slowest hash, and one
        # that cannot be split) reads the spool beside the upload instead of holding up
        # the body's arrival.
        etag_follows = reader.etag_may_follow
        try:
            with os.fdopen(fd, "wb") as spool:

                def keep(data: bytes) -> None:
                    if hasher is not None:
                        hasher.update(data)
                    spool.write(data)

                await _spool(body, reader, keep, None if etag_follows else etag)
                reader.verify()
            if reader.size <= self.inline_max_bytes:  # only when not known beforehand
                data = Path(name).read_bytes()
                if etag_follows:
                    etag.update(data)
                return StoredBody(LiteralCap(data).to_string(), reader.finish())
            key = hasher.digest() if hasher is not None else None
            if not etag_follows:
                return StoredBody(await self.upload_spool(name, key), reader.finish())
            hashing = asyncio.ensure_future(asyncio.to_thread(_hash_file, name, etag))
            try:
                cap = await self.upload_spool(name, key)
            finally:
                await hashing
            return StoredBody(cap, reader.finish())
        finally:
            os.unlink(name)

    async def store_part_list(self, parts: list[list[Any]]) -> str:
        """An immutable directory naming the parts in order ("00001", ... -> part cap, with
        size and ETag): the one cap of a multipart object that `lafs` can check and share."""
        children = {
            f"{number:05d}": (
                make_child(None, cap, immutable_context=True),
                {"size": size, "etag": etag},
            )
            for number, (cap, size, etag) in enumerate(parts, 1)
        }

        async def upload(body: bytes):  # type: ignore[no-untyped-def]
            return (await self.client.upload_bytes(body, convergent=self.convergent)).cap

        node = await DirectoryNode.create_immutable(children, upload)
        return node.cap.to_string()

    async def upload_spool(self, path: str, key: bytes | None = None) -> str:
        """Upload a spooled body as one CHK file (`key`: its convergent key, if known); its cap."""
        async with self._uploads:
            result = await self.client.upload_path(path, convergent=self.convergent, key=key)
            return result.cap.to_string()

    async def read(
        self, cap: str, offset: int = 0, size: int | None = None
    ) -> AsyncIterator[bytes]:
        async for chunk in self.client.read(read_cap(cap), offset, size):
            yield chunk

    async def read_object(
        self, cap: str | None, info: dict[str, Any], start: int, end: int
    ) -> AsyncIterator[bytes]:
        """Bytes [start, end] (inclusive) of an object, whole or multipart."""
        if end < start:
            return
        if cap is not None:
            async for chunk in self.read(cap, start, end - start + 1):
                yield chunk
            return
        parts = object_parts(info)
        for i, offset, length in part_range(parts, start, end):
            async for chunk in self.read(info["parts"][i][0], offset, length):
                yield chunk


def _hash_file(path: str, etag: Md5Etag) -> None:
    with open(path, "rb", buffering=0) as f:
        while chunk := f.read(FEED_BATCH):
            etag.update(chunk)


async def _spool(
    body: AsyncIterator[bytes],
    reader: PayloadReader,
    keep: Callable[[bytes], None],
    etag: Md5Etag | None,
) -> None:
    """Feed a body through `reader` into `keep` in overlapped stages, each in batch order: while
    the loop receives batch i+1, one thread checks batch i (framing, signatures, checksums) and
    two more take batch i-1's ETag MD5 (unless None: taken later) and `keep` it. One after
    another these cost ~4 ms per MB here; overlapped, little more than the MD5's 1.7."""
    checking: asyncio.Future[bytes] | None = None
    behind: list[asyncio.Future[None]] = []

    async def advance(raw: bytes | None) -> None:
        nonlocal checking, behind
        data = None if checking is None else await checking
        checking = (
            None if raw is None else asyncio.ensure_future(asyncio.to_thread(reader.feed, raw))
        )
        for stage in behind:
            await stage
        behind = []
        if data:
            behind = [asyncio.ensure_future(asyncio.to_thread(keep, data))]
            if etag is not None:
                behind.append(asyncio.ensure_future(asyncio.to_thread(etag.update, data)))

    try:
        batch: list[bytes] = []
        pending = 0
        async for raw in body:
            batch.append(raw)
            pending += len(raw)
            if pending >= FEED_BATCH:
                await advance(b"".join(batch))
                batch, pending = [], 0
        await advance(b"".join(batch) if batch else None)
        await advance(None)
        await advance(None)
    finally:  # no thread may still be writing when the spool closes
        await asyncio.gather(*behind, *([checking] if checking else []), return_exceptions=True)


def object_parts(info: dict[str, Any]) -> list[UploadedPart]:
    """The parts of a multipart object, as stored in its index entry: [cap, size, etag]."""
    return [UploadedPart(n + 1, p[2], p[1]) for n, p in enumerate(info["parts"])]
