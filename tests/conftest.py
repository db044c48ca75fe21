"""Shared fixtures that start the real things.

Storage nodes (owner: storage_node):

* `storage_node_factory` (session): `factory.create(**options)` makes and
  starts one real `storage-node` process on 127.0.0.1 with an OS-chosen port
  and a fresh directory; `factory.create_many(n)` makes n. Every process is
  stopped at the end of the session. Options: `reserved_space="1G"`,
  `storage_options={"expire.enabled": "true"}`, `start=False`.
* `storage_nodes` (session): three running nodes, shared: tests must use
  fresh random storage indexes and must not stop them.
* `storage_node`: the first of `storage_nodes`.
* `anyio_backend`: async tests run on asyncio (`@pytest.mark.anyio`).

A `StorageNodeProcess` has `node_dir`, `nurl`, `storage_dir`, `start()`,
`stop()` (SIGTERM, clean), `kill()` (SIGKILL), `restart()` and `client()`
(a `StorageClient`; use it as `async with node.client() as c:`).
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lafs_core.grid_config import GridConfig, format_grid, load_grid
from lafs_core.immutable.params import EncodingParams
from lafs_core.nurl import parse_nurl
from lafs_core.storage_client import StorageClient
from lafs_core.storage_protocol import CBOR_MIME, authorization_value, version_path

STARTUP_TIMEOUT = 30.0


def storage_node_command() -> list[str]:
    exe = shutil.which("storage-node")
    return [exe] if exe else [sys.executable, "-m", "storage_node"]


class StorageNodeProcess:
    """One real `storage-node run` process and its node directory."""

    def __init__(self, node_dir: Path, nurl: str, file_size_limit: int | None = None) -> None:
        self.node_dir = node_dir
        self.nurl = nurl
        self.file_size_limit = file_size_limit  # the process's RLIMIT_FSIZE, if any
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = node_dir / "node.log"

    @property
    def storage_dir(self) -> Path:
        return self.node_dir / "storage"

    def client(self) -> StorageClient:
        return StorageClient(self.nurl)

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        limit = self.file_size_limit
        limit_file_size = (
            None
            if limit is None
            else functools.partial(resource.setrlimit, resource.RLIMIT_FSIZE, (limit, limit))
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*storage_node_command(), "run", str(self.node_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=limit_file_size,
            )
        self.wait_ready()

    def wait_ready(self) -> None:
        """Poll `GET version` (synchronously, so async tests may call it too)."""
        nurl = parse_nurl(self.nurl)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        headers = {"Authorization": authorization_value(nurl.swissnum), "Accept": CBOR_MIME}
        deadline = time.monotonic() + STARTUP_TIMEOUT
        with httpx.Client(verify=ctx, timeout=5.0) as http:
            while True:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"storage node exited ({self.process.returncode}): "
                        + self.log_path.read_text(errors="replace")[-2000:]
                    )
                try:
                    response = http.get(f"{nurl.base_url}{version_path()}", headers=headers)
                    if response.status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"storage node in {self.node_dir} did not start")
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait: a clean shutdown. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()


class StorageNodeFactory:
    def __init__(self, base: Path) -> None:
        self._base = base
        self._nodes: list[StorageNodeProcess] = []

    def create(
        self,
        *,
        reserved_space: str = "0",
        storage_options: dict[str, str] | None = None,
        start: bool = True,
        file_size_limit: int | None = None,
    ) -> StorageNodeProcess:
        node_dir = self._base / f"node{len(self._nodes)}"
        cmd = [*storage_node_command(), "create", str(node_dir), "--host", "127.0.0.1"]
        cmd += ["--reserved-space", reserved_space]
        for key, value in (storage_options or {}).items():
            cmd += ["--storage-option", f"{key}={value}"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        node = StorageNodeProcess(node_dir, out.strip().splitlines()[-1], file_size_limit)
        self._nodes.append(node)
        if start:
            node.start()
        return node

    def create_many(self, count: int, **options: object) -> list[StorageNodeProcess]:
        return [self.create(**options) for _ in range(count)]  # type: ignore[arg-type]

    def stop_all(self) -> None:
        for node in self._nodes:
            try:
                node.stop()
            except (subprocess.TimeoutExpired, OSError):
                node.kill()


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def storage_node_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StorageNodeFactory]:
    factory = StorageNodeFactory(tmp_path_factory.mktemp("storage-nodes"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="session")
def storage_nodes(storage_node_factory: StorageNodeFactory) -> list[StorageNodeProcess]:
    return storage_node_factory.create_many(3)


@pytest.fixture
def storage_node(storage_nodes: list[StorageNodeProcess]) -> StorageNodeProcess:
    return storage_nodes[0]


# -- grids (owner: lafs_core) -------------------------------------------------


class Grid:
    """Real storage nodes plus a grid file naming them (k=3, happy=7, n=10 by default)."""

    def __init__(self, nodes: list[StorageNodeProcess], grid_file: Path) -> None:
        self.nodes = nodes
        self.grid_file = grid_file

    @classmethod
    def write(
        cls,
        nodes: list[StorageNodeProcess],
        grid_file: Path,
        encoding: EncodingParams,
        names: list[str] | None = None,
    ) -> Grid:
        """The grid of `nodes`, its file written (nicknames node0, node1... unless `names`)."""
        names = names or [f"node{i}" for i in range(len(nodes))]
        servers = [(name, node.nurl, None) for name, node in zip(names, nodes)]
        grid_file.write_text(format_grid(encoding, servers))
        return cls(nodes, grid_file)

    def config(self) -> GridConfig:
        return load_grid(self.grid_file)

    def restart_stopped(self) -> None:
        for node in self.nodes:
            if node.process is None or node.process.poll() is not None:
                node.start()

    def share_bytes(self) -> dict[str, int]:
        """Storage index (base32) -> bytes of its share files, over every node."""
        sizes: dict[str, int] = {}
        for node in self.nodes:
            for path in (node.storage_dir / "shares").glob("??/*/*"):
                si = path.parent.name
                sizes[si] = sizes.get(si, 0) + path.stat().st_size
        return sizes

    def run_expiry(self, now: float) -> int:
        """Stop each node, run its real lease-expiry crawler once as if it were `now`,
        start it again; the bytes of space recovered."""
        from storage_node.backend import Backend
        from storage_node.config import read_config
        from storage_node.crawler import LeaseCrawler

        freed = 0
        for node in self.nodes:
            node.stop()
            cfg = read_config(Path(node.node_dir))
            crawler = LeaseCrawler(
                Backend(cfg.storage_dir, cfg.nodeid), cfg.expiry, clock=lambda: now
            )
            freed += crawler.run_cycle().space_recovered
            node.start()
        return freed


@pytest.fixture(scope="session")
def grid(
    storage_node_factory: StorageNodeFactory, tmp_path_factory: pytest.TempPathFactory
) -> Grid:
    """Ten running nodes shared by the session; tests that stop nodes restart them."""
    nodes = storage_node_factory.create_many(10)
    return Grid.write(
        nodes, tmp_path_factory.mktemp("grid") / "grid.toml", EncodingParams(3, 7, 10)
    )


LEASE_SECONDS = 60  # the lease duration of `expiring_grid`


@pytest.fixture(scope="module")
def expiring_grid(
    storage_node_factory: StorageNodeFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Grid]:
    """Five nodes (k=3, happy=4, n=5) whose leases last LEASE_SECONDS; tests run the expiry
    crawler themselves (`Grid.run_expiry`)."""
    options = {
        "expire.enabled": "true",
        "expire.override_lease_duration": f"{LEASE_SECONDS}s",
        "crawler.first_delay": "86400",
    }
    nodes = storage_node_factory.create_many(5, storage_options=options)
    grid_file = tmp_path_factory.mktemp("expiring-grid") / "grid.toml"
    yield Grid.write(nodes, grid_file, EncodingParams(3, 4, 5))
    for node in nodes:
        node.stop()


@pytest.fixture
def healthy_grid(grid: Grid) -> Iterator[Grid]:
    """The shared grid, with every node running before and after the test."""
    grid.restart_stopped()
    try:
        yield grid
    finally:
        grid.restart_stopped()


# -- gateways (owner: s3gw) ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatewayProcess:
    """A real `s3gw serve` on 127.0.0.1 over a grid file, with a root account from the
    environment (`access_key`, `secret_key`); `s3()` is a boto3 client for it."""

    def __init__(
        self,
        data_dir: Path,
        grid_file: Path | None,
        port: int | None = None,
        config: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.grid_file = grid_file
        self.config = config
        self.port = port or free_port()
        self.access_key = "GKTESTROOT" + data_dir.name[-10:].upper().replace("-", "X")
        self.secret_key = "test-secret-" + data_dir.name
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "S3GW_ACCESS_KEY": self.access_key,
            "S3GW_SECRET_KEY": self.secret_key,
        }

    def start(self, timeout: float = 60.0) -> None:
        cmd = [shutil.which("s3gw") or "s3gw", "serve", "--data-dir", str(self.data_dir)]
        cmd += ["--port", str(self.port)]
        if self.grid_file is not None:
            cmd += ["--grid", str(self.grid_file)]
        if self.config is not None:
            cmd += ["--config", str(self.config)]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "gateway.log", "ab")
        self.process = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"s3gw exited: {(self.data_dir / 'gateway.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("s3gw did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def add_account(self, name: str) -> tuple[str, str]:
        """A new account's (access key, secret), added with `s3gw keys add` while serving."""
        out = subprocess.run(
            ["s3gw", "keys", "add", "--data-dir", str(self.data_dir), name],
            capture_output=True,
            text=True,
            check=True,
        )
        access, secret = out.stdout.strip().splitlines()[-1].split()
        return access, secret

    def s3(self, access_key: str | None = None, secret_key: str | None = None, **config: Any):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1, "mode": "standard"},
                **config,
            ),
        )


@pytest.fixture(scope="session")
def gateway_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., GatewayProcess]]:
    """`make(grid_file=..., data_dir=..., config=...)` starts a gateway; all are stopped at
    session end."""
    started: list[GatewayProcess] = []

    def make(
        grid_file: Path | None,
        data_dir: Path | None = None,
        start: bool = True,
        config: Path | None = None,
    ) -> GatewayProcess:
        data_dir = data_dir or tmp_path_factory.mktemp("gateway")
        gw = GatewayProcess(data_dir, grid_file, config=config)
        if start:
            gw.start()
        started.append(gw)
        return gw

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture(scope="session")
def gateway(grid: Grid, gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    """One gateway over the shared grid for the session; tests use their own buckets."""
    return gateway_factory(grid.grid_file)


@pytest.fixture
def s3(gateway: GatewayProcess):  # type: ignore[no-untyped-def]
    return gateway.s3()


@pytest.fixture
def bucket(s3) -> str:  # type: ignore[no-untyped-def]
    """A fresh, empty bucket of the session gateway's root account."""
    import uuid

    name = "b-" + uuid.uuid4().hex[:20]
    s3.create_bucket(Bucket=name)
    return name
