"""Fixtures for interoperability tests against the real Tahoe-LAFS 1.20.

Tahoe is found in the virtualenv `$TAHOE_VENV` (default `/opt/tahoe-venv`);
without a Tahoe-LAFS 1.20.0 there, every interop test fails with a message
saying how to install it (`bash .ci/run` does).

One session-wide set of processes serves every test (all on 127.0.0.1):

* `REAL_STORAGE` real Tahoe 1.20 storage nodes (`tahoe create-node`);
* `OURS_STORAGE` of our `storage-node` processes (from `storage_node_factory`);
* three real Tahoe 1.20 client nodes, each configured through
  `private/servers.yaml` (no introducer) with HTTPS NURLs:
  `real` (the real storage nodes), `ours` (our storage nodes) and `mixed`
  (all of them);
* for each of those three server sets, a grid file for our client with the
  same encoding parameters and the same convergence secret as the Tahoe
  client of that set, so both produce identical caps.

Tahoe nodes are created in parallel and started through a small launcher
that runs the unmodified `tahoe run` with its Foolscap log port (which 1.20
always opens on all interfaces) bound to 127.0.0.1 instead.
"""

from __future__ import annotations

import asyncio
import base64
import configparser
import hashlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lafs_core import base32
from lafs_core.nurl import parse_nurl
from lafs_core.uri import CHKReadCap, parse_cap

TAHOE_VERSION = "1.20.0"
REAL_STORAGE = 5
OURS_STORAGE = 5
MAX_SEGMENT_SIZE = 1048576  # the Tahoe-LAFS 1.20 default

# Encoding parameters (k, happy, n) for each server set.
ENCODING = {
    "real": (3, 5, 10),
    "ours": (3, 5, 10),
    "mixed": (3, 7, 10),
}

CREATE_TIMEOUT = 180.0
START_TIMEOUT = 90.0
CLI_TIMEOUT = 300.0

# The immutable share container a storage server keeps (both Tahoe's and ours).
CONTAINER_HEADER = struct.Struct(">LLL")  # version, data length, lease count
LEASE_RECORD = struct.Struct(">L32s32sL")  # owner, renew secret, cancel secret, expiry
LEASE_RECORD_SIZE = LEASE_RECORD.size  # 72


def tahoe_venv() -> Path:
    return Path(os.environ.get("TAHOE_VENV", "/opt/tahoe-venv"))


def tahoe_executable() -> Path:
    return tahoe_venv() / "bin" / "tahoe"


def tahoe_interpreter() -> Path:
    return tahoe_venv() / "bin" / "python"


# Runs `tahoe <args>` in the Tahoe virtualenv, with the one listener Tahoe
# opens on an unused port of every interface (the Foolscap log port) moved
# to the loopback interface. Nothing else is changed.
LOOPBACK_LAUNCHER = r"""
import socket
import sys

import allmydata.util.iputil as _iputil


def _loopback_listen_on_unused(tub, portnum=None):
    if portnum is None:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind(("127.0.0.1", 0))
            portnum = probe.getsockname()[1]
        finally:
            probe.close()
    tub.listenOn("tcp:%d:interface=127.0.0.1" % (portnum,))
    tub.setLocation("127.0.0.1:%d" % (portnum,))
    return portnum


_iputil.listenOnUnused = _loopback_listen_on_unused

from allmydata.scripts.runner import run as _tahoe_main

sys.exit(_tahoe_main(argv=["tahoe"] + sys.argv[1:]))
"""


def b32(data: bytes) -> str:
    return base32.b2a(data)


def unused_ports(count: int) -> list[int]:
    """Ports the OS considers free on 127.0.0.1 (held together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(predicate: Any, timeout: float, what: str, check: Any = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if check is not None:
            check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def edit_tahoe_cfg(nodedir: Path, changes: dict[str, dict[str, str]]) -> None:
    path = nodedir / "tahoe.cfg"
    cfg = configparser.RawConfigParser()
    cfg.read(path)
    for section, items in changes.items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        for key, value in items.items():
            cfg.set(section, key, value)
    with open(path, "w") as f:
        cfg.write(f)


def spki_pin(cert_pem: bytes) -> str:
    """b64url(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate: a NURL's userinfo."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate(cert_pem)
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(spki).digest()).rstrip(b"=").decode("ascii")


