"""Mutable files (SDMF and MDMF) between real Tahoe-LAFS 1.20 and us, on the mixed server set.

Tahoe writes through its web API (what `tahoe put --mutable` calls), we read
and change with the library; and the other way round. Both sides also agree
on the cap a given private key makes (`tahoe put --mutable --private-key-path`).
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from lafs_core.client import Client
from lafs_core.grid_config import load_grid
from lafs_core.mutable.caps import Format, parse_mutable_cap

from .conftest import ServerSet, TahoeClientNode, lafs_cli, run_async

pytestmark = [
    pytest.mark.interop,
    # As in test_dirnode_interop: sockets to real Tahoe storage nodes left for the collector.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

BIG = bytes(range(251)) * 1100  # 276100 bytes: three MDMF segments


@pytest.fixture
def mixed(interop_grid) -> ServerSet:  # type: ignore[no-untyped-def]
    return interop_grid.sets["mixed"]


def web(t: TahoeClientNode, method: str, path: str, data: bytes | None = None) -> bytes:
    url = f"http://127.0.0.1:{t.web_port}{path}"
    req = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return bytes(r.read())
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        exc.close()
        raise AssertionError(f"{method} {url}: {exc.code} {body[-1500:]}") from None


def uri(cap: str) -> str:
    return "/uri/" + urllib.parse.quote(cap)


async def _read(grid: Path, cap: str) -> bytes:
    async with Client(load_grid(grid)) as client:
        return await client.mutable(parse_mutable_cap(cap)).download_best_version()  # type: ignore[arg-type]


async def _change(grid: Path, cap: str, suffix: bytes) -> bytes:
    async with Client(load_grid(grid)) as client:
        node = client.mutable(parse_mutable_cap(cap))  # type: ignore[arg-type]
        await node.modify(lambda old, first: old + suffix)
        return await node.download_best_version()


async def _create(grid: Path, data: bytes, fmt: Format) -> str:
    async with Client(load_grid(grid)) as client:
        return (await client.create_mutable(data, fmt)).cap.to_string()


@pytest.mark.parametrize("fmt", ["sdmf", "mdmf"])
def test_tahoe_writes_we_read_and_change(mixed: ServerSet, fmt: Format) -> None:
    t = mixed.tahoe_client()
    cap = web(t, "PUT", f"/uri?format={fmt.upper()}", b"first").decode().strip()
    assert cap.startswith("URI:SSK:" if fmt == "sdmf" else "URI:MDMF:")
    web(t, "PUT", uri(cap), BIG)  # a second version
    assert run_async(_read(mixed.grid_file, cap)) == BIG
    ro = parse_mutable_cap(cap).readonly().to_string()  # type: ignore[union-attr]
    assert run_async(_read(mixed.grid_file, ro)) == BIG
    assert run_async(_change(mixed.grid_file, cap, b"+ours")) == BIG + b"+ours"
    assert web(t, "GET", uri(cap)) == BIG + b"+ours"
    assert web(t, "GET", uri(ro)) == BIG + b"+ours"


@pytest.mark.parametrize("fmt", ["sdmf", "mdmf"])
def test_we_write_tahoe_reads_and_changes(mixed: ServerSet, fmt: Format) -> None:
    t = mixed.tahoe_client()
    cap = run_async(_create(mixed.grid_file, BIG, fmt))
    assert web(t, "GET", uri(cap)) == BIG
    ro = parse_mutable_cap(cap).readonly().to_string()  # type: ignore[union-attr]
    assert web(t, "GET", uri(ro)) == BIG
    web(t, "PUT", uri(cap), b"changed by tahoe")
    assert run_async(_read(mixed.grid_file, cap)) == b"changed by tahoe"
    assert run_async(_change(mixed.grid_file, cap, b" and us")) == b"changed by tahoe and us"
    assert web(t, "GET", uri(ro)) == b"changed by tahoe and us"


def _key_file(path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_put_with_a_private_key_on_both_sides(mixed: ServerSet, tmp_path: Path) -> None:
    t = mixed.tahoe_client()
    data = tmp_path / "data"
    data.write_bytes(b"made with a given key")
    grid = ["--grid", str(mixed.grid_file)]
    for who, pem in (
        ("ours", _key_file(tmp_path / "a.pem")),
        ("tahoe", _key_file(tmp_path / "b.pem")),
    ):
        args = ["--mutable", "--format=mdmf", f"--private-key-path={pem}", str(data)]
        if who == "ours":
            cap = lafs_cli(*grid, "put", *args).stdout.strip()
        else:
            cap = t.cli("put", *args).stdout.strip()
        offline = lafs_cli("cap", "--mutable", "--format", "mdmf", "--private-key-path", str(pem))
        assert offline.stdout.splitlines()[0] == cap
        assert web(t, "GET", uri(cap)) == b"made with a given key"
        assert run_async(_read(mixed.grid_file, cap)) == b"made with a given key"
