"""Buckets and listings through a real gateway, driven by boto3."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_bucket_lifecycle(s3) -> None:
    name = "life-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    s3.head_bucket(Bucket=name)
    assert s3.get_bucket_location(Bucket=name).get("LocationConstraint") is None
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert _code(exc) == "BucketAlreadyOwnedByYou"
    s3.put_object(Bucket=name, Key="k", Body=b"v")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket=name)
    assert _code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket=name)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        s3.list_objects_v2(Bucket=name)
    assert _code(exc) == "NoSuchBucket"
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("name", ["ab", "UPPER", "-dash", "a_b", "192.168.1.1", "a..b", "x" * 64])
def test_invalid_bucket_names(s3, name: str) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name)
    assert _code(exc) == "InvalidBucketName"


def test_location_constraint(s3) -> None:
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(
            Bucket="loc-" + uuid.uuid4().hex[:12],
            CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
        )
    assert _code(exc) == "IllegalLocationConstraintException"


def test_buckets_belong_to_their_account(gateway, s3, bucket) -> None:
    other = gateway.s3(*gateway.add_account("other-" + uuid.uuid4().hex[:6]))
    s3.put_object(Bucket=bucket, Key="private", Body=b"mine")
    for call in (
        lambda: other.get_object(Bucket=bucket, Key="private"),
        lambda: other.put_object(Bucket=bucket, Key="x", Body=b""),
        lambda: other.list_objects_v2(Bucket=bucket),
        lambda: other.delete_bucket(Bucket=bucket),
        lambda: other.get_bucket_acl(Bucket=bucket),
        lambda: other.get_object_acl(Bucket=bucket, Key="private"),
        lambda: other.get_bucket_versioning(Bucket=bucket),
        lambda: other.get_bucket_policy(Bucket=bucket),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        other.create_bucket(Bucket=bucket)
    assert _code(exc) == "BucketAlreadyExists"
    assert bucket not in [b["Name"] for b in other.list_buckets()["Buckets"]]


def test_list_objects_v1_and_v2(s3, bucket) -> None:
    keys = ["a/1", "a/2", "a/b/3", "b", "c/4", "c/5", "d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    v2 = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in v2["Contents"]] == ["b", "d"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/", "c/"]
    assert v2["KeyCount"] == 4
    v2 = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in v2["Contents"]] == ["a/1", "a/2"]
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/b/"]
    # pagination: v2 continuation tokens and start-after, v1 markers
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, **kw)
        seen += [o["Key"] for o in page.get("Contents", [])]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == keys
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, StartAfter="c/4")["Contents"]] == [
        "c/5",
        "d",
    ]
    v1 = s3.list_objects(Bucket=bucket, Marker="a/b/3", MaxKeys=2)
    assert [o["Key"] for o in v1["Contents"]] == ["b", "c/4"] and v1["IsTruncated"]
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert v1["IsTruncated"] and v1["NextMarker"] == "b"
    owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"][0]["Owner"]
    assert owner["DisplayName"] == "root"
    entry = s3.list_objects_v2(Bucket=bucket, Prefix="d")["Contents"][0]
    assert entry["Size"] == 1 and entry["ETag"].startswith('"')
    paginator = s3.get_paginator("list_objects_v2")
    assert [o["Key"] for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 3})
            for o in p["Contents"]] == keys  # fmt: skip


def test_list_encoding_type_url(s3, bucket) -> None:
    key = "dir with space/\u00e9\x01"
    s3.put_object(Bucket=bucket, Key=key, Body=b"")
    # boto3 asks for encoding-type=url and decodes the keys
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    assert [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]] == [key]


def test_versioning_and_acls_as_they_are(s3, bucket) -> None:
    """Read as S3 answers an unversioned bucket whose owner has full control and whose
    objects are encrypted with AES-256 (what tools such as s3cmd info and Terraform read);
    changing any of it is not implemented."""
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    assert "Status" not in versioning and "MFADelete" not in versioning
    assert "Status" not in s3.get_bucket_accelerate_configuration(Bucket=bucket)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=bucket)
    assert s3.get_bucket_request_payment(Bucket=bucket)["Payer"] == "BucketOwner"
    encryption = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
    assert encryption["Rules"] == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]
    owner = s3.list_buckets()["Owner"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    for acl in (s3.get_bucket_acl(Bucket=bucket), s3.get_object_acl(Bucket=bucket, Key="k")):
        assert acl["Owner"] == owner
        assert acl["Grants"] == [
            {"Grantee": {**owner, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}
        ]
    with pytest.raises(ClientError) as exc:
        s3.get_object_acl(Bucket=bucket, Key="missing")
    assert _code(exc) == "NoSuchKey"
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket_encryption(Bucket=bucket)
    assert _code(exc) == "NotImplemented"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"x"  # still there


def test_acls_are_off_as_with_bucket_owner_enforced(s3, bucket) -> None:
    """The owner alone has access, as S3's default for new buckets since 2023: an ACL
    that says so is accepted (canned, or as a policy), any other is refused, never
    ignored, and an upload asking for one stores nothing."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="private")
    s3.put_object(Bucket=bucket, Key="k2", Body=b"x", ACL="bucket-owner-full-control")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    owner = s3.list_buckets()["Owner"]
    full = {"Grantee": {**owner, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}
    s3.put_object_acl(
        Bucket=bucket, Key="k", AccessControlPolicy={"Owner": owner, "Grants": [full]}
    )
    public = {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"}
    refusals = (
        lambda: s3.put_object(Bucket=bucket, Key="public", Body=b"x", ACL="public-read"),
        lambda: s3.put_object(Bucket=bucket, Key="public", Body=b"x", GrantRead=f"uri={ALL_USERS}"),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="public", ACL="public-read"),
        lambda: s3.copy_object(
            Bucket=bucket,
            Key="public",
            CopySource={"Bucket": bucket, "Key": "k"},
            ACL="public-read",
        ),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
        lambda: s3.put_bucket_acl(Bucket=bucket, ACL="authenticated-read"),
        lambda: s3.put_object_acl(
            Bucket=bucket, Key="k", AccessControlPolicy={"Owner": owner, "Grants": [full, public]}
        ),
    )
    for refused in refusals:
        with pytest.raises(ClientError) as exc:
            refused()
        assert _code(exc) == "AccessControlListNotSupported"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k", "k2"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.put_object_acl(Bucket=bucket, Key="missing", ACL="private")
    assert _code(exc) == "NoSuchKey"
    name = "b-" + uuid.uuid4().hex[:20]
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket=name, ACL="public-read")
    assert _code(exc) == "InvalidBucketAclWithObjectOwnership"
    s3.create_bucket(Bucket=name, ACL="private")
    s3.delete_bucket(Bucket=name)


