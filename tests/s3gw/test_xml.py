"""S3 XML: rendered documents as botocore parses them; strict request-body parsing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote_plus
from xml.sax.saxutils import escape

import pytest
from botocore.handlers import (  # type: ignore[import-untyped]
    decode_list_object_v2,
    parse_get_bucket_location,
)
from botocore.serialize import create_serializer  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from s3gw import xml
from s3gw.conditions import DeleteConditions
from s3gw.errors import NoSuchKey, S3Error, SignatureDoesNotMatch, render_error
from tests.s3gw.botocore_oracle import MODEL as _MODEL
from tests.s3gw.botocore_oracle import parse_response as parse

T = datetime(2026, 11, 27, 12, 30, 15, 123456, tzinfo=UTC)
OWNER = xml.Owner("abc123", "gateway")


def entry(
    key: str, size: int = 3, etag: str = "acbd18db4cc2f85cedef654fccc4a4d8"
) -> xml.ObjectEntry:
    return xml.ObjectEntry(key, T, etag, size, owner=OWNER)


def test_format_time() -> None:
    assert xml.format_time(T) == "2026-11-27T12:30:15.123Z"
    assert xml.format_time(T.replace(microsecond=0)) == "2026-11-27T12:30:15.000Z"
    east = T.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert xml.format_time(east) == "2026-11-27T12:30:15.123Z"


def test_contents_row_and_kept_rows_render_alike() -> None:
    e = xml.ObjectEntry("a b&<c>", T, "abc-2", 7, owner=OWNER)
    assert xml.contents_row(e, None, False) == (
        "<Contents><Key>a b&amp;&lt;c&gt;</Key><LastModified>2026-11-27T12:30:15.123Z"
        '</LastModified><ETag>"abc-2"</ETag><Size>7</Size>'
        "<StorageClass>STANDARD</StorageClass></Contents>"
    )
    assert "<Key>a+b%26%3Cc%3E</Key>" in xml.contents_row(e, "url", False)
    owned = xml.contents_row(e, None, True)
    assert "<Owner><ID>abc123</ID><DisplayName>gateway</DisplayName></Owner>" in owned
    assert "Owner" not in xml.contents_row(xml.ObjectEntry("k", T, "e", 1), None, True)
    common = {"bucket": "b", "prefix": "", "delimiter": None, "max_keys": 2}
    common |= {"is_truncated": False, "common_prefixes": [], "encoding_type": "url"}
    kept = xml.contents_row(e, "url", True)
    assert xml.render_list_objects_v2(contents=[e, kept], fetch_owner=True, **common) == (
        xml.render_list_objects_v2(contents=[e, e], fetch_owner=True, **common)
    )


def test_list_buckets() -> None:
    p = parse("ListBuckets", xml.render_list_buckets(OWNER, [("a", T), ("b-2", T)], "r-1"))
    assert [b["Name"] for b in p["Buckets"]] == ["a", "b-2"]
    assert p["Buckets"][0]["CreationDate"] == T.replace(microsecond=123000)
    assert p["Buckets"][0]["BucketRegion"] == "r-1"
    assert p["Owner"] == {"ID": "abc123", "DisplayName": "gateway"}
    assert "ContinuationToken" not in p and "Prefix" not in p
    body = xml.render_list_buckets(OWNER, [], "r-1", prefix="a", continuation_token="t")
    p = parse("ListBuckets", body)
    assert (p["Buckets"], p["Prefix"], p["ContinuationToken"]) == ([], "a", "t")


KEYS = ["plain", "a b+c", "ü/日本", "x&<>\"'", "100%/%20", "tab\there"]


def test_list_objects_v2() -> None:
    body = xml.render_list_objects_v2(
        bucket="bk",
        prefix="",
        delimiter="/",
        max_keys=1000,
        is_truncated=True,
        contents=[entry(k) for k in KEYS],
        common_prefixes=["dir/", "ü/"],
        continuation_token="tok1",
        next_continuation_token="tok2",
        start_after="a",
        fetch_owner=True,
    )
    p = parse("ListObjectsV2", body)
    assert [c["Key"] for c in p["Contents"]] == KEYS
    assert p["Contents"][0]["ETag"] == '"acbd18db4cc2f85cedef654fccc4a4d8"'
    assert p["Contents"][0]["Size"] == 3 and p["Contents"][0]["Owner"]["ID"] == "abc123"
    assert p["Contents"][0]["LastModified"] == T.replace(microsecond=123000)
    assert [c["Prefix"] for c in p["CommonPrefixes"]] == ["dir/", "ü/"]
    assert p["KeyCount"] == len(KEYS) + 2 and p["IsTruncated"] is True
    assert p["NextContinuationToken"] == "tok2" and p["StartAfter"] == "a"
    no_owner = parse(
        "ListObjectsV2",
        xml.render_list_objects_v2(
            bucket="bk",
            prefix="",
            delimiter=None,
            max_keys=1,
            is_truncated=False,
            contents=[entry("k")],
            common_prefixes=[],
        ),
    )
    assert "Owner" not in no_owner["Contents"][0]
    assert "NextContinuationToken" not in no_owner


@pytest.mark.parametrize("key", KEYS + ["ctrl\x01\x1fchar", "+plus", "sp ace"])
def test_encoding_type_url_round_trips_through_botocore(key: str) -> None:
    body = xml.render_list_objects_v2(
        bucket="bk",
        prefix=key,
        delimiter="/",
        max_keys=5,
        is_truncated=False,
        contents=[entry(key)],
        common_prefixes=[key + "/"],
        start_after=key,
        encoding_type="url",
    )
    p = parse("ListObjectsV2", body)
    decode_list_object_v2(p, {"encoding_type_auto_set": True})
    assert p["Contents"][0]["Key"] == key
    assert p["CommonPrefixes"][0]["Prefix"] == key + "/"
    assert p["Prefix"] == key and p["StartAfter"] == key


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("az09_.~/-+ %&é\x7f")) | st.text())
def test_url_encoded_key_is_quote_plus(key: str) -> None:
    """Keys of quote_plus's safe characters skip it; the result is the same for every key."""
    row = xml.contents_row(entry(key), "url", False)
    assert f"<Key>{escape(quote_plus(key, safe='/'))}</Key>" in row


