"""Object checksums through a real gateway, driven by boto3: the checksum a PUT or a multipart
upload stores, its type, and the checksums boto3 itself verifies on the way back."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

MIB = 1024 * 1024


def b64(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data), 4)


def crc32c(data: bytes) -> str:
    return b64(crt.crc32c(data), 4)


def crc64nvme(data: bytes) -> str:
    return b64(crt.crc64nvme(data), 8)


def sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def composite(raw_digests: list[bytes], digest: str) -> str:
    """S3's checksum of checksums: the digest of the parts' raw digests, then -N."""
    joined = b"".join(raw_digests)
    value = crc32(joined) if digest == "crc32" else sha256(joined)
    return f"{value}-{len(raw_digests)}"


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


@pytest.fixture
def plain(gateway):  # type: ignore[no-untyped-def]
    """A client that sends no checksum unless asked and verifies none unless asked."""
    return gateway.s3(
        request_checksum_calculation="when_required", response_checksum_validation="when_required"
    )


def test_put_without_checksum_gets_crc64nvme(plain, s3, bucket) -> None:
    data = os.urandom(100_000)
    put = plain.put_object(Bucket=bucket, Key="k", Body=data)
    assert put["ChecksumCRC64NVME"] == crc64nvme(data)
    assert put["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC64NVME"], head["ChecksumType"]) == (crc64nvme(data), "FULL_OBJECT")
    assert "ChecksumCRC64NVME" not in s3.head_object(Bucket=bucket, Key="k")
    # boto3 checks the body against it (the default response_checksum_validation)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == data
    [row] = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert (row["ChecksumAlgorithm"], row["ChecksumType"]) == (["CRC64NVME"], "FULL_OBJECT")
    # a client's own checksum is the one kept
    s3.put_object(Bucket=bucket, Key="s", Body=data, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="s", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256(data) and "ChecksumCRC64NVME" not in head
    # a copy has the same bytes, so the same checksum
    copied = s3.copy_object(Bucket=bucket, Key="c", CopySource=f"{bucket}/s")
    assert copied["CopyObjectResult"]["ChecksumSHA256"] == sha256(data)
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256(data)


@pytest.mark.parametrize("algorithm", ["XXHASH64", "XXHASH3", "XXHASH128"])
def test_xxhash_checksums(s3, bucket, algorithm: str) -> None:
    data = os.urandom(70_000)
    put = s3.put_object(Bucket=bucket, Key="x", Body=data, ChecksumAlgorithm=algorithm)
    compute = {
        "XXHASH64": crt.XXHash.compute_xxhash64,
        "XXHASH3": crt.XXHash.compute_xxhash3_64,
        "XXHASH128": crt.XXHash.compute_xxhash3_128,
    }[algorithm]
    expected = base64.b64encode(compute(data)).decode()
    assert put[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="x", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected
    assert got["Body"].read() == data


def test_upload_file_keeps_a_composite_crc32(s3, bucket, tmp_path) -> None:
    """boto3's upload_file names CRC32 for its multipart uploads: the object keeps the
    composite checksum S3 would give it, and each part its own."""
    parts = [os.urandom(8 * MIB), os.urandom(8 * MIB), os.urandom(3 * MIB)]
    path = tmp_path / "f"
    path.write_bytes(b"".join(parts))
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_file(str(path), bucket, "big", Config=config)
    expected = composite([zlib.crc32(p).to_bytes(4, "big") for p in parts], "crc32")
    head = s3.head_object(Bucket=bucket, Key="big", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (expected, "COMPOSITE")
    part = s3.get_object(Bucket=bucket, Key="big", PartNumber=2, ChecksumMode="ENABLED")
    assert part["ChecksumCRC32"] == crc32(parts[1])
    assert part["Body"].read() == parts[1]  # boto3 verified it against that checksum
    attrs = s3.get_object_attributes(
        Bucket=bucket, Key="big", ObjectAttributes=["Checksum", "ObjectParts"]
    )
    assert attrs["Checksum"] == {"ChecksumCRC32": expected, "ChecksumType": "COMPOSITE"}
    assert [p["ChecksumCRC32"] for p in attrs["ObjectParts"]["Parts"]] == [crc32(p) for p in parts]


def test_full_object_crc32c_upload(s3, bucket) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(5 * MIB), os.urandom(12345)]
    whole = b"".join(parts)
    up = s3.create_multipart_upload(
        Bucket=bucket, Key="f", ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT"
    )
    assert (up["ChecksumAlgorithm"], up["ChecksumType"]) == ("CRC32C", "FULL_OBJECT")
    uid = up["UploadId"]
    done_parts = []
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(
            Bucket=bucket,
            Key="f",
            UploadId=uid,
            PartNumber=n,
            Body=body,
            ChecksumAlgorithm="CRC32C",
        )
        assert r["ChecksumCRC32C"] == crc32c(body)
        done_parts.append({"PartNumber": n, "ETag": r["ETag"]})
    listed = s3.list_parts(Bucket=bucket, Key="f", UploadId=uid)
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == ("CRC32C", "FULL_OBJECT")
    assert [p["ChecksumCRC32C"] for p in listed["Parts"]] == [crc32c(p) for p in parts]
    [upload] = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert (upload["ChecksumAlgorithm"], upload["ChecksumType"]) == ("CRC32C", "FULL_OBJECT")

    def complete(checksum: str):  # type: ignore[no-untyped-def]
        return s3.complete_multipart_upload(
            Bucket=bucket,
            Key="f",
            UploadId=uid,
            MultipartUpload={"Parts": done_parts},
            ChecksumCRC32C=checksum,
            ChecksumType="FULL_OBJECT",
            MpuObjectSize=len(whole),
        )

    with pytest.raises(ClientError) as info:
        complete(crc32c(whole[:-1]))
    assert _code(info) == "BadDigest"
    done = complete(crc32c(whole))  # the upload is still there after the refusal
    assert (done["ChecksumCRC32C"], done["ChecksumType"]) == (crc32c(whole), "FULL_OBJECT")
    got = s3.get_object(Bucket=bucket, Key="f", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32C"] == crc32c(whole)
    assert got["Body"].read() == whole  # boto3 checked the CRC32C of the whole body


def test_upload_naming_no_checksum_gets_crc64nvme(plain, bucket) -> None:
    parts = [os.urandom(5 * MIB), os.urandom(777)]
    uid = plain.create_multipart_upload(Bucket=bucket, Key="d")["UploadId"]
    etags = [
        plain.upload_part(Bucket=bucket, Key="d", UploadId=uid, PartNumber=n, Body=body)["ETag"]
        for n, body in enumerate(parts, 1)
    ]
    done = plain.complete_multipart_upload(
        Bucket=bucket,
        Key="d",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    whole = b"".join(parts)
    assert (done["ChecksumCRC64NVME"], done["ChecksumType"]) == (crc64nvme(whole), "FULL_OBJECT")


def test_parts_with_their_own_checksum_still_give_crc64nvme(s3, bucket) -> None:
    """The low-level flow most boto3 code uses: an upload naming no checksum, whose parts
    boto3 sends with CRC32 anyway; the object gets S3's default, CRC64NVME."""
    parts = [os.urandom(5 * MIB), b"tail"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="d")["UploadId"]
    done_parts = []
    for n, body in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="d", UploadId=uid, PartNumber=n, Body=body)
        assert r["ChecksumCRC32"] == crc32(body)
        done_parts.append({"PartNumber": n, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="d", UploadId=uid, MultipartUpload={"Parts": done_parts}
    )
    whole = b"".join(parts)
    assert (done["ChecksumCRC64NVME"], done["ChecksumType"]) == (crc64nvme(whole), "FULL_OBJECT")
    got = s3.get_object(Bucket=bucket, Key="d", ChecksumMode="ENABLED")
    assert got["ChecksumCRC64NVME"] == crc64nvme(whole) and got["Body"].read() == whole


def test_composite_upload_rules(s3, plain, bucket) -> None:
    with pytest.raises(ClientError) as info:
        s3.create_multipart_upload(
            Bucket=bucket, Key="c", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE"
        )
    assert _code(info) == "InvalidRequest"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="c", ChecksumAlgorithm="SHA256")["UploadId"]
    body = os.urandom(5 * MIB)
    for client, algorithm in ((plain, None), (s3, "SHA1")):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        with pytest.raises(ClientError) as info:
            client.upload_part(
                Bucket=bucket, Key="c", UploadId=uid, PartNumber=1, Body=body, **extra
            )
        assert _code(info) == "InvalidRequest"
        assert "Checksum Type mismatch" in info.value.response["Error"]["Message"]
    p1 = s3.upload_part(
        Bucket=bucket, Key="c", UploadId=uid, PartNumber=1, Body=body, ChecksumAlgorithm="SHA256"
    )
    p2 = s3.upload_part(
        Bucket=bucket, Key="c", UploadId=uid, PartNumber=2, Body=b"end", ChecksumAlgorithm="SHA256"
    )
    bare = [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]
    named = [
        {"PartNumber": 1, "ETag": p1["ETag"], "ChecksumSHA256": p1["ChecksumSHA256"]},
        {"PartNumber": 2, "ETag": p2["ETag"], "ChecksumSHA256": p2["ChecksumSHA256"]},
    ]
    wrong = [named[0], {**named[1], "ChecksumSHA256": p1["ChecksumSHA256"]}]
    for parts, code in (
        (bare, "InvalidRequest"),
        (wrong, "InvalidPart"),
        (named[1:], "InvalidPartOrder"),
    ):
        with pytest.raises(ClientError) as info:
            s3.complete_multipart_upload(
                Bucket=bucket, Key="c", UploadId=uid, MultipartUpload={"Parts": parts}
            )
        assert _code(info) == code
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="c", UploadId=uid, MultipartUpload={"Parts": named}
    )
    expected = composite([hashlib.sha256(body).digest(), hashlib.sha256(b"end").digest()], "sha256")
    assert (done["ChecksumSHA256"], done["ChecksumType"]) == (expected, "COMPOSITE")


