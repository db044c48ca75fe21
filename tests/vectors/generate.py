#!/usr/bin/env python3
"""Generate tests/vectors/chk.json by driving a real Tahoe-LAFS 1.20.0 grid.

Run with the interpreter of a virtualenv that has ``tahoe-lafs==1.20.0``::

    /opt/tahoe-venv/bin/python tests/vectors/generate.py \
        [--tahoe /opt/tahoe-venv/bin/tahoe] [--out tests/vectors/chk.json]

What it does:

* creates a scratch directory with several real storage nodes and one client
  node (no introducer: the client learns the servers from
  ``private/servers.yaml``, using their HTTPS NURLs);
* for every group of cases sharing (convergence secret, k, happy, n, maximum
  segment size) it rewrites the client's ``private/convergence`` and
  ``tahoe.cfg``, (re)starts the client, waits until it is connected to every
  storage node, and uploads each sample with the web API (``PUT /uri``, which
  is what ``tahoe put`` does);
* for CHK caps it collects every share file of the storage index from the
  storage nodes, strips the container (12-byte header in front, 72-byte lease
  records behind) and records the SHA-256 of the share bytes, then deletes
  the shares so the next case starts from an empty grid.

The parameters of every case are listed in this file; nothing else is read.
``allmydata`` (the Tahoe-LAFS package) is used only as an oracle (to get the
storage index of a cap); the project itself never imports it.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import hashlib
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

FORMAT = "lafs-s3gw-chk-vectors/1"
TAHOE_VERSION = "1.20.0"
HERE = Path(__file__).resolve().parent

SEG_128K = 131072  # the maximum segment size of the official test vectors
SEG_1M = 1048576  # the Tahoe-LAFS 1.20 default maximum segment size
LIT_MAX = 55  # files of at most this many bytes become LIT caps
CONTAINER_HEADER = 12
LEASE_RECORD = 72


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def stretch(seed: bytes, length: int) -> bytes:
    """Repeat ``seed`` and cut the result to ``length`` bytes."""
    if length == 0:
        return b""
    reps = -(-length // len(seed))
    return (seed * reps)[:length]


def b32(data: bytes) -> str:
    """Tahoe-style base32: lower case, no padding."""
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


# --------------------------------------------------------------------------
# The cases.
# --------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    convergence: bytes
    seed: bytes
    length: int
    k: int
    happy: int
    n: int
    max_segment_size: int
    # Optional self-checks against published values.
    expect_cap: str | None = None
    expect_share_sizes: dict = field(default_factory=dict)

    @property
    def group(self):
        return (self.convergence, self.k, self.happy, self.n, self.max_segment_size)


# Convergence secrets of the official Tahoe-LAFS test vectors (16 bytes each).
SECRET_A = b"a" * 16
SECRET_HW = sha256(b"Hello world")[:16]
# Secrets that are not 16 bytes long (a node generates 32 random bytes).
SECRET_32 = sha256(b"lafs-s3gw test convergence secret, 32 bytes")
SECRET_1 = b"\x01"
SECRET_64 = sha256(b"lafs-s3gw 64a") + sha256(b"lafs-s3gw 64b")
SECRET_0 = b""

SECRET_LABELS = {
    SECRET_A: "sA",
    SECRET_HW: "sHW",
    SECRET_32: "s32",
    SECRET_1: "s1",
    SECRET_64: "s64",
    SECRET_0: "s0",
}

# Samples of the official Tahoe-LAFS test vectors: (label, seed, length).
OFFICIAL_SAMPLES = [
    ("a", b"a", 56),
    ("a", b"a", 1024),
    ("c", b"c", 4096),
    ("foo", sha256(b"foo"), 131071),
    ("bar", sha256(b"bar"), 131073),
    ("baz", sha256(b"baz"), 2097151),
    ("quux", sha256(b"quux"), 2097153),
    ("v7", base64.b64decode("2NVWOXvtwcAFf0J/g0fDC+ypQbnCU7awZoCxcnhpkVM="), 4194304),
    ("v8", base64.b64decode("w6uP8Tcg6K2QR905Rms8iXTlksL6OD1KOWBxTK7wxPI="), 8388607),
    ("v9", base64.b64decode("yPi3JHKKbWaEEG5eZOlM6BHJll0Z3UTdBzz4bPQ7wjg="), 8388609),
]
OFFICIAL_KN = [(1, 1), (1, 3), (2, 3), (3, 10), (71, 255), (101, 256)]

SEED_LIT = sha256(b"lafs-s3gw lit")
SEED_BIG = sha256(b"lafs-s3gw big")
SEED_HAPPY = sha256(b"lafs-s3gw happy")
SEED_N256 = sha256(b"lafs-s3gw n256")
SEED_SECRET = sha256(b"lafs-s3gw secret")

# Published values used as self-checks (Tahoe-LAFS 1.20 results).
CAP_A56_K3N10 = (
    "URI:CHK:hah7mxwfpqemm7icdh3hwsa5fa:"
    "6epvxt2uxh42obpnfn4wkrplqml7voh7aqpnqnapu7ffcyn2hk3q:3:10:56"
)
CAP_QUUX_1M = (
    "URI:CHK:zehzwzkledwism7w5w65ffpa54:"
    "uqpojeprb6oq7xu7qdeatr2656mceeh4bo2sw57c4fkxf5a2wtvq:3:10:2097162"
)
CAP_A55_LIT = "URI:LIT:" + "mfqwcylb" * 11


def seg_label(max_segment_size: int) -> str:
    return {SEG_128K: "128k", SEG_1M: "1M"}.get(max_segment_size, str(max_segment_size))


def make_case(secret, label, seed, length, k, happy, n, maxseg, **extra) -> Case:
    name = (
        f"{'lit' if length <= LIT_MAX else 'chk'}-{SECRET_LABELS[secret]}-"
        f"{label}x{length}-k{k}h{happy}n{n}-seg{seg_label(maxseg)}"
    )
    return Case(name, secret, seed, length, k, happy, n, maxseg, **extra)


def build_cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append

    # a) the parameters of every CHK case of the official test vectors.
    for secret in (SECRET_A, SECRET_HW):
        for k, n in OFFICIAL_KN:
            for label, seed, length in OFFICIAL_SAMPLES:
                extra = {}
                if (secret, label, length, k, n) == (SECRET_A, "a", 56, 3, 10):
                    extra = {"expect_cap": CAP_A56_K3N10, "expect_share_sizes": {0: 633}}
                if (secret, label, length, k, n) == (SECRET_A, "a", 56, 1, 1):
                    extra = {"expect_share_sizes": {0: 531}}
                add(make_case(secret, label, seed, length, k, 1, n, SEG_128K, **extra))

    # b) LIT: every size from 0 to 55 bytes (plus the published 55 x "a").
    for length in range(0, LIT_MAX + 1):
        add(make_case(SECRET_A, "lit", SEED_LIT, length, 3, 1, 10, SEG_128K))
    add(make_case(SECRET_A, "a", b"a", 55, 3, 1, 10, SEG_128K, expect_cap=CAP_A55_LIT))

    # c) the 1.20 default maximum segment size (1 MiB).
    add(
        make_case(
            SECRET_A, "quux", sha256(b"quux"), 2097162, 3, 1, 10, SEG_1M, expect_cap=CAP_QUUX_1M
        )
    )
    add(make_case(SECRET_A, "a", b"a", 56, 3, 1, 10, SEG_1M, expect_cap=CAP_A56_K3N10))
    add(make_case(SECRET_A, "big", SEED_BIG, 1048576, 3, 1, 10, SEG_1M))
    add(make_case(SECRET_A, "big", SEED_BIG, 3 * SEG_1M + 1, 2, 1, 3, SEG_1M))
    add(make_case(SECRET_A, "big", SEED_BIG, SEG_1M + 1, 1, 1, 3, SEG_1M))

    # d) happy != k (happy never changes the bytes; the first case has the
    #    same cap and shares as the matching official-parameter case).
    add(make_case(SECRET_A, "a", b"a", 56, 3, 7, 10, SEG_128K, expect_cap=CAP_A56_K3N10))
    add(make_case(SECRET_A, "happy", SEED_HAPPY, 300000, 3, 7, 10, SEG_128K))
    add(make_case(SECRET_A, "happy", SEED_HAPPY, 300000, 2, 3, 5, SEG_128K))
    add(make_case(SECRET_A, "a", b"a", 1024, 2, 3, 5, SEG_128K))
    add(make_case(SECRET_A, "happy", SEED_HAPPY, 5000, 3, 10, 10, SEG_128K))

    # e) n = 256 (besides the official 101/256).
    add(make_case(SECRET_A, "n256", SEED_N256, 1000, 1, 1, 256, SEG_128K))
    add(make_case(SECRET_A, "n256", SEED_N256, 300000, 256, 1, 256, SEG_128K))
    add(make_case(SECRET_A, "n256", SEED_N256, 300000, 128, 1, 256, SEG_128K))

    # f) convergence secrets that are not 16 bytes long.
    for secret in (SECRET_32, SECRET_1, SECRET_64, SECRET_0):
        add(make_case(secret, "a", b"a", 56, 3, 1, 10, SEG_128K))
        add(make_case(secret, "secret", SEED_SECRET, 131073, 3, 1, 10, SEG_128K))
    add(make_case(SECRET_32, "secret", SEED_SECRET, 2 * SEG_1M + 7, 2, 1, 3, SEG_1M))

    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


# --------------------------------------------------------------------------
# Expected sizes (used to check that the configured parameters really apply).
# --------------------------------------------------------------------------


def effective_segment_size(length: int, k: int, max_segment_size: int) -> int:
    s = min(max_segment_size, length)
    return -(-s // k) * k


def netstring(b: bytes) -> bytes:
    return b"%d:" % len(b) + b + b","


def tagged_hash(tag: bytes, message: bytes) -> bytes:
    inner = hashlib.sha256(netstring(tag))
    inner.update(message)
    return sha256(inner.digest())


def expected_key_and_si(case: Case, data: bytes) -> tuple[bytes, bytes]:
    """Convergent key and storage index the client should derive.

    An independent check that the configured secret, k, n and maximum segment
    size were all applied (the key depends on every one of them).
    """
    seg = effective_segment_size(case.length, case.k, case.max_segment_size)
    tag = (
        b"allmydata_immutable_content_to_key_with_added_secret_v1+"
        + netstring(case.convergence)
        + netstring(f"{case.k},{case.n},{seg}".encode("ascii"))
    )
    key = tagged_hash(tag, data)[:16]
    si = tagged_hash(b"allmydata_immutable_key_to_storage_index_v1", key)[:16]
    return key, si


def b32decode(text: str) -> bytes:
    return base64.b32decode(text.upper() + "=" * (-len(text) % 8))


def parse_share_header(share: bytes):
    """Return (block_size, data_size) from an immutable share's header."""
    (version,) = struct.unpack(">L", share[:4])
    if version == 1:
        return struct.unpack(">LL", share[4:12])
    if version == 2:
        return struct.unpack(">QQ", share[4:20])
    raise ValueError(f"unknown share layout version {version}")


