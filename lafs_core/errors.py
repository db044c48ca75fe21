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