def pin_bytes(nurl: str) -> bytes:
    pin = parse_nurl(nurl).spki_hash
    return base64.urlsafe_b64decode(pin + "=" * (-len(pin) % 4))


@dataclass
class Container:
    """An immutable share container file (spec tahoe-disk-and-leases.md §4)."""

    version: int  # 2 for every container 1.20 creates; 1 is legacy
    share: bytes
    leases: list[tuple[int, bytes, bytes, int]]  # owner, renew, cancel (as stored), expiry

    @classmethod
    def parse(cls, raw: bytes) -> Container:
        version, _length, count = CONTAINER_HEADER.unpack_from(raw)
        assert version in (1, 2), f"unknown immutable container version {version}"
        end = len(raw) - LEASE_RECORD_SIZE * count
        assert end >= CONTAINER_HEADER.size, "lease records overlap the header"
        leases = [LEASE_RECORD.unpack_from(raw, end + i * LEASE_RECORD_SIZE) for i in range(count)]
        return cls(version, raw[CONTAINER_HEADER.size : end], leases)

    def stored(self, secret: bytes) -> bytes:
        """How this container stores a lease secret: BLAKE2b-256 (v2) or as is (v1)."""
        return secret if self.version == 1 else hashlib.blake2b(secret, digest_size=32).digest()


def storage_index_text(cap: str) -> str:
    parsed = parse_cap(cap)
    assert isinstance(parsed, CHKReadCap), f"not a CHK read-cap: {cap}"
    return b32(parsed.storage_index)


def shares_in(storage_dir: Path, si: str) -> dict[int, Path]:
    """Finished immutable shares of one storage index under a storage directory."""
    bucket = storage_dir / "shares" / si[:2] / si
    if not bucket.is_dir():
        return {}
    return {int(p.name): p for p in bucket.iterdir() if p.name.isdigit()}


