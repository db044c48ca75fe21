"""Errors of mutable files; all rooted in `LafsError` (they could move to lafs_core/errors.py)."""

from ..errors import LafsError, NotEnoughSharesError


class UncoordinatedWriteError(LafsError):
    """Another writer changed the file while we published (or our test vector failed).

    Raised by `publish`; the grid may now hold a mix of versions. Callers
    retry through `modify`, which re-reads the file and re-applies their change.
    """


class NotEnoughServersError(LafsError):
    """Fewer than k shares of a new version could be placed; the write did not happen."""


class UnrecoverableFileError(NotEnoughSharesError):
    """No version of the mutable file has k valid shares on the servers we asked."""


class UnsupportedMutableFormat(LafsError):
    """The share is a valid format we do not implement yet (MDMF, version byte 1)."""
