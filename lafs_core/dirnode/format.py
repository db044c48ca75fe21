"""The directory plaintext: packed children, encrypted child write caps, edge metadata.

spec/tahoe-dirnode.md 2-4. A directory body is a run of netstrings, one per
child, each holding four netstrings: NFC name (UTF-8), read-only cap,
`rwcapdata` (the child's write cap encrypted under the directory's
writekey, or empty in immutable directories) and metadata JSON. Entries are
sorted by name. Entries read from a body keep their raw bytes so an
unchanged entry is written back verbatim, as Tahoe does.

Pure functions over bytes; malformed bodies raise `CorruptDirectoryError`:
bad framing or names when unpacked, a bad write cap or metadata when that
entry's field is first read (a listing reads them all, so it fails as
Tahoe's does; a change to other children keeps the entry verbatim).
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..crypto import aes_ctr
from ..errors import LafsError
from ..hashes import tagged_hash, tagged_pair_hash
from ..netstring import netstring
from .lazy import Lazy, bare

CHILD_SALT_TAG = b"allmydata_dirnode_child_rwcap_to_salt_v1"
CHILD_CAPKEY_TAG = b"allmydata_mutable_writekey_and_salt_to_dirnode_child_capkey_v1"
SALT_SIZE = 16
MAC_SIZE = 32


class CorruptDirectoryError(LafsError, ValueError):
    """A directory body (the plaintext of its file) is malformed: it cannot be listed."""


def normalize(name: str) -> str:
    """Names are NFC on every way in and out, so NFD and NFC spellings are one child."""
    return unicodedata.normalize("NFC", name)


# -- child write-cap encryption (spec 3) --------------------------------------


def _xor(key: bytes, pad: int) -> bytes:
    return bytes(b ^ pad for b in key)


def tahoe_mac(key: bytes, data: bytes) -> bytes:
    """Tahoe's HMAC look-alike: the key is XORed but NOT padded to the block size.

    Never checked by readers since Tahoe 1.3; written for byte compatibility.
    """
    inner = hashlib.sha256(_xor(key, 0x36) + data).digest()
    return hashlib.sha256(_xor(key, 0x5C) + inner).digest()


def encrypt_rw_uri(writekey: bytes, rw_uri: bytes) -> bytes:
    """salt || AES-CTR(key, rw_uri) || mac; the salt hashes the cap, so it is deterministic."""
    salt = tagged_hash(CHILD_SALT_TAG, rw_uri, SALT_SIZE)
    key = tagged_pair_hash(CHILD_CAPKEY_TAG, salt, writekey, 16)
    crypttext = aes_ctr(key, rw_uri)
    return salt + crypttext + tahoe_mac(key, salt + crypttext)


def decrypt_rw_uri(writekey: bytes, rwcapdata: bytes) -> bytes:
    """The plaintext write cap (possibly with trailing spaces; the MAC is ignored).

    Like Tahoe, data too short to hold salt and MAC decrypts to the empty cap.
    """
    crypttext = rwcapdata[SALT_SIZE:-MAC_SIZE]
    if not crypttext:  # a child without a write cap: most of a big directory's entries
        return b""
    key = tagged_pair_hash(CHILD_CAPKEY_TAG, rwcapdata[:SALT_SIZE], writekey, 16)
    return aes_ctr(key, crypttext)


# -- metadata (spec 4) --------------------------------------------------------


def dumps_metadata(metadata: Mapping[str, Any]) -> bytes:
    """Python's default json.dumps, exactly: ", "/": " separators, \\u escapes, repr floats."""
    return json.dumps(metadata).encode("utf-8")


