"""The errors storage_node raises; each leaf carries the HTTP status the server answers.

`server.py` maps them to responses in one place. Protocol-format errors come
from `lafs_core.errors.StorageProtocolError` (with their own `status`).
"""

from lafs_core.storage_protocol import INSUFFICIENT_STORAGE


class StorageNodeError(Exception):
    """Root of every error raised by storage_node."""

    status = 500


class ConfigError(StorageNodeError):
    """The node directory or its configuration is missing or invalid (`config`, `cli`)."""


class CorruptContainerError(StorageNodeError):
    """A share file on disk is not a valid container (raised by `container` parsers).

    The crawler reports and skips such files; a request touching one gets a 500.
    """


class WrongSecretError(StorageNodeError):
    """The upload secret or write enabler does not match the stored one (401)."""

    status = 401


class NoSuchShareError(StorageNodeError):
    """The share, the in-progress upload or the storage index does not exist (404)."""

    status = 404


class UploadCompleteError(StorageNodeError):
    """An abort names a share that is already complete (405)."""

    status = 405


class WriteConflictError(StorageNodeError):
    """A chunk overlaps already-written bytes with different data (409); nothing written."""

    status = 409


class WriteError(StorageNodeError):
    """A write falls past the allocated size or its body is short (500, as 1.20 answers)."""


class OutOfSpaceError(StorageNodeError):
    """No room on the disk for a share's growth, a lease or an advisory (507 Insufficient
    Storage, where 1.20 answers 500): the client learns the node is full, not broken."""

    status = INSUFFICIENT_STORAGE
