"""Directories (dirnodes), per spec/tahoe-dirnode.md.

Pure: `caps` (DIR2 cap wrappers and the one `parse_any_cap`), `format`
(body packing, child write-cap encryption, metadata rule), `children`
(known vs unknown children and Tahoe's ro./imm. rules). Async:
`node.DirectoryNode` over an SDMF `MutableFileNode`.
"""

from .caps import AnyCap, DirectoryCap, parse_any_cap, parse_dir_cap
from .children import Child, Listing, list_body, make_child, visible_children
from .errors import ChildOfWrongTypeError, ExistingChildError, NoSuchChildError, NotWriteableError
from .format import (
    CorruptDirectoryError,
    Entry,
    decrypt_rw_uri,
    encrypt_rw_uri,
    pack_children,
    unpack_children,
    update_metadata,
)
from .node import DirectoryNode

__all__ = [
    "AnyCap",
    "Child",
    "ChildOfWrongTypeError",
    "CorruptDirectoryError",
    "DirectoryCap",
    "DirectoryNode",
    "Entry",
    "ExistingChildError",
    "Listing",
    "NoSuchChildError",
    "NotWriteableError",
    "decrypt_rw_uri",
    "encrypt_rw_uri",
    "list_body",
    "make_child",
    "pack_children",
    "parse_any_cap",
    "parse_dir_cap",
    "unpack_children",
    "update_metadata",
    "visible_children",
]
