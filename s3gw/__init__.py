"""The S3 gateway. Its pure core (no grid, no server):

* `s3gw.errors`: every S3 error (code, status, message) and `render_error`;
  `from_exception` maps lafs_core errors and anything unmapped.
* `s3gw.auth`: SigV4 verification (`verify_request`), the aws-chunked decoder
  and `PayloadReader`, which decodes and verifies an object body.
* `s3gw.checksums`, `s3gw.etag`: the x-amz-checksum-* algorithms and ETags.
* `s3gw.routes`: (method, host, path, query, headers) -> operation, bucket, key.
* `s3gw.xml`: S3 XML documents out, strict request bodies in.
* `s3gw.listing`, `s3gw.ranges`, `s3gw.conditions`, `s3gw.headers`,
  `s3gw.parts`: listing pages, Range, conditional requests, object header
  rules and multipart completion rules.
* `s3gw.bucket_index`: `BucketIndex`, a bucket's keys -> `IndexEntry` as a
  B-link tree of directories on the grid.
"""

from s3gw.bucket_index import BucketIndex, IndexEntry, IndexPage
from s3gw.errors import S3Error, from_exception, render_error

__all__ = ["BucketIndex", "IndexEntry", "IndexPage", "S3Error", "from_exception", "render_error"]
