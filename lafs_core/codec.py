"""The erasure code: zfec's Reed-Solomon over segments split into k pieces (spec 5).

zfec is systematic, so blocks 0..k-1 are the pieces themselves; only the
check blocks k..n-1 are computed. zfec releases the GIL while it works.
"""

import zfec

from .errors import BadEncodingParameters

MAX_SHARES = 256


class Codec:
    def __init__(self, k: int, n: int) -> None:
        if not 1 <= k <= n <= MAX_SHARES:
            raise BadEncodingParameters(f"need 1 <= k <= n <= {MAX_SHARES}, got k={k} n={n}")
        self.k = k
        self.n = n
        self._encoder = zfec.Encoder(k, n)
        self._decoder = zfec.Decoder(k, n)
        self._check_numbers = list(range(k, n))

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
        return pieces + list(self._encoder.encode(pieces, self._check_numbers))

    def decode(self, blocks: dict[int, bytes]) -> bytes:
        """Rebuild the padded segment from any k blocks (share number -> block)."""
        numbers = sorted(blocks)[: self.k]
        if len(numbers) < self.k:
            raise ValueError(f"need {self.k} blocks, got {len(numbers)}")
        if numbers == list(range(self.k)):
            return b"".join(blocks[i] for i in numbers)
        pieces = self._decoder.decode([blocks[i] for i in numbers], numbers)
        return b"".join(pieces)
