"""Tagged SHA-256d hashes and every tag the immutable format uses.

spec/tahoe-immutable.md 2.3-2.4: a tagged hash frames its tag as a netstring
and appends the message raw; a pair hash frames both values.
"""

import hashlib
from functools import lru_cache

from .netstring import netstring

CHK_KEY_TAG_PREFIX = b"allmydata_immutable_content_to_key_with_added_secret_v1+"
STORAGE_INDEX_TAG = b"allmydata_immutable_key_to_storage_index_v1"
CRYPTTEXT_SEGMENT_TAG = b"allmydata_crypttext_segment_v1"
CRYPTTEXT_TAG = b"allmydata_crypttext_v1"
BLOCK_TAG = b"allmydata_encoded_subshare_v1"
UEB_TAG = b"allmydata_uri_extension_v1"
EMPTY_LEAF_TAG = b"Merkle tree empty leaf"
INTERNAL_NODE_TAG = b"Merkle tree internal node"
PLAINTEXT_TAG = b"allmydata_plaintext_v1"
PLAINTEXT_SEGMENT_TAG = b"allmydata_plaintext_segment_v1"
CLIENT_RENEWAL_TAG = b"allmydata_client_renewal_secret_v1"
CLIENT_CANCEL_TAG = b"allmydata_client_cancel_secret_v1"
FILE_RENEWAL_TAG = b"allmydata_file_renewal_secret_v1"
FILE_CANCEL_TAG = b"allmydata_file_cancel_secret_v1"
BUCKET_RENEWAL_TAG = b"allmydata_bucket_renewal_secret_v1"
BUCKET_CANCEL_TAG = b"allmydata_bucket_cancel_secret_v1"


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


@lru_cache(maxsize=1024)
def _tag_state(tag: bytes) -> "hashlib._Hash":
    """SHA-256 having read the framed tag: copying it is cheaper than hashing the tag again,
    and a few tags (tree nodes, lease and write-enabler tags) are used thousands of times."""
    return hashlib.sha256(netstring(tag))


class TaggedHasher:
    """Incremental tagged hash, for messages too large to hold at once."""

    def __init__(self, tag: bytes, truncate_to: int = 32) -> None:
        self._inner = _tag_state(tag).copy()
        self._truncate_to = truncate_to

    def update(self, data: bytes | memoryview) -> None:
        self._inner.update(data)

    def digest(self) -> bytes:
        return hashlib.sha256(self._inner.digest()).digest()[: self._truncate_to]


def tagged_hash(tag: bytes, data: bytes | memoryview, truncate_to: int = 32) -> bytes:
    inner = _tag_state(tag).copy()
    inner.update(data)
    return hashlib.sha256(inner.digest()).digest()[:truncate_to]


def tagged_pair_hash(tag: bytes, left: bytes, right: bytes, truncate_to: int = 32) -> bytes:
    inner = _tag_state(tag).copy()
    inner.update(b"%d:%s,%d:%s," % (len(left), left, len(right), right))
    return hashlib.sha256(inner.digest()).digest()[:truncate_to]


def chk_key_hasher(convergence_secret: bytes, k: int, n: int, segment_size: int) -> TaggedHasher:
    """The convergent-key hasher: feed it the whole plaintext, its digest is the AES key."""
    params = b"%d,%d,%d" % (k, n, segment_size)
    tag = CHK_KEY_TAG_PREFIX + netstring(convergence_secret) + netstring(params)
    return TaggedHasher(tag, truncate_to=16)


def storage_index_from_key(key: bytes) -> bytes:
    return tagged_hash(STORAGE_INDEX_TAG, key, truncate_to=16)
