"""Browser uploads (PostObject): forms made by boto3's generate_presigned_post, sent with
httpx to a real gateway, read back with boto3."""

from __future__ import annotations

import base64
import hashlib
import os
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from botocore.exceptions import ClientError

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
TAGGING = "<Tagging><TagSet><Tag><Key>kind</Key><Value>cat</Value></Tag></TagSet></Tagging>"


def _post(post: dict, content: bytes, filename: str = "photo.jpg", **extra: str) -> httpx.Response:
    fields = {**post["fields"], **extra}
    return httpx.post(post["url"], data=fields, files={"file": (filename, content)})


def _error(response: httpx.Response) -> tuple[int, str, str]:
    root = ET.fromstring(response.content)
    return response.status_code, root.findtext("Code") or "", root.findtext("Message") or ""


def _keys(s3, bucket: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.fixture
def s3v4(gateway):  # type: ignore[no-untyped-def]
    return gateway.s3(signature_version="s3v4")


def test_sigv2_form_upload(s3, bucket) -> None:
    """boto3's default form (AWSAccessKeyId, signature): 204, the object's ETag and URL."""
    body = os.urandom(1000)
    response = _post(s3.generate_presigned_post(bucket, "uploads/a.bin"), body)
    assert response.status_code == 204, response.text
    assert response.headers["etag"] == f'"{hashlib.md5(body).hexdigest()}"'
    assert response.headers["location"].endswith(f"/{bucket}/uploads/a.bin")
    assert response.headers["x-amz-server-side-encryption"] == "AES256"
    got = s3.get_object(Bucket=bucket, Key="uploads/a.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == response.headers["etag"]


def test_sigv4_form_with_fields_and_conditions(s3v4, bucket) -> None:
    """${filename}, Content-Type and metadata fields under conditions; 201 answers XML."""
    post = s3v4.generate_presigned_post(
        bucket,
        "user/eric/${filename}",
        Fields={
            "Content-Type": "image/jpeg",
            "x-amz-meta-uuid": "14365123651274",
            "tagging": TAGGING,
        },
        Conditions=[
            ["starts-with", "$Content-Type", "image/"],
            {"x-amz-meta-uuid": "14365123651274"},
            {"tagging": TAGGING},
            ["content-length-range", 1, 1 << 20],
            ["eq", "$success_action_status", "201"],
        ],
    )
    assert post["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    body = os.urandom(300 * 1024)  # a CHK file, not inline
    response = _post(post, body, filename="cat.jpg", success_action_status="201")
    assert response.status_code == 201, response.text
    root = ET.fromstring(response.content)
    assert root.tag == f"{NS}PostResponse"
    assert root.findtext(f"{NS}Bucket") == bucket
    assert root.findtext(f"{NS}Key") == "user/eric/cat.jpg"
    assert root.findtext(f"{NS}ETag") == f'"{hashlib.md5(body).hexdigest()}"'
    assert root.findtext(f"{NS}Location") == response.headers["location"]
    got = s3v4.get_object(Bucket=bucket, Key="user/eric/cat.jpg")
    assert got["Body"].read() == body
    assert got["ContentType"] == "image/jpeg"
    assert got["Metadata"] == {"uuid": "14365123651274"}
    tags = s3v4.get_object_tagging(Bucket=bucket, Key="user/eric/cat.jpg")["TagSet"]
    assert tags == [{"Key": "kind", "Value": "cat"}]
    assert got["ResponseMetadata"]["HTTPHeaders"]["x-lafs-cap"].startswith("URI:CHK:")


def test_success_status_and_redirect(s3, bucket) -> None:
    conditions = [["starts-with", "$success_action_status", ""]]
    post = s3.generate_presigned_post(bucket, "k1", Conditions=conditions)
    assert _post(post, b"one", success_action_status="200").status_code == 200
    target = "https://app.example/done?user=7"
    conditions = [{"success_action_redirect": target}]
    post = s3.generate_presigned_post(bucket, "k2", Conditions=conditions)
    response = _post(post, b"two", success_action_redirect=target)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.netloc == "app.example" and location.path == "/done"
    query = parse_qs(location.query)
    assert query["user"] == ["7"]
    assert (query["bucket"], query["key"]) == ([bucket], ["k2"])
    assert query["etag"] == [f'"{hashlib.md5(b"two").hexdigest()}"']
    assert s3.get_object(Bucket=bucket, Key="k2")["Body"].read() == b"two"


def test_checksum_fields_are_verified(s3v4, bucket) -> None:
    """A form may carry the file's checksum, as a PUT its header: a wrong one is BadDigest
    and stores nothing; a right one is kept and answered back."""
    body = b"checked upload"
    right = base64.b64encode(hashlib.sha256(body).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    conditions = [["starts-with", "$x-amz-checksum-sha256", ""]]
    post = s3v4.generate_presigned_post(bucket, "summed", Conditions=conditions)
    refused = _post(post, body, **{"x-amz-checksum-sha256": wrong})
    assert _error(refused)[:2] == (400, "BadDigest")
    assert _keys(s3v4, bucket) == []
    assert _post(post, body, **{"x-amz-checksum-sha256": right}).status_code == 204
    head = s3v4.head_object(Bucket=bucket, Key="summed", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == right


def test_size_range_refuses_and_stores_nothing(s3v4, bucket) -> None:
    post = s3v4.generate_presigned_post(
        bucket, "sized", Conditions=[["content-length-range", 10, 200 * 1024]]
    )
    status, code, _ = _error(_post(post, os.urandom(300 * 1024)))
    assert (status, code) == (400, "EntityTooLarge")
    assert _error(_post(post, b"tiny"))[:2] == (400, "EntityTooSmall")
    assert _keys(s3v4, bucket) == []
    assert _post(post, b"just right").status_code == 204


def test_policy_violations_are_access_denied(s3, s3v4, bucket) -> None:
    post = s3v4.generate_presigned_post(
        bucket, "user/${filename}", Conditions=[["starts-with", "$key", "user/"]]
    )
    # a field the policy does not name
    status, code, message = _error(_post(post, b"x", **{"x-amz-meta-sneaky": "1"}))
    assert (status, code) == (403, "AccessDenied")
    assert message == "Invalid according to Policy: Extra input fields: x-amz-meta-sneaky"
    # an ACL other than the owner's own, even one the policy allows
    acl = s3v4.generate_presigned_post(
        bucket, "k", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}]
    )
    assert _error(_post(acl, b"x"))[:2] == (400, "AccessControlListNotSupported")
    # a key outside the allowed prefix
    status, code, message = _error(_post(post, b"x", key="admin/x"))
    assert (status, code) == (403, "AccessDenied")
    failed = '["starts-with", "$key", "user/"]'
    assert message == f"Invalid according to Policy: Policy Condition failed: {failed}"
    # an expired policy
    expired = s3v4.generate_presigned_post(bucket, "late", ExpiresIn=-60)
    assert _error(_post(expired, b"x"))[1:] == (
        "AccessDenied",
        "Invalid according to Policy: Policy expired.",
    )
    # the form's bucket is part of the policy
    other = "b-" + os.urandom(8).hex()
    s3.create_bucket(Bucket=other)
    moved = dict(post, url=post["url"].replace(bucket, other))
    assert _error(_post(moved, b"x"))[:2] == (403, "AccessDenied")
    assert _keys(s3, bucket) == [] and _keys(s3, other) == []


def test_signatures_and_keys(gateway, s3, s3v4, bucket) -> None:
    forged = gateway.s3(secret_key="not-the-secret")
    for client in (forged, gateway.s3(secret_key="not-the-secret", signature_version="s3v4")):
        response = _post(client.generate_presigned_post(bucket, "k"), b"x")
        assert _error(response)[:2] == (403, "SignatureDoesNotMatch")
    stranger = gateway.s3(access_key="GKNOSUCHKEY000000000", signature_version="s3v4")
    response = _post(stranger.generate_presigned_post(bucket, "k"), b"x")
    assert _error(response)[:2] == (403, "InvalidAccessKeyId")
    post = s3.generate_presigned_post(bucket, "k")
    fields = {k: v for k, v in post["fields"].items() if k != "policy"}
    response = httpx.post(post["url"], data=fields, files={"file": ("f", b"x")})
    assert _error(response)[:2] == (403, "AccessDenied")
    assert _keys(s3, bucket) == []


def test_malformed_forms(s3, bucket) -> None:
    post = s3.generate_presigned_post(bucket, "k")
    url = post["url"]
    # not a form
    response = httpx.post(url, content=b"data", headers={"content-type": "text/plain"})
    assert _error(response)[:2] == (412, "PreconditionFailed")
    # no file
    response = httpx.post(url, files={**{k: (None, v) for k, v in post["fields"].items()}})
    assert _error(response)[:2] == (400, "IncorrectNumberOfFilesInPostRequest")
    # the key after the file: S3 reads only the fields before it
    fields = [(k, (None, v)) for k, v in post["fields"].items() if k != "key"]
    response = httpx.post(url, files=[*fields, ("file", ("f", b"x")), ("key", (None, "k"))])
    status, code, message = _error(response)
    assert (status, code) == (400, "InvalidArgument")
    assert message.startswith("Bucket POST must contain a field named 'key'.")
    # fields before the file over 20 KB
    response = _post(post, b"x", **{"x-ignore-padding": "p" * 21 * 1024})
    assert _error(response)[:2] == (400, "MaxPostPreDataLengthExceeded")
    # a body cut inside the file
    boundary = "b0undary"
    head = "".join(
        f'--{boundary}\r\ncontent-disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in post["fields"].items()
    )
    head += f'--{boundary}\r\ncontent-disposition: form-data; name="file"; filename="f"\r\n\r\n'
    response = httpx.post(
        url,
        content=head.encode() + b"partial file",
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert _error(response)[:2] == (400, "MalformedPOSTRequest")
    assert _keys(s3, bucket) == []


def test_another_accounts_bucket(gateway, s3, bucket) -> None:
    """A form signed by one account cannot write into another's bucket."""
    other = gateway.s3(*gateway.add_account("poster-" + os.urandom(3).hex()))
    response = _post(other.generate_presigned_post(bucket, "k"), b"x")
    assert _error(response)[:2] == (403, "AccessDenied")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")
