"""Encoding parameters and the sizes they imply for one file (spec/tahoe-immutable.md 3)."""

from dataclasses import dataclass

from ..codec import MAX_SHARES
from ..errors import BadEncodingParameters

DEFAULT_MAX_SEGMENT_SIZE = 1024 * 1024


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def next_multiple(x: int, k: int) -> int:
    return ceil_div(x, k) * k


@dataclass(frozen=True)
class EncodingParams:
    """k of n shares rebuild a file; `happy` distinct servers must hold them."""

    k: int = 3
    happy: int = 7
    n: int = 10
    max_segment_size: int = DEFAULT_MAX_SEGMENT_SIZE

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.n:
            raise BadEncodingParameters(f"k must be between 1 and n (k={self.k}, n={self.n})")
        if self.n > MAX_SHARES:
            raise BadEncodingParameters(f"n must be at most {MAX_SHARES} (n={self.n})")
        if not 1 <= self.happy <= self.n:
            raise BadEncodingParameters(
                f"happy must be between 1 and n (happy={self.happy}, n={self.n})"
            )
        if self.max_segment_size < 1:
            raise BadEncodingParameters("the maximum segment size must be positive")

    def segment_size_for(self, size: int) -> int:
        """The effective segment size, which enters the convergent key."""
        return next_multiple(min(self.max_segment_size, size), self.k)


@dataclass(frozen=True)
class FileGeometry:
    """How a file of `size` bytes is cut into segments and blocks."""

    size: int
    k: int
    n: int
    segment_size: int

    @property
    def num_segments(self) -> int:
        return ceil_div(self.size, self.segment_size)

    @property
    def tail_size(self) -> int:
        return self.size % self.segment_size or self.segment_size

    @property
    def padded_tail_size(self) -> int:
        return next_multiple(self.tail_size, self.k)

    @property
    def block_size(self) -> int:
        return self.segment_size // self.k

    @property
    def tail_block_size(self) -> int:
        return self.padded_tail_size // self.k

    @property
    def share_data_size(self) -> int:
        return ceil_div(self.size, self.k)

    def segment_span(self, segment: int) -> tuple[int, int]:
        """(offset, length) of a segment in the plaintext."""
        start = segment * self.segment_size
        return start, min(self.segment_size, self.size - start)

    def block_span(self, segment: int) -> tuple[int, int]:
        """(offset within the data area, length) of a segment's block in every share."""
        last = segment == self.num_segments - 1
        return segment * self.block_size, self.tail_block_size if last else self.block_size
