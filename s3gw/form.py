"""A browser upload's body (``multipart/form-data``), read as it arrives.

S3's POST upload sends its fields first and the file last: the fields are
checked (policy, signature) before any of the file is stored, and whatever
follows the file is ignored. `FormReader` is sans-IO over python-multipart's
push parser: `feed` takes raw body bytes and returns the file's bytes among
them; `fields` holds the fields read so far, names lowercased (S3 matches
them without case).
"""

from __future__ import annotations

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from s3gw.errors import MalformedPOSTRequest, MaxPostPreDataLengthExceeded

MAX_FIELDS_BYTES = 20 * 1024  # S3's limit on the form before the file
FILE_FIELD = "file"


def _malformed(detail: str) -> MalformedPOSTRequest:
    return MalformedPOSTRequest(
        f"The body of your POST request is not well-formed multipart/form-data: {detail}."
    )


def form_boundary(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` Content-Type; None for any other type."""
    mime, params = parse_options_header(content_type)
    if mime.lower() != b"multipart/form-data":
        return None
    return params.get(b"boundary") or None


class FormReader:
    """Fields, then the file, of one form body; `in_file` once the file has begun,
    `file_done` once it has ended (the rest of the body is then ignored)."""

    def __init__(self, boundary: bytes) -> None:
        self.fields: dict[str, str] = {}
        self.filename = ""
        self.in_file = False
        self.file_done = False
        self.ended = False
        self._fields_bytes = 0
        self._headers: dict[bytes, bytes] = {}
        self._header = (b"", b"")
        self._name = ""
        self._value: list[bytes] = []
        self._out: list[bytes] = []
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._header_field,
                "on_header_value": self._header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
                "on_end": self._end,
            },
        )

    def feed(self, raw: bytes) -> bytes:
        """Consume body bytes; return the file bytes among them (b"" if none)."""
        if self.file_done:
            return b""
        try:
            self._parser.write(raw)
        except MultipartParseError as exc:
            raise _malformed(str(exc).rstrip(".")) from None
        out, self._out = self._out, []
        return b"".join(out)

    # -- python-multipart callbacks ------------------------------------------

    def _part_begin(self) -> None:
        self._headers = {}
        self._header = (b"", b"")

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0] + data[start:end], self._header[1])
        self._count(end - start)

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0], self._header[1] + data[start:end])
        self._count(end - start)

    def _header_end(self) -> None:
        name, value = self._header
        self._headers[name.lower()] = value
        self._header = (b"", b"")

    def _headers_finished(self) -> None:
        if self.file_done:
            return
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition.lower() != b"form-data" or b"name" not in params:
            raise _malformed("a part has no form-data name")
        self._name = params[b"name"].decode("utf-8", "replace").lower()
        self._value = []
        if self._name == FILE_FIELD and not self.file_done:
            self.in_file = True
            self.filename = params.get(b"filename", b"").decode("utf-8", "replace")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self._out.append(data[start:end])
        elif not self.file_done:
            self._count(end - start)
            self._value.append(data[start:end])

    def _part_end(self) -> None:
        if self.in_file:
            self.in_file, self.file_done = False, True
        elif not self.file_done:
            self.fields.setdefault(self._name, b"".join(self._value).decode("utf-8", "replace"))

    def _end(self) -> None:
        self.ended = True

    def _count(self, size: int) -> None:
        if self.file_done:
            return
        self._fields_bytes += size
        if self._fields_bytes > MAX_FIELDS_BYTES:
            raise MaxPostPreDataLengthExceeded()


__all__ = ["FILE_FIELD", "MAX_FIELDS_BYTES", "FormReader", "form_boundary"]
