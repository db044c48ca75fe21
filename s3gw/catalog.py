"""The catalog: the gateway's root directory -> buckets -> bucket index and multipart uploads.

The root is one mutable directory whose children are the buckets (edge
metadata: owner account and creation time). A bucket is a directory with two
children: `index` (the root of its `BucketIndex`) and `uploads` (its
multipart uploads). Everything lives on the grid, so any gateway holding the
root cap serves the same buckets; this process only caches, for at most
`cache_seconds`, and always sees its own changes at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lafs_core import Client
from lafs_core.dirnode import (
    DirectoryCap,
    DirectoryNode,
    ExistingChildError,
    NoSuchChildError,
    parse_dir_cap,
)
from lafs_core.dirnode.children import known_child
from s3gw import xml
from s3gw.bucket_index import BucketIndex
from s3gw.cors import CorsRule
from s3gw.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    NoSuchBucket,
    S3Error,
)
from s3gw.index_cache import NodeCache
from s3gw.multipart import Uploads

INDEX = "index"
UPLOADS = "uploads"
INDEX_CACHE_BYTES = 128 << 20  # index nodes a gateway keeps decoded (packed size), all buckets


@dataclass(frozen=True)
class BucketInfo:
    name: str
    owner: str
    created: datetime
    # Settings kept in the bucket's entry (None: never set)
    cors: tuple[CorsRule, ...] | None = None
    tags: tuple[tuple[str, str], ...] | None = None
    versioning: str | None = None  # "Suspended" once set so; never "Enabled" here


@dataclass
class Bucket:
    info: BucketInfo
    cap: DirectoryCap
    index: BucketIndex
    uploads: Uploads

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def owner(self) -> str:
        return self.info.owner


def _info(name: str, metadata: dict[str, Any]) -> BucketInfo:
    created = float(metadata.get("created", metadata.get("tahoe", {}).get("linkcrtime", 0)))
    cors, tags = metadata.get("cors"), metadata.get("tags")
    return BucketInfo(
        name,
        str(metadata.get("owner", "")),
        datetime.fromtimestamp(created, UTC),
        cors=None if cors is None else _cors_rules(str(cors)),
        tags=None if tags is None else tuple((str(k), str(v)) for k, v in tags),
        versioning=metadata.get("versioning"),
    )


def _cors_rules(document: str) -> tuple[CorsRule, ...]:
    """The rules kept for a bucket; none if the document was damaged since (by hand: it
    was checked when put), rather than every bucket's listing failing."""
    try:
        return tuple(xml.parse_cors_configuration(document.encode()))
    except S3Error:
        return ()


class Catalog:
    def __init__(
        self, client: Client, root: DirectoryNode, cache_seconds: float = 1.0, **index_options: Any
    ) -> None:
        self.client = client
        self.root = root
        self.cache_seconds = cache_seconds
        # one node cache (and its TTL) for every bucket's index: memory is bounded per
        # gateway, not per bucket
        cache = NodeCache(cache_seconds, max_bytes=INDEX_CACHE_BYTES)
        self.index_options = dict(index_options, cache=cache)
        self._listing: dict[str, tuple[str, BucketInfo]] = {}
        self._listed_at = -1e9
        self._refresh = asyncio.Lock()
        self._open: dict[str, Bucket] = {}

    @classmethod
    async def create_root(cls, client: Client) -> DirectoryCap:
        return (await client.create_directory()).cap

    async def _buckets(self, fresh: bool = False) -> dict[str, tuple[str, BucketInfo]]:
        """name -> (bucket dircap, info), re-read from the grid when older than the TTL."""
        if fresh or time.monotonic() - self._listed_at > self.cache_seconds:
            async with self._refresh:
                if fresh or time.monotonic() - self._listed_at > self.cache_seconds:
                    started = time.monotonic()
                    children = await self.root.list()
                    self._listing = {
                        name: (child.rw_uri or child.ro_uri or "", _info(name, md))
                        for name, (child, md) in children.items()
                    }
                    self._listed_at = started
        return self._listing

    async def list_buckets(self) -> list[BucketInfo]:
        return sorted((info for _, info in (await self._buckets()).values()), key=lambda b: b.name)

    async def get(self, name: str) -> Bucket:
        listing = await self._buckets()
        if name not in listing:
            raise NoSuchBucket(BucketName=name)
        cap_text, info = listing[name]
        bucket = self._open.get(name)
        if bucket is None or bucket.cap.to_string() != cap_text:
            bucket = await self._open_bucket(info, parse_dir_cap(cap_text))
            self._open[name] = bucket
        bucket.info = info  # its settings as last listed
        return bucket

    async def _open_bucket(self, info: BucketInfo, cap: DirectoryCap) -> Bucket:
        children = await self.client.directory(cap).list()
        index_cap = parse_dir_cap(children[INDEX][0].rw_uri or "")
        uploads_cap = parse_dir_cap(children[UPLOADS][0].rw_uri or "")
        index = BucketIndex(self.client, index_cap, **self.index_options)
        uploads = Uploads(self.client, self.client.directory(uploads_cap))
        return Bucket(info, cap, index, uploads)

    async def create(self, name: str, owner: str) -> Bucket:
        listing = await self._buckets(fresh=True)
        if name in listing:
            raise self._exists(name, listing[name][1].owner, owner)
        index = await BucketIndex.create(self.client, **self.index_options)
        uploads = await self.client.create_directory()
        bucket_dir = await self.client.create_directory()
        await bucket_dir.set_children(
            {
                INDEX: (known_child(index.cap), {}),
                UPLOADS: (known_child(uploads.cap), {}),
            }
        )
        now = time.time()
        try:
            await self.root.set_uri(
                name, bucket_dir.cap.to_string(), None, {"owner": owner, "created": now}, False
            )
        except ExistingChildError:
            listing = await self._buckets(fresh=True)
            raise self._exists(name, listing[name][1].owner, owner) from None
        info = BucketInfo(name, owner, datetime.fromtimestamp(now, UTC))
        bucket = Bucket(info, bucket_dir.cap, index, Uploads(self.client, uploads))
        self._open[name] = bucket
        self._listing[name] = (bucket_dir.cap.to_string(), info)
        return bucket

    async def configure(self, name: str, setting: str, value: Any) -> None:
        """Keep (or, with None, drop) one of a bucket's settings in its entry's metadata
        ("cors": a CORSConfiguration document, "tags": [key, value] pairs, "versioning"),
        with the rest of it."""

        def change(metadata: dict[str, Any]) -> dict[str, Any]:
            metadata.pop(setting, None)
            if value is not None:
                metadata[setting] = value
            return metadata

        try:
            await self.root.change_metadata_for(name, change)
        except NoSuchChildError:
            raise NoSuchBucket(BucketName=name) from None
        await self._buckets(fresh=True)

    @staticmethod
    def _exists(name: str, existing_owner: str, owner: str) -> Exception:
        if existing_owner == owner:
            return BucketAlreadyOwnedByYou(BucketName=name)
        return BucketAlreadyExists(BucketName=name)

    async def delete(self, name: str) -> None:
        bucket = await self.get(name)
        if not await bucket.index.is_empty():
            raise BucketNotEmpty(BucketName=name)
        try:
            await self.root.delete(name)
        except NoSuchChildError:
            raise NoSuchBucket(BucketName=name) from None
        self._open.pop(name, None)
        self._listing.pop(name, None)
