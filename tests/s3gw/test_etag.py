"""ETags: MD5 hex, and MD5-of-part-MD5s with -N, checked against boto3-style definitions."""

from __future__ import annotations

import hashlib

import pytest

from s3gw.etag import Md5Etag, md5_etag, multipart_etag, quote, strip_quotes


def test_single_part() -> None:
    assert md5_etag(b"") == "d41d8cd98f00b204e9800998ecf8427e"
    e = Md5Etag()
    e.update(b"hello ")
    e.update(b"world")
    assert e.etag() == md5_etag(b"hello world") == "5eb63bbbe01eeed093cb22bb8f5acdc3"


def test_multipart() -> None:
    parts = [b"a" * (5 << 20), b"b" * 100]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-2"
    assert multipart_etag([md5_etag(p) for p in parts]) == expected
    assert multipart_etag([f'"{md5_etag(p)}"' for p in parts]) == expected
    # One part still gets "-1".
    assert multipart_etag([md5_etag(b"x")]).endswith("-1")
    with pytest.raises(ValueError):
        multipart_etag([])
    with pytest.raises(ValueError):
        multipart_etag(["not-md5"])


def test_quotes() -> None:
    assert quote("abc") == quote('"abc"') == '"abc"'
    assert strip_quotes(' "abc" ') == "abc"