def update_metadata(
    old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, now: float
) -> dict[str, Any]:
    """The 1.20 rule for setting an entry: keep `tahoe.linkcrtime`, set `linkmotime` to now.

    Caller-supplied `tahoe` keys are discarded; a legacy top-level `ctime`
    seeds `linkcrtime` when it is missing.
    """
    result: dict[str, Any] = dict(old or {})
    old_ctime = result.get("ctime")
    if new is not None:
        replaced = {key: value for key, value in new.items() if key != "tahoe"}
        if "tahoe" in result:
            replaced["tahoe"] = result["tahoe"]
        result = replaced
    sysmd = dict(result.get("tahoe", {}))
    if "linkcrtime" not in sysmd:
        sysmd["linkcrtime"] = old_ctime if old_ctime is not None else now
    sysmd["linkmotime"] = now
    result["tahoe"] = sysmd
    return result


# -- entries (spec 2) ---------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One stored child: the cap slots as text (None = absent) and its metadata.

    `rw_uri` is the decrypted write cap; None if the child has none or the
    directory was read without its writekey. `raw` is the entry as read
    (empty for new or changed entries), reused verbatim when repacking.
    Entries read by `unpack_children` decode `rw_uri` and `metadata` on
    first use (see `_StoredEntry`).
    """

    name: str
    ro_uri: str | None
    rw_uri: str | None
    metadata: dict[str, Any]
    raw: bytes = field(default=b"", compare=False, repr=False)


def read_rw_uri(name: str, writekey: bytes, rwcapdata: bytes) -> str | None:
    """An entry's write cap as text (None if it has none); CorruptDirectoryError if bad."""
    rw = decrypt_rw_uri(writekey, rwcapdata).rstrip(b" ")
    try:
        return rw.decode("utf-8") or None
    except UnicodeDecodeError as exc:
        raise CorruptDirectoryError(f"bad write cap of {name!r}: {exc}") from exc


def read_metadata(name: str, metadata_json: bytes) -> dict[str, Any]:
    """An entry's metadata object; CorruptDirectoryError if it is not a JSON object."""
    try:
        metadata = _loads(metadata_json)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise CorruptDirectoryError(f"bad metadata of {name!r}: {exc}") from exc
    if not isinstance(metadata, dict):
        raise CorruptDirectoryError(f"metadata of {name!r} is not a JSON object")
    return metadata


class _StoredEntry(Entry):
    """An entry read from a body: most readers use a few entries of a big directory
    (a change repacks the others verbatim), so the write cap is decrypted and the
    metadata parsed only when asked for; a bad one raises `CorruptDirectoryError` then.

    Made by `bare`: `rw_uri` or `metadata` is missing from the instance until first
    read, then stored over the `Lazy` descriptor.
    """

    _rwcapdata: bytes
    _writekey: bytes
    _metadata_json: bytes

    @Lazy
    def rw_uri(self) -> str | None:  # type: ignore[override]
        return read_rw_uri(self.name, self._writekey, self._rwcapdata)

    @Lazy
    def metadata(self) -> dict[str, Any]:  # type: ignore[override]
        return read_metadata(self.name, self._metadata_json)


_scan_json = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # json.loads's C scanner


def _loads(data: bytes) -> Any:
    """`json.loads(data)`, minus its per-call layers for the usual UTF-8 object."""
    try:
        text = data.decode("utf-8")
        value, end = _scan_json(text, 0)
        if end == len(text):
            return value
    except (ValueError, StopIteration):  # StopIteration: no JSON value at all
        pass
    return json.loads(data)  # BOMs, UTF-16/32, whitespace; and the error to report


def strip_prefix_for_ro(ro_uri: str, deep_immutable: bool) -> str:
    """`ro.` is always dropped from a stored read cap; `imm.` only in immutable directories."""
    if ro_uri.startswith("imm."):
        return ro_uri[4:] if deep_immutable else ro_uri
    if ro_uri.startswith("ro."):
        return ro_uri[3:]
    return ro_uri


