"""Object header rules: metadata, stored headers, overrides, tagging, copy source."""

from __future__ import annotations

import pytest

from s3gw.errors import S3Error
from s3gw.headers import (
    CopySource,
    check_copy_to_self,
    check_encryption,
    directive,
    grants_only_owner,
    header_values,
    metadata_headers,
    parse_copy_source,
    parse_object_attributes,
    parse_part_number,
    parse_tagging_header,
    response_overrides,
    storage_class,
    stored_headers,
    user_metadata,
)


def code(fn: object, *args: object) -> str:
    with pytest.raises(S3Error) as info:
        fn(*args)  # type: ignore[operator]
    return info.value.code


def test_user_metadata() -> None:
    meta = user_metadata({"X-Amz-Meta-Color": "Blue", "x-amz-meta-é": "ü", "Content-Type": "t"})
    assert meta == {"color": "Blue", "é": "ü"}
    assert metadata_headers(meta) == {"x-amz-meta-color": "Blue", "x-amz-meta-é": "ü"}
    user_metadata({"x-amz-meta-k": "v" * 2047})
    assert code(user_metadata, {"x-amz-meta-k": "v" * 2048}) == "MetadataTooLarge"


def test_stored_headers_drop_aws_chunked() -> None:
    kept = stored_headers(
        {
            "Content-Type": "text/plain",
            "Content-Encoding": "aws-chunked",
            "Cache-Control": "no-cache",
            "Authorization": "x",
        }
    )
    assert kept == {"content-type": "text/plain", "cache-control": "no-cache"}
    kept = stored_headers({"Content-Encoding": "gzip, aws-chunked"})
    assert kept == {"content-encoding": "gzip"}


def test_response_overrides() -> None:
    q = {
        "response-content-type": "a/b",
        "response-content-disposition": "attachment",
        "x-id": "GetObject",
    }
    assert response_overrides(q) == {"Content-Type": "a/b", "Content-Disposition": "attachment"}


def test_tagging_header() -> None:
    assert parse_tagging_header("a=1&b%20c=d%2Be&empty=") == [
        ("a", "1"),
        ("b c", "d+e"),
        ("empty", ""),
    ]
    assert code(parse_tagging_header, "a=1&a=2") == "InvalidTag"


@pytest.mark.parametrize(
    "value, expected",
    [
        ("src/key", CopySource("src", "key")),
        ("/src/dir/k%C3%A9%20y", CopySource("src", "dir/ké y")),
        ("src/a%2Bb?versionId=null", CopySource("src", "a+b")),
        ("src//double", CopySource("src", "/double")),
    ],
)
def test_copy_source(value: str, expected: CopySource) -> None:
    assert parse_copy_source(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("src", "InvalidArgument"),
        ("/src/", "InvalidArgument"),
        ("", "InvalidArgument"),
        ("src/k%FF", "InvalidArgument"),
        ("src/k?versionId=abc", "NotImplemented"),
    ],
)
def test_copy_source_errors(value: str, expected: str) -> None:
    assert code(parse_copy_source, value) == expected


def test_directives_and_copy_to_self() -> None:
    assert directive({}, "x-amz-metadata-directive") == "COPY"
    assert (
        directive({"X-Amz-Metadata-Directive": "replace"}, "x-amz-metadata-directive") == "REPLACE"
    )
    assert (
        code(directive, {"x-amz-tagging-directive": "MOVE"}, "x-amz-tagging-directive")
        == "InvalidArgument"
    )
    src = CopySource("b", "k")
    check_copy_to_self(src, "b", "other", {})
    check_copy_to_self(src, "b", "k", {"x-amz-metadata-directive": "REPLACE"})
    assert code(check_copy_to_self, src, "b", "k", {}) == "InvalidRequest"


def test_storage_class_and_part_number() -> None:
    assert storage_class({}) == "STANDARD"
    assert storage_class({"x-amz-storage-class": "STANDARD_IA"}) == "STANDARD_IA"
    assert code(storage_class, {"x-amz-storage-class": "FAST"}) == "InvalidStorageClass"
    assert parse_part_number("1") == 1 and parse_part_number("10000") == 10000
    for bad in (None, "0", "10001", "x", "-1"):
        assert code(parse_part_number, bad) == "InvalidArgument"
    assert header_values([("A", "1"), ("b", "2"), ("a", "3")], "a") == ["1", "3"]


def test_object_attributes_header() -> None:
    assert parse_object_attributes("ETag, ObjectSize") == {"ETag", "ObjectSize"}
    for bad in (None, "", " , ", "ETag,Owner"):
        with pytest.raises(S3Error) as info:
            parse_object_attributes(bad)
        assert info.value.code == "InvalidArgument"


def test_encryption() -> None:
    check_encryption({}, writing=True)
    check_encryption({"X-Amz-Server-Side-Encryption": "AES256"}, writing=True)

    def refused(headers: dict[str, str], writing: bool = True) -> str:
        with pytest.raises(S3Error) as info:
            check_encryption(headers, writing=writing)
        return info.value.code

    assert refused({"x-amz-server-side-encryption": "aws:kms"}) == "NotImplemented"
    assert refused({"x-amz-server-side-encryption": "aws:kms:dsse"}) == "NotImplemented"
    assert refused({"x-amz-server-side-encryption": "ROT13"}) == "InvalidArgument"
    customer = {"x-amz-server-side-encryption-customer-algorithm": "AES256"}
    assert refused(customer) == "NotImplemented"
    assert refused(customer, writing=False) == "InvalidRequest"
    copy_source = {"x-amz-copy-source-server-side-encryption-customer-key": "k"}
    assert refused(copy_source) == "NotImplemented"


def test_only_the_owners_own_acl() -> None:
    assert grants_only_owner({})
    assert grants_only_owner({"X-Amz-Acl": "private"})
    assert grants_only_owner({"x-amz-acl": " Bucket-Owner-Full-Control "})
    for refused in (
        {"x-amz-acl": "public-read"},
        {"x-amz-acl": "authenticated-read"},
        {"x-amz-grant-read": 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'},
        {"x-amz-acl": "private", "x-amz-grant-full-control": "id=someone"},
    ):
        assert not grants_only_owner(refused)