def test_list_objects_v1() -> None:
    body = xml.render_list_objects_v1(
        bucket="bk",
        prefix="p",
        marker="m",
        delimiter="/",
        max_keys=2,
        is_truncated=True,
        next_marker="p/z",
        contents=[entry("p1"), entry("p2")],
        common_prefixes=["p/"],
    )
    p = parse("ListObjects", body)
    assert p["Marker"] == "m" and p["NextMarker"] == "p/z" and p["MaxKeys"] == 2
    assert [c["Key"] for c in p["Contents"]] == ["p1", "p2"]
    assert p["Contents"][0]["Owner"]["DisplayName"] == "gateway"
    nodelim = parse(
        "ListObjects",
        xml.render_list_objects_v1(
            bucket="bk",
            prefix="",
            marker="",
            delimiter=None,
            max_keys=2,
            is_truncated=True,
            next_marker="x",
            contents=[entry("a")],
            common_prefixes=[],
        ),
    )
    assert "NextMarker" not in nodelim  # S3 sends it only with a delimiter


def test_control_characters_are_escaped_not_dropped() -> None:
    body = xml.render_list_objects_v2(
        bucket="bk",
        prefix="",
        delimiter=None,
        max_keys=5,
        is_truncated=False,
        contents=[entry("a\x01b")],
        common_prefixes=[],
    )
    assert b"a&#x1;b" in body


def test_copy_and_multipart_results() -> None:
    p = parse("CopyObject", xml.render_copy_object_result("abc", T))
    assert p["CopyObjectResult"]["ETag"] == '"abc"'
    p = parse("UploadPartCopy", xml.render_copy_object_result("abc", T, part=True))
    assert p["CopyPartResult"]["ETag"] == '"abc"'
    p = parse("CreateMultipartUpload", xml.render_initiate_multipart_upload("b", "k é", "U1"))
    assert (p["Bucket"], p["Key"], p["UploadId"]) == ("b", "k é", "U1")
    p = parse(
        "CompleteMultipartUpload",
        xml.render_complete_multipart_upload("http://h/b/k", "b", "k", "abc-2"),
    )
    assert p["ETag"] == '"abc-2"' and p["Location"] == "http://h/b/k"


