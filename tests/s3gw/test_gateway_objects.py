"""Object operations through a real `s3gw serve` on the real grid, driven by boto3."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botocore.exceptions import ClientError

from lafs_core.grid_config import load_grid
from lafs_core.immutable.local import encode_bytes
from lafs_core.immutable.params import EncodingParams
from lafs_core.uri import LiteralCap, parse_cap

from ..conftest import Grid


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def _status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


@pytest.mark.parametrize("size", [0, 1, 4096, 4097, 1024 * 1024 + 1])
def test_put_get_round_trip(s3, bucket, size: int) -> None:
    data = os.urandom(size)
    put = s3.put_object(Bucket=bucket, Key=f"obj-{size}", Body=data)
    assert put["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    got = s3.get_object(Bucket=bucket, Key=f"obj-{size}")
    assert got["Body"].read() == data
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == size
    cap = parse_cap(got["ResponseMetadata"]["HTTPHeaders"]["x-lafs-cap"])
    # small objects live in the index as LIT caps; bigger ones are CHK files on the grid
    assert isinstance(cap, LiteralCap) == (size <= 4096)


def test_headers_and_metadata_round_trip(s3, bucket) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    s3.put_object(
        Bucket=bucket,
        Key="doc.html",
        Body=b"<p>hi</p>",
        ContentType="text/html; charset=utf-8",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="doc.html"',
        ContentLanguage="en",
        CacheControl="max-age=60",
        Expires=expires,
        Metadata={"color": "blue", "Mixed-Case": "Value"},
    )
    for head in (
        s3.head_object(Bucket=bucket, Key="doc.html"),
        s3.get_object(Bucket=bucket, Key="doc.html"),
    ):
        assert head["ContentType"] == "text/html; charset=utf-8"
        assert head["ContentEncoding"] == "identity"
        assert head["ContentDisposition"] == 'attachment; filename="doc.html"'
        assert head["ContentLanguage"] == "en"
        assert head["CacheControl"] == "max-age=60"
        assert head["Expires"] == expires
        assert head["Metadata"] == {"color": "blue", "mixed-case": "Value"}
    got = s3.get_object(
        Bucket=bucket,
        Key="doc.html",
        ResponseContentType="text/plain",
        ResponseCacheControl="no-cache",
        ResponseContentDisposition="inline",
    )
    assert got["ContentType"] == "text/plain"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == "inline"


def test_ranges(s3, bucket) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    cases = {
        "bytes=0-0": data[0:1],
        "bytes=5-": data[5:],
        "bytes=-10": data[-10:],
        "bytes=1048570-2097160": data[1048570:2097161],
        "bytes=100-99999999999": data[100:],
    }
    for header, expected in cases.items():
        got = s3.get_object(Bucket=bucket, Key="big", Range=header)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, header
        assert got["Body"].read() == expected, header
        assert got["ContentRange"].endswith(f"/{len(data)}")
    # several ranges: S3 answers the whole object
    got = s3.get_object(Bucket=bucket, Key="big", Range="bytes=0-1,5-6")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == data
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="big", Range=f"bytes={len(data)}-")
    assert _code(exc) == "InvalidRange" and _status(exc) == 416


def test_conditional_get(s3, bucket) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"x")["ETag"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"x"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0123"')
    assert _status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert _status(exc) == 304
    future = datetime.now(UTC) + timedelta(days=1)
    past = datetime.now(UTC) - timedelta(days=1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert _status(exc) == 304
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert _status(exc) == 412
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() == b"x"


def test_conditional_put(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert _status(exc) == 412
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


def test_missing_objects_and_deletes(s3, bucket) -> None:
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="nope")
    assert _code(exc) == "NoSuchKey" and _status(exc) == 404
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="nope")
    assert _status(exc) == 404
    s3.delete_object(Bucket=bucket, Key="nope")  # deleting a missing key succeeds, as in S3
    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"d/{i}", Body=b"x" * i)
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": f"d/{i}"} for i in range(3)] + [{"Key": "zz"}]}
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["d/0", "d/1", "d/2", "zz"]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "d/3"}], "Quiet": True})
    assert "Deleted" not in out and "Errors" not in out
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["d/4"]


def test_copy_object(s3, bucket) -> None:
    s3.put_object(
        Bucket=bucket, Key="src", Body=b"payload" * 1000, Metadata={"a": "1"}, ContentType="x/y"
    )
    s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    dst = s3.get_object(Bucket=bucket, Key="dst")
    assert dst["Body"].read() == b"payload" * 1000
    assert dst["Metadata"] == {"a": "1"} and dst["ContentType"] == "x/y"
    s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/plain",
    )
    dst2 = s3.head_object(Bucket=bucket, Key="dst2")
    assert dst2["Metadata"] == {"b": "2"} and dst2["ContentType"] == "text/plain"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="src", CopySource=f"{bucket}/src")
    assert _code(exc) == "InvalidRequest"
    s3.copy_object(
        Bucket=bucket,
        Key="src",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"c": "3"},
    )
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}
    with pytest.raises(ClientError) as exc:
        s3.copy_object(
            Bucket=bucket, Key="dst3", CopySource=f"{bucket}/src", CopySourceIfMatch='"abc"'
        )
    assert _status(exc) == 412
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket=bucket, Key="dst3", CopySource=f"{bucket}/missing")
    assert _code(exc) == "NoSuchKey"


def test_tagging(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="t", Body=b"x", Tagging="k1=v1&k2=v%202")
    assert s3.get_object(Bucket=bucket, Key="t")["TagCount"] == 2
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert tags == [{"Key": "k1", "Value": "v1"}, {"Key": "k2", "Value": "v 2"}]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "a", "Value": "b"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert s3.get_object(Bucket=bucket, Key="t")["Body"].read() == b"x"
    with pytest.raises(ClientError) as exc:
        s3.put_object_tagging(
            Bucket=bucket, Key="nope", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]}
        )
    assert _code(exc) == "NoSuchKey"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksums_stored_and_returned(s3, bucket, algorithm: str) -> None:
    data = os.urandom(10_000)
    put = s3.put_object(Bucket=bucket, Key="ck", Body=data, ChecksumAlgorithm=algorithm)
    field = "Checksum" + algorithm
    assert put[field]
    got = s3.get_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert got["Body"].read() == data  # botocore verifies the returned checksum as it reads
    assert got[field] == put[field]
    head = s3.head_object(Bucket=bucket, Key="ck", ChecksumMode="ENABLED")
    assert head[field] == put[field]


def test_bad_content_md5_stores_nothing(s3, bucket) -> None:
    import base64

    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"data", ContentMD5=wrong)
    assert _code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="md5", Body=b"data", ContentMD5="not base64!")
    assert _code(exc) == "InvalidDigest"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="md5")
    assert _status(exc) == 404


def test_keys_kept_exactly(s3, bucket) -> None:
    keys = [
        "a",
        "a/b",
        "a/",
        "a//b",
        "caf\u00e9",  # NFC
        "cafe\u0301",  # the same text in NFD: a different S3 key
        "sp ace+plus%percent",
        "\u65e5\u672c/\u8a9e",
        "x" * 1024,
    ]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=str(i).encode())
    for i, key in enumerate(keys):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == str(i).encode(), key
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(keys, key=lambda k: k.encode("utf-8"))
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="x" * 1025, Body=b"")
    assert _code(exc) == "KeyTooLongError"


def test_presigned_get_and_put(s3, bucket, gateway) -> None:
    s3.put_object(Bucket=bucket, Key="p", Body=b"presigned body")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"})
    assert httpx.get(url).content == b"presigned body"
    v4 = gateway.s3(signature_version="s3v4")
    url = v4.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "p"}, ExpiresIn=60
    )
    assert httpx.get(url).content == b"presigned body"
    put_url = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "q"})
    assert httpx.put(put_url, content=b"uploaded").status_code == 200
    assert s3.get_object(Bucket=bucket, Key="q")["Body"].read() == b"uploaded"
    tampered = url.replace("Key=p", "Key=q").replace(f"/{bucket}/p", f"/{bucket}/q")
    r = httpx.get(tampered)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content


def test_x_lafs_cap_reads_with_lafs(s3, bucket, gateway, tmp_path) -> None:
    import subprocess

    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="share-me", Body=data)
    cap = s3.head_object(Bucket=bucket, Key="share-me")["ResponseMetadata"]["HTTPHeaders"][
        "x-lafs-cap"
    ]
    out = tmp_path / "out"
    subprocess.run(
        ["lafs", "--grid", str(gateway.grid_file), "get", cap, "-o", str(out)],
        check=True,
        timeout=60,
    )
    assert out.read_bytes() == data


def test_spooled_bodies_checked_across_batches(s3, bucket, gateway) -> None:
    """Bodies of several feed batches (checked, hashed and spooled in overlapped stages):
    stored byte for byte when their digests hold; refused, with no spool file left, when not."""
    import base64

    data = os.urandom(3 * (1 << 20) + 12345)
    md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
    put = s3.put_object(Bucket=bucket, Key="big-md5", Body=data, ContentMD5=md5)
    assert put["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    assert s3.get_object(Bucket=bucket, Key="big-md5")["Body"].read() == data
    wrong = base64.b64encode(hashlib.md5(data[:-1]).digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="big-bad", Body=data, ContentMD5=wrong)
    assert _code(exc) == "BadDigest"
    sha = base64.b64encode(hashlib.sha256(data[1:]).digest()).decode()
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=bucket, Key="big-bad", Body=data, ChecksumSHA256=sha)
    assert _code(exc) == "BadDigest"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="big-bad")
    assert _status(exc) == 404
    assert not any((gateway.data_dir / "spool").iterdir())


def test_client_disconnect_mid_upload_leaves_nothing(s3, bucket, gateway) -> None:
    """A PUT whose client goes away: no object, no spool file left behind."""
    import socket
    import time
    from urllib.parse import urlsplit

    v4 = gateway.s3(signature_version="s3v4")
    url = urlsplit(v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "cut"}))
    size = 20 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", gateway.port)) as sock:
        head = (
            f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Length: {size}\r\n\r\n"
        )
        sock.sendall(head.encode() + os.urandom(3 * 1024 * 1024))
        spool = gateway.data_dir / "spool"
        deadline = time.monotonic() + 20
        while not any(spool.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(spool.iterdir())  # the upload was being spooled when the client left
    deadline = time.monotonic() + 20
    while any(spool.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(spool.iterdir())
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="cut")
    assert _status(exc) == 404


def test_a_full_grid_answers_insufficient_storage_and_keeps_nothing(
    storage_node_factory, gateway_factory, tmp_path
) -> None:
    """Nodes that keep more in reserve than their disks hold take no shares. A PUT or part
    that needs shares gets 507 InsufficientStorage (no retry helps) and leaves nothing;
    objects small enough to live in the bucket index still go in. The log names the nodes."""
    nodes = storage_node_factory.create_many(5, reserved_space="1E")
    names = [f"full{i}" for i in range(5)]
    grid = Grid.write(nodes, tmp_path / "grid.toml", EncodingParams(3, 4, 5), names)
    gateway = gateway_factory(grid.grid_file)
    s3 = gateway.s3()
    s3.create_bucket(Bucket="full-grid")
    s3.put_object(Bucket="full-grid", Key="tiny", Body=b"kept in the index")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="full-grid", Key="big", Body=os.urandom(100_000))
    assert (_code(exc), _status(exc)) == ("InsufficientStorage", 507)
    upload = s3.create_multipart_upload(Bucket="full-grid", Key="parts")["UploadId"]
    with pytest.raises(ClientError) as exc:
        s3.upload_part(
            Bucket="full-grid", Key="parts", UploadId=upload, PartNumber=1, Body=b"p" * 10_000
        )
    assert _code(exc) == "InsufficientStorage"
    assert s3.list_parts(Bucket="full-grid", Key="parts", UploadId=upload).get("Parts", []) == []
    listed = s3.list_objects_v2(Bucket="full-grid")["Contents"]
    assert [o["Key"] for o in listed] == ["tiny"]
    assert s3.get_object(Bucket="full-grid", Key="tiny")["Body"].read() == b"kept in the index"
    assert not any((gateway.data_dir / "spool").iterdir())
    log = (gateway.data_dir / "gateway.log").read_text()
    assert "InsufficientStorage: " in log and "no room for a share" in log and "full0" in log
    assert "Traceback" not in log  # the grid's state, told in one line per request
    for node in nodes:  # no share was allocated, so none was left half-written either
        assert not list((node.storage_dir / "shares" / "incoming").rglob("*/*"))


def test_a_grid_with_most_nodes_down_answers_service_unavailable(
    healthy_grid, gateway_factory
) -> None:
    """8 of 10 nodes stopped (k=3): what needs the grid answers 503 ServiceUnavailable, which
    clients retry, never a 500. Back up, the grid shows exactly what was written before."""
    gateway = gateway_factory(healthy_grid.grid_file)
    s3 = gateway.s3()
    s3.create_bucket(Bucket="down-grid")
    before = os.urandom(100_000)
    s3.put_object(Bucket="down-grid", Key="before", Body=before)
    for node in healthy_grid.nodes[:8]:
        node.stop()
    for call in (
        lambda: s3.put_object(Bucket="down-grid", Key="small", Body=b"in the index"),
        lambda: s3.put_object(Bucket="down-grid", Key="big", Body=os.urandom(100_000)),
        lambda: s3.get_object(Bucket="down-grid", Key="before")["Body"].read(),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert (_code(exc), _status(exc)) == ("ServiceUnavailable", 503)
    healthy_grid.restart_stopped()
    deadline = time.monotonic() + 30
    while True:  # until the gateway's connections to the restarted nodes are back
        try:
            s3.put_object(Bucket="down-grid", Key="after", Body=b"written once they are back")
            break
        except ClientError as exc:
            assert exc.response["Error"]["Code"] == "ServiceUnavailable"
            assert time.monotonic() < deadline
            time.sleep(0.5)
    listed = s3.list_objects_v2(Bucket="down-grid")["Contents"]
    assert [o["Key"] for o in listed] == ["after", "before"]
    assert s3.get_object(Bucket="down-grid", Key="before")["Body"].read() == before


def test_identical_objects_share_a_cap_unless_keys_are_random(
    s3, bucket, grid, gateway_factory, tmp_path
) -> None:
    data = os.urandom(50_000)
    caps = []
    for key in ("first", "second"):
        reply = s3.put_object(Bucket=bucket, Key=key, Body=data)
        caps.append(reply["ResponseMetadata"]["HTTPHeaders"]["x-lafs-cap"])
    assert caps[0] == caps[1]  # convergent: stored once
    grid_config = load_grid(grid.grid_file)
    expected, _ = encode_bytes(data, grid_config.encoding, grid_config.convergence_secret)
    assert caps[0] == expected.to_string()  # the key hashed as the body came in is lafs's key

    config = tmp_path / "random.toml"
    config.write_text("convergent-encryption = false\n")
    random_s3 = gateway_factory(grid.grid_file, config=config).s3()
    random_s3.create_bucket(Bucket="random-keys")
    caps = []
    for key in ("first", "second"):
        random_s3.put_object(Bucket="random-keys", Key=key, Body=data)
        got = random_s3.get_object(Bucket="random-keys", Key=key)
        assert got["Body"].read() == data
        caps.append(got["ResponseMetadata"]["HTTPHeaders"]["x-lafs-cap"])
    assert caps[0] != caps[1] and caps[0] not in caps[1:]
    assert all(parse_cap(c).storage_index != parse_cap(caps[0]).storage_index for c in caps[1:])


def test_conditional_delete(s3, bucket) -> None:
    """A delete whose condition fails deletes nothing (S3's conditional deletes)."""
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["ETag"]
    head = s3.head_object(Bucket=bucket, Key="k")
    refused = [
        {"IfMatch": '"0123456789abcdef0123456789abcdef"'},
        {"IfMatchSize": 4},
        {"IfMatchLastModifiedTime": head["LastModified"] - timedelta(seconds=5)},
    ]
    for condition in refused:
        with pytest.raises(ClientError) as info:
            s3.delete_object(Bucket=bucket, Key="k", **condition)
        assert _code(info) == "PreconditionFailed", condition
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    s3.delete_object(
        Bucket=bucket,
        Key="k",
        IfMatch=etag,
        IfMatchSize=3,
        IfMatchLastModifiedTime=head["LastModified"],
    )
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="k")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as info:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch="*")
    assert _code(info) == "NoSuchKey"
    # DeleteObjects: each object's ETag is its own condition
    keep = s3.put_object(Bucket=bucket, Key="a", Body=b"a")["ETag"]
    gone = s3.put_object(Bucket=bucket, Key="b", Body=b"b")["ETag"]
    out = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "a", "ETag": gone}, {"Key": "b", "ETag": gone}]},
    )
    assert [d["Key"] for d in out["Deleted"]] == ["b"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("a", "PreconditionFailed")]
    assert s3.head_object(Bucket=bucket, Key="a")["ETag"] == keep


