"""Encoding to and reading from shares held locally: files on disk or bytes in memory.

The grid client streams the same encoder output to storage servers; these
local forms serve `lafs cap`, `lafs debug encode`, tests and benchmarks.
"""

import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..uri import LIT_MAX_SIZE, CHKReadCap, LiteralCap
from .encoder import CHKEncoder, ReadAt, convergent_key, encoded_segments, file_reader, read_chunks
from .params import EncodingParams

WriteAt = Callable[[int, int, bytes], None]  # (sharenum, offset, data)


def encode(
    read_at: ReadAt,
    size: int,
    params: EncodingParams,
    convergence_secret: bytes | None = None,
    key: bytes | None = None,
    write_at: WriteAt | None = None,
    pool: Executor | None = None,
    depth: int = 4,
) -> LiteralCap | CHKReadCap:
    """Encode `size` bytes read through `read_at` and return the cap.

    The key is convergent when `convergence_secret` is given, else `key` (a
    random one if both are None). `write_at` receives every share's bytes.
    """
    if size <= LIT_MAX_SIZE:
        return LiteralCap(read_at(0, size) if size else b"")
    if key is None:
        if convergence_secret is not None:
            key = convergent_key(convergence_secret, params, size, read_chunks(read_at, size))
        else:
            key = os.urandom(16)
    encoder = CHKEncoder(key, size, params)
    own_pool = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    try:
        for segment in encoded_segments(encoder, read_at, pool, depth):
            if write_at is not None:
                offset = encoder.block_offset(segment.index)
                for sharenum, block in enumerate(segment.blocks):
                    write_at(sharenum, offset, bytes(block))
    finally:
        if own_pool:
            pool.shutdown()
    result = encoder.finish()
    if write_at is not None:
        for sharenum, trailer in enumerate(result.trailers):
            write_at(sharenum, 0, encoder.header)
            write_at(sharenum, encoder.layout.plaintext_tree, trailer)
    assert result.cap is not None
    return result.cap


def encode_bytes(
    data: bytes, params: EncodingParams, convergence_secret: bytes | None = None
) -> tuple[LiteralCap | CHKReadCap, dict[int, bytes]]:
    """Encode in memory; returns the cap and every share's bytes (empty for LIT)."""
    shares: dict[int, bytearray] = {}

    def write_at(sharenum: int, offset: int, chunk: bytes) -> None:
        share = shares.setdefault(sharenum, bytearray())
        if len(share) < offset + len(chunk):
            share.extend(bytes(offset + len(chunk) - len(share)))
        share[offset : offset + len(chunk)] = chunk

    def read_at(offset: int, length: int) -> bytes:
        return data[offset : offset + length]

    cap = encode(read_at, len(data), params, convergence_secret, write_at=write_at)
    return cap, {n: bytes(b) for n, b in shares.items()}


def encode_path(
    path: str | os.PathLike[str],
    params: EncodingParams,
    convergence_secret: bytes | None = None,
    out_dir: Path | None = None,
) -> LiteralCap | CHKReadCap:
    """Encode a file; with `out_dir`, write share N to `out_dir/N`."""
    fd = os.open(path, os.O_RDONLY)
    outputs: dict[int, int] = {}
    try:
        size = os.fstat(fd).st_size

        def write_at(sharenum: int, offset: int, chunk: bytes) -> None:
            if sharenum not in outputs:
                assert out_dir is not None
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                outputs[sharenum] = os.open(out_dir / str(sharenum), flags, 0o644)
            os.pwrite(outputs[sharenum], chunk, offset)

        writer = write_at if out_dir is not None else None
        return encode(file_reader(fd), size, params, convergence_secret, write_at=writer)
    finally:
        os.close(fd)
        for out in outputs.values():
            os.close(out)


@dataclass
class BytesShareSource:
    """A share held in memory."""

    sharenum: int
    data: bytes

    async def read(self, offset: int, length: int) -> bytes:
        return self.data[offset : offset + length]