def pack_entry(entry: Entry, writekey: bytes | None, deep_immutable: bool = False) -> bytes:
    """The inner four-netstring record (without the outer netstring)."""
    if writekey is not None:
        rwcapdata = encrypt_rw_uri(writekey, (entry.rw_uri or "").encode("utf-8"))
    else:
        if entry.rw_uri:
            raise ValueError("a write cap needs the directory's writekey to be stored")
        rwcapdata = b""
    ro = strip_prefix_for_ro(entry.ro_uri or "", deep_immutable)
    return b"".join(
        [
            netstring(normalize(entry.name).encode("utf-8")),
            netstring(ro.encode("utf-8")),
            netstring(rwcapdata),
            netstring(dumps_metadata(entry.metadata)),
        ]
    )


def pack_children(
    children: Mapping[str, Entry], writekey: bytes | None, deep_immutable: bool = False
) -> bytes:
    """The whole body, entries sorted by NFC name; untouched entries are reused verbatim."""
    normalized = {normalize(name): e for name, e in children.items()}
    return b"".join(
        netstring(normalized[name].raw or pack_entry(normalized[name], writekey, deep_immutable))
        for name in sorted(normalized)
    )


def _netstring_at(data: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of the netstring at `pos`, framed as Tahoe's split_netstring demands."""
    colon = data.find(b":", pos, pos + 13)  # at most 12 digits
    digits = data[pos:colon]
    if colon < 0 or not digits.isdigit():
        raise CorruptDirectoryError("malformed netstring length in directory")
    start = colon + 1
    end = start + int(digits)
    if end >= len(data) or data[end] != 44:  # b","
        raise CorruptDirectoryError("truncated netstring in directory")
    return start, end


def scan_entries(
    data: bytes, mutable: bool = True
) -> Iterator[tuple[bytes, str, str | None, bytes, bytes]]:
    """Each entry of a body in order, as (raw, name, ro_uri, rwcapdata, metadata_json).

    Framing and names are checked here; bytes after an entry's fourth netstring
    are ignored; trailing spaces are stripped from the read cap.
    """
    pos = 0
    while pos < len(data):
        start, end = _netstring_at(data, pos)
        pos = end + 1
        raw = data[start:end]
        name_start, name_end = _netstring_at(raw, 0)
        ro_start, ro_end = _netstring_at(raw, name_end + 1)
        rw_start, rw_end = _netstring_at(raw, ro_end + 1)
        md_start, md_end = _netstring_at(raw, rw_end + 1)
        try:
            name = normalize(raw[name_start:name_end].decode("utf-8"))
            ro = raw[ro_start:ro_end].rstrip(b" ").decode("utf-8") or None
        except UnicodeDecodeError as exc:
            raise CorruptDirectoryError(f"bad directory entry: {exc}") from exc
        if rw_end > rw_start and not mutable:
            raise CorruptDirectoryError("write cap data in an immutable directory")
        yield raw, name, ro, raw[rw_start:rw_end], raw[md_start:md_end]


def has_write_cap(rwcapdata: bytes) -> bool:
    """Data too short for salt and MAC decrypts to no cap (`decrypt_rw_uri`): skip it."""
    return len(rwcapdata) > SALT_SIZE + MAC_SIZE


def unpack_children(data: bytes, writekey: bytes | None, mutable: bool = True) -> dict[str, Entry]:
    """Parse a directory body. Without `writekey` (a read-only holder) child write caps stay hidden.

    A later duplicate name wins; trailing spaces are stripped from both cap
    slots. Write caps and metadata are checked when first used (`_StoredEntry`).
    """
    children: dict[str, Entry] = {}
    for raw, name, ro, rwcapdata, metadata_json in scan_entries(data, mutable):
        fields = {"name": name, "ro_uri": ro, "raw": raw, "_metadata_json": metadata_json}
        if writekey is not None and has_write_cap(rwcapdata):
            fields["_rwcapdata"], fields["_writekey"] = rwcapdata, writekey
        else:
            fields["rw_uri"] = None
        children[name] = bare(_StoredEntry, fields)
    return children