def test_object_attributes_of_a_single_part_object(s3, bucket) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"attributes", ChecksumAlgorithm="SHA256")
    every = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    got = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=every)
    assert got["ETag"] == put["ETag"].strip('"')  # bare, as S3 sends it here
    assert got["Checksum"]["ChecksumSHA256"] == put["ChecksumSHA256"]
    assert (got["StorageClass"], got["ObjectSize"]) == ("STANDARD", 10)
    assert "ObjectParts" not in got  # not a multipart object
    assert got["LastModified"] == s3.head_object(Bucket=bucket, Key="k")["LastModified"]
    only = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectSize"])
    assert only["ObjectSize"] == 10 and "ETag" not in only
    with pytest.raises(ClientError) as exc:
        s3.get_object_attributes(Bucket=bucket, Key="missing", ObjectAttributes=["ETag"])
    assert _code(exc) == "NoSuchKey"


def test_list_object_versions_of_an_unversioned_bucket(s3, bucket) -> None:
    """Each key once, as version "null" and the latest; paged by key-marker; then emptied
    version by version with VersionId=null, as Terraform's force_destroy empties a bucket."""
    keys = ["a/1", "a/2", "b", "c d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    owner = s3.list_buckets()["Owner"]
    listed = s3.list_object_versions(Bucket=bucket)
    assert [v["Key"] for v in listed["Versions"]] == keys
    first = listed["Versions"][0]
    assert (first["VersionId"], first["IsLatest"], first["Size"]) == ("null", True, 3)
    assert first["ETag"] == s3.head_object(Bucket=bucket, Key="a/1")["ETag"]
    assert first["Owner"] == owner and "DeleteMarkers" not in listed
    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in grouped["Versions"]] == ["b", "c d"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/"]
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, MaxKeys=1)
    assert [v["Key"] for page in pages for v in page.get("Versions", [])] == keys
    after = s3.list_object_versions(Bucket=bucket, KeyMarker="a/2", VersionIdMarker="null")
    assert [v["Key"] for v in after["Versions"]] == ["b", "c d"]
    for bad in ({"KeyMarker": "a/1", "VersionIdMarker": "xyz"}, {"VersionIdMarker": "null"}):
        with pytest.raises(ClientError) as exc:
            s3.list_object_versions(Bucket=bucket, **bad)
        assert _code(exc) == "InvalidArgument"
    s3.delete_object(Bucket=bucket, Key="c d", VersionId="null")
    wrong = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b", "VersionId": "v2"}]})
    assert wrong["Errors"][0]["Code"] == "NoSuchVersion" and "Deleted" not in wrong
    assert s3.get_object(Bucket=bucket, Key="b")["Body"].read() == b"b"  # not deleted
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    done = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]},
    )
    assert done["Deleted"] == [{"Key": k, "VersionId": "null"} for k in keys[:3]]
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)