def test_list_parts_and_uploads() -> None:
    parts = [xml.PartEntry(1, T, "e1", 5 << 20), xml.PartEntry(2, T, "e2", 10)]
    p = parse(
        "ListParts",
        xml.render_list_parts(
            bucket="b",
            key="k",
            upload_id="U",
            part_number_marker=0,
            next_part_number_marker=2,
            max_parts=1000,
            is_truncated=False,
            parts=parts,
            owner=OWNER,
        ),
    )
    assert [(x["PartNumber"], x["ETag"], x["Size"]) for x in p["Parts"]] == [
        (1, '"e1"', 5 << 20),
        (2, '"e2"', 10),
    ]
    assert p["NextPartNumberMarker"] == 2 and p["Initiator"]["ID"] == "abc123"
    uploads = [xml.UploadEntry("k1", "U1", T, OWNER), xml.UploadEntry("k2", "U2", T)]
    p = parse(
        "ListMultipartUploads",
        xml.render_list_multipart_uploads(
            bucket="b",
            key_marker="",
            upload_id_marker="",
            next_key_marker="k2",
            next_upload_id_marker="U2",
            max_uploads=2,
            is_truncated=True,
            uploads=uploads,
            common_prefixes=["d/"],
            delimiter="/",
        ),
    )
    assert [(u["Key"], u["UploadId"]) for u in p["Uploads"]] == [("k1", "U1"), ("k2", "U2")]
    assert p["IsTruncated"] is True and p["CommonPrefixes"] == [{"Prefix": "d/"}]


def test_delete_result() -> None:
    errs = [xml.DeleteError("bad", "AccessDenied", "Access Denied")]
    p = parse("DeleteObjects", xml.render_delete_result([("a", None), ("b", "null")], errs))
    assert p["Deleted"] == [{"Key": "a"}, {"Key": "b", "VersionId": "null"}]
    assert p["Errors"] == [{"Key": "bad", "Code": "AccessDenied", "Message": "Access Denied"}]
    p = parse("DeleteObjects", xml.render_delete_result([("a", None)], [], quiet=True))
    assert "Deleted" not in p


def test_tagging_and_location() -> None:
    p = parse("GetObjectTagging", xml.render_tagging([("k", "v"), ("e", "")]))
    assert p["TagSet"] == [{"Key": "k", "Value": "v"}, {"Key": "e", "Value": ""}]

    class _Resp:
        def __init__(self, content: bytes) -> None:
            self.content = content
            self.raw = object()

    for region, expected in (("eu-west-1", "eu-west-1"), (None, None), ("us-east-1", None)):
        parsed: dict[str, Any] = {}
        parse_get_bucket_location(parsed, _Resp(xml.render_location_constraint(region)))
        assert parsed["LocationConstraint"] == expected
    assert xml.render_location_constraint(None).endswith(
        b'<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>'
    )


def test_error_document_through_botocore() -> None:
    body = render_error(NoSuchKey(), "REQ123", "/b/k")
    p = parse("GetObject", body, 404)
    assert p["Error"]["Code"] == "NoSuchKey"
    assert p["Error"]["Message"] == "The specified key does not exist."
    assert b"<RequestId>REQ123</RequestId>" in body and b"<Resource>/b/k</Resource>" in body
    body = render_error(SignatureDoesNotMatch(StringToSign="a\nb<"), "R", "/b")
    assert b"<StringToSign>a\nb&lt;</StringToSign>" in body
    assert parse("PutObject", body, 403)["Error"]["Code"] == "SignatureDoesNotMatch"


# --- parsing request bodies ---------------------------------------------------------------

NSDECL = f' xmlns="{xml.NS}"'


def code(fn: Any, *args: Any) -> str:
    with pytest.raises(S3Error) as info:
        fn(*args)
    return info.value.code


def test_create_bucket_configuration() -> None:
    assert xml.parse_create_bucket_configuration(b"") is None
    body = (
        f"<CreateBucketConfiguration{NSDECL}><LocationConstraint>eu-west-1"
        "</LocationConstraint></CreateBucketConfiguration>"
    ).encode()
    assert xml.parse_create_bucket_configuration(body) == "eu-west-1"
    assert (
        xml.parse_create_bucket_configuration(
            b"<CreateBucketConfiguration><LocationConstraint/></CreateBucketConfiguration>"
        )
        is None
    )
    assert code(xml.parse_create_bucket_configuration, b"<Foo/>") == "MalformedXML"


def test_complete_multipart_from_botocore_serializer() -> None:

    op = _MODEL.operation_model("CompleteMultipartUpload")
    req = create_serializer("rest-xml").serialize_to_request(
        {
            "Bucket": "b",
            "Key": "k",
            "UploadId": "U",
            "MultipartUpload": {
                "Parts": [
                    {"PartNumber": 1, "ETag": '"e1"'},
                    {"PartNumber": 2, "ETag": "e2", "ChecksumCRC32": "AAAAAA=="},
                ]
            },
        },
        op,
    )
    assert xml.parse_complete_multipart_upload(req["body"]) == [
        (1, "e1", {}),
        (2, "e2", {"CRC32": "AAAAAA=="}),
    ]


