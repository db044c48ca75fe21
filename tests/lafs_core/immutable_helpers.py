"""Shared helpers for the immutable-file tests."""

import asyncio

from lafs_core.immutable.local import BytesShareSource
from lafs_core.immutable.reader import CHKReader
from lafs_core.uri import CHKReadCap


def stretch(seed: bytes, length: int) -> bytes:
    """The test-vector tooling's samples: the seed repeated, cut to `length`."""
    return (seed * (length // len(seed) + 1))[:length]


def read_back(
    cap: CHKReadCap, shares: dict[int, bytes], offset: int = 0, size: int | None = None
) -> bytes:
    sources = [BytesShareSource(n, data) for n, data in shares.items()]
    return asyncio.run(CHKReader(cap, sources).read(offset, size))
