"""zfec's check blocks, computed by Intel's ISA-L when the system has it (Debian: libisal2).

zfec's byte loop encodes about 160 MB/s of segment here; ISA-L's SIMD kernels
do over 4 GB/s in the same field, GF(2^8) modulo x^8+x^4+x^3+x^2+1. The
coefficients are zfec's own, read off zfec by encoding unit pieces, so the
check blocks are the same bytes by construction (and tested against zfec).
Without the library `Codec` keeps using zfec. ctypes releases the GIL for the
call, so encoder threads run in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import zfec

TABLE_BYTES_PER_COEFFICIENT = 32  # ISA-L's expanded multiplication tables


def _load() -> ctypes.CDLL | None:
    for name in (ctypes.util.find_library("isal"), "libisal.so.2"):
        if name is None:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.ec_init_tables.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p]
        lib.ec_init_tables.restype = None
        lib.ec_encode_data.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.ec_encode_data.restype = None
        return lib
    return None


_LIB = _load()
available = _LIB is not None


def zfec_matrix(k: int, n: int) -> bytes:
    """The (n-k) x k coefficients zfec multiplies the pieces by, row by row.

    Encoding is linear and byte-wise, so check block j of pieces that are all
    zero but a single 1 in piece i is coefficient (j, i).
    """
    checks = list(range(k, n))
    columns = []
    for i in range(k):
        unit = [b"\x01" if p == i else b"\x00" for p in range(k)]
        columns.append([block[0] for block in zfec.Encoder(k, n).encode(unit, checks)])
    return bytes(columns[i][j] for j in range(n - k) for i in range(k))


class CheckEncoder:
    """The n-k check blocks of k equal pieces, as zfec.Encoder(k, n) makes them."""

    def __init__(self, k: int, n: int) -> None:
        if _LIB is None:
            raise RuntimeError("ISA-L (libisal) is not installed")
        if not 1 <= k < n:
            raise ValueError(f"need 1 <= k < n, got k={k} n={n}")
        self.k, self.rows = k, n - k
        self._tables = ctypes.create_string_buffer(TABLE_BYTES_PER_COEFFICIENT * k * self.rows)
        _LIB.ec_init_tables(k, self.rows, zfec_matrix(k, n), self._tables)

    def encode(self, padded_segment: bytes) -> list[memoryview]:
        """Check blocks of `padded_segment` split into k pieces; one buffer holds them all."""
        assert _LIB is not None
        size = len(padded_segment) // self.k
        if size * self.k != len(padded_segment):
            raise ValueError("segment length must be a multiple of k")
        out = bytearray(size * self.rows)
        view = memoryview(out)
        checks = [view[j * size : (j + 1) * size] for j in range(self.rows)]
        if size == 0:
            return checks
        base = ctypes.cast(ctypes.c_char_p(padded_segment), ctypes.c_void_p).value
        assert base is not None
        out_base = ctypes.addressof(ctypes.c_char.from_buffer(out))
        data = (ctypes.c_void_p * self.k)(*(base + i * size for i in range(self.k)))
        coding = (ctypes.c_void_p * self.rows)(*(out_base + j * size for j in range(self.rows)))
        _LIB.ec_encode_data(size, self.k, self.rows, self._tables, data, coding)
        return checks
