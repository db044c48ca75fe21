"""The errors lafs_core raises, one root so callers can catch them all."""


class LafsError(Exception):
    """Root of every error raised by lafs_core."""


class CapabilityError(LafsError, ValueError):
    """A capability string is malformed; raised by the parsers in `uri`."""


class BadEncodingParameters(LafsError, ValueError):
    """k, happy, n or the segment size are out of range (caller's mistake)."""


class CorruptShareError(LafsError):
    """A share's bytes fail a format or hash check: try another share.

    `sharenum` names the share when it is known, so the caller can report it
    to the server that holds it (a corruption advisory).
    """

    def __init__(self, message: str, sharenum: int | None = None) -> None:
        super().__init__(message)
        self.sharenum = sharenum


class NotEnoughSharesError(LafsError):
    """Fewer than k good shares could be found: the data cannot be rebuilt."""


class StorageError(LafsError):
    """Root of the storage-protocol errors (raised by `storage_protocol`, `storage_client`).

    `status` is the HTTP status the server answered with, when there was one.
    """

    status: int | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class StorageProtocolError(StorageError, ValueError):
    """A storage-protocol message (CBOR body, header, range) is malformed.

    Raised by the pure decoders in `storage_protocol`. A server answers it with
    `status` (400 by default, 413 for an oversized body, 416 for a bad range); a
    client treats it as a misbehaving server.
    """

    status: int | None = 400


class ServerIdentityError(StorageError):
    """The server's TLS certificate does not match the SPKI hash pinned in its NURL.

    Raised by `storage_client` before any request is sent on that connection; the
    server is an impostor or misconfigured: do not use it.
    """


class StorageConnectionError(StorageError):
    """The server could not be reached or the connection broke (cause in `__cause__`)."""


class StorageHTTPError(StorageError):
    """The server answered with an error status; `status` says which.

    Subclasses name the statuses a caller usually handles on its own.
    """


class StorageUnauthorizedError(StorageHTTPError):
    """401: wrong swissnum, upload secret or write enabler."""

    status = 401


class ShareNotFoundError(StorageHTTPError):
    """404: no such share, upload or storage index on that server."""

    status = 404


class ShareConflictError(StorageHTTPError):
    """409: a chunk overlaps already-written bytes with different data; abort the upload."""

    status = 409
