"""Backup and sync tools people point at S3 (Debian's s3cmd, rclone, restic, duplicity) against
a real `s3gw serve`: each backs up a small tree, changes it, and restores it byte for byte.

Each tool is configured only through files and variables under the test's tmp_path."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.s3gw.trees import bucket_keys, read_tree, run_tool, tool_env, write_tree

BIG = "nested/deeper/big.bin"


@pytest.fixture
def files() -> dict[str, bytes]:
    """A tree with nested directories, an empty file, spaces and non-ASCII names, and one
    10 MiB file (multipart for the tools told to use 5 MiB parts)."""
    return {
        "top.txt": b"top\n",
        BIG: os.urandom(10 * 1024 * 1024),
        "nested/empty": b"",
        "nested/deeper/small.txt": b"small\n",
        "dir with space/ünï cødé naïve.txt": "ünï cødé\n".encode(),
    }


def _change(root: Path, files: dict[str, bytes]) -> dict[str, bytes]:
    """Edit one file, delete one, add one: what an incremental backup must carry."""
    changed = dict(files)
    changed["nested/deeper/small.txt"] = b"small, edited\n"
    del changed["top.txt"]
    changed["new dir/nouveau fichier.txt"] = b"new\n"
    (root / "top.txt").unlink()
    write_tree(
        root, {k: changed[k] for k in ("nested/deeper/small.txt", "new dir/nouveau fichier.txt")}
    )
    return changed


def test_s3cmd_sync_and_get(gateway, s3, files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "s3cfg"
    host = f"127.0.0.1:{gateway.port}"
    config.write_text(
        "[default]\n"
        f"access_key = {gateway.access_key}\n"
        f"secret_key = {gateway.secret_key}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\n"
        "multipart_chunk_size_mb = 5\n"
    )
    env = tool_env(tmp_path / "home")

    def s3cmd(*args: str) -> str:
        return run_tool(["s3cmd", "-c", str(config), *args], env)

    name = "s3cmd-" + uuid.uuid4().hex[:12]
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    assert s3cmd("mb", f"s3://{name}").strip() == f"Bucket 's3://{name}/' created"
    out = s3cmd("sync", f"{src}/", f"s3://{name}/backup/")
    assert out.count("upload: ") == len(files)
    assert sorted(bucket_keys(s3, name)) == sorted(f"backup/{k}" for k in files)
    assert s3.head_object(Bucket=name, Key=f"backup/{BIG}")["ETag"].endswith('-2"')

    changed = _change(src, files)
    out = s3cmd("sync", "--delete-removed", f"{src}/", f"s3://{name}/backup/")
    assert out.count("upload: ") == 2 and f"delete: 's3://{name}/backup/top.txt'" in out
    s3cmd("sync", f"s3://{name}/backup/", f"{dst}/")
    assert read_tree(dst) == changed

    listing = s3cmd("ls", "--recursive", f"s3://{name}")
    assert f"s3://{name}/backup/dir with space/ünï cødé naïve.txt" in listing
    info = s3cmd("info", f"s3://{name}/backup/{BIG}")  # also asks for policy, cors, acl
    assert f"MD5 sum:   {hashlib.md5(files[BIG]).hexdigest()}" in info
    s3cmd("del", "--recursive", "--force", f"s3://{name}/backup/")
    assert bucket_keys(s3, name) == []
    s3cmd("rb", f"s3://{name}")


def test_rclone_sync_check_copy(gateway, s3, files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "rclone.conf"
    config.write_text(
        "[gw]\ntype = s3\nprovider = Other\n"
        f"access_key_id = {gateway.access_key}\nsecret_access_key = {gateway.secret_key}\n"
        f"endpoint = {gateway.endpoint}\nregion = us-east-1\nforce_path_style = true\n"
        "upload_cutoff = 5M\nchunk_size = 5M\n"
    )
    env = tool_env(tmp_path / "home")

    def rclone(*args: str) -> str:
        return run_tool(["rclone", "--config", str(config), *args], env)

    name = "rclone-" + uuid.uuid4().hex[:12]
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, files)
    rclone("mkdir", f"gw:{name}")
    rclone("sync", str(src), f"gw:{name}/backup")
    assert sorted(bucket_keys(s3, name)) == sorted(f"backup/{k}" for k in files)
    assert s3.head_object(Bucket=name, Key=f"backup/{BIG}")["ETag"].endswith('-2"')
    # compares sizes and MD5s: the gateway's ETags, or the MD5 rclone keeps for multipart
    rclone("check", str(src), f"gw:{name}/backup")

    changed = _change(src, files)
    rclone("sync", str(src), f"gw:{name}/backup")
    assert sorted(bucket_keys(s3, name)) == sorted(f"backup/{k}" for k in changed)
    rclone("check", "--download", str(src), f"gw:{name}/backup")
    rclone("copy", f"gw:{name}/backup", str(dst))
    assert read_tree(dst) == changed
    assert sorted(rclone("lsf", "-R", "--files-only", f"gw:{name}/backup").split("\n")[:-1]) == (
        sorted(changed)
    )
    rclone("purge", f"gw:{name}")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_restic_backup_check_restore(gateway, s3, files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = "restic-" + uuid.uuid4().hex[:12]
    env = tool_env(
        tmp_path / "home",
        AWS_ACCESS_KEY_ID=gateway.access_key,
        AWS_SECRET_ACCESS_KEY=gateway.secret_key,
        RESTIC_REPOSITORY=f"s3:{gateway.endpoint}/{name}/repo",
        RESTIC_PASSWORD="correct horse battery staple",
        RESTIC_CACHE_DIR=str(tmp_path / "cache"),
    )

    def restic(*args: str) -> str:
        return run_tool(["restic", *args], env, cwd=tmp_path)

    write_tree(tmp_path / "data", files)
    restic("init")  # restic creates the bucket itself
    assert any(k.startswith("repo/keys/") for k in bucket_keys(s3, name))
    restic("backup", "data")
    changed = _change(tmp_path / "data", files)
    restic("backup", "data")
    snapshots = json.loads(restic("snapshots", "--json"))
    assert len(snapshots) == 2
    assert "no errors were found" in restic("check", "--read-data")

    restic("restore", snapshots[0]["short_id"], "--target", "first")
    assert read_tree(tmp_path / "first" / "data") == files
    restic("restore", "latest", "--target", "latest")
    assert read_tree(tmp_path / "latest" / "data") == changed

    # pruning deletes and rewrites packs; what is left must still read back whole
    restic("forget", "--keep-last", "1", "--prune")
    assert "no errors were found" in restic("check", "--read-data")
    restic("restore", "latest", "--target", "pruned")
    assert read_tree(tmp_path / "pruned" / "data") == changed


def test_duplicity_full_incremental_restore(gateway, s3, bucket, files, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    env = tool_env(
        home,
        AWS_ACCESS_KEY_ID=gateway.access_key,
        AWS_SECRET_ACCESS_KEY=gateway.secret_key,
        AWS_CONFIG_FILE=str(home / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "aws-credentials"),
        PASSPHRASE="correct horse battery staple",
        GNUPGHOME=str(home / "gnupg"),
    )
    (home / "aws-config").write_text("[default]\ns3 =\n    addressing_style = path\n")
    (home / "gnupg").mkdir(mode=0o700)
    url = f"boto3+s3://{bucket}/backup"  # the boto3 backend needs an existing bucket

    def duplicity(*args: str, archive: str = "archive") -> str:
        common = ["--archive-dir", str(tmp_path / archive), "--s3-endpoint-url", gateway.endpoint]
        common += ["--s3-region-name", "us-east-1", "--volsize", "4"]
        return run_tool(["duplicity", *args, *common], env)

    src = tmp_path / "src"
    write_tree(src, files)
    out = duplicity("full", str(src), url)
    assert "Errors 0" in out
    assert any(k.endswith(".vol3.difftar.gpg") for k in bucket_keys(s3, bucket, "backup/"))
    changed = _change(src, files)
    assert "Errors 0" in duplicity("incremental", str(src), url)

    # a restore on a fresh machine: no local archive, so the chain of a full and an
    # incremental backup (manifests, signatures, volumes) all comes from the gateway
    duplicity("restore", url, str(tmp_path / "restored"), archive="fresh-archive")
    assert read_tree(tmp_path / "restored") == changed


def test_not_implemented_probes_are_not_logged_as_faults(gateway, s3, bucket) -> None:  # type: ignore[no-untyped-def]
    """Tools probe for features (s3cmd setpolicy, setlifecycle, setacl); the 4xx and 501
    answers are expected, and a traceback for each in the gateway's log would bury real
    faults."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    ids = []
    for probe in (
        lambda: s3.put_bucket_policy(Bucket=bucket, Policy="{}"),
        lambda: s3.put_bucket_lifecycle_configuration(
            Bucket=bucket,
            LifecycleConfiguration={"Rules": [{"Status": "Enabled", "Prefix": ""}]},
        ),
        lambda: s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read"),
    ):
        with pytest.raises(ClientError) as exc:
            probe()
        assert exc.value.response["Error"]["Code"] in (
            "NotImplemented",
            "AccessControlListNotSupported",
        )
        ids.append(exc.value.response["ResponseMetadata"]["RequestId"])
    log = (gateway.data_dir / "gateway.log").read_text()
    assert not [i for i in ids if i in log]
