"""Lease secrets a client presents to servers (spec/tahoe-disk-and-leases.md 7.3).

Derived, not stored: from the client's one lease secret, the storage index
and the server's 20-byte lease seed (the tub ID of a Tahoe server).
"""

from dataclasses import dataclass
from functools import lru_cache

from .hashes import (
    BUCKET_CANCEL_TAG,
    BUCKET_RENEWAL_TAG,
    CLIENT_CANCEL_TAG,
    CLIENT_RENEWAL_TAG,
    FILE_CANCEL_TAG,
    FILE_RENEWAL_TAG,
    tagged_hash,
    tagged_pair_hash,
)


@dataclass(frozen=True)
class LeaseSecrets:
    renew: bytes
    cancel: bytes


@lru_cache(maxsize=4096)  # six SHA-256d per server and file: every publish asked again
def lease_secrets(client_secret: bytes, storage_index: bytes, server_seed: bytes) -> LeaseSecrets:
    # Note the swapped roles in the first step: the client secret is the tag.
    client_renew = tagged_hash(client_secret, CLIENT_RENEWAL_TAG)
    client_cancel = tagged_hash(client_secret, CLIENT_CANCEL_TAG)
    file_renew = tagged_pair_hash(FILE_RENEWAL_TAG, client_renew, storage_index)
    file_cancel = tagged_pair_hash(FILE_CANCEL_TAG, client_cancel, storage_index)
    return LeaseSecrets(
        renew=tagged_pair_hash(BUCKET_RENEWAL_TAG, file_renew, server_seed),
        cancel=tagged_pair_hash(BUCKET_CANCEL_TAG, file_cancel, server_seed),
    )