def test_upload_part_copy_gets_the_uploads_checksum(s3, plain, bucket) -> None:
    source = os.urandom(6 * MIB)
    plain.put_object(Bucket=bucket, Key="src", Body=source)  # stored with CRC64NVME only
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst", ChecksumAlgorithm="CRC32")[
        "UploadId"
    ]
    whole = s3.upload_part_copy(
        Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1, CopySource=f"{bucket}/src"
    )["CopyPartResult"]
    assert whole["ChecksumCRC32"] == crc32(source)
    ranged = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=uid,
        PartNumber=2,
        CopySource=f"{bucket}/src",
        CopySourceRange="bytes=10-1009",
    )["CopyPartResult"]
    assert ranged["ChecksumCRC32"] == crc32(source[10:1010])
    parts = [
        {"PartNumber": 1, "ETag": whole["ETag"], "ChecksumCRC32": whole["ChecksumCRC32"]},
        {"PartNumber": 2, "ETag": ranged["ETag"], "ChecksumCRC32": ranged["ChecksumCRC32"]},
    ]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": parts}
    )
    got = s3.get_object(Bucket=bucket, Key="dst")["Body"].read()
    assert got == source + source[10:1010]


def test_copy_changes_the_checksum_algorithm(s3, bucket, tmp_path) -> None:
    """A copy naming x-amz-checksum-algorithm gives the copy that checksum of its bytes (how
    S3 changes an object's checksum), onto itself too."""
    data = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="k", Body=data)  # boto3 sends CRC32
    out = s3.copy_object(
        Bucket=bucket, Key="c", CopySource=f"{bucket}/k", ChecksumAlgorithm="SHA256"
    )
    assert out["CopyObjectResult"]["ChecksumSHA256"] == sha256(data)
    head = s3.head_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == sha256(data) and "ChecksumCRC32" not in head
    s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k", ChecksumAlgorithm="CRC32C")
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32C"] == crc32c(data) and got["Body"].read() == data
    # a multipart object's composite checksum becomes a whole-object one
    parts = [os.urandom(8 * MIB), os.urandom(1000)]
    path = tmp_path / "f"
    path.write_bytes(b"".join(parts))
    config = TransferConfig(multipart_threshold=8 * MIB, multipart_chunksize=8 * MIB)
    s3.upload_file(str(path), bucket, "mp", Config=config)
    s3.copy_object(Bucket=bucket, Key="mp", CopySource=f"{bucket}/mp", ChecksumAlgorithm="CRC32")
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    whole = b"".join(parts)
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (crc32(whole), "FULL_OBJECT")
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="k", CopySource=f"{bucket}/k", ChecksumAlgorithm="MD4")
    assert _code(info) == "InvalidRequest"
