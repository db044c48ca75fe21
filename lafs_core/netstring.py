"""Netstrings: `<decimal length>:<bytes>,` (spec/tahoe-immutable.md 2.2)."""


def netstring(data: bytes) -> bytes:
    return b"%d:%s," % (len(data), data)


def split_netstrings(data: bytes, count: int | None = None) -> list[bytes]:
    """Parse consecutive netstrings; raises ValueError on malformed input.

    With `count`, exactly that many must be present and nothing may follow.
    """
    items: list[bytes] = []
    pos = 0
    while pos < len(data):
        colon = data.find(b":", pos)
        digits = data[pos:colon]
        if colon < 0 or not digits.isdigit() or len(digits) > 20:
            raise ValueError("malformed netstring length")
        length = int(digits)
        end = colon + 1 + length
        if end >= len(data) or data[end : end + 1] != b",":
            raise ValueError("netstring is truncated or lacks its comma")
        items.append(data[colon + 1 : end])
        pos = end + 1
    if count is not None and len(items) != count:
        raise ValueError(f"expected {count} netstrings, found {len(items)}")
    return items
