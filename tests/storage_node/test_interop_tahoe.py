"""Serve a storage/ directory written by a REAL Tahoe-LAFS 1.20 node (spec HTTP 12 recipe).

Needs Tahoe-LAFS 1.20 in a virtualenv at $TAHOE_VENV (default /opt/tahoe-venv);
failing with a message when it is missing. Run alone with `pytest -m interop`.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from lafs_core import base32
from lafs_core.nurl import spki_hash_of_cert
from storage_node import container as c

from ..conftest import StorageNodeFactory

pytestmark = [pytest.mark.interop, pytest.mark.slow]

TAHOE = Path(os.environ.get("TAHOE_VENV", "/opt/tahoe-venv")) / "bin" / "tahoe"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tahoe(*args: str, timeout: float = 120) -> str:
    return subprocess.run(
        [str(TAHOE), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    ).stdout


def _start(node_dir: Path) -> subprocess.Popen[bytes]:
    with open(node_dir.parent / f"{node_dir.name}.log", "wb") as log:
        return subprocess.Popen(
            [str(TAHOE), "run", str(node_dir)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE,  # closed when this process dies: so the node stops too
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.2)


def _nurl_for(node_dir: Path) -> tuple[str, str]:
    pem = (node_dir / "private" / "node.pem").read_text()
    cert = pem[: pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")]
    pin = spki_hash_of_cert(cert[cert.index("-----BEGIN CERTIFICATE-----") :])
    furl = (node_dir / "private" / "storage.furl").read_text().strip()
    cfg = configparser.ConfigParser()
    cfg.read(node_dir / "tahoe.cfg")
    _, host, port = cfg.get("node", "tub.location").split(",")[0].split(":")
    return f"pb://{pin}@{host}:{port}/{furl.rsplit('/', 1)[1]}#v=1", furl


def _share_data(raw: bytes) -> bytes:
    if c.share_kind(raw) == "mutable":
        h = c.parse_mutable_header(raw)
        return raw[c.MUTABLE_DATA_OFFSET : c.MUTABLE_DATA_OFFSET + h.data_length]
    h = c.parse_immutable_header(raw)
    length = c.immutable_data_length(len(raw), h.lease_count)
    return raw[c.IMMUTABLE_HEADER_SIZE : c.IMMUTABLE_HEADER_SIZE + length]


@pytest.fixture(scope="module")
def tahoe_storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage/ directory filled by a real Tahoe 1.20 storage node via a real client."""
    if not TAHOE.exists():
        pytest.fail(f"no Tahoe-LAFS at {TAHOE} (set TAHOE_VENV, or install it with: bash .ci/run)")
    base = tmp_path_factory.mktemp("tahoe")
    port = _free_port()
    s1, c0 = base / "s1", base / "c0"
    _tahoe(
        "create-node",
        "--nickname=s1",
        f"--port=tcp:{port}:interface=127.0.0.1",
        f"--location=tcp:127.0.0.1:{port}",
        "--webport=none",
        str(s1),
    )
    server = _start(s1)
    client = None
    try:
        _wait_for(s1 / "private" / "storage.furl")
        nurl, furl = _nurl_for(s1)
        pubkey = (s1 / "node.pubkey").read_text().strip().removeprefix("pub-v0-")
        web = _free_port()
        _tahoe(
            "create-client",
            "--nickname=c0",
            f"--webport=tcp:{web}:interface=127.0.0.1",
            "--shares-needed=1",
            "--shares-happy=1",
            "--shares-total=1",
            str(c0),
        )
        (c0 / "private" / "servers.yaml").write_text(
            "storage:\n"
            f"  v0-{pubkey}:\n"
            "    ann:\n"
            f"      anonymous-storage-FURL: {furl}\n"
            f"      anonymous-storage-NURLs: ['{nurl}']\n"
            f"      nickname: s1\n"
        )
        client = _start(c0)
        src = base / "file.bin"
        src.write_bytes(os.urandom(200_000))
        deadline = time.monotonic() + 60
        while True:
            try:
                _tahoe("-d", str(c0), "put", str(src), timeout=60)
                _tahoe("-d", str(c0), "put", "--mutable", str(src), timeout=60)
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    finally:
        if client is not None:
            _stop(client)
        _stop(server)
    return s1 / "storage"


