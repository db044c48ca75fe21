from lafs_core.hashes import (
    EMPTY_LEAF_TAG,
    TaggedHasher,
    chk_key_hasher,
    storage_index_from_key,
    tagged_hash,
    tagged_pair_hash,
)


def test_empty_leaf_hashes_from_the_spec() -> None:
    assert tagged_hash(EMPTY_LEAF_TAG, b"0").hex().startswith("e0024730188e2de5")
    assert tagged_hash(EMPTY_LEAF_TAG, b"7").hex().startswith("19c67050808cf20d")


def test_convergent_key_and_storage_index() -> None:
    # spec/tahoe-immutable.md 11.1: 56 bytes of "a", secret "a"*16, k=n=1.
    hasher = chk_key_hasher(b"a" * 16, 1, 1, 56)
    hasher.update(b"a" * 56)
    key = hasher.digest()
    assert key.hex() == "c66e2700c124ec49fbab9a5e186168db"
    assert storage_index_from_key(key).hex() == "475a787f99b6851539fedf220e1e35cb"


def test_incremental_equals_one_shot() -> None:
    h = TaggedHasher(b"tag")
    for piece in (b"ab", b"", b"cdef"):
        h.update(piece)
    assert h.digest() == tagged_hash(b"tag", b"abcdef")
    assert tagged_pair_hash(b"t", b"a", b"b") != tagged_pair_hash(b"t", b"b", b"a")
