"""zfec's erasure code, computed by Intel's ISA-L when the system has it (Debian: libisal2).

zfec's byte loop encodes 110-150 MB/s of segment here; ISA-L's SIMD kernels do
2.8-3.9 GB/s in the same field, GF(2^8) modulo x^8+x^4+x^3+x^2+1, and rebuild
missing pieces as fast. The coefficients are zfec's own, read off zfec by
encoding unit pieces, so the blocks are the same bytes by construction (and
tested against zfec). Without the library `Codec` keeps using zfec. ctypes
releases the GIL for the call, so encoder threads run in parallel.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

import zfec

TABLE_BYTES_PER_COEFFICIENT = 32  # ISA-L's expanded multiplication tables

DECODE_TABLES_KEPT = 64  # sets of share numbers whose inverse is kept per code

Buffer = bytes | bytearray | memoryview


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
        lib.gf_invert_matrix.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
        lib.gf_invert_matrix.restype = ctypes.c_int
        return lib
    return None


_LIB = _load()
available = _LIB is not None


@lru_cache(maxsize=64)
def code_for(k: int, n: int) -> ErasureCode:
    """One shared code per (k, n): a mutable publish makes a `Codec` every time."""
    return ErasureCode(k, n)


def zfec_matrix(k: int, n: int) -> bytes:
    """The (n-k) x k coefficients zfec multiplies the pieces by, row by row.

    Encoding is linear and byte-wise, so check block j of pieces that are all
    zero but a single 1 in piece i is coefficient (j, i).
    """
    checks = list(range(k, n))
    encoder = zfec.Encoder(k, n)
    columns = []
    for i in range(k):
        unit = [b"\x01" if p == i else b"\x00" for p in range(k)]
        columns.append([block[0] for block in encoder.encode(unit, checks)])
    return bytes(columns[i][j] for j in range(n - k) for i in range(k))


def _address(buffer: Buffer) -> tuple[int, Buffer]:
    """Where `buffer`'s bytes start, and the object that keeps them there. A read-only
    view other than bytes itself is copied (ctypes gives no address for those)."""
    if isinstance(buffer, bytes):
        address = ctypes.cast(ctypes.c_char_p(buffer), ctypes.c_void_p).value
        assert address is not None
        return address, buffer
    if isinstance(buffer, memoryview) and buffer.readonly:
        return _address(bytes(buffer))
    return ctypes.addressof(ctypes.c_char.from_buffer(buffer)), buffer


def _multiply(
    tables: ctypes.Array[ctypes.c_char], k: int, rows: int, inputs: list[int], size: int
) -> list[memoryview]:
    """`rows` outputs of `size` bytes: each a sum of the k inputs times its coefficients."""
    assert _LIB is not None
    out = bytearray(size * rows)
    view = memoryview(out)
    outputs = [view[j * size : (j + 1) * size] for j in range(rows)]
    if size and rows:
        out_base = ctypes.addressof(ctypes.c_char.from_buffer(out))
        data = (ctypes.c_void_p * k)(*inputs)
        coding = (ctypes.c_void_p * rows)(*(out_base + j * size for j in range(rows)))
        _LIB.ec_encode_data(size, k, rows, tables, data, coding)
    return outputs


def _tables(k: int, rows: int, matrix: bytes) -> ctypes.Array[ctypes.c_char]:
    assert _LIB is not None
    tables = ctypes.create_string_buffer(TABLE_BYTES_PER_COEFFICIENT * k * rows)
    _LIB.ec_init_tables(k, rows, matrix, tables)
    return tables


class ErasureCode:
    """zfec.Encoder(k, n)'s check blocks, and the pieces back from any k blocks."""

    def __init__(self, k: int, n: int) -> None:
        if _LIB is None:
            raise RuntimeError("ISA-L (libisal) is not installed")
        if not 1 <= k < n:
            raise ValueError(f"need 1 <= k < n, got k={k} n={n}")
        self.k, self.n = k, n
        self._matrix = zfec_matrix(k, n)
        self._check_tables = _tables(k, n - k, self._matrix)
        self._decode_tables: dict[tuple[int, ...], ctypes.Array[ctypes.c_char]] = {}

    def encode(self, padded_segment: bytes) -> list[memoryview]:
        """Check blocks of `padded_segment` split into k pieces; one buffer holds them all."""
        size = len(padded_segment) // self.k
        if size * self.k != len(padded_segment):
            raise ValueError("segment length must be a multiple of k")
        base, _keep = _address(padded_segment)
        inputs = [base + i * size for i in range(self.k)]
        return _multiply(self._check_tables, self.k, self.n - self.k, inputs, size)

    def missing_pieces(self, numbers: list[int], blocks: list[Buffer]) -> list[memoryview]:
        """The pieces 0..k-1 absent from `numbers` (k distinct share numbers, in order),
        rebuilt from their `blocks`: the inverse of those shares' rows of the code."""
        k = self.k
        if len(numbers) != k or len(set(len(b) for b in blocks)) > 1:
            raise ValueError(f"need {k} blocks of one size")
        missing = [i for i in range(k) if i not in numbers]
        tables = self._decode_tables.get(tuple(numbers))
        if tables is None:
            if len(self._decode_tables) >= DECODE_TABLES_KEPT:
                self._decode_tables.clear()
            tables = self._decode_tables[tuple(numbers)] = self._inverse_tables(numbers, missing)
        held = [_address(b) for b in blocks]
        return _multiply(tables, k, len(missing), [a for a, _ in held], len(blocks[0]))

    def _inverse_tables(
        self, numbers: list[int], missing: list[int]
    ) -> ctypes.Array[ctypes.c_char]:
        assert _LIB is not None
        k = self.k
        rows = bytearray()
        for s in numbers:
            if s < k:
                rows += bytes(i == s for i in range(k))
            else:
                rows += self._matrix[(s - k) * k : (s - k + 1) * k]
        inverse = ctypes.create_string_buffer(k * k)
        if _LIB.gf_invert_matrix(bytes(rows), inverse, k) != 0:
            raise ValueError(f"share numbers {numbers} do not determine the pieces")
        chosen = b"".join(inverse.raw[i * k : (i + 1) * k] for i in missing)
        return _tables(k, len(missing), chosen)
