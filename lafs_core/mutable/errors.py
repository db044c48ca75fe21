"""Errors of mutable files; all rooted in `LafsError` (they could move to lafs_core/errors.py)."""

from ..errors import CorruptShareError, LafsError, NotEnoughSharesError


class UncoordinatedWriteError(LafsError):
    """Another writer changed the file while we published (or our test vector failed).

    Raised by `publish`; the grid may now hold a mix of versions. Callers
    retry through `modify`, which re-reads the file and re-applies their change.
    """


class NotWriteableError(LafsError, PermissionError):
    """The file or directory was opened with a read-only cap; nothing was changed."""


class NotEnoughServersError(LafsError):
    """Fewer than k shares of a new version could be placed; the write did not happen.

    `no_room`: some servers refused for want of disk space (507), so the grid needs space
    rather than time.
    """

    def __init__(self, message: str, no_room: bool = False) -> None:
        super().__init__(message)
        self.no_room = no_room


class UnrecoverableFileError(NotEnoughSharesError):
    """No version of the mutable file has k valid shares on the servers we asked."""


class UnsupportedMutableFormat(CorruptShareError):
    """The share has the other mutable format's version byte (SDMF where MDMF was expected
    or the reverse): useless for this cap, but not damaged, so no corruption advisory."""
