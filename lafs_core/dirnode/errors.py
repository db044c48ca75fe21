"""Errors of directory operations, rooted in `LafsError`."""

from ..errors import LafsError
from ..mutable.errors import NotWriteableError

__all__ = ["ChildOfWrongTypeError", "ExistingChildError", "NoSuchChildError", "NotWriteableError"]


class NoSuchChildError(LafsError, KeyError):
    """The directory has no child of that name (names compare after NFC)."""


class ExistingChildError(LafsError):
    """A child of that name exists and the caller asked not to overwrite it."""


class ChildOfWrongTypeError(LafsError):
    """`delete(must_be_directory=…/must_be_file=…)` found the other kind of child."""