# --------------------------------------------------------------------------
# Running Tahoe.
# --------------------------------------------------------------------------


def free_ports(count: int) -> list[int]:
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# Every Tahoe node also opens a Foolscap "log port" on an ephemeral port bound
# to all interfaces, with no option to change that. To keep everything on the
# loopback interface, nodes are started through this launcher, which runs the
# unmodified `tahoe run` after pinning that one listener to 127.0.0.1.
LOOPBACK_LAUNCHER = """
import socket, sys
from allmydata.util import iputil
def _listen_on_unused_loopback(tub, portnum=None):
    if portnum is None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        portnum = s.getsockname()[1]
        s.close()
    tub.listenOn("tcp:%d:interface=127.0.0.1" % portnum)
    tub.setLocation("127.0.0.1:%d" % portnum)
    return portnum
iputil.listenOnUnused = _listen_on_unused_loopback
from allmydata.scripts.runner import run
sys.exit(run(argv=["tahoe"] + sys.argv[1:]))
"""


def tahoe_python(tahoe: str) -> str:
    """The interpreter named in the `tahoe` script's #! line."""
    with open(tahoe, "rb") as f:
        first = f.readline().decode("utf-8", "replace").strip()
    if first.startswith("#!") and len(first.split()) == 1:
        return first[2:]
    return str(Path(tahoe).with_name("python"))