def run_async(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------------
# Tahoe nodes
# ---------------------------------------------------------------------------


class TahoeNode:
    """One real Tahoe-LAFS node directory and (when started) its `tahoe run` process."""

    def __init__(self, basedir: Path) -> None:
        self.basedir = basedir
        self.name = basedir.name
        self.log_path = basedir.parent / f"{basedir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, f"{self.name} already started"
        with open(self.log_path, "ab") as log:
            # `tahoe run` stops when its stdin closes: a pipe from this process, so a
            # killed test run leaves no node behind to hold ports and confuse the next.
            self.process = subprocess.Popen(
                [str(tahoe_interpreter()), "-c", LOOPBACK_LAUNCHER, "run", str(self.basedir)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError(f"Tahoe node {self.name} is not running:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM (a clean stop), SIGKILL if it lingers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process = None


class TahoeStorageNode(TahoeNode):
    def __init__(self, basedir: Path, port: int) -> None:
        super().__init__(basedir)
        self.port = port

    def create_command(self) -> list[str]:
        return [
            str(tahoe_executable()),
            "create-node",
            f"--nickname={self.name}",
            f"--port=tcp:{self.port}:interface=127.0.0.1",
            f"--location=tcp:127.0.0.1:{self.port}",
            "--webport=none",
            str(self.basedir),
        ]

    def configure(self) -> None:
        # create-node reserves 1G; a scratch node on a shared disk should not refuse shares.
        edit_tahoe_cfg(self.basedir, {"storage": {"reserved_space": "0"}})

    def ready(self) -> bool:
        """The files 1.20 writes on its first start, that servers.yaml needs."""
        return all(
            (self.basedir / p).is_file() and (self.basedir / p).stat().st_size > 0
            for p in ("private/storage.furl", "permutation-seed", "node.pubkey")
        )

    @property
    def storage_dir(self) -> Path:
        return self.basedir / "storage"

    @property
    def furl(self) -> str:
        return (self.basedir / "private" / "storage.furl").read_text().strip()

    @property
    def tub_id(self) -> str:
        """The 32-character base32 tub ID of the storage fURL (the lease seed)."""
        return self.furl[len("pb://") :].split("@", 1)[0]

    @property
    def permutation_seed(self) -> str:
        return (self.basedir / "permutation-seed").read_text().strip()

    @property
    def server_id(self) -> str:
        pubkey = (self.basedir / "node.pubkey").read_text().strip()
        assert pubkey.startswith("pub-v0-"), pubkey
        return "v0-" + pubkey[len("pub-v0-") :]

    @property
    def nurl(self) -> str:
        """The HTTPS NURL 1.20 announces, rebuilt from the node directory (spec §3, §12)."""
        pin = spki_pin((self.basedir / "private" / "node.pem").read_bytes())
        swissnum = self.furl.rsplit("/", 1)[1]
        cfg = configparser.RawConfigParser()
        cfg.read(self.basedir / "tahoe.cfg")
        hint = cfg.get("node", "tub.location").split(",")[0]
        kind, host, port = hint.split(":")
        assert kind == "tcp", hint
        return f"pb://{pin}@{host}:{port}/{swissnum}#v=1"


@dataclass
class ServerEntry:
    """One storage server as both a Tahoe client and our grid file describe it."""

    nickname: str
    nurl: str
    server_id: str  # servers.yaml key
    furl: str  # anonymous-storage-FURL (only its tub ID matters over HTTPS)
    permutation_seed: str  # base32
    lease_seed: str  # base32 of the 20-byte tub ID
    storage_dir: Path
    kind: str  # "real" or "ours"

    @classmethod
    def for_tahoe(cls, node: TahoeStorageNode) -> ServerEntry:
        return cls(
            node.name,
            node.nurl,
            node.server_id,
            node.furl,
            node.permutation_seed,
            node.tub_id,
            node.storage_dir,
            "real",
        )

    @classmethod
    def for_ours(cls, nickname: str, nurl: str, storage_dir: Path) -> ServerEntry:
        # Our grid file's defaults for a server without seeds: the permutation
        # seed is the 32-byte SPKI pin, the lease seed its first 20 bytes. Give
        # Tahoe the same values so both clients use the same ring and leases.
        pin = pin_bytes(nurl)
        tub_id = b32(pin[:20])
        swissnum = parse_nurl(nurl).swissnum
        return cls(
            nickname,
            nurl,
            "v0-" + b32(pin),
            f"pb://{tub_id}@tcp:127.0.0.1:1/{swissnum}",
            b32(pin),
            tub_id,
            storage_dir,
            "ours",
        )

    def servers_yaml_entry(self) -> dict[str, Any]:
        return {
            "ann": {
                "nickname": self.nickname,
                "anonymous-storage-FURL": self.furl,
                "anonymous-storage-NURLs": [self.nurl],
                "permutation-seed-base32": self.permutation_seed,
            }
        }


class TahoeClientNode(TahoeNode):
    def __init__(self, basedir: Path, web_port: int, encoding: tuple[int, int, int]) -> None:
        super().__init__(basedir)
        self.web_port = web_port
        self.encoding = encoding
        self.servers: list[ServerEntry] = []

    def create_command(self) -> list[str]:
        k, happy, n = self.encoding
        return [
            str(tahoe_executable()),
            "create-client",
            f"--nickname={self.name}",
            f"--webport=tcp:{self.web_port}:interface=127.0.0.1",
            f"--shares-needed={k}",
            f"--shares-happy={happy}",
            f"--shares-total={n}",
            str(self.basedir),
        ]

    def configure(self, servers: list[ServerEntry]) -> None:
        self.servers = servers
        k, happy, n = self.encoding
        edit_tahoe_cfg(
            self.basedir,
            {
                "client": {
                    "shares.needed": str(k),
                    "shares.happy": str(happy),
                    "shares.total": str(n),
                }
            },
        )
        doc = {"storage": {s.server_id: s.servers_yaml_entry() for s in servers}}
        # JSON is valid YAML.
        (self.basedir / "private" / "servers.yaml").write_text(json.dumps(doc, indent=1) + "\n")

    @property
    def convergence(self) -> str:
        return (self.basedir / "private" / "convergence").read_text().strip()

    def welcome(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/?t=json", timeout=5) as r:
            return json.load(r)

    def connection_statuses(self) -> dict[str, str]:
        try:
            status = self.welcome()
        except (OSError, ValueError) as exc:
            return {"(web API)": f"unreachable: {exc}"}
        return {
            str(s.get("nickname") or s.get("nodeid")): str(s.get("connection_status", ""))
            for s in status.get("servers", [])
        }

    def all_connected(self) -> bool:
        statuses = self.connection_statuses()
        connected = [v for v in statuses.values() if v.lower().startswith("connected")]
        return len(connected) == len(self.servers)

    def wait_connected(self, timeout: float = START_TIMEOUT) -> None:
        try:
            wait_until(
                self.all_connected,
                timeout,
                f"Tahoe client {self.name} to connect to its servers",
                self.check_alive,
            )
        except TimeoutError as exc:
            raise TimeoutError(
                f"{exc}; statuses: {self.connection_statuses()}\n{self.log_tail()}"
            ) from None

    # -- the `tahoe` command line (as a user runs it) ----------------------
    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [str(tahoe_executable()), "-d", str(self.basedir), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if check and res.returncode != 0:
            raise AssertionError(
                f"`tahoe {' '.join(args)}` on {self.name} exited {res.returncode}:\n"
                f"stdout: {res.stdout[-3000:]}\nstderr: {res.stderr[-3000:]}\n"
                f"node log:\n{self.log_tail()}"
            )
        return res

    def put(self, path: Path) -> str:
        cap = self.cli("put", str(path)).stdout.strip().splitlines()[-1]
        assert cap.startswith("URI:"), cap
        return cap

    def get(self, cap: str, out: Path) -> bytes:
        self.cli("get", cap, str(out))
        return out.read_bytes()

    # -- the web API (what `tahoe put` / `tahoe get` use; no CLI start-up cost) --
    def web_put(self, data: bytes) -> str:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/uri", data=data, method="PUT"
        )
        try:
            with urllib.request.urlopen(req, timeout=CLI_TIMEOUT) as r:
                return r.read().decode("ascii").strip()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            exc.close()
            raise AssertionError(f"PUT /uri on {self.name}: {exc.code} {body[-2000:]}") from None

    def web_get(self, cap: str) -> bytes:
        url = f"http://127.0.0.1:{self.web_port}/uri/{urllib.parse.quote(cap)}"
        try:
            with urllib.request.urlopen(url, timeout=CLI_TIMEOUT) as r:
                return r.read()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            exc.close()
            raise AssertionError(f"GET {url}: {exc.code} {body[-2000:]}") from None

    @property
    def lease_secret(self) -> bytes:
        """The client's lease secret (`private/secret`, base32)."""
        return base32.a2b((self.basedir / "private" / "secret").read_text().strip())


# ---------------------------------------------------------------------------
# Our side
# ---------------------------------------------------------------------------


def write_grid_file(
    path: Path, servers: list[ServerEntry], encoding: tuple[int, int, int], convergence: str
) -> Path:
    k, happy, n = encoding
    lines = [
        f'convergence-secret = "{convergence}"',
        "",
        "[encoding]",
        f"k = {k}",
        f"happy = {happy}",
        f"n = {n}",
        f"max-segment-size = {MAX_SEGMENT_SIZE}",
    ]
    for s in servers:
        lines += ["", "[[storage]]", f'nickname = "{s.nickname}"', f'nurl = "{s.nurl}"']
        if s.kind == "real":
            lines += [
                f'permutation-seed = "{s.permutation_seed}"',
                f'lease-seed = "{s.lease_seed}"',
            ]
    path.write_text("\n".join(lines) + "\n")
    return path


def lafs_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Our `lafs` command line, run with this interpreter."""
    res = subprocess.run(
        [sys.executable, "-m", "lafs_core.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=Path(__file__).resolve().parents[2],
        check=False,
    )
    if res.returncode != 0:
        raise AssertionError(
            f"`lafs {' '.join(args)}` exited {res.returncode}:\n"
            f"stdout: {res.stdout[-2000:]}\nstderr: {res.stderr[-3000:]}"
        )
    return res


@dataclass
class ServerSet:
    """A set of storage servers, the Tahoe client that uses it and our grid file for it."""

    name: str
    servers: list[ServerEntry]
    tahoe: TahoeClientNode
    grid_file: Path

    @property
    def encoding(self) -> tuple[int, int, int]:
        return self.tahoe.encoding

    def tahoe_client(self) -> TahoeClientNode:
        """The Tahoe client of this set, once it is connected to every server."""
        self.tahoe.wait_connected()
        return self.tahoe

    def shares_by_server(self, cap: str) -> dict[str, set[int]]:
        si = storage_index_text(cap)
        held = {s.nickname: set(shares_in(s.storage_dir, si)) for s in self.servers}
        return {name: shares for name, shares in held.items() if shares}

    def share_files(self, cap: str) -> dict[str, dict[int, Path]]:
        si = storage_index_text(cap)
        return {s.nickname: shares_in(s.storage_dir, si) for s in self.servers}

    def kind_of(self, nickname: str) -> str:
        return next(s.kind for s in self.servers if s.nickname == nickname)

    def ours(self) -> list[ServerEntry]:
        return [s for s in self.servers if s.kind == "ours"]


@dataclass
class InteropGrid:
    real_nodes: list[TahoeStorageNode]
    our_nodes: list[Any]  # tests.conftest.StorageNodeProcess
    sets: dict[str, ServerSet]
    workdir: Path


def _tahoe_version_ok() -> tuple[bool, str]:
    exe = tahoe_executable()
    if not exe.exists():
        return False, f"no Tahoe-LAFS at {exe} (set TAHOE_VENV)"
    try:
        res = subprocess.run(
            [str(exe), "--version"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"{exe} --version failed: {exc}"
    text = (res.stdout + res.stderr).lower()
    if f"tahoe-lafs/{TAHOE_VERSION}" not in text:
        return False, f"{exe} is not Tahoe-LAFS {TAHOE_VERSION}: {text.strip()[:200]}"
    return True, ""


@pytest.fixture(scope="session")
def interop_grid(
    storage_node_factory: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InteropGrid]:
    ok, why = _tahoe_version_ok()
    if not ok:
        pytest.fail(f"{why}; install it with: bash .ci/run")
    work = tmp_path_factory.mktemp("tahoe-interop")
    ports = unused_ports(REAL_STORAGE + len(ENCODING))
    real = [TahoeStorageNode(work / f"tahoe-s{i}", ports[i]) for i in range(REAL_STORAGE)]
    clients = {
        name: TahoeClientNode(
            work / f"tahoe-client-{name}", ports[REAL_STORAGE + i], ENCODING[name]
        )
        for i, name in enumerate(ENCODING)
    }
    tahoe_nodes: list[TahoeNode] = [*real, *clients.values()]
    try:
        # 1. Create every Tahoe node at once (slow: each one is a fresh interpreter)...
        creating = []
        for node in tahoe_nodes:
            with open(node.log_path, "wb") as log:
                creating.append(
                    (
                        node,
                        subprocess.Popen(
                            node.create_command(),  # type: ignore[attr-defined]
                            stdin=subprocess.DEVNULL,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        ),
                    )
                )
        # ... and meanwhile our storage nodes.
        try:
            ours = storage_node_factory.create_many(OURS_STORAGE)
        finally:
            for node, proc in creating:
                try:
                    rc = proc.wait(CREATE_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    rc = -9
                if rc != 0:
                    raise RuntimeError(f"creating {node.name} failed ({rc}):\n{node.log_tail()}")

        # 2. Start the real storage nodes; 1.20 writes its fURL and seeds on first start.
        for node in real:
            node.configure()
            node.start()
        our_entries = [
            ServerEntry.for_ours(f"ours{i}", n.nurl, n.storage_dir) for i, n in enumerate(ours)
        ]
        # The client of our nodes needs nothing from the real nodes: start it now.
        clients["ours"].configure(our_entries)
        clients["ours"].start()

        def real_ready() -> bool:
            return all(n.ready() for n in real)

        def real_alive() -> None:
            for n in real:
                n.check_alive()

        wait_until(real_ready, START_TIMEOUT, "real storage nodes to start", real_alive)
        real_entries = [ServerEntry.for_tahoe(n) for n in real]
        clients["real"].configure(real_entries)
        clients["mixed"].configure(our_entries + real_entries)
        clients["real"].start()
        clients["mixed"].start()

        # A client writes its random convergence secret early in its first start.
        for client in clients.values():
            wait_until(
                (client.basedir / "private" / "convergence").is_file,
                START_TIMEOUT,
                f"{client.name} to write its convergence secret",
                client.check_alive,
            )
        sets = {}
        for name, client in clients.items():
            grid_file = write_grid_file(
                work / f"grid-{name}.toml", client.servers, client.encoding, client.convergence
            )
            sets[name] = ServerSet(name, client.servers, client, grid_file)
        yield InteropGrid(real, ours, sets, work)
    finally:
        for node in tahoe_nodes:
            node.stop()


@pytest.fixture(scope="session")
def real_set(interop_grid: InteropGrid) -> ServerSet:
    return interop_grid.sets["real"]


@pytest.fixture(scope="session")
def ours_set(interop_grid: InteropGrid) -> ServerSet:
    return interop_grid.sets["ours"]


@pytest.fixture(scope="session")
def mixed_set(interop_grid: InteropGrid) -> ServerSet:
    return interop_grid.sets["mixed"]


# ---------------------------------------------------------------------------
# Checks shared by the tests
# ---------------------------------------------------------------------------


def expected_shares(
    data: bytes, encoding: tuple[int, int, int], convergence: str, workdir: Path
) -> tuple[str, dict[int, bytes]]:
    """The cap and share bytes our encoder produces for `data` (no grid involved)."""
    from lafs_core.immutable.local import encode_path
    from lafs_core.immutable.params import EncodingParams

    k, happy, n = encoding
    workdir.mkdir(parents=True, exist_ok=True)
    src = workdir / "plaintext"
    src.write_bytes(data)
    out = workdir / "shares"
    out.mkdir()
    cap = encode_path(
        src, EncodingParams(k, happy, n, MAX_SEGMENT_SIZE), base32.a2b(convergence), out_dir=out
    )
    return cap.to_string(), {int(p.name): p.read_bytes() for p in out.iterdir()}


def check_stored_shares(
    server_set: ServerSet, cap: str, data: bytes, workdir: Path, leases: int | None = 1
) -> dict[str, set[int]]:
    """Every share of `cap` is on the set's servers, happily placed, in a well-formed
    container, and holds exactly the bytes our encoder makes for `data` (so both
    implementations wrote and stored identical shares). Returns server -> shares."""
    k, happy, n = server_set.encoding
    assert cap.startswith("URI:CHK:") and cap.endswith(f":{k}:{n}:{len(data)}"), cap
    held = server_set.shares_by_server(cap)
    everything = sorted(s for shares in held.values() for s in shares)
    assert set(everything) == set(range(n)), f"shares found: {held}"
    assert len(held) >= happy, f"only {len(held)} servers hold shares: {held}"
    expect_cap, expect = expected_shares(
        data, server_set.encoding, server_set.tahoe.convergence, workdir
    )
    assert expect_cap == cap, "our encoder gives a different cap for these bytes"
    for nickname, files in server_set.share_files(cap).items():
        for sharenum, path in files.items():
            container = Container.parse(path.read_bytes())
            assert container.version == 2, (
                f"{nickname} share {sharenum}: container version {container.version} (1.20 "
                f"creates version 2)"
            )
            assert container.share == expect[sharenum], (
                f"share {sharenum} on {nickname} differs from our encoding"
            )
            if leases is not None:
                assert len(container.leases) == leases, (
                    f"{nickname} share {sharenum}: {len(container.leases)} leases"
                )
    return held


def advisories_in(storage_dir: Path, si: str) -> dict[int, str]:
    """Corruption advisories a server stored for one storage index: share -> file text.

    Both Tahoe 1.20 and our node keep them as
    `<storage>/corruption-advisories/<time>--<si>-<share number>`.
    """
    found = {}
    folder = storage_dir / "corruption-advisories"
    if folder.is_dir():
        for path in folder.iterdir():
            _time, sep, rest = path.name.partition("--")
            name_si, _dash, shnum = rest.rpartition("-")
            if sep and name_si == si and shnum.isdigit():
                found[int(shnum)] = path.read_text()
    return found


def corrupt_first_block(path: Path) -> None:
    """Flip one byte of a share's first block (past either share-layout header)."""
    raw = bytearray(path.read_bytes())
    raw[CONTAINER_HEADER.size + 0x44 + 10] ^= 0xFF
    path.write_bytes(bytes(raw))
