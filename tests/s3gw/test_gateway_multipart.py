"""Multipart uploads through a real gateway, driven by boto3."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

MIB = 1024 * 1024
RUN = {"capture_output": True, "text": True, "check": True}


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _multipart_etag(parts: list[bytes]) -> str:
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def test_multipart_upload_complete_and_read(s3, bucket) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB + 3), os.urandom(1000)]
    up = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentType="video/mp4", Metadata={"m": "1"}
    )
    uid = up["UploadId"]
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == [("mp", uid)]
    etags = []
    for n, body in enumerate(parts, 1):
        etags.append(
            s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=n, Body=body)["ETag"]
        )
    # a part uploaded again replaces the earlier one
    etags[2] = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=3, Body=parts[2])[
        "ETag"
    ]
    lp = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in lp["Parts"]] == [
        (n, len(b), e) for n, (b, e) in enumerate(zip(parts, etags), 1)
    ]
    lp = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid, MaxParts=2)
    assert lp["IsTruncated"] and lp["NextPartNumberMarker"] == 2
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    assert done["ETag"] == _multipart_etag(parts)
    whole = b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert got["Body"].read() == whole
    assert got["ContentType"] == "video/mp4" and got["Metadata"] == {"m": "1"}
    assert got["ContentLength"] == len(whole)
    across = s3.get_object(Bucket=bucket, Key="mp", Range=f"bytes={5 * MIB - 10}-{10 * MIB + 5}")
    assert across["Body"].read() == whole[5 * MIB - 10 : 10 * MIB + 6]
    part2 = s3.get_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert part2["Body"].read() == parts[1] and part2["PartsCount"] == 3
    for missing in (
        lambda: s3.get_object(Bucket=bucket, Key="mp", PartNumber=4),
        lambda: s3.head_object(Bucket=bucket, Key="mp", PartNumber=4),
    ):
        with pytest.raises(ClientError) as exc:
            missing()
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    assert exc.value.response["Error"]["Code"] in ("InvalidPartNumber", "416")
    attributes = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ETag", "ObjectParts", "ObjectSize"], MaxParts=2
    )
    assert attributes["ETag"] == done["ETag"].strip('"') and attributes["ObjectSize"] == len(whole)
    listed_parts = attributes["ObjectParts"]
    assert listed_parts["TotalPartsCount"] == 3 and listed_parts["IsTruncated"]
    assert [(p["PartNumber"], p["Size"]) for p in listed_parts["Parts"]] == [
        (1, len(parts[0])),
        (2, len(parts[1])),
    ]
    rest = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts"], PartNumberMarker=2
    )["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and not rest["IsTruncated"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    with pytest.raises(ClientError) as exc:
        s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert _code(exc) == "NoSuchUpload"


def test_complete_errors(s3, bucket) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="bad")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="bad", UploadId=uid, PartNumber=2, Body=b"tail")["ETag"]

    def complete(parts):  # type: ignore[no-untyped-def]
        return s3.complete_multipart_upload(
            Bucket=bucket, Key="bad", UploadId=uid, MultipartUpload={"Parts": parts}
        )

    with pytest.raises(ClientError) as exc:
        complete([{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}])
    assert _code(exc) == "InvalidPart"
    with pytest.raises(ClientError) as exc:
        complete([{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}])
    assert _code(exc) == "InvalidPartOrder"
    with pytest.raises(ClientError) as exc:
        complete([{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}])
    assert _code(exc) == "EntityTooSmall"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="bad")
    assert _code(exc) == "NoSuchKey"
    complete([{"PartNumber": 1, "ETag": e1}])  # one small part is a valid object
    assert s3.get_object(Bucket=bucket, Key="bad")["Body"].read() == b"small"


def test_abort_and_unknown_uploads(s3, bucket) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="ab")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=1, Body=b"x")
    s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId=uid)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=2, Body=b"y")
    assert _code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.abort_multipart_upload(Bucket=bucket, Key="ab", UploadId="nonexistent")
    assert _code(exc) == "NoSuchUpload"
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=bucket, Key="ab", UploadId=uid, PartNumber=0, Body=b"y")
    assert _code(exc) in ("InvalidArgument", "NoSuchUpload")


def test_upload_part_copy_with_ranges(s3, bucket) -> None:
    source = os.urandom(6 * MIB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="copied")["UploadId"]
    r1 = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=uid, PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
    )["CopyPartResult"]  # fmt: skip
    r2 = s3.upload_part_copy(
        Bucket=bucket, Key="copied", UploadId=uid, PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange="bytes=10-1000009",
    )["CopyPartResult"]  # fmt: skip
    assert r2["ETag"] == '"' + hashlib.md5(source[10:1000010]).hexdigest() + '"'
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="copied",
        UploadId=uid,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": r1["ETag"]}, {"PartNumber": 2, "ETag": r2["ETag"]}]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="copied")["Body"].read() == source + source[10:1000010]
    with pytest.raises(ClientError) as exc:
        s3.upload_part_copy(
            Bucket=bucket, Key="copied2", UploadId=uid, PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "source"}, CopySourceRange=f"bytes=0-{6 * MIB}",
        )  # fmt: skip
    assert _code(exc) in ("InvalidRange", "NoSuchUpload")


def test_upload_file_uses_multipart(s3, bucket, tmp_path) -> None:
    from boto3.s3.transfer import TransferConfig

    data = os.urandom(20 * MIB + 5)
    src = tmp_path / "src"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_file(str(src), bucket, "file", Config=config)
    head = s3.head_object(Bucket=bucket, Key="file")
    assert head["ETag"].endswith('-3"') and head["ContentLength"] == len(data)
    dst = tmp_path / "dst"
    s3.download_file(bucket, "file", str(dst), Config=config)
    assert dst.read_bytes() == data


def test_multipart_object_cap_is_the_directory_of_its_parts(s3, bucket, grid) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(777)]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="shared")["UploadId"]
    etags = [
        s3.upload_part(Bucket=bucket, Key="shared", UploadId=uid, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(parts, 1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="shared",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    cap = s3.head_object(Bucket=bucket, Key="shared")["ResponseMetadata"]["HTTPHeaders"][
        "x-lafs-cap"
    ]
    assert cap.startswith("URI:DIR2-CHK:")
    lafs = ["lafs", "--grid", str(grid.grid_file)]
    listing = json.loads(subprocess.run([*lafs, "ls", "--json", cap], **RUN).stdout)
    children = listing[1]["children"]
    assert sorted(children) == ["00001", "00002"]
    for n, (body, etag) in enumerate(zip(parts, etags), 1):
        child = children[f"{n:05d}"][1]
        assert child["metadata"]["size"] == len(body)
        assert child["metadata"]["etag"] == etag.strip('"')
        got = subprocess.run([*lafs, "get", f"{cap}/{n:05d}"], capture_output=True, check=True)
        assert got.stdout == body
    # a copy of the object keeps the same parts and so the same cap
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "shared"})
    copied = s3.get_object(Bucket=bucket, Key="copied")
    assert copied["ResponseMetadata"]["HTTPHeaders"]["x-lafs-cap"] == cap
    assert copied["Body"].read() == b"".join(parts)
