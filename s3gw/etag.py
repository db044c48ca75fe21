"""ETags as S3 computes them for unencrypted-by-S3 objects.

A single-part object's ETag is the hex MD5 of its bytes; a multipart
object's is the hex MD5 of the concatenated binary MD5s of its parts,
followed by ``-<number of parts>``. (S3's own encryption changes this; we
report the plaintext's, which is what clients check.) ETags are kept bare
here; the XML and header layers add the double quotes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_MD5_HEX = re.compile(r"[0-9a-f]{32}")


def md5_etag(data: bytes) -> str:
    """The ETag of a single-part object: hex MD5."""
    return hashlib.md5(data).hexdigest()


class Md5Etag:
    """Incremental ETag of a streamed body (``update`` then ``etag``)."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()

    def update(self, data: bytes) -> None:
        self._md5.update(data)

    def digest(self) -> bytes:
        return self._md5.digest()

    def etag(self) -> str:
        return self._md5.hexdigest()


def multipart_etag(part_etags: Iterable[str]) -> str:
    """``md5(md5(part1) || md5(part2) || ...)-N`` from the parts' hex ETags, in order.

    Raises ValueError for an empty list or an ETag that is not a hex MD5.
    """
    digests = []
    for etag in part_etags:
        bare = strip_quotes(etag).lower()
        if not _MD5_HEX.fullmatch(bare):
            raise ValueError(f"not a part ETag: {etag!r}")
        digests.append(bytes.fromhex(bare))
    if not digests:
        raise ValueError("a multipart ETag needs at least one part")
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


def strip_quotes(etag: str) -> str:
    """An ETag without surrounding whitespace and double quotes."""
    return etag.strip().strip('"')


def quote(etag: str) -> str:
    """An ETag as sent in headers and XML: ``"<etag>"``."""
    return '"' + strip_quotes(etag) + '"'


__all__ = ["Md5Etag", "md5_etag", "multipart_etag", "quote", "strip_quotes"]
