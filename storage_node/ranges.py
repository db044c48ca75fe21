"""A set of half-open byte ranges: which parts of an upload are written. Pure."""

from __future__ import annotations

from collections.abc import Iterator


class RangeSet:
    """Disjoint, sorted, merged half-open ranges [begin, end)."""

    def __init__(self) -> None:
        self._ranges: list[tuple[int, int]] = []

    def add(self, begin: int, end: int) -> None:
        if begin >= end:
            return
        merged: list[tuple[int, int]] = []
        for b, e in self._ranges:
            if e < begin or b > end:
                merged.append((b, e))
            else:
                begin, end = min(b, begin), max(e, end)
        merged.append((begin, end))
        merged.sort()
        self._ranges = merged

    def overlaps(self, begin: int, end: int) -> Iterator[tuple[int, int]]:
        """The parts of [begin, end) already in the set."""
        for b, e in self._ranges:
            lo, hi = max(b, begin), min(e, end)
            if lo < hi:
                yield lo, hi

    def missing(self, size: int) -> list[tuple[int, int]]:
        """The parts of [0, size) not in the set, ascending."""
        out, pos = [], 0
        for b, e in self._ranges:
            if b > pos:
                out.append((pos, min(b, size)))
            pos = max(pos, e)
            if pos >= size:
                break
        if pos < size:
            out.append((pos, size))
        return [(b, e) for b, e in out if b < e]