def test_delete_from_botocore_serializer() -> None:

    op = _MODEL.operation_model("DeleteObjects")
    req = create_serializer("rest-xml").serialize_to_request(
        {
            "Bucket": "b",
            "Delete": {
                "Objects": [
                    {"Key": "a&b"},
                    {"Key": "ü", "VersionId": "v"},
                    {
                        "Key": "c",
                        "ETag": '"e1"',
                        "LastModifiedTime": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
                        "Size": 7,
                    },
                ],
                "Quiet": True,
            },
        },
        op,
    )
    conditions = DeleteConditions('"e1"', datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), 7)
    assert xml.parse_delete(req["body"]) == (
        True,
        [
            ("a&b", None, DeleteConditions()),
            ("ü", "v", DeleteConditions()),
            ("c", None, conditions),
        ],
    )


def test_tagging_from_botocore_serializer() -> None:

    op = _MODEL.operation_model("PutObjectTagging")
    req = create_serializer("rest-xml").serialize_to_request(
        {
            "Bucket": "b",
            "Key": "k",
            "Tagging": {"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": ""}]},
        },
        op,
    )
    assert xml.parse_tagging(req["body"]) == [("a", "1"), ("b", "")]


def _tagging(*pairs: tuple[str, str]) -> bytes:
    tags = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
    return f"<Tagging><TagSet>{tags}</TagSet></Tagging>".encode()


def test_tagging_rules() -> None:
    assert code(xml.parse_tagging, _tagging(("a", "1"), ("a", "2"))) == "InvalidTag"
    assert code(xml.parse_tagging, _tagging(*[(f"k{i}", "v") for i in range(11)])) == "InvalidTag"
    assert code(xml.parse_tagging, _tagging(("k" * 129, "v"))) == "InvalidTag"
    assert code(xml.parse_tagging, _tagging(("k", "v" * 257))) == "InvalidTag"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part>"
        b"</CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><Bad/></Part>"
        b"</CompleteMultipartUpload>",
        b"<CompleteMultipartUpload xmlns='urn:other'><Part><PartNumber>1</PartNumber>"
        b"<ETag>e</ETag></Part></CompleteMultipartUpload>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol2;</ETag></Part>"
        b"</CompleteMultipartUpload>",
    ],
)
def test_complete_multipart_malformed(body: bytes) -> None:
    assert code(xml.parse_complete_multipart_upload, body) == "MalformedXML"


def test_complete_part_number_range() -> None:
    body = (
        b"<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>e</ETag>"
        b"</Part></CompleteMultipartUpload>"
    )
    assert code(xml.parse_complete_multipart_upload, body) == "InvalidArgument"


def test_delete_limits() -> None:
    many = "".join(f"<Object><Key>k{i}</Key></Object>" for i in range(1001))
    assert code(xml.parse_delete, f"<Delete>{many}</Delete>".encode()) == "MalformedXML"
    assert code(xml.parse_delete, b"<Delete><Quiet>maybe</Quiet></Delete>") == "MalformedXML"
    assert code(xml.parse_delete, b"<Delete></Delete>") == "MalformedXML"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_parsers_raise_only_s3_errors(body: bytes) -> None:
    for fn in (
        xml.parse_complete_multipart_upload,
        xml.parse_delete,
        xml.parse_tagging,
        xml.parse_create_bucket_configuration,
    ):
        try:
            fn(body)
        except S3Error:
            pass


def test_delete_conditions_take_iso_times_too() -> None:
    body = (
        b"<Delete><Object><Key>k</Key><LastModifiedTime>2026-01-02T03:04:05.000Z"
        b"</LastModifiedTime></Object></Delete>"
    )
    [target] = xml.parse_delete(body)[1]
    assert target.conditions.last_modified == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    bad = body.replace(b"2026-01-02T03:04:05.000Z", b"yesterday")
    assert code(xml.parse_delete, bad) == "MalformedXML"


def test_parse_access_control_policy() -> None:
    body = (
        b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Owner><ID>abc</ID></Owner><AccessControlList>"
        b'<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:type="CanonicalUser"><ID>abc</ID><DisplayName>me</DisplayName></Grantee>'
        b"<Permission>FULL_CONTROL</Permission></Grant>"
        b'<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI>'
        b"</Grantee><Permission>READ</Permission></Grant>"
        b"</AccessControlList></AccessControlPolicy>"
    )
    assert xml.parse_access_control_policy(body) == [("abc", "FULL_CONTROL"), (None, "READ")]
    with pytest.raises(S3Error) as exc:
        xml.parse_access_control_policy(b"<AccessControlPolicy><Grant/></AccessControlPolicy>")
    assert exc.value.code == "MalformedXML"
