import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core import base32


@given(st.binary(max_size=200))
def test_round_trip(data: bytes) -> None:
    text = base32.b2a(data)
    assert len(text) == base32.b2a_len(len(data))
    assert base32.is_canonical(text)
    assert base32.a2b(text) == data


@given(st.binary(max_size=200))
def test_matches_rfc4648_lowercase_unpadded(data: bytes) -> None:
    assert base32.b2a(data) == base64.b32encode(data).decode().rstrip("=").lower()


@pytest.mark.parametrize(
    "text",
    ["A", "ab", "abc", "abcdef", "MFRA", "mf=a", "mfrb", "yzxcoagbetwet65ltjpbqyli3n", "a1"],
)
def test_rejects_non_canonical(text: str) -> None:
    with pytest.raises(ValueError):
        base32.a2b(text)


def test_known_values() -> None:
    assert base32.b2a(b"") == ""
    assert (
        base32.b2a(bytes.fromhex("c66e2700c124ec49fbab9a5e186168db"))
        == "yzxcoagbetwet65ltjpbqyli3m"
    )


def test_recently_decoded_texts_encode_back_the_same() -> None:
    texts = [base64.b32encode(i.to_bytes(20, "big")).decode().lower() for i in range(3000)]
    decoded = [base32.a2b(t) for t in texts]  # more than the remembered number
    assert [base32.b2a(d) for d in decoded] == texts
    assert [base32.b2a(bytearray(d)) for d in decoded[:5]] == texts[:5]
    assert base32.b2a(b"\x00" * 65) == base64.b32encode(b"\x00" * 65).decode().rstrip("=").lower()


@given(st.binary(min_size=65, max_size=5000))
def test_long_strings_match_rfc4648(data: bytes) -> None:
    """Past 64 bytes b2a encodes column by column; it must agree with the stdlib byte for byte."""
    assert base32.b2a(data) == base64.b32encode(data).decode("ascii").rstrip("=").lower()
    assert base32.b2a(bytearray(data)) == base32.b2a(memoryview(data)) == base32.b2a(data)