def test_configurations_no_bucket_can_have_read_as_none(s3, bucket) -> None:
    """Policy, lifecycle, website, object lock and replication cannot be set here, and
    a new bucket has no CORS rules or tags: each read answers S3's own 404
    for a bucket without one, as tools such as Terraform and s3cmd info expect."""
    for read, code in (
        (s3.get_bucket_policy, "NoSuchBucketPolicy"),
        (s3.get_bucket_cors, "NoSuchCORSConfiguration"),
        (s3.get_bucket_tagging, "NoSuchTagSet"),
        (s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
        (s3.get_bucket_website, "NoSuchWebsiteConfiguration"),
        (s3.get_object_lock_configuration, "ObjectLockConfigurationNotFoundError"),
        (s3.get_bucket_replication, "ReplicationConfigurationNotFoundError"),
    ):
        with pytest.raises(ClientError) as exc:
            read(Bucket=bucket)
        assert (_code(exc), exc.value.response["ResponseMetadata"]["HTTPStatusCode"]) == (
            code,
            404,
        )
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_policy(Bucket="no-such-bucket-" + uuid.uuid4().hex[:8])
    assert _code(exc) == "NoSuchBucket"


def test_not_implemented_operations_answer_s3_errors(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_policy(Bucket=bucket, Policy="{}")
    assert _code(exc) == "NotImplemented"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert _code(exc) == "NotImplemented"


def test_bucket_tags_and_suspended_versioning(s3, bucket) -> None:
    """Tags are kept with the bucket; versioning may be suspended (what every bucket
    here is in effect: one "null" version per key), not enabled."""
    tags = [{"Key": "team", "Value": "backup"}, {"Key": "cost centre", "Value": ""}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    too_many = [{"Key": f"k{i}", "Value": "v"} for i in range(51)]
    for bad in (too_many, [{"Key": "aws:reserved", "Value": "v"}]):
        with pytest.raises(ClientError) as exc:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": bad})
        assert _code(exc) == "InvalidTag"
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _code(exc) == "NoSuchTagSet"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    with pytest.raises(ClientError) as exc:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert _code(exc) == "NotImplemented"
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.head_object(Bucket=bucket, Key="k").get("VersionId") in (None, "null")
    # the settings live with the bucket: a listing of buckets still shows it as before
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_list_buckets_by_prefix_and_page(s3) -> None:
    tag = uuid.uuid4().hex[:8]
    names = [f"pg-{tag}-{i}" for i in range(5)]
    for name in names:
        s3.create_bucket(Bucket=name)
    mine = s3.list_buckets(Prefix=f"pg-{tag}-")
    assert [b["Name"] for b in mine["Buckets"]] == names and mine["Prefix"] == f"pg-{tag}-"
    assert all(b["BucketRegion"] == "us-east-1" for b in mine["Buckets"])
    first = s3.list_buckets(Prefix=f"pg-{tag}-", MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2] and first["ContinuationToken"]
    pages = s3.get_paginator("list_buckets").paginate(
        Prefix=f"pg-{tag}-", PaginationConfig={"PageSize": 2}
    )
    assert [[b["Name"] for b in page["Buckets"]] for page in pages] == [
        names[:2],
        names[2:4],
        names[4:],
    ]
    for name in names:
        s3.delete_bucket(Bucket=name)
