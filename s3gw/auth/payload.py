"""One sans-IO reader for an object body: framing, integrity checks, size and ETag.

The handlers of PutObject and UploadPart feed it the raw request body in
any pieces and store what `feed` returns; `finish` then proves the body:

* aws-chunked bodies (``x-amz-content-sha256: STREAMING-*``) are decoded
  by `ChunkedDecoder` (chunk and trailer signatures, trailing checksums); the
  object's size is ``x-amz-decoded-content-length``;
* other bodies are ``Content-Length`` bytes; a declared hex
  ``x-amz-content-sha256`` is verified (XAmzContentSHA256Mismatch);
* ``Content-Md5`` (BadDigest / InvalidDigest) and an ``x-amz-checksum-*``
  header (BadDigest) are verified against the decoded bytes;
* the MD5 for the ETag is computed on the way, and S3's default checksum when
  the request sends none.

Nothing is final until `finish` returns: the caller must not commit before.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from s3gw.auth.chunked import ChunkedDecoder, params_from_request
from s3gw.auth.sigv4 import AuthResult, PayloadMode, PayloadSha256Verifier
from s3gw.checksums import (
    ChecksumVerifier,
    ContentMD5Verifier,
    algorithm_of_header,
    check_checksum_header_names,
)
from s3gw.errors import (
    EntityTooLarge,
    IncompleteBody,
    InvalidArgument,
    InvalidRequest,
    MissingContentLength,
)
from s3gw.etag import Md5Etag

MAX_PUT_SIZE = 5 * 1024**3  # PutObject and UploadPart: 5 GiB


@dataclass(frozen=True)
class PayloadResult:
    """A verified body: its size, hex MD5 (the single-part ETag) and checksums (alg -> b64)."""

    size: int
    md5_hex: str
    checksums: dict[str, str] = field(default_factory=dict)

    @property
    def content_md5(self) -> str:
        return base64.b64encode(bytes.fromhex(self.md5_hex)).decode("ascii")


class PayloadReader:
    """Decode and verify one request body (see the module docstring).

    `headers` are the request headers (any case). Raises at construction
    MissingContentLength, EntityTooLarge (over `max_size`), InvalidArgument,
    InvalidRequest (several checksum headers) or InvalidDigest; from `feed`
    and `finish` the errors of `ChunkedDecoder`, IncompleteBody,
    XAmzContentSHA256Mismatch and BadDigest.

    `declared_checksum` is the algorithm the request's checksum header or trailer names;
    when it names none, `default_checksum` (if given) is computed instead;
    `extra_checksum` (if given) is computed whatever it names.

    `auth` None: a body no signature covers, whose size is known only at its end (a
    browser upload's file; `headers` are then its form's fields): `expected_size` is None.
    """

    def __init__(
        self,
        auth: AuthResult | None,
        headers: Mapping[str, str],
        *,
        max_size: int = MAX_PUT_SIZE,
        default_checksum: str | None = None,
        extra_checksum: str | None = None,
    ) -> None:
        lower = {k.lower(): v for k, v in headers.items()}
        self._chunked: ChunkedDecoder | None = None
        self._sha: PayloadSha256Verifier | None = None
        self._checksums: dict[str, ChecksumVerifier] = {}
        trailer_names = [t.strip().lower() for t in lower.get("x-amz-trailer", "").split(",")]
        check_checksum_header_names([*lower, *trailer_names])
        checksum_headers = [n for n in lower if algorithm_of_header(n) is not None]
        declared = checksum_headers + [t for t in trailer_names if t]
        if len(declared) > 1:
            raise InvalidRequest(
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are "
                "not allowed."
            )
        sdk_alg = lower.get("x-amz-sdk-checksum-algorithm")
        if (
            sdk_alg is not None
            and declared
            and algorithm_of_header(declared[0]) != (sdk_alg.strip().upper())
        ):
            raise InvalidRequest("Value for x-amz-sdk-checksum-algorithm header is invalid.")
        self.declared_checksum = algorithm_of_header(declared[0]) if declared else None
        self.expected_size: int | None = None
        self._max_size = max_size
        if auth is not None and auth.payload_mode.is_streaming:
            params = params_from_request(auth, lower)
            assert params.decoded_content_length is not None
            self.expected_size = params.decoded_content_length
            self._chunked = ChunkedDecoder(params)
        else:
            if auth is not None:
                raw_len = lower.get("content-length")
                if raw_len is None:
                    raise MissingContentLength()
                if not raw_len.strip().isdigit():
                    raise InvalidArgument("Content-Length is not a valid number.")
                self.expected_size = int(raw_len)
            if auth is not None and auth.payload_mode is PayloadMode.SIGNED:
                assert auth.payload_sha256 is not None
                self._sha = PayloadSha256Verifier(auth.payload_sha256)
            for name in checksum_headers:
                alg = algorithm_of_header(name)
                assert alg is not None
                self._checksums[alg] = ChecksumVerifier(alg, lower[name])
        computed = None
        if extra_checksum is not None and extra_checksum != self.declared_checksum:
            computed = extra_checksum
        elif self.declared_checksum is None:
            computed = default_checksum
        self._computed = ChecksumVerifier(computed) if computed is not None else None
        if self.expected_size is not None and self.expected_size > max_size:
            raise EntityTooLarge(
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=str(self.expected_size),
                MaxSizeAllowed=str(max_size),
            )
        md5_header = lower.get("content-md5")
        self._content_md5 = ContentMD5Verifier(md5_header) if md5_header is not None else None
        self._etag = Md5Etag()
        self._etag_here = True
        self._size = 0
        self._verified: dict[str, str] | None = None  # the checksums, once `verify` passed

    def take_etag(self) -> Md5Etag:
        """Hand the ETag's MD5 (the slowest check) to the caller, to run beside the others:
        the caller then updates it with every byte `feed` returns, in order, before `finish`
        (after `verify` too, when `etag_may_follow`)."""
        self._etag_here = False
        return self._etag

    def feed(self, raw: bytes) -> bytes:
        """Consume raw body bytes; return the object bytes they complete."""
        data = self._chunked.feed(raw) if self._chunked is not None else raw
        if not data:
            return b""
        self._size += len(data)
        if self.expected_size is None:
            if self._size > self._max_size:
                raise EntityTooLarge(
                    "Your proposed upload exceeds the maximum allowed size",
                    MaxSizeAllowed=str(self._max_size),
                )
        elif self._size > self.expected_size:
            raise InvalidRequest("The body is longer than its declared length.")
        if self._etag_here:
            self._etag.update(data)
        if self._sha is not None:
            self._sha.update(data)
        for v in self._checksums.values():
            v.update(data)
        if self._computed is not None:
            self._computed.update(data)
        return data

    @property
    def size(self) -> int:
        """Object bytes fed so far."""
        return self._size

    @property
    def etag_may_follow(self) -> bool:
        """No Content-MD5 to check: the body is proven without its MD5, so the ETag may be
        computed after `verify`, beside the upload (`take_etag`)."""
        return self._content_md5 is None

    def verify(self) -> None:
        """At end of body: every check but Content-MD5's (see `finish`); once."""
        if self._verified is not None:
            return
        checksums: dict[str, str] = {}
        if self._chunked is not None:
            checksums.update(self._chunked.finish().checksums)
        if self.expected_size is not None and self._size != self.expected_size:
            raise IncompleteBody()
        if self._sha is not None:
            self._sha.verify()
        for alg, v in self._checksums.items():
            checksums[alg] = v.verify()
        if self._computed is not None:
            checksums[self._computed.algorithm] = self._computed.b64digest()
        self._verified = checksums

    def finish(self) -> PayloadResult:
        """At end of body, with the ETag's MD5 fed every byte: verify everything; return
        size, MD5 and checksums."""
        self.verify()
        assert self._verified is not None
        if self._content_md5 is not None:
            self._content_md5.verify(self._etag.digest())
        return PayloadResult(self._size, self._etag.etag(), self._verified)


__all__ = ["MAX_PUT_SIZE", "PayloadReader", "PayloadResult"]
