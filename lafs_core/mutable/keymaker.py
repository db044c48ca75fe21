"""`python -m lafs_core.mutable.keymaker [--idle]`: makes RSA key pairs for `KeyPool`.

For each byte read on stdin it writes one fresh pair to stdout: the lengths of the
private and public DER as two 4-byte big-endian numbers, then both. It stops at the
end of stdin, which also comes when the parent process dies. `--idle` runs it at
the lowest CPU priority.
"""

import os
import struct
import sys
from typing import IO

from .keys import KeyPair

IDLE_NICENESS = 19


_SIZES = struct.Struct(">II")


def frame(keys: KeyPair) -> bytes:
    return _SIZES.pack(len(keys.privkey_der), len(keys.pubkey_der)) + (
        keys.privkey_der + keys.pubkey_der
    )


def read_frame(stream: IO[bytes]) -> KeyPair:
    """The pair `frame` wrote, read from the child's stdout."""
    head = stream.read(_SIZES.size)
    if len(head) < _SIZES.size:
        raise RuntimeError("the key maker process stopped")
    private_size, public_size = _SIZES.unpack(head)
    body = stream.read(private_size + public_size)
    return KeyPair(body[:private_size], body[private_size:])


def main() -> None:
    if "--idle" in sys.argv[1:]:
        os.nice(IDLE_NICENESS)
    while sys.stdin.buffer.read(1):
        sys.stdout.buffer.write(frame(KeyPair.generate()))
        sys.stdout.buffer.flush()


if __name__ == "__main__":
    main()
