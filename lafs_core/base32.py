"""Tahoe's base32: RFC 4648 alphabet in lower case, no padding (spec/tahoe-immutable.md 2.1)."""

import base64
import re
from collections.abc import Callable

ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"

# Characters whose low bits are zero, by how many low bits are padding.
_CANONICAL_LAST = {
    0: ALPHABET,
    1: ALPHABET[::2],
    2: ALPHABET[::4],
    3: ALPHABET[::8],
    4: ALPHABET[::16],
}
# chars mod 8 -> padding bits in the last character; 1, 3 and 6 are impossible.
_PAD_BITS = {0: 0, 2: 2, 4: 4, 5: 1, 7: 3}
_ALPHABET_ONLY = re.compile(f"[{ALPHABET}]*")

# Keys and hashes decoded lately, with their text. A cap is usually printed right
# after it is parsed (listing a directory parses each child's cap, then shows it),
# and the stdlib encoder loops in Python: remembering the text makes that free.
# Canonical base32 is one text per byte string, so a hit is always right.
_RECENT: dict[bytes, str] = {}
_RECENT_MAX = 1024  # entries of at most _RECENT_BYTES bytes
_RECENT_BYTES = 64


def b2a(data: bytes) -> str:
    if len(data) > _RECENT_BYTES:
        return _b2a_long(data)
    text = _RECENT.get(data) if type(data) is bytes else None
    if text is not None:
        return text
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


# Long strings (a 4 KiB LIT cap) are encoded a column at a time: every 5 bytes give 8
# characters, each made of bits of one or two of those bytes. Each column is cut out by
# slicing, its bits picked by a byte table, a two-byte column's halves joined by adding
# them as big integers (their bits never overlap, so no carry), all at C speed: 10x the
# stdlib encoder, which loops in Python.
def _bits(pick: Callable[[int], int]) -> bytes:
    return bytes(pick(b) for b in range(256))


_COLUMNS = (  # (byte of the group, its bits) or two such pairs, per output character
    ((0, _bits(lambda b: b >> 3)),),
    ((0, _bits(lambda b: (b & 7) << 2)), (1, _bits(lambda b: b >> 6))),
    ((1, _bits(lambda b: (b >> 1) & 31)),),
    ((1, _bits(lambda b: (b & 1) << 4)), (2, _bits(lambda b: b >> 4))),
    ((2, _bits(lambda b: (b & 15) << 1)), (3, _bits(lambda b: b >> 7))),
    ((3, _bits(lambda b: (b >> 2) & 31)),),
    ((3, _bits(lambda b: (b & 3) << 3)), (4, _bits(lambda b: b >> 5))),
    ((4, _bits(lambda b: b & 31)),),
)
_TO_ALPHABET = bytes.maketrans(bytes(range(32)), ALPHABET.encode("ascii"))


def _b2a_long(data: bytes) -> str:
    padded = bytes(data) + bytes(-len(data) % 5)
    group_bytes = [padded[i::5] for i in range(5)]
    out = bytearray(len(padded) // 5 * 8)
    for position, column in enumerate(_COLUMNS):
        parts = [group_bytes[i].translate(table) for i, table in column]
        if len(parts) == 2:
            joined = int.from_bytes(parts[0], "big") + int.from_bytes(parts[1], "big")
            parts[0] = joined.to_bytes(len(parts[1]), "big")
        out[position::8] = parts[0]
    return out[: b2a_len(len(data))].translate(_TO_ALPHABET).decode("ascii")


def is_canonical(text: str) -> bool:
    """True if `text` is exactly what `b2a` produces for some byte string."""
    if not _ALPHABET_ONLY.fullmatch(text):
        return False
    rem = len(text) % 8
    if rem not in _PAD_BITS:
        return False
    return not text or text[-1] in _CANONICAL_LAST[_PAD_BITS[rem]]


# Our alphabet onto int()'s base-32 digits, so that int(text, 32) reads the bits at C speed
# (the stdlib decoder loops in Python: 2 ms for the 6,554 characters of a 4 KiB LIT cap);
# a bytes table maps twice as fast as a str one.
_TO_INT_DIGITS = bytes.maketrans(ALPHABET.encode("ascii"), b"0123456789abcdefghijklmnopqrstuv")


def a2b(text: str) -> bytes:
    """Decode canonical Tahoe base32; raises ValueError for anything else."""
    if not is_canonical(text):
        raise ValueError(f"not canonical base32: {text!r}")
    return a2b_checked(text)


def a2b_checked(text: str) -> bytes:
    """`a2b` of text already known to be canonical (e.g. matched by a cap's pattern)."""
    if not text:
        return b""
    size = len(text) * 5 // 8
    digits = text.encode("ascii").translate(_TO_INT_DIGITS)
    value = int(digits, 32) >> _PAD_BITS[len(text) % 8]
    data = value.to_bytes(size, "big")
    if size <= _RECENT_BYTES:
        if len(_RECENT) >= _RECENT_MAX:
            _RECENT.clear()
        _RECENT[data] = text
    return data


def b2a_len(num_bytes: int) -> int:
    """Number of base32 characters for `num_bytes` bytes."""
    return (num_bytes * 8 + 4) // 5
