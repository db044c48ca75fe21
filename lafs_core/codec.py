"""The erasure code: zfec's Reed-Solomon over segments split into k pieces (spec 5).

zfec is systematic, so blocks 0..k-1 are the pieces themselves; only the
check blocks k..n-1 are computed, by ISA-L where the system has it (the same
bytes, 25 times faster: `isal.py`), else by zfec. Both release the GIL.
"""

from collections.abc import Mapping

import zfec

from . import isal
from .errors import BadEncodingParameters

MAX_SHARES = 256

Buffer = bytes | bytearray | memoryview


class Codec:
    def __init__(self, k: int, n: int) -> None:
        if not 1 <= k <= n <= MAX_SHARES:
            raise BadEncodingParameters(f"need 1 <= k <= n <= {MAX_SHARES}, got k={k} n={n}")
        self.k = k
        self.n = n
        self._check_numbers = list(range(k, n))
        self._isal = isal.code_for(k, n) if isal.available and k < n else None
        if self._isal is None:
            self._encoder = zfec.Encoder(k, n)
            self._decoder = zfec.Decoder(k, n)

    def encode(self, padded_segment: bytes) -> list[bytes | memoryview]:
        """Split a segment (length a multiple of k) into k pieces and return all n blocks.

        The first k blocks are views into `padded_segment`, not copies.
        """
        if len(padded_segment) % self.k:
            raise ValueError("segment length must be a multiple of k")
        size = len(padded_segment) // self.k
        view = memoryview(padded_segment)
        pieces: list[bytes | memoryview] = [view[i * size : (i + 1) * size] for i in range(self.k)]
        if self.k == self.n:
            return pieces
        if self._isal is not None:
            return pieces + self._isal.encode(padded_segment)
        return pieces + list(self._encoder.encode(pieces, self._check_numbers))

    def decode(self, blocks: Mapping[int, Buffer]) -> bytes:
        """Rebuild the padded segment from any k blocks (share number -> block)."""
        return b"".join(self.pieces(blocks))

    def pieces(self, blocks: Mapping[int, Buffer]) -> list[Buffer]:
        """The k pieces of the padded segment, in order, from any k blocks; with blocks
        0..k-1 those are the blocks themselves (nothing is copied)."""
        numbers = sorted(blocks)[: self.k]
        if len(numbers) < self.k:
            raise ValueError(f"need {self.k} blocks, got {len(numbers)}")
        if numbers == list(range(self.k)):
            return [blocks[i] for i in numbers]
        if self._isal is not None:
            rebuilt = iter(self._isal.missing_pieces(numbers, [blocks[i] for i in numbers]))
            return [blocks[i] if i in numbers else next(rebuilt) for i in range(self.k)]
        return list(self._decoder.decode([blocks[i] for i in numbers], numbers))