@pytest.mark.anyio
async def test_serve_real_tahoe_storage(
    tahoe_storage: Path, storage_node_factory: StorageNodeFactory
) -> None:
    node = storage_node_factory.create(start=False)
    shutil.rmtree(node.storage_dir)
    shutil.copytree(tahoe_storage, node.storage_dir)
    shares = sorted(p for p in (node.storage_dir / "shares").glob("??/*/*") if p.name.isdigit())
    kinds = {c.share_kind(p.read_bytes()) for p in shares}
    assert kinds == {"immutable", "mutable"}, shares
    node.start()
    try:
        async with node.client() as client:
            for path in shares:
                si = base32.a2b(path.parent.name)
                shnum = int(path.name)
                raw = path.read_bytes()
                expected = _share_data(raw)
                if c.share_kind(raw) == "immutable":
                    assert await client.list_shares(si) == {shnum}
                    got = await client.read_share_chunk(si, shnum, 0, len(expected) + 100)
                    assert await client.read_share_chunk(si, shnum, 5, 10) == expected[5:15]
                else:
                    assert await client.list_mutable_shares(si) == {shnum}
                    got = await client.read_mutable_share_chunk(si, shnum, 0, len(expected) + 9)
                assert got == expected
                # Lease renewal on Tahoe's containers keeps the data intact.
                renew = hashlib.sha256(b"renew" + si).digest()
                assert await client.add_or_renew_lease(
                    si, renew, base64.b64decode(base64.b64encode(os.urandom(32)))
                )
                assert _share_data(path.read_bytes()) == expected
    finally:
        node.stop()


def test_real_tahoe_client_uses_our_node(
    tmp_path: Path, storage_node_factory: StorageNodeFactory
) -> None:
    """A real 1.20 client uploads, downloads, modifies and lease-checks files on our node."""
    if not TAHOE.exists():
        pytest.fail(f"no Tahoe-LAFS at {TAHOE} (set TAHOE_VENV, or install it with: bash .ci/run)")
    from storage_node.config import read_config

    node = storage_node_factory.create()
    config = read_config(node.node_dir)
    tubid = base32.b2a(config.nodeid)
    furl = f"pb://{tubid}@tcp:127.0.0.1:1/{config.swissnum}"
    c1 = tmp_path / "c1"
    web = _free_port()
    _tahoe(
        "create-client",
        "--nickname=c1",
        f"--webport=tcp:{web}:interface=127.0.0.1",
        "--shares-needed=1",
        "--shares-happy=1",
        "--shares-total=2",
        str(c1),
    )
    (c1 / "private" / "servers.yaml").write_text(
        "storage:\n"
        "  our-node:\n"
        "    ann:\n"
        f"      anonymous-storage-FURL: {furl}\n"
        f"      anonymous-storage-NURLs: ['{node.nurl}']\n"
    )
    client = _start(c1)
    try:
        src = tmp_path / "in.bin"
        data = os.urandom(300_000)
        src.write_bytes(data)
        deadline = time.monotonic() + 60
        while True:
            try:
                cap = _tahoe("-d", str(c1), "put", str(src), timeout=60).strip()
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert cap.startswith("URI:CHK:")
        out = tmp_path / "out.bin"
        _tahoe("-d", str(c1), "get", cap, str(out))
        assert out.read_bytes() == data
        again = _tahoe("-d", str(c1), "put", str(src)).strip()
        assert again == cap  # answered from already-have
        mcap = _tahoe("-d", str(c1), "put", "--mutable", str(src)).strip()
        assert mcap.startswith("URI:SSK:")
        src.write_bytes(b"changed " * 1000)
        _tahoe("-d", str(c1), "put", str(src), mcap)
        _tahoe("-d", str(c1), "get", mcap, str(out))
        assert out.read_bytes() == b"changed " * 1000
        check = _tahoe("-d", str(c1), "check", "--add-lease", cap)
        assert "Healthy" in check or "healthy" in check
    finally:
        _stop(client)
    shares = [p for p in (node.storage_dir / "shares").glob("??/*/*") if p.name.isdigit()]
    kinds = sorted(c.share_kind(p.read_bytes()) for p in shares)
    assert kinds == ["immutable", "immutable", "mutable", "mutable"]
    node.stop()
