"""The gateway as a process: restarts, two gateways on one root, credentials, the embedded grid."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError


def test_restart_keeps_everything(grid, gateway_factory) -> None:
    gw = gateway_factory(grid.grid_file)
    s3 = gw.s3()
    s3.create_bucket(Bucket="restart")
    small, big = b"tiny", os.urandom(2 * 1024 * 1024)
    s3.put_object(Bucket="restart", Key="small", Body=small, Metadata={"k": "v"})
    s3.put_object(Bucket="restart", Key="big", Body=big)
    uid = s3.create_multipart_upload(Bucket="restart", Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket="restart", Key="mp", UploadId=uid, PartNumber=1, Body=b"part")[
        "ETag"
    ]
    gw.stop()
    gw.start()
    s3 = gw.s3()
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["restart"]
    assert s3.get_object(Bucket="restart", Key="small")["Metadata"] == {"k": "v"}
    assert s3.get_object(Bucket="restart", Key="big")["Body"].read() == big
    # the upload in progress survives too, and completes after the restart
    s3.complete_multipart_upload(
        Bucket="restart",
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    assert s3.get_object(Bucket="restart", Key="mp")["Body"].read() == b"part"
    assert not os.listdir(gw.data_dir / "spool")
    for name in ("credentials.json", "root.cap"):
        path = gw.data_dir / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name


def test_two_gateways_on_one_root(grid, gateway_factory, tmp_path) -> None:
    first = gateway_factory(grid.grid_file)
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    shutil.copy(first.data_dir / "root.cap", second_dir / "root.cap")
    second = gateway_factory(grid.grid_file, data_dir=second_dir)
    s1, s2 = first.s3(), second.s3()
    s1.create_bucket(Bucket="shared")
    time.sleep(1.2)  # the second gateway's catalog cache expires
    assert [b["Name"] for b in s2.list_buckets()["Buckets"]] == ["shared"]

    errors: list[BaseException] = []

    def put_many(client, prefix: str) -> None:  # type: ignore[no-untyped-def]
        try:
            for i in range(40):
                client.put_object(Bucket="shared", Key=f"{prefix}/{i:03d}", Body=prefix.encode())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=put_many, args=(client, f"{name}{t}"))
        for name, client in (("one", first.s3()), ("two", second.s3()))
        for t in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    time.sleep(1.2)
    for client in (s1, s2):
        keys = [
            o["Key"]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket="shared")
            for o in page.get("Contents", [])
        ]
        assert len(keys) == 160 and len(set(keys)) == 160
    # a multipart upload started on one gateway completes on the other
    uid = s1.create_multipart_upload(Bucket="shared", Key="mp")["UploadId"]
    e1 = s1.upload_part(
        Bucket="shared", Key="mp", UploadId=uid, PartNumber=1, Body=b"a" * (5 << 20)
    )
    e2 = s2.upload_part(Bucket="shared", Key="mp", UploadId=uid, PartNumber=2, Body=b"b")
    s2.complete_multipart_upload(
        Bucket="shared",
        Key="mp",
        UploadId=uid,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1["ETag"]}, {"PartNumber": 2, "ETag": e2["ETag"]}]
        },
    )
    time.sleep(1.2)
    assert s1.get_object(Bucket="shared", Key="mp")["Body"].read() == b"a" * (5 << 20) + b"b"


def test_keys_command(tmp_path) -> None:
    data_dir = tmp_path / "gw"

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["s3gw", "keys", *args, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    added = keys("add", "alice")
    assert added.returncode == 0, added.stderr
    access, secret = added.stdout.strip().splitlines()[-1].split()
    assert len(access) == 20 and len(secret) >= 40
    assert stat.S_IMODE((data_dir / "credentials.json").stat().st_mode) == 0o600
    assert keys("list").stdout.split() == ["alice", access]
    duplicate = keys("add", "alice")
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    bad = keys("add", "no spaces")
    assert bad.returncode == 1 and "invalid account name" in bad.stderr
    assert keys("remove", "alice").returncode == 0
    assert keys("list").stdout == ""
    missing = keys("remove", "alice")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


def test_key_added_while_serving_works_at_once(gateway) -> None:
    name = "live-" + uuid.uuid4().hex[:6]
    client = gateway.s3(*gateway.add_account(name))
    assert client.list_buckets()["Buckets"] == []
    subprocess.run(
        ["s3gw", "keys", "remove", "--data-dir", str(gateway.data_dir), name], check=True
    )
    with pytest.raises(ClientError) as exc:
        client.list_buckets()
    assert exc.value.response["Error"]["Code"] == "InvalidAccessKeyId"


@pytest.mark.slow
def test_serve_with_embedded_grid(tmp_path) -> None:
    """`s3gw serve` alone: ten storage nodes under the data dir, a first key printed once."""
    from tests.conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3GW_")}
    data_dir = tmp_path / "data"
    cmd = ["s3gw", "serve", "--data-dir", str(data_dir), "--port", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "serving S3" in line:
                break
        access, secret = lines[1].split()
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id=access,
            aws_secret_access_key=secret,
        )
        s3.create_bucket(Bucket="first")
        s3.put_object(Bucket="first", Key="k", Body=b"v" * 100_000)
        assert s3.get_object(Bucket="first", Key="k")["Body"].read() == b"v" * 100_000
        nodes = sorted(p.name for p in (data_dir / "grid").iterdir() if p.name.startswith("node"))
        assert len(nodes) == 10
        # A second gateway on the same data directory (another port) refuses to start,
        # before it would empty the spool or start the grid again; the first serves on.
        other = ["s3gw", "serve", "--data-dir", str(data_dir), "--port", str(free_port())]
        second = subprocess.run(other, capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 1 and "serving" not in second.stdout
        assert second.stderr == (
            f"s3gw: data directory {data_dir} is in use by another process (pid {proc.pid})\n"
        )
        assert s3.get_object(Bucket="first", Key="k")["Body"].read() == b"v" * 100_000
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        proc.stdout.close()
    # every storage node stopped with the gateway
    assert _node_pids(data_dir) == ""
    # a second start prints no new key; killed outright, it still leaves no node behind
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline()
        assert "serving S3" in first_line
        assert _node_pids(data_dir) != ""
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.stdout.close()
    deadline = time.monotonic() + 30
    while _node_pids(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _node_pids(data_dir) == ""


def _node_pids(data_dir) -> str:  # type: ignore[no-untyped-def]
    found = subprocess.run(["pgrep", "-f", str(data_dir / "grid")], capture_output=True, text=True)
    return found.stdout.strip()


def test_serve_https(grid, gateway_factory, tmp_path) -> None:
    import ssl

    import boto3
    import httpx

    from tests.s3gw.capture import make_self_signed

    cert_file, _key_file = make_self_signed(tmp_path)
    config = tmp_path / "tls.toml"
    config.write_text('tls-cert-file = "cert.pem"\ntls-key-file = "key.pem"\n')  # beside it
    gw = gateway_factory(grid.grid_file, config=config)
    s3 = boto3.client(
        "s3",
        endpoint_url=f"https://127.0.0.1:{gw.port}",
        region_name="us-east-1",
        aws_access_key_id=gw.access_key,
        aws_secret_access_key=gw.secret_key,
        verify=str(cert_file),
    )
    s3.create_bucket(Bucket="over-tls")
    data = os.urandom(70_000)
    s3.put_object(Bucket="over-tls", Key="k", Body=data)
    assert s3.get_object(Bucket="over-tls", Key="k")["Body"].read() == data
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "over-tls", "Key": "k"})
    assert url.startswith("https://")
    trusted = ssl.create_default_context(cafile=str(cert_file))
    assert httpx.get(url, verify=trusted).content == data
    with pytest.raises(httpx.HTTPError):  # plain HTTP is not served on that port
        httpx.get(f"http://127.0.0.1:{gw.port}/", timeout=5)


def test_tls_settings_are_checked_before_serving(tmp_path) -> None:
    config = tmp_path / "tls.toml"
    cases = [
        ('tls-cert-file = "missing.pem"\n', "go together"),
        ('tls-cert-file = "missing.pem"\ntls-key-file = "missing.key"\n', "cannot use TLS"),
    ]
    for settings, message in cases:
        config.write_text(settings)
        out = subprocess.run(
            ["s3gw", "serve", "--config", str(config), "--data-dir", str(tmp_path / "d")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "d" / "grid").exists()  # no storage node was started


def test_a_port_in_use_is_a_clear_message_before_anything_starts(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run(
            ["s3gw", "serve", "--data-dir", str(tmp_path / "d"), "--port", str(port)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"s3gw: cannot listen on 127.0.0.1:{port}: Address already in use" in out.stderr
    assert "another gateway?" in out.stderr and "serving" not in out.stdout
    assert not (tmp_path / "d").exists()  # no account made, no storage node started
