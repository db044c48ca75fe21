"""A sans-IO decoder of ``aws-chunked`` request bodies (S3 streaming uploads).

Per the S3 API reference, "Signature Calculations for the Authorization
Header: Transferring Payload in Multiple Chunks (Chunked Upload)" and
"... Including Trailing Headers". A body is a sequence of chunks::

    <hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n   ...   0[;chunk-signature=<sig>]\\r\\n
    [<trailer name>:<value>\\r\\n ...] [x-amz-trailer-signature:<sig>\\r\\n] \\r\\n

Signed chunks chain their signatures from the request's seed signature; the
signed trailer is signed after the final (empty) chunk. Trailing
``x-amz-checksum-*`` values and checksum headers are verified against the
decoded data, and its length against ``x-amz-decoded-content-length``.

`feed` returns decoded data as soon as it arrives, before its chunk's
signature and the checksums are checked: the caller must not commit the
object until `finish` has returned.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from s3gw.auth.sigv4 import (
    EMPTY_SHA256,
    AuthResult,
    PayloadMode,
    chunk_string_to_sign,
    sign,
    signatures_equal,
    trailer_string_to_sign,
)
from s3gw.checksums import ChecksumVerifier, algorithm_of_header
from s3gw.errors import (
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    MissingContentLength,
    SignatureDoesNotMatch,
)

MAX_LINE = 4096  # a size line or trailer line longer than this is malformed
MAX_TRAILER_BYTES = 16 * 1024


class _State(enum.Enum):
    SIZE_LINE = 1
    DATA = 2
    DATA_END = 3
    TRAILER = 4
    DONE = 5


@dataclass(frozen=True)
class ChunkedResult:
    """What `finish` proves: the decoded length and the verified checksums (alg -> base64)."""

    decoded_length: int
    checksums: dict[str, str] = field(default_factory=dict)
    trailers: dict[str, str] = field(default_factory=dict)


@dataclass
class ChunkedParams:
    """What the decoder needs from the request: signing state, trailers, expectations."""

    mode: PayloadMode
    decoded_content_length: int | None
    declared_trailers: tuple[str, ...] = ()
    header_checksums: dict[str, str] = field(default_factory=dict)  # alg -> base64
    signing_key: bytes = b""
    amz_date: str = ""
    scope: str = ""
    seed_signature: str = ""


def params_from_request(auth: AuthResult, headers: Mapping[str, str]) -> ChunkedParams:
    """Build decoder parameters from a verified request and its (lowercase-keyed) headers.

    Raises MissingContentLength without x-amz-decoded-content-length, InvalidArgument
    if it is not a number, InvalidRequest for an unknown x-amz-trailer.
    """
    if not auth.payload_mode.is_streaming:
        raise InvalidRequest("The request is not an aws-chunked upload.")
    lower = {k.lower(): v for k, v in headers.items()}
    raw_len = lower.get("x-amz-decoded-content-length")
    if raw_len is None:
        raise MissingContentLength(
            "You must provide the x-amz-decoded-content-length header for chunked uploads."
        )
    if not raw_len.strip().isdigit():
        raise InvalidArgument("x-amz-decoded-content-length is not a valid number.")
    trailers: list[str] = []
    for name in lower.get("x-amz-trailer", "").split(","):
        name = name.strip().lower()
        if not name:
            continue
        if algorithm_of_header(name) is None:
            raise InvalidRequest(f"Unsupported trailer: {name}")
        trailers.append(name)
    if trailers and auth.payload_mode is PayloadMode.STREAMING_SIGNED:
        raise InvalidRequest("x-amz-trailer requires a -TRAILER content-sha256 mode.")
    header_checksums = {}
    for name, value in lower.items():
        alg = algorithm_of_header(name)
        if alg is not None and name not in trailers:
            header_checksums[alg] = value
    return ChunkedParams(
        mode=auth.payload_mode,
        decoded_content_length=int(raw_len),
        declared_trailers=tuple(trailers),
        header_checksums=header_checksums,
        signing_key=auth.signing_key,
        amz_date=auth.amz_date,
        scope=auth.scope,
        seed_signature=auth.seed_signature,
    )


class ChunkedDecoder:
    """Feed raw aws-chunked bytes in any pieces; get the payload bytes back.

    Raises IncompleteBody (body ends early), InvalidRequest (bad framing or
    too much data), SignatureDoesNotMatch (a chunk or trailer signature) and,
    from `finish`, BadDigest / InvalidDigest (a checksum).
    """

    def __init__(self, params: ChunkedParams) -> None:
        if not params.mode.is_streaming:
            raise ValueError("ChunkedDecoder needs a STREAMING-* payload mode")
        self._p = params
        self._signed = params.mode in (
            PayloadMode.STREAMING_SIGNED,
            PayloadMode.STREAMING_SIGNED_TRAILER,
        )
        self._has_trailer = params.mode in (
            PayloadMode.STREAMING_SIGNED_TRAILER,
            PayloadMode.STREAMING_UNSIGNED_TRAILER,
        )
        self._state = _State.SIZE_LINE
        self._buf = bytearray()
        self._remaining = 0
        self._chunk_sig = ""
        self._chunk_sha = hashlib.sha256()
        self._prev_sig = params.seed_signature
        self._decoded = 0
        self._trailer_lines: list[bytes] = []
        self._trailer_bytes = 0
        self._verifiers: dict[str, ChecksumVerifier] = {}
        for alg, value in params.header_checksums.items():
            self._verifiers[alg] = ChecksumVerifier(alg, value)
        for name in params.declared_trailers:
            trailer_alg = algorithm_of_header(name)
            assert trailer_alg is not None
            self._verifiers.setdefault(trailer_alg, ChecksumVerifier(trailer_alg))

    @property
    def done(self) -> bool:
        """True once the final chunk and trailer have been read."""
        return self._state is _State.DONE

    def feed(self, data: bytes) -> bytes:
        """Consume raw body bytes; return the decoded payload bytes they complete."""
        self._buf += data
        out = bytearray()
        while True:
            if self._state is _State.SIZE_LINE:
                line = self._take_line()
                if line is None:
                    break
                self._start_chunk(line)
            elif self._state is _State.DATA:
                if not self._buf:
                    break
                n = min(self._remaining, len(self._buf))
                piece = bytes(self._buf[:n])
                del self._buf[:n]
                self._consume(piece)
                out += piece
                self._remaining -= n
                if self._remaining == 0:
                    self._state = _State.DATA_END
            elif self._state is _State.DATA_END:
                if len(self._buf) < 2:
                    break
                if self._buf[:2] != b"\r\n":
                    raise InvalidRequest("Chunk data is not followed by CRLF.")
                del self._buf[:2]
                self._end_chunk()
                self._state = _State.SIZE_LINE
            elif self._state is _State.TRAILER:
                line = self._take_line()
                if line is None:
                    break
                if line == b"":
                    self._state = _State.DONE
                else:
                    self._trailer_bytes += len(line)
                    if self._trailer_bytes > MAX_TRAILER_BYTES:
                        raise InvalidRequest("The trailer is too large.")
                    self._trailer_lines.append(line)
            else:  # DONE
                if self._buf:
                    raise InvalidRequest("Data after the final aws-chunked chunk.")
                break
        return bytes(out)

    def _take_line(self) -> bytes | None:
        idx = self._buf.find(b"\n")
        if idx < 0:
            if len(self._buf) > MAX_LINE:
                raise InvalidRequest("An aws-chunked line is too long.")
            return None
        if idx > MAX_LINE:
            raise InvalidRequest("An aws-chunked line is too long.")
        line = bytes(self._buf[:idx])
        del self._buf[: idx + 1]
        if line.endswith(b"\r"):
            line = line[:-1]
        elif self._state is _State.SIZE_LINE:
            raise InvalidRequest("An aws-chunked size line does not end with CRLF.")
        return line

    def _start_chunk(self, line: bytes) -> None:
        size_text, _, ext = line.partition(b";")
        try:
            text = size_text.decode("ascii").strip()
            if not text or any(c not in "0123456789abcdefABCDEF" for c in text):
                raise ValueError(text)
            size = int(text, 16)
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidRequest("Invalid aws-chunked chunk size.") from exc
        self._chunk_sig = ""
        if self._signed:
            name, eq, value = ext.partition(b"=")
            if name.strip() != b"chunk-signature" or not eq:
                raise InvalidRequest("A signed aws-chunked chunk lacks its chunk-signature.")
            self._chunk_sig = value.strip().decode("ascii", "replace")
        limit = self._p.decoded_content_length
        if limit is not None and self._decoded + size > limit:
            raise InvalidRequest("The decoded body is longer than x-amz-decoded-content-length.")
        self._chunk_sha = hashlib.sha256()
        self._remaining = size
        if size == 0:
            self._end_chunk()
            # Trailer lines (none without -TRAILER mode) up to an empty line end the body.
            self._state = _State.TRAILER
        else:
            self._state = _State.DATA

    def _consume(self, piece: bytes) -> None:
        self._decoded += len(piece)
        if self._signed:
            self._chunk_sha.update(piece)
        for v in self._verifiers.values():
            v.update(piece)

    def _end_chunk(self) -> None:
        if not self._signed:
            return
        sts = chunk_string_to_sign(
            self._p.amz_date, self._p.scope, self._prev_sig, self._chunk_sha.hexdigest()
        )
        expected = sign(self._p.signing_key, sts)
        if not signatures_equal(expected, self._chunk_sig):
            raise SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the signature you provided."
            )
        self._prev_sig = expected

    def finish(self) -> ChunkedResult:
        """Call at end of body: check completeness, length, trailers and checksums."""
        if self._state is _State.TRAILER and len(self._buf) <= MAX_LINE:
            # The body ended after the final chunk without the closing empty line. Some
            # clients do this; nothing is lost (the length, signatures and checksums are
            # still checked), so accept it, taking any unterminated line as the last one.
            last = bytes(self._buf).rstrip(b"\r\n")
            self._buf.clear()
            if last:
                self._trailer_lines.append(last)
            self._state = _State.DONE
        if self._state is not _State.DONE:
            raise IncompleteBody("The request body terminated unexpectedly.")
        expected_len = self._p.decoded_content_length
        if expected_len is not None and self._decoded != expected_len:
            raise IncompleteBody(
                "You did not provide the number of bytes specified by x-amz-decoded-content-length."
            )
        trailers: dict[str, str] = {}
        trailer_sig: str | None = None
        canonical = b""
        for line in self._trailer_lines:
            name_b, colon, value_b = line.partition(b":")
            if not colon:
                raise InvalidRequest("Malformed aws-chunked trailer line.")
            name = name_b.decode("ascii", "replace").strip().lower()
            value = value_b.decode("ascii", "replace").strip()
            if name == "x-amz-trailer-signature":
                trailer_sig = value
                continue
            if name in trailers:
                raise InvalidRequest(f"Duplicate trailer {name}.")
            trailers[name] = value
            canonical += f"{name}:{value}\n".encode("ascii", "replace")
        if not self._has_trailer and trailers:
            raise InvalidRequest("Trailing headers in a body without -TRAILER mode.")
        if self._p.mode is PayloadMode.STREAMING_SIGNED_TRAILER:
            if trailer_sig is None:
                raise SignatureDoesNotMatch("The trailer signature is missing.")
            sts = trailer_string_to_sign(
                self._p.amz_date,
                self._p.scope,
                self._prev_sig,
                hashlib.sha256(canonical).hexdigest(),
            )
            if not signatures_equal(sign(self._p.signing_key, sts), trailer_sig):
                raise SignatureDoesNotMatch(
                    "The trailer signature we calculated does not match the one you provided."
                )
        elif trailer_sig is not None:
            raise InvalidRequest("x-amz-trailer-signature in an unsigned trailer.")
        for name in self._p.declared_trailers:
            if name not in trailers:
                raise InvalidRequest(f"The declared trailer {name} was not sent.")
        for name in trailers:
            if name not in self._p.declared_trailers:
                raise InvalidRequest(f"The trailer {name} was not declared in x-amz-trailer.")
        checksums: dict[str, str] = {}
        for alg, verifier in self._verifiers.items():
            trailer_value = trailers.get("x-amz-checksum-" + alg.lower())
            checksums[alg] = verifier.verify(trailer_value)
        return ChunkedResult(self._decoded, checksums, trailers)


def encode_aws_chunked(
    data: bytes,
    chunk_size: int,
    *,
    params: ChunkedParams | None = None,
    trailers: Mapping[str, str] | None = None,
) -> bytes:
    """Encode `data` as aws-chunked (the client side; for tests and tools).

    With `params` in a signed mode the chunks (and trailer) are signed from its
    seed signature; otherwise the framing is unsigned.
    """
    signed = params is not None and params.mode in (
        PayloadMode.STREAMING_SIGNED,
        PayloadMode.STREAMING_SIGNED_TRAILER,
    )
    prev = params.seed_signature if params is not None else ""
    out = bytearray()
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        head = f"{len(piece):x}".encode()
        if signed:
            assert params is not None
            sts = chunk_string_to_sign(
                params.amz_date, params.scope, prev, hashlib.sha256(piece).hexdigest()
            )
            prev = sign(params.signing_key, sts)
            head += f";chunk-signature={prev}".encode()
        out += head + b"\r\n" + piece
        if piece:
            out += b"\r\n"
    canonical = "".join(f"{k.lower()}:{v}\n" for k, v in (trailers or {}).items())
    for k, v in (trailers or {}).items():
        out += f"{k.lower()}:{v}\r\n".encode()
    if signed and params is not None and params.mode is PayloadMode.STREAMING_SIGNED_TRAILER:
        sts = trailer_string_to_sign(
            params.amz_date, params.scope, prev, hashlib.sha256(canonical.encode()).hexdigest()
        )
        out += f"x-amz-trailer-signature:{sign(params.signing_key, sts)}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


__all__ = [
    "EMPTY_SHA256",
    "ChunkedDecoder",
    "ChunkedParams",
    "ChunkedResult",
    "encode_aws_chunked",
    "params_from_request",
]
