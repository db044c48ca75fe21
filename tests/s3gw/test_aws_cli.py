"""The real `aws` CLI (v1) against a real `s3gw serve`: the commands people type first."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.s3gw.trees import bucket_keys, read_tree, tool_env, write_tree

Aws = Callable[..., subprocess.CompletedProcess[str]]
TRANSFERS = {("s3", "cp"), ("s3", "sync"), ("s3", "mv")}


@pytest.fixture
def aws(gateway, tmp_path: Path) -> Aws:  # type: ignore[no-untyped-def]
    """Runs `aws --endpoint-url GATEWAY ...` with a private config, so nothing of the user's
    profile, credentials or region leaks in; runs in tmp_path, so local paths are relative;
    asserts success unless `check=False`. Transfer
    commands get --no-progress, so their stdout holds only the result lines."""
    home = tmp_path / "aws-home"
    env = tool_env(
        home,
        AWS_ACCESS_KEY_ID=gateway.access_key,
        AWS_SECRET_ACCESS_KEY=gateway.secret_key,
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
    )
    (home / "config").write_text(
        "[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
    )

    def run(
        *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "awscli", "--endpoint-url", gateway.endpoint, *args]
        if args[:2] in TRANSFERS:
            cmd.append("--no-progress")
        proc = subprocess.run(
            cmd, env=env, cwd=tmp_path, input=stdin, capture_output=True, text=True, timeout=300
        )
        if check:
            assert proc.returncode == 0, f"{args}: {proc.stdout}\n{proc.stderr}"
        return proc

    return run


def _new_bucket_name() -> str:
    return "cli-" + uuid.uuid4().hex[:16]


def test_mb_ls_rb(aws: Aws, s3) -> None:  # type: ignore[no-untyped-def]
    name = _new_bucket_name()
    assert aws("s3", "mb", f"s3://{name}").stdout.strip() == f"make_bucket: {name}"
    assert name in [line.split()[-1] for line in aws("s3", "ls").stdout.splitlines()]
    s3.head_bucket(Bucket=name)
    again = aws("s3", "mb", f"s3://{name}", check=False)
    assert again.returncode != 0 and "BucketAlreadyOwnedByYou" in again.stderr
    assert aws("s3", "rb", f"s3://{name}").stdout.strip() == f"remove_bucket: {name}"
    assert name not in aws("s3", "ls").stdout


def test_rb_force_removes_objects(aws: Aws, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    for key in ("a", "d/b", "d/e/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    refused = aws("s3", "rb", f"s3://{bucket}", check=False)
    assert refused.returncode != 0 and "BucketNotEmpty" in refused.stderr
    out = aws("s3", "rb", "--force", f"s3://{bucket}").stdout
    assert f"remove_bucket: {bucket}" in out
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_cp_single_object_both_ways(aws: Aws, s3, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(300_000)
    src = tmp_path / "ké y.bin"
    src.write_bytes(data)
    out = aws("s3", "cp", "ké y.bin", f"s3://{bucket}/dir/ké y.bin").stdout
    assert out == f"upload: ./ké y.bin to s3://{bucket}/dir/ké y.bin\n"
    head = s3.head_object(Bucket=bucket, Key="dir/ké y.bin")
    assert head["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
    dst = tmp_path / "back.bin"
    out = aws("s3", "cp", f"s3://{bucket}/dir/ké y.bin", "back.bin").stdout
    assert out == f"download: s3://{bucket}/dir/ké y.bin to ./back.bin\n"
    assert dst.read_bytes() == data
    # stdin to an object (a streamed multipart upload) and an object to stdout
    aws("s3", "cp", "-", f"s3://{bucket}/piped.txt", stdin="from stdin\n")
    assert aws("s3", "cp", f"s3://{bucket}/piped.txt", "-").stdout == "from stdin\n"


def test_cp_multipart_64_mib(aws: Aws, s3, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    part = 8 * 1024 * 1024  # the CLI's default multipart_chunksize
    data = os.urandom(64 * 1024 * 1024 + 12345)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    aws("s3", "cp", "big.bin", f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    digests = b"".join(hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part))
    assert head["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-9"'
    assert head["ContentLength"] == len(data)
    dst = tmp_path / "big.back"
    aws("s3", "cp", f"s3://{bucket}/big.bin", "big.back")
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_sync_both_ways(aws: Aws, s3, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = {
        "top.txt": b"top",
        "a/one.txt": b"one",
        "a/b/two.bin": os.urandom(70_000),
        "a/b/c/three.txt": b"three",
        "spaced dir/ünï cødé.txt": "ünï".encode(),
        "empty": b"",
    }
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    uploaded = aws("s3", "sync", "src", f"s3://{bucket}/backup").stdout
    assert uploaded.count("upload: ") == len(files)
    assert sorted(bucket_keys(s3, bucket)) == sorted(f"backup/{k}" for k in files)
    # nothing changed: nothing to do
    assert aws("s3", "sync", "src", f"s3://{bucket}/backup").stdout.strip() == ""

    aws("s3", "sync", f"s3://{bucket}/backup", "dst")
    assert read_tree(dst) == files

    # one changed file is the only upload; a deleted file goes with --delete
    (src / "a" / "one.txt").write_bytes(b"one, changed")
    (src / "top.txt").unlink()
    out = aws("s3", "sync", "src", f"s3://{bucket}/backup").stdout.splitlines()
    assert out == [f"upload: src/a/one.txt to s3://{bucket}/backup/a/one.txt"]
    assert "backup/top.txt" in bucket_keys(s3, bucket)
    out = aws("s3", "sync", "--delete", "src", f"s3://{bucket}/backup").stdout.splitlines()
    assert out == [f"delete: s3://{bucket}/backup/top.txt"]
    assert "backup/top.txt" not in bucket_keys(s3, bucket)

    out = aws("s3", "sync", "--delete", f"s3://{bucket}/backup", "dst").stdout
    assert f"download: s3://{bucket}/backup/a/one.txt" in out
    assert "delete: dst/top.txt" in out
    assert read_tree(dst) == read_tree(src)


def test_ls_recursive_and_by_prefix(aws: Aws, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    keys = ["root.txt", "photos/2024/a.jpg", "photos/2024/b.jpg", "photos/2025/c.jpg", "pho"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * len(key))

    def names(listing: str) -> list[str]:
        return [line.split(maxsplit=3)[-1] for line in listing.splitlines()]

    top = aws("s3", "ls", f"s3://{bucket}").stdout
    assert "PRE photos/" in top
    assert names(top) == ["photos/", "pho", "root.txt"]
    assert names(aws("s3", "ls", f"s3://{bucket}/photos/").stdout) == ["2024/", "2025/"]
    assert names(aws("s3", "ls", f"s3://{bucket}/photos/2024/").stdout) == ["a.jpg", "b.jpg"]
    # a partial prefix matches like S3 does
    assert names(aws("s3", "ls", f"s3://{bucket}/pho").stdout) == ["photos/", "pho"]
    # small pages: the CLI follows continuation tokens
    recursive = aws("s3", "ls", "--recursive", "--page-size", "2", f"s3://{bucket}").stdout
    assert names(recursive) == sorted(keys)
    sizes = {line.split()[3]: int(line.split()[2]) for line in recursive.splitlines()}
    assert sizes == {k: len(k) for k in keys}
    summary = aws("s3", "ls", "--recursive", "--summarize", f"s3://{bucket}/photos").stdout
    assert "Total Objects: 3" in summary


def test_rm_recursive(aws: Aws, s3, bucket: str) -> None:  # type: ignore[no-untyped-def]
    keys = ["keep.txt", "logs/a", "logs/b/c", "logs/b/d", "logsX"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    out = aws("s3", "rm", "--recursive", f"s3://{bucket}/logs/").stdout
    assert sorted(out.splitlines()) == [
        f"delete: s3://{bucket}/logs/{k}" for k in ("a", "b/c", "b/d")
    ]
    assert bucket_keys(s3, bucket) == ["keep.txt", "logsX"]
    aws("s3", "rm", f"s3://{bucket}/keep.txt")
    assert bucket_keys(s3, bucket) == ["logsX"]


def test_presign_then_plain_get(aws: Aws, gateway, s3, bucket: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(5000)
    s3.put_object(Bucket=bucket, Key="shared/file name.bin", Body=data)
    target = f"s3://{bucket}/shared/file name.bin"
    # aws-cli v1 presigns with the SigV2 query form by default ...
    v2 = aws("s3", "presign", target, "--expires-in", "300").stdout.strip()
    assert "AWSAccessKeyId=" in v2 and "Signature=" in v2
    # ... and with SigV4 when the profile asks for it
    config = tmp_path / "aws-home" / "config"
    config.write_text(config.read_text() + "    signature_version = s3v4\n")
    v4 = aws("s3", "presign", target, "--expires-in", "300").stdout.strip()
    assert "X-Amz-Signature=" in v4 and "X-Amz-Expires=300" in v4
    for url in (v2, v4):
        assert url.startswith(f"{gateway.endpoint}/{bucket}/shared/file%20name.bin?")
        got = httpx.get(url)
        assert got.status_code == 200
        assert got.content == data
        tampered = httpx.get(url.replace("shared/", "other/"))
        assert tampered.status_code == 403
        assert b"<Code>SignatureDoesNotMatch</Code>" in tampered.content

    expiring = aws("s3", "presign", target, "--expires-in", "1").stdout.strip()
    time.sleep(2)
    expired = httpx.get(expiring)
    assert expired.status_code == 403
    assert b"<Code>AccessDenied</Code>" in expired.content
