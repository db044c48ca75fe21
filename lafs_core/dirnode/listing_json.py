"""The JSON a Tahoe-LAFS 1.20 web API gives for `?t=json` (what `tahoe ls --json` prints).

Pure: built from caps and listings only. Key order is part of the format,
since scripts (and byte comparisons) see the text: a directory is
`["dirnode", {children, ro_uri, rw_uri, verify_uri, mutable}]`; a child in
a listing is `[kind, {mutable, format, size, metadata, rw_uri, ro_uri,
verify_uri}]`; a file reached on its own is `["filenode", {mutable, format,
size, ro_uri, rw_uri, verify_uri, metadata}]`. Keys without a value are left
out; the size of a mutable file is only known when it was read.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .. import base32
from ..hashes import storage_index_from_key
from ..mutable.caps import MutableReadCap, MutableVerifyCap, MutableWriteCap
from ..uri import CHKReadCap, CHKVerifyCap, LiteralCap
from .caps import AnyCap, DirectoryCap
from .children import Child, Listing, listed_file_text

_string = json.encoder.encode_basestring_ascii  # C: a str as json.dumps writes it


def render(data: list[Any]) -> str:
    """The response body: `json.dumps(data, indent=1)` and a newline (non-ASCII escaped)."""
    try:
        return _indented(data, "\n") + "\n"
    except RecursionError:  # metadata nested hundreds deep: json.dumps goes twice as deep
        return json.dumps(data, indent=1) + "\n"


def _indented(value: Any, newline: str) -> str:
    """`json.dumps(value, indent=1)` for a value whose first line is preceded by `newline`.

    json.dumps only has a pure-Python encoder for indented output, a generator per
    container: 40 us a child for a listing. Here strings are escaped by its C helper
    and containers joined directly; anything unusual (NaN, tuples, non-str keys, other
    types) goes to json.dumps itself, re-indented: with non-ASCII escaped, its only
    newlines are line breaks, so indenting a nested value is a `replace`.
    """
    kind = type(value)
    if kind is str:
        return _string(value)
    if kind is dict or kind is list:
        if not value:
            return "{}" if kind is dict else "[]"
        inner = newline + " "
        try:
            if kind is dict:
                items = [
                    _string(k) + ": " + (_string(v) if type(v) is str else _indented(v, inner))
                    for k, v in value.items()
                ]
                return "{" + inner + ("," + inner).join(items) + newline + "}"
            items = [_string(v) if type(v) is str else _indented(v, inner) for v in value]
            return "[" + inner + ("," + inner).join(items) + newline + "]"
        except TypeError:  # a key that is not a str: json.dumps converts it, or refuses it
            pass
    elif value is True:
        return "true"
    elif value is False:
        return "false"
    elif value is None:
        return "null"
    elif kind is int:
        return int.__repr__(value)
    elif kind is float and math.isfinite(value):
        return float.__repr__(value)
    return json.dumps(value, indent=1).replace("\n", newline)


def _verify_uri(cap: AnyCap) -> str | None:
    if isinstance(cap, LiteralCap):
        return None
    if isinstance(cap, DirectoryCap):
        verify = cap.verify_cap()
        return None if verify is None else verify.to_string()
    if isinstance(cap, (CHKVerifyCap, MutableVerifyCap)):
        return cap.to_string()
    return cap.verify_cap().to_string()


def _file_facts(cap: AnyCap, size: int | None) -> dict[str, Any]:
    """mutable, format and size of a file cap (a LIT file counts as CHK)."""
    if isinstance(cap, (MutableWriteCap, MutableReadCap, MutableVerifyCap)):
        facts: dict[str, Any] = {"mutable": True, "format": cap.format.upper()}
    else:
        facts = {"mutable": False, "format": "CHK"}
        if isinstance(cap, (LiteralCap, CHKReadCap, CHKVerifyCap)):
            size = cap.size
    if size is not None:
        facts["size"] = size
    return facts


def _uris(child: Child) -> dict[str, str]:
    out = {}
    if child.rw_uri:
        out["rw_uri"] = child.rw_uri
    if child.ro_uri:
        out["ro_uri"] = child.ro_uri
    return out


def _chk_verify_uri(text: str) -> str:
    """The verify cap of a canonical CHK read cap, by text: it differs only in its prefix
    and its storage index (hashed from the key), so nothing else is decoded or printed."""
    key = base32.a2b_checked(text[8:34])  # "URI:CHK:" and 26 characters for 16 bytes
    return "URI:CHK-Verifier:" + base32.b2a(storage_index_from_key(key)) + text[34:]


def child_json(child: Child, metadata: dict[str, Any]) -> list[Any]:
    """One entry of a directory listing."""
    text = listed_file_text(child)
    if text is not None and text.startswith("URI:CHK:"):  # most children of a big directory
        info: dict[str, Any] = {
            "mutable": False,
            "format": "CHK",
            "size": int(text[text.rindex(":") + 1 :]),
        }
        info.update(metadata=metadata, ro_uri=text, verify_uri=_chk_verify_uri(text))
        return ["filenode", info]
    cap = child.cap
    if cap is None:
        return ["unknown", {"metadata": metadata, **_uris(child)}]
    if isinstance(cap, DirectoryCap):
        info = {"mutable": cap.is_mutable}
        kind = "dirnode"
    else:
        info = _file_facts(cap, None)
        kind = "filenode"
    info["metadata"] = metadata
    info.update(_uris(child))
    verify = _verify_uri(cap)
    if verify is not None:
        info["verify_uri"] = verify
    return [kind, info]


def directory_json(cap: DirectoryCap, listing: Listing) -> list[Any]:
    children = {name: child_json(*listing[name]) for name in sorted(listing)}
    info: dict[str, Any] = {"children": children, "ro_uri": cap.readonly().to_string()}
    if not cap.is_readonly:
        info["rw_uri"] = cap.to_string()
    verify = _verify_uri(cap)
    if verify is not None:
        info["verify_uri"] = verify
    info["mutable"] = cap.is_mutable
    return ["dirnode", info]


def file_json(
    cap: AnyCap, size: int | None = None, metadata: dict[str, Any] | None = None
) -> list[Any]:
    """A file on its own; `metadata` is its edge's when it was reached through a directory."""
    info = _file_facts(cap, size)
    if isinstance(cap, MutableWriteCap):
        info["ro_uri"] = cap.readonly().to_string()
        info["rw_uri"] = cap.to_string()
    else:
        info["ro_uri"] = cap.to_string()
    verify = _verify_uri(cap)
    if verify is not None:
        info["verify_uri"] = verify
    if metadata is not None:
        info["metadata"] = metadata
    return ["filenode", info]
