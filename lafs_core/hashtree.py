"""Merkle hash trees as Tahoe builds them (spec/tahoe-immutable.md 6).

Trees are kept in heap order: node 0 is the root, the children of node x are
2x+1 and 2x+2, and leaf j of a tree with L leaf slots is node L-1+j. Leaf
rows are padded to a power of two with "empty leaf" hashes of their position.
"""

from collections.abc import Iterable, Mapping, Sequence

from .errors import LafsError
from .hashes import EMPTY_LEAF_TAG, INTERNAL_NODE_TAG, tagged_hash, tagged_pair_hash


class BadHashError(LafsError):
    """A hash did not match the trusted tree; the data that carried it is corrupt."""


def pow2ceil(x: int) -> int:
    size = 1
    while size < x:
        size *= 2
    return size


def empty_leaf_hash(position: int) -> bytes:
    return tagged_hash(EMPTY_LEAF_TAG, b"%d" % position)


def pair_hash(left: bytes, right: bytes) -> bytes:
    return tagged_pair_hash(INTERNAL_NODE_TAG, left, right)


def parent(node: int) -> int:
    return (node - 1) // 2


def sibling(node: int) -> int:
    return node + 1 if node % 2 else node - 1


def leaf_node(num_leaves: int, leaf: int) -> int:
    return pow2ceil(num_leaves) - 1 + leaf


def build_tree(leaves: Sequence[bytes]) -> list[bytes]:
    """Every node of the tree over `leaves`, in heap order (2L-1 hashes)."""
    if not leaves:
        raise ValueError("a hash tree needs at least one leaf")
    width = pow2ceil(len(leaves))
    row = list(leaves) + [empty_leaf_hash(j) for j in range(len(leaves), width)]
    rows = [row]
    while len(row) > 1:
        row = [pair_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
        rows.append(row)
    return [h for r in reversed(rows) for h in r]


def tree_root(leaves: Sequence[bytes]) -> bytes:
    return build_tree(leaves)[0]


def uncle_chain(num_leaves: int, leaf: int) -> list[int]:
    """Node numbers that prove `leaf`: its siblings from the bottom up, root excluded."""
    node = leaf_node(num_leaves, leaf)
    chain = []
    while node:
        chain.append(sibling(node))
        node = parent(node)
    return chain


class IncompleteHashTree:
    """A tree of which only some nodes are known, all checked against the root.

    A downloader trusts the root (from a capability or a UEB) and learns other
    nodes from untrusted shares; `add` accepts them only if they hash up to
    nodes already trusted, so one block plus its chain can be checked alone.
    """

    def __init__(self, num_leaves: int, root: bytes) -> None:
        self.num_leaves = num_leaves
        self.width = pow2ceil(num_leaves)
        self.known: dict[int, bytes] = {0: root}

    def needed_for_leaf(self, leaf: int) -> list[int]:
        """Nodes not yet trusted that proving `leaf` requires."""
        return [n for n in uncle_chain(self.num_leaves, leaf) if n not in self.known]

    def leaf_hash(self, leaf: int) -> bytes | None:
        return self.known.get(leaf_node(self.num_leaves, leaf))

    def add(self, nodes: Mapping[int, bytes], leaves: Mapping[int, bytes] | None = None) -> None:
        """Check `nodes` (node number -> hash) and `leaves` (leaf -> hash) and trust them.

        Raises BadHashError, and trusts nothing new, if any of them disagrees
        with the trusted nodes.
        """
        size = 2 * self.width - 1
        candidate = dict(nodes)
        for leaf, h in (leaves or {}).items():
            if not 0 <= leaf < self.num_leaves:
                raise BadHashError(f"leaf {leaf} out of range")
            candidate[leaf_node(self.num_leaves, leaf)] = h
        for node, h in candidate.items():
            if not 0 <= node < size or len(h) != 32:
                raise BadHashError(f"hash tree node {node} is out of range or malformed")
        merged = {**candidate, **self.known}
        for node, h in candidate.items():
            if node in self.known and self.known[node] != h:
                raise BadHashError(f"hash tree node {node} does not match")
        # Recompute parents bottom-up wherever both children are available.
        for node in sorted(candidate, reverse=True):
            self._climb(node, merged, candidate)
        for node in candidate:
            if not self._reaches_trusted(node, merged):
                raise BadHashError(f"hash tree node {node} cannot be checked against the root")
        self.known = merged

    def _climb(self, node: int, merged: dict[int, bytes], candidate: dict[int, bytes]) -> None:
        while node:
            sib = sibling(node)
            if sib not in merged:
                return
            left, right = (node, sib) if node % 2 else (sib, node)
            computed = pair_hash(merged[left], merged[right])
            up = parent(node)
            if up in merged:
                if merged[up] != computed:
                    raise BadHashError(f"hash tree node {up} does not match its children")
                if up in self.known:
                    return
            merged[up] = computed
            candidate.setdefault(up, computed)
            node = up

    def _reaches_trusted(self, node: int, merged: dict[int, bytes]) -> bool:
        while node not in self.known:
            if not node or sibling(node) not in merged:
                return False
            node = parent(node)
        return True


def set_iteration_order(values: Iterable[int]) -> list[int]:
    """The order CPython iterates a set of small ints built by inserting `values`.

    Tahoe writes a share's hash chain in this order (spec/tahoe-immutable.md
    6.3); reproducing it, rather than relying on our own interpreter's set,
    keeps our shares byte-identical whatever Python runs us.
    """
    empty = -1
    table = [empty] * 8

    def place(tbl: list[int], v: int) -> None:
        mask = len(tbl) - 1
        i = v & mask
        perturb = v
        while True:
            if tbl[i] == empty:
                tbl[i] = v
                return
            if i + 9 <= mask:
                for j in range(1, 10):
                    if tbl[i + j] == empty:
                        tbl[i + j] = v
                        return
            perturb >>= 5
            i = (5 * i + 1 + perturb) & mask

    count = 0
    for v in values:
        place(table, v)
        count += 1
        if 5 * count >= 3 * (len(table) - 1):
            size = 8
            while size <= 4 * count:
                size *= 2
            old, table = table, [empty] * size
            for e in old:
                if e != empty:
                    place(table, e)
    return [e for e in table if e != empty]
