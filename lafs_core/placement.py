"""Which servers get which shares: Tahoe's permuted ring and servers of happiness.

spec/tahoe-storage-http.md 10.3-10.4. Pure functions over server keys (any
hashable, e.g. nicknames), so they are tested alone.
"""

import hashlib
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import TypeVar

S = TypeVar("S", bound=Hashable)


def ring_position(storage_index: bytes, permutation_seed: bytes) -> bytes:
    return hashlib.sha1(storage_index + permutation_seed).digest()


def permuted(servers: Iterable[tuple[S, bytes]], storage_index: bytes) -> list[S]:
    """Servers, given with their permutation seeds, in the storage index's ring order."""
    ranked = sorted(servers, key=lambda pair: ring_position(storage_index, pair[1]))
    return [server for server, _ in ranked]


def _matching(servers: Sequence[S], options: Mapping[S, Iterable[int]]) -> dict[int, S]:
    """A maximum matching of shares to servers (each used at most once): Kuhn's algorithm."""
    owner: dict[int, S] = {}

    def augment(server: S, seen: set[int]) -> bool:
        choices = sorted(options.get(server, ()))
        for share in choices:  # a free share first, so earlier servers keep lower shares
            if share not in owner:
                owner[share] = server
                return True
        for share in choices:
            if share in seen:
                continue
            seen.add(share)
            if augment(owner[share], seen):
                owner[share] = server
                return True
        return False

    for server in servers:
        augment(server, set())
    return owner


def happiness(sharemap: Mapping[S, Iterable[int]]) -> int:
    """How many distinct servers hold distinct shares: the size of a maximum matching."""
    return len(_matching(list(sharemap), sharemap))


def place_shares(
    writable: Sequence[S],
    readonly: Sequence[S],
    num_shares: int,
    existing: Mapping[S, set[int]],
) -> dict[int, S]:
    """Map every share to a server, maximizing happiness, reusing shares already stored.

    `writable` and `readonly` are in ring order, which breaks ties. Shares
    mapped to a server that already holds them need no upload.
    """
    shares = set(range(num_shares))
    placed: dict[int, S] = {}
    # 1. read-only servers x the shares they hold; 2. writable servers likewise.
    for group in (readonly, writable):
        free = [s for s in group if s not in placed.values()]
        holding = {s: existing.get(s, set()) & (shares - set(placed)) for s in free}
        placed.update(_matching(free, holding))
    # 3. remaining writable servers x remaining shares.
    free = [s for s in writable if s not in placed.values()]
    placed.update(_matching(free, {s: shares - set(placed) for s in free}))
    # 4. homeless shares: where they already are, else to the least loaded server.
    load = {s: 0 for s in writable}
    for server in placed.values():
        if server in load:
            load[server] += 1
    for share in sorted(shares - set(placed)):
        holders = [s for s in writable if share in existing.get(s, set())]
        candidates = holders or list(writable)
        if not candidates:
            break
        target = min(candidates, key=lambda s: load[s])
        placed[share] = target
        load[target] += 1
    return placed
