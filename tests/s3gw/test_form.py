"""The multipart/form-data reader of browser uploads (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s3gw.errors import S3Error
from s3gw.form import MAX_FIELDS_BYTES, FormReader, form_boundary

BOUNDARY = "----formboundary7MA4YWxk"


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
    return head + value + b"\r\n"


def _body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def _read(body: bytes, piece: int) -> tuple[FormReader, bytes]:
    reader = FormReader(BOUNDARY.encode())
    out = b"".join(reader.feed(body[i : i + piece]) for i in range(0, len(body), piece))
    return reader, out


def test_boundary() -> None:
    assert form_boundary(f"multipart/form-data; boundary={BOUNDARY}") == BOUNDARY.encode()
    assert form_boundary('Multipart/Form-Data; boundary="a b"') == b"a b"
    assert form_boundary("multipart/form-data") is None
    assert form_boundary("application/x-www-form-urlencoded") is None
    assert form_boundary("") is None


@given(
    content=st.binary(max_size=3000),
    piece=st.integers(min_value=1, max_value=4096),
)
def test_fields_then_file_in_any_pieces(content: bytes, piece: int) -> None:
    body = _body(
        _part("Key", b"user/${filename}"),
        _part("X-Amz-Meta-Note", "caf\u00e9".encode()),
        _part("file", content, filename="a.txt"),
        _part("after", b"ignored"),
    )
    reader, out = _read(body, piece)
    assert out == content
    assert reader.fields == {"key": "user/${filename}", "x-amz-meta-note": "caf\u00e9"}
    assert reader.filename == "a.txt"
    assert reader.file_done and not reader.in_file


def test_without_a_file() -> None:
    reader, out = _read(_body(_part("key", b"k")), 7)
    assert out == b"" and reader.ended and not reader.file_done
    assert reader.fields == {"key": "k"}


def test_fields_before_the_file_are_bounded() -> None:
    big = _body(_part("x-ignore-pad", b"p" * (MAX_FIELDS_BYTES + 1)), _part("file", b"x", "f"))
    with pytest.raises(S3Error) as exc:
        _read(big, 1024)
    assert exc.value.code == "MaxPostPreDataLengthExceeded"
    # the file itself is not bounded by it
    reader, out = _read(_body(_part("file", b"f" * (MAX_FIELDS_BYTES * 3), "f")), 5000)
    assert len(out) == MAX_FIELDS_BYTES * 3


@pytest.mark.parametrize(
    "body",
    [
        b"no boundary here at all\r\n",
        f"--{BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode(),  # no name
    ],
)
def test_malformed(body: bytes) -> None:
    with pytest.raises(S3Error) as exc:
        _read(body, 16)
    assert exc.value.code == "MalformedPOSTRequest"
