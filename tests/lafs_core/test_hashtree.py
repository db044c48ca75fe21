import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core.hashtree import (
    BadHashError,
    IncompleteHashTree,
    build_tree,
    empty_leaf_hash,
    leaf_node,
    pair_hash,
    set_iteration_order,
    uncle_chain,
)

leaf_lists = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40)


def test_single_leaf_tree_is_the_leaf() -> None:
    leaf = b"x" * 32
    assert build_tree([leaf]) == [leaf]


def test_padding_uses_leaf_positions() -> None:
    leaves = [b"a" * 32, b"b" * 32, b"c" * 32]
    tree = build_tree(leaves)
    assert len(tree) == 7
    assert tree[6] == empty_leaf_hash(3)
    assert tree[2] == pair_hash(leaves[2], empty_leaf_hash(3))
    assert tree[0] == pair_hash(tree[1], tree[2])


@given(leaf_lists, st.data())
def test_one_leaf_and_its_chain_validate_alone(leaves: list[bytes], data: st.DataObject) -> None:
    tree = build_tree(leaves)
    leaf = data.draw(st.integers(0, len(leaves) - 1))
    partial = IncompleteHashTree(len(leaves), tree[0])
    partial.add({n: tree[n] for n in partial.needed_for_leaf(leaf)}, {leaf: leaves[leaf]})
    assert partial.leaf_hash(leaf) == leaves[leaf]
    assert partial.needed_for_leaf(leaf) == []


@given(leaf_lists, st.data())
def test_any_wrong_hash_is_refused(leaves: list[bytes], data: st.DataObject) -> None:
    tree = build_tree(leaves)
    leaf = data.draw(st.integers(0, len(leaves) - 1))
    partial = IncompleteHashTree(len(leaves), tree[0])
    nodes = {n: tree[n] for n in partial.needed_for_leaf(leaf)}
    leaf_hash = leaves[leaf]
    targets = list(nodes) + ["leaf"]
    target = data.draw(st.sampled_from(targets))
    if target == "leaf":
        leaf_hash = bytes([leaf_hash[0] ^ 1]) + leaf_hash[1:]
    else:
        nodes[target] = bytes([nodes[target][0] ^ 1]) + nodes[target][1:]
    with pytest.raises(BadHashError):
        partial.add(nodes, {leaf: leaf_hash})
    assert partial.known == {0: tree[0]}


def test_nodes_that_cannot_reach_the_root_are_refused() -> None:
    leaves = [bytes([i]) * 32 for i in range(4)]
    tree = build_tree(leaves)
    partial = IncompleteHashTree(4, tree[0])
    with pytest.raises(BadHashError):
        partial.add({}, {0: leaves[0]})
    with pytest.raises(BadHashError):
        partial.add({99: tree[1]})


def test_second_leaf_reuses_trusted_nodes() -> None:
    leaves = [bytes([i]) * 32 for i in range(8)]
    tree = build_tree(leaves)
    partial = IncompleteHashTree(8, tree[0])
    partial.add({n: tree[n] for n in partial.needed_for_leaf(0)}, {0: leaves[0]})
    assert partial.needed_for_leaf(1) == []
    partial.add({}, {1: leaves[1]})
    with pytest.raises(BadHashError):
        partial.add({}, {1: leaves[2]})


# spec/tahoe-immutable.md 6.3: the order Tahoe writes share-hash chains in.
@pytest.mark.parametrize(
    "n, share, order",
    [
        (1, 0, [0]),
        (3, 0, [2, 3, 4]),
        (3, 2, [1, 5, 6]),
        (5, 4, [1, 11, 12, 6]),
        (10, 0, [2, 4, 8, 15, 16]),
        (10, 2, [2, 4, 7, 17, 18]),
        (10, 4, [2, 3, 10, 19, 20]),
        (10, 6, [2, 3, 9, 21, 22]),
        (10, 8, [1, 6, 12, 23, 24]),
        (16, 15, [1, 5, 13, 29, 30]),
        (255, 100, [2, 3, 356, 355, 9, 44, 178, 22, 87]),
        (256, 0, [256, 32, 64, 128, 4, 2, 8, 16, 255]),
        (256, 1, [128, 32, 64, 2, 4, 256, 8, 16, 255]),
        (256, 255, [509, 1, 5, 13, 61, 125, 253, 29, 510]),
    ],
)
def test_chain_order(n: int, share: int, order: list[int]) -> None:
    assert set_iteration_order(uncle_chain(n, share) + [leaf_node(n, share)]) == order


@given(st.lists(st.integers(0, 600), unique=True, max_size=9))
def test_chain_order_matches_cpython_sets(values: list[int]) -> None:
    built: set[int] = set()
    for v in values:
        built.add(v)
    assert set_iteration_order(values) == list(built)
