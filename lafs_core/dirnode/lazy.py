"""Fields decoded on first use, for the many small objects a directory listing makes.

A big directory's readers use a few of its entries and children, so the costly
part of each (a decrypted write cap, parsed metadata, a parsed cap) is left
undone until asked for. `Lazy` is `functools.cached_property` minus its lock
(Python 3.11 takes one per access, and a listing decodes thousands); `bare`
makes an instance without running `__init__`, holding only the fields given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

_T = TypeVar("_T")


class Lazy:
    """A non-data descriptor: the value is computed once and stored on the instance,
    where it shadows the descriptor (so frozen dataclasses can use it too)."""

    def __init__(self, decode: Callable[[Any], Any]) -> None:
        self.decode, self.name = decode, decode.__name__

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.decode(instance)
        return value


def bare(cls: type[_T], fields: dict[str, Any]) -> _T:
    """An instance of `cls` whose `__dict__` is `fields` (its `Lazy` fields left out
    are computed on first read); frozen dataclasses have no setattr of their own."""
    instance = object.__new__(cls)
    object.__setattr__(instance, "__dict__", fields)
    return instance