class Node:
    plain_run = False  # True: plain `tahoe run` (log port on all interfaces)

    def __init__(self, tahoe: str, basedir: Path):
        self.tahoe = tahoe
        self.basedir = basedir
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        logf = open(self.basedir.with_suffix(".log"), "ab")
        if self.plain_run:
            cmd = [self.tahoe]
        else:
            cmd = [tahoe_python(self.tahoe), "-c", LOOPBACK_LAUNCHER]
        self.proc = subprocess.Popen(
            cmd + ["run", "--allow-stdin-close", str(self.basedir)],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        logf.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        # A clean stop removes `tahoe run`'s pid file; drop a leftover one
        # (after a kill) so that the next start is not refused.
        pidfile = self.basedir / "running.process"
        if pidfile.exists():
            pidfile.unlink()

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            tail = self.basedir.with_suffix(".log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"node {self.basedir.name} is not running:\n{tail}")


def nurl_for(nodedir: Path) -> str:
    """Rebuild a storage node's HTTPS NURL from its node directory."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    cert = x509.load_pem_x509_certificate((nodedir / "private" / "node.pem").read_bytes())
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    pin = base64.urlsafe_b64encode(sha256(spki)).rstrip(b"=").decode("ascii")
    furl = (nodedir / "private" / "storage.furl").read_text().strip()
    swissnum = furl.rsplit("/", 1)[1]
    cfg = configparser.RawConfigParser()
    cfg.read(nodedir / "tahoe.cfg")
    _, host, port = cfg.get("node", "tub.location").split(",")[0].split(":")
    return f"pb://{pin}@{host}:{port}/{swissnum}#v=1"


def wait_for(pred, timeout: float, what: str, nodes=()) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return
        for node in nodes:
            node.check_alive()
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Grid:
    def __init__(self, tahoe: str, workdir: Path, num_storage: int):
        self.tahoe = tahoe
        self.workdir = workdir
        self.num_storage = num_storage
        self.storage: list[Node] = []
        self.client: Node | None = None
        self.web_port = 0
        self.group = None

    # -- set-up ----------------------------------------------------------
    def create(self) -> None:
        ports = free_ports(self.num_storage + 1)
        self.web_port = ports[-1]
        procs = []
        for i in range(self.num_storage):
            d = self.workdir / f"s{i}"
            p = ports[i]
            procs.append(
                subprocess.Popen(
                    [
                        self.tahoe,
                        "create-node",
                        f"--nickname=s{i}",
                        f"--port=tcp:{p}:interface=127.0.0.1",
                        f"--location=tcp:127.0.0.1:{p}",
                        "--webport=none",
                        str(d),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
            )
            self.storage.append(Node(self.tahoe, d))
        cdir = self.workdir / "client"
        procs.append(
            subprocess.Popen(
                [
                    self.tahoe,
                    "create-client",
                    "--nickname=client",
                    f"--webport=tcp:{self.web_port}:interface=127.0.0.1",
                    str(cdir),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"create-node failed: {out.decode(errors='replace')}")
        self.client = Node(self.tahoe, cdir)
        # Storage nodes: no reserved space (the default 1G could refuse shares on a
        # nearly full disk; this scratch grid holds at most a few tens of MB).
        for node in self.storage:
            self._edit_cfg(node.basedir, {"storage": {"reserved_space": "0"}})

    def start_storage(self) -> None:
        for node in self.storage:
            node.start()

        def ready():
            return all(
                (n.basedir / "private" / "storage.furl").exists()
                and (n.basedir / "permutation-seed").exists()
                and (n.basedir / "node.pubkey").exists()
                for n in self.storage
            )

        wait_for(ready, 120, "storage nodes to start", self.storage)
        servers = {}
        for node in self.storage:
            pubkey = (node.basedir / "node.pubkey").read_text().strip()
            assert pubkey.startswith("pub-v0-"), pubkey
            servers["v0-" + pubkey[len("pub-v0-") :]] = {
                "ann": {
                    "anonymous-storage-FURL": (node.basedir / "private" / "storage.furl")
                    .read_text()
                    .strip(),
                    "anonymous-storage-NURLs": [nurl_for(node.basedir)],
                    "permutation-seed-base32": (node.basedir / "permutation-seed")
                    .read_text()
                    .strip(),
                    "nickname": node.basedir.name,
                }
            }
        # JSON is valid YAML; this avoids needing a YAML writer.
        (self.client.basedir / "private" / "servers.yaml").write_text(
            json.dumps({"storage": servers}, indent=1) + "\n"
        )

    @staticmethod
    def _edit_cfg(nodedir: Path, changes: dict) -> None:
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

    # -- client configuration ---------------------------------------------
    def configure_client(self, case: Case) -> None:
        if self.group == case.group:
            return
        self.client.stop()
        conv_text = b32(case.convergence)
        (self.client.basedir / "private" / "convergence").write_text(conv_text)
        self._edit_cfg(
            self.client.basedir,
            {
                "client": {
                    "shares.needed": str(case.k),
                    "shares.happy": str(case.happy),
                    "shares.total": str(case.n),
                    "shares._max_immutable_segment_size_for_testing": str(case.max_segment_size),
                }
            },
        )
        t0 = time.monotonic()
        self.client.start()
        wait_for(
            self._all_connected,
            120,
            "client to connect to every storage node",
            [self.client] + self.storage,
        )
        log(
            f"client up (k={case.k} happy={case.happy} n={case.n} "
            f"maxseg={case.max_segment_size} secret={len(case.convergence)}B) "
            f"in {time.monotonic() - t0:.1f}s"
        )
        self.group = case.group

    def _all_connected(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.web_port}/?t=json", timeout=5
            ) as r:
                status = json.load(r)
        except (OSError, ValueError):
            return False
        servers = status.get("servers", [])
        connected = [
            s
            for s in servers
            if str(s.get("connection_status", "")).lower().startswith("connected")
        ]
        return len(connected) == self.num_storage

    # -- upload and collect -------------------------------------------------
    def upload(self, data: bytes) -> str:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/uri", data=data, method="PUT"
        )
        with urllib.request.urlopen(req, timeout=1800) as r:
            return r.read().decode("ascii").strip()

    def upload_cli(self, path: Path) -> str:
        res = subprocess.run(
            [self.tahoe, "-d", str(self.client.basedir), "put", str(path)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise RuntimeError(f"tahoe put failed:\n{res.stdout}\n{res.stderr}")
        return res.stdout.strip()

    def collect_shares(self, si: str) -> dict[int, bytes]:
        shares: dict[int, bytes] = {}
        for node in self.storage:
            sidir = node.basedir / "storage" / "shares" / si[:2] / si
            if not sidir.is_dir():
                continue
            for f in sidir.iterdir():
                num = int(f.name)
                data = unwrap_container(f.read_bytes())
                if num in shares and shares[num] != data:
                    raise RuntimeError(f"share {num} of {si} differs between servers")
                shares[num] = data
            shutil.rmtree(sidir)
            try:
                sidir.parent.rmdir()
            except OSError:
                pass
        return shares

    def shutdown(self) -> None:
        if self.client is not None:
            self.client.stop()
        for node in self.storage:
            node.stop()


def unwrap_container(raw: bytes) -> bytes:
    """Return the share bytes of an immutable share container file."""
    if len(raw) < CONTAINER_HEADER:
        raise ValueError("container too short")
    version, length_field, leases = struct.unpack(">LLL", raw[:CONTAINER_HEADER])
    if version not in (1, 2):
        raise ValueError(f"unexpected container version {version}")
    size = len(raw) - CONTAINER_HEADER - LEASE_RECORD * leases
    if size < 0:
        raise ValueError("lease records overlap the header")
    # The legacy length field holds the allocated size (saturated at 2**32-1);
    # an uploader allocates exactly the share size, so they must agree.
    if length_field != min(size, 2**32 - 1):
        raise ValueError(f"container length field {length_field} != share size {size}")
    return raw[CONTAINER_HEADER : CONTAINER_HEADER + size]


def storage_index_of(cap: str) -> str:
    from allmydata import uri
    from allmydata.util import base32

    return base32.b2a(uri.from_string(cap).get_storage_index()).decode("ascii")


# --------------------------------------------------------------------------


def run(args) -> int:
    cases = build_cases()
    if args.only:
        cases = [c for c in cases if any(s in c.name for s in args.only)]
    # Group cases by client configuration to keep restarts few; keep the
    # output in the declared order.
    order = {id(c): i for i, c in enumerate(cases)}
    groups: dict = {}
    for c in cases:
        groups.setdefault(c.group, []).append(c)
    schedule = [c for g in groups.values() for c in g]

    work = Path(tempfile.mkdtemp(prefix="lafs-vectors-", dir=args.workdir))
    log(f"scratch dir {work}; {len(cases)} cases in {len(groups)} client configurations")
    grid = Grid(args.tahoe, work, args.storage_nodes)
    results = {}
    t_start = time.monotonic()
    try:
        grid.create()
        grid.start_storage()
        log("storage nodes up")
        cli_checked = False
        for case in schedule:
            grid.configure_client(case)
            data = stretch(case.seed, case.length)
            t0 = time.monotonic()
            cap = grid.upload(data)
            if not cli_checked and case.length > LIT_MAX:
                # One cross-check that `tahoe put` prints the same cap.
                sample = work / "sample.bin"
                sample.write_bytes(data)
                cli_cap = grid.upload_cli(sample)
                if cli_cap != cap:
                    raise RuntimeError(f"tahoe put gave {cli_cap}, web API gave {cap}")
                cli_checked = True
            shares: dict[int, bytes] = {}
            if case.length <= LIT_MAX:
                if not cap.startswith("URI:LIT:"):
                    raise RuntimeError(f"{case.name}: expected a LIT cap, got {cap}")
            else:
                suffix = f":{case.k}:{case.n}:{case.length}"
                if not (cap.startswith("URI:CHK:") and cap.endswith(suffix)):
                    raise RuntimeError(f"{case.name}: unexpected cap {cap}")
                key, si = expected_key_and_si(case, data)
                if b32decode(cap.split(":")[2]) != key:
                    raise RuntimeError(
                        f"{case.name}: cap key differs from the expected convergent key {b32(key)}"
                    )
                si_text = storage_index_of(cap)
                if si_text != b32(si):
                    raise RuntimeError(f"{case.name}: storage index {si_text} != {b32(si)}")
                shares = grid.collect_shares(si_text)
                if sorted(shares) != list(range(case.n)):
                    raise RuntimeError(
                        f"{case.name}: got shares {sorted(shares)}, expected 0..{case.n - 1}"
                    )
                seg = effective_segment_size(case.length, case.k, case.max_segment_size)
                for num, share in shares.items():
                    block_size, data_size = parse_share_header(share)
                    if block_size * case.k != seg or data_size != -(-case.length // case.k):
                        raise RuntimeError(
                            f"{case.name}: share {num} has block size {block_size}, data "
                            f"size {data_size}; expected segment size {seg}"
                        )
                for num, size in case.expect_share_sizes.items():
                    if len(shares[num]) != size:
                        raise RuntimeError(
                            f"{case.name}: share {num} is {len(shares[num])} bytes, expected {size}"
                        )
            if case.expect_cap is not None and cap != case.expect_cap:
                raise RuntimeError(f"{case.name}: cap {cap} != expected {case.expect_cap}")
            results[id(case)] = {
                "name": case.name,
                "convergence": b32(case.convergence),
                "seed": base64.b64encode(case.seed).decode("ascii"),
                "length": case.length,
                "k": case.k,
                "happy": case.happy,
                "n": case.n,
                "max_segment_size": case.max_segment_size,
                "cap": cap,
                "shares": {str(i): hashlib.sha256(shares[i]).hexdigest() for i in sorted(shares)},
            }
            log(f"{case.name}: {cap[:40]}... {len(shares)} shares ({time.monotonic() - t0:.1f}s)")
    finally:
        grid.shutdown()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    out_cases = [results[id(c)] for c in sorted(cases, key=lambda c: order[id(c)])]
    doc_head = {"format": FORMAT, "tahoe_version": TAHOE_VERSION}
    lines = [json.dumps(c, separators=(",", ":")) for c in out_cases]
    text = (
        json.dumps(doc_head, separators=(",", ":"))[:-1]
        + ',"cases":[\n'
        + ",\n".join(lines)
        + "\n]}\n"
    )
    json.loads(text)  # must be valid JSON
    out = Path(args.out)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, out)
    log(f"wrote {len(out_cases)} cases to {out} in {time.monotonic() - t_start:.0f}s")
    return 0


def check_tahoe_version(tahoe: str) -> None:
    res = subprocess.run(
        [tahoe, "--version"], capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    text = res.stdout + res.stderr
    if f"tahoe-lafs/{TAHOE_VERSION}" not in text.lower():
        raise SystemExit(f"{tahoe} is not Tahoe-LAFS {TAHOE_VERSION}: {text.strip()}")


def main(argv=None) -> int:
    default_tahoe = str(Path(sys.executable).with_name("tahoe"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--tahoe",
        default=default_tahoe,
        help="the tahoe executable of Tahoe-LAFS 1.20.0 (default: next to this interpreter)",
    )
    ap.add_argument("--out", default=str(HERE / "chk.json"), help="output JSON file")
    ap.add_argument(
        "--storage-nodes", type=int, default=10, help="number of storage nodes to run (default 10)"
    )
    ap.add_argument(
        "--workdir",
        default=None,
        help="parent directory for the scratch grid (default: system temp)",
    )
    ap.add_argument(
        "--plain-run",
        action="store_true",
        help="start nodes with plain `tahoe run` (its log port then listens on all interfaces)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the scratch grid")
    ap.add_argument(
        "--only",
        action="append",
        help="only cases whose name contains this text (debugging; repeatable)",
    )
    args = ap.parse_args(argv)
    if args.only and Path(args.out).resolve() == (HERE / "chk.json").resolve():
        ap.error("--only writes a partial file; give a different --out")
    check_tahoe_version(args.tahoe)
    Node.plain_run = args.plain_run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