def test_server_side_encryption(s3, bucket) -> None:
    """Every object is encrypted (AES256, as S3 names SSE-S3); encryption the gateway
    cannot give is refused, never silently dropped."""
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x", ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    plain = s3.put_object(Bucket=bucket, Key="p", Body=b"y")
    assert plain["ServerSideEncryption"] == "AES256"
    assert s3.head_object(Bucket=bucket, Key="p")["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=bucket, Key="k")["ServerSideEncryption"] == "AES256"
    up = s3.create_multipart_upload(Bucket=bucket, Key="m", ServerSideEncryption="AES256")
    assert up["ServerSideEncryption"] == "AES256"
    s3.abort_multipart_upload(Bucket=bucket, Key="m", UploadId=up["UploadId"])
    refused = [
        ({"ServerSideEncryption": "aws:kms"}, "NotImplemented"),
        ({"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}, "NotImplemented"),
    ]
    for extra, expected in refused:
        with pytest.raises(ClientError) as info:
            s3.put_object(Bucket=bucket, Key="n", Body=b"z", **extra)
        assert _code(info) == expected
        with pytest.raises(ClientError) as info:
            s3.create_multipart_upload(Bucket=bucket, Key="n", **extra)
        assert _code(info) == expected
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="n")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404  # nothing stored
    with pytest.raises(ClientError) as info:
        s3.get_object(
            Bucket=bucket, Key="k", SSECustomerAlgorithm="AES256", SSECustomerKey="k" * 32
        )
    assert _code(info) == "InvalidRequest"


def test_part_number_and_range_together_are_refused(s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="k", PartNumber=1, Range="bytes=0-1")
    assert _code(info) == "InvalidRequest"
