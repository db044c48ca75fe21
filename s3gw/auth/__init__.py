"""SigV4 (and legacy SigV2) authentication and request-body decoding, as pure code.

How a handler uses it, per request::

    bucket = routes.bucket_from_host(host, base_domains)      # SigV2 signs it
    auth = verify_request(method, raw_path, raw_query, header_pairs, lookup_secret,
                          now, region=cfg.region, virtual_host_bucket=bucket)
    # for a body that is stored (PutObject, UploadPart) or parsed (XML bodies):
    reader = PayloadReader(auth, headers, max_size=...)
    async for raw in request.stream():
        spool.write(reader.feed(raw))                          # decoded bytes only
    result = reader.finish()   # raises before anything is committed
    # result.size, result.md5_hex (the ETag), result.checksums (alg -> base64)

`raw_path` is ASGI ``scope["raw_path"]`` and `raw_query` ``scope["query_string"]``
(both as received); `header_pairs` the raw header list decoded as latin-1.
"""

from s3gw.auth.chunked import ChunkedDecoder, ChunkedParams, ChunkedResult, params_from_request
from s3gw.auth.payload import PayloadReader, PayloadResult
from s3gw.auth.sigv4 import AuthResult, PayloadMode, PayloadSha256Verifier, verify_request

__all__ = [
    "AuthResult",
    "ChunkedDecoder",
    "ChunkedParams",
    "ChunkedResult",
    "PayloadMode",
    "PayloadReader",
    "PayloadResult",
    "PayloadSha256Verifier",
    "params_from_request",
    "verify_request",
]
