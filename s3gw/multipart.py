"""Multipart uploads kept in the grid, so any gateway holding the root cap can finish them.

A bucket's `uploads` directory has one child per upload in progress, named
by its upload id: a directory of the parts uploaded so far (child
``00001``... -> the part's cap, edge metadata: ETag, size, time, checksums),
with the upload's key, owner, object attributes and checksum (algorithm and
type, when CreateMultipartUpload named one) in the edge metadata. Completing
an upload records the chosen parts' caps in the object's index entry (no
data is re-encoded) and unlinks the upload.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lafs_core import Client
from lafs_core.dirnode import DirectoryNode, NoSuchChildError, parse_dir_cap
from lafs_core.dirnode.children import known_child
from s3gw.checksums import DEFAULT_UPLOAD_CHECKSUM, UploadChecksum
from s3gw.errors import NoSuchUpload
from s3gw.parts import UploadedPart


@dataclass(frozen=True)
class StoredPart:
    part: UploadedPart
    cap: str
    modified: datetime


@dataclass
class Upload:
    upload_id: str
    key: str
    owner: str
    initiated: datetime
    attrs: dict[str, Any]  # the object's headers, metadata, tags, storage class
    parts_dir: DirectoryNode
    checksum: UploadChecksum = DEFAULT_UPLOAD_CHECKSUM


def _part_name(number: int) -> str:
    return f"{number:05d}"


class Uploads:
    """The multipart uploads of one bucket."""

    def __init__(self, client: Client, directory: DirectoryNode) -> None:
        self.client = client
        self.directory = directory
        self._open: dict[str, Upload] = {}

    async def create(
        self, key: str, owner: str, attrs: dict[str, Any], checksum: UploadChecksum
    ) -> Upload:
        upload_id = secrets.token_urlsafe(32)
        parts_dir = await self.client.create_directory()
        now = time.time()
        metadata = {"key": key, "owner": owner, "initiated": now, "attrs": attrs}
        if checksum.declared:
            metadata["checksum"] = [checksum.algorithm, checksum.type]
        await self.directory.set_child(upload_id, known_child(parts_dir.cap), metadata, False)
        upload = Upload(
            upload_id, key, owner, datetime.fromtimestamp(now, UTC), attrs, parts_dir, checksum
        )
        self._open[upload_id] = upload
        return upload

    def _from_entry(self, upload_id: str, rw_uri: str | None, md: dict[str, Any]) -> Upload:
        declared = md.get("checksum")
        return Upload(
            upload_id,
            str(md["key"]),
            str(md.get("owner", "")),
            datetime.fromtimestamp(float(md["initiated"]), UTC),
            dict(md.get("attrs", {})),
            self.client.directory(parse_dir_cap(rw_uri or "")),
            UploadChecksum(*declared) if declared else DEFAULT_UPLOAD_CHECKSUM,
        )

    async def get(self, upload_id: str, key: str) -> Upload:
        """The upload `upload_id` of `key`; NoSuchUpload if it is unknown, finished or aborted."""
        upload = self._open.get(upload_id)
        if upload is None:
            try:
                child, md = await self.directory.get_child_and_metadata(upload_id)
            except (NoSuchChildError, ValueError):
                raise NoSuchUpload(UploadId=upload_id) from None
            upload = self._from_entry(upload_id, child.rw_uri, md)
            self._open[upload_id] = upload
        if upload.key != key:
            raise NoSuchUpload(UploadId=upload_id)
        return upload

    async def list(self) -> list[Upload]:
        """Every upload in progress, in (key, upload id) order."""
        children = await self.directory.list()
        uploads = [
            self._from_entry(name, child.rw_uri, md)
            for name, (child, md) in children.items()
            if "key" in md
        ]
        return sorted(uploads, key=lambda u: (u.key, u.upload_id))

    async def add_part(
        self, upload: Upload, number: int, cap: str, etag: str, size: int, checksums: dict[str, str]
    ) -> None:
        metadata = {"etag": etag, "size": size, "modified": time.time(), "checksums": checksums}
        await upload.parts_dir.set_uri(_part_name(number), None, cap, metadata)

    async def parts(self, upload: Upload) -> dict[int, StoredPart]:
        children = await upload.parts_dir.list()
        out = {}
        for name, (child, md) in children.items():
            number = int(name)
            out[number] = StoredPart(
                UploadedPart(
                    number, str(md["etag"]), int(md["size"]), dict(md.get("checksums", {}))
                ),
                child.ro_uri or "",
                datetime.fromtimestamp(float(md["modified"]), UTC),
            )
        return dict(sorted(out.items()))

    async def remove(self, upload: Upload) -> None:
        """Unlink a finished or aborted upload; NoSuchUpload if another request did first."""
        self._open.pop(upload.upload_id, None)
        try:
            await self.directory.delete(upload.upload_id)
        except NoSuchChildError:
            raise NoSuchUpload(UploadId=upload.upload_id) from None
