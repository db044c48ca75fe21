"""The S3 gateway on its embedded 10-node grid: throughput, small-object rates, listing, memory.

    python bench/s3.py                        # 256 MiB objects, 3 runs, 10,000 small objects
    python bench/s3.py --size-mib 64 --runs 1 --small 2000
    python bench/s3.py --big-gib 5            # also a 5 GiB object: gateway memory stays flat?
    python bench/s3.py --medium 1000          # also 64 KiB objects, each a CHK file

One `s3gw serve` with an embedded local grid, driven by boto3 as users do:
put_object / get_object of one large object, upload_file / download_file
with 8 MiB parts and boto3's default concurrency, `lafs put` / `lafs get` of
the same file on the same grid (the goal is 80% of it), 4 KiB objects PUT,
GET and HEAD from 4 client processes of 4 threads each (each thread PUTs a
range of keys of its own, so concurrent PUTs rarely share a bucket-index leaf;
a second PUT run interleaves the 16 writers' keys, as a sorted sync with
parallel transfers does, so that their PUTs merge), and ListObjectsV2 of
the small objects (CPU seconds the gateway spends on it). CPU seconds and
peak RSS of the gateway and of the storage nodes are read from /proc. The
encode ceilings of this machine (bench/encode.py) are printed beside.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from grid import make_file, vm_hwm  # noqa: E402  (bench/grid.py)

MiB = 1 << 20
SMALL = 4096
MEDIUM = 64 * 1024  # above the inline limit: each object is a CHK file of its own
CLIENT_PROCESSES = 4
CLIENT_THREADS = 4


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except FileNotFoundError:
        return 0.0  # exited (its CPU is lost to the figures, as it would be to ps)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return b""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Gateway:
    def __init__(self, data_dir: Path, settings: str = "") -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.access_key = "GKBENCHMARKROOTKEY00"
        self.secret_key = "benchmark-secret-key"
        env = dict(os.environ, S3GW_ACCESS_KEY=self.access_key, S3GW_SECRET_KEY=self.secret_key)
        config = data_dir.parent / "gateway.toml"
        config.write_text("lease-renewal-hours = 0\n" + settings)  # no renewal walk in the figures
        cmd = ["s3gw", "serve", "--config", str(config), "--data-dir", str(data_dir)]
        cmd += ["--port", str(self.port)]
        self.log = open(data_dir.parent / "gateway.log", "wb")
        self.process = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        import socket

        while True:
            if self.process.poll() is not None:
                raise SystemExit((data_dir.parent / "gateway.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        self.node_pids = [p for p in self._children() if b"storage-node" in _cmdline(p)]

    @property
    def grid_file(self) -> Path:
        return self.data_dir / "grid" / "grid.toml"

    def client(self):  # type: ignore[no-untyped-def]
        return make_client(f"http://127.0.0.1:{self.port}", self.access_key, self.secret_key)

    def _children(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True)
        return [int(p) for p in found.stdout.split()]

    def cpu(self) -> tuple[float, float]:
        """CPU seconds so far: (gateway with its helper processes, such as the RSA key
        makers, started when first needed; all storage nodes)."""
        helpers = [p for p in self._children() if p not in self.node_pids]
        gateway = sum(_cpu_or_zero(p) for p in [self.process.pid, *helpers])
        return gateway, sum(cpu_seconds(p) for p in self.node_pids)

    def peak_rss(self) -> tuple[float, float]:
        """Peak RSS in MiB: (gateway, busiest storage node)."""
        return vm_hwm(self.process.pid), max(vm_hwm(p) for p in self.node_pids)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)
        self.log.close()


def make_client(endpoint: str, access: str, secret: str):  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=32),
    )


def refresh(path: Path) -> None:
    """New bytes at the start of every MiB (so of every part too): convergent encryption
    would otherwise find the last run's shares already stored and upload nothing."""
    with open(path, "r+b") as f:
        for offset in range(0, path.stat().st_size, MiB):
            f.seek(offset)
            f.write(os.urandom(64))


def wait_idle(gw: Gateway, timeout: float = 60) -> None:
    """Until the gateway and the nodes use (almost) no CPU for half a second."""
    deadline = time.monotonic() + timeout
    last = sum(gw.cpu())
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(gw.cpu())
        if now - last < 0.02:
            return
        last = now


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def drain(body) -> None:  # type: ignore[no-untyped-def]
    for _ in body.iter_chunks(MiB):
        pass


# -- small objects: 4 processes x 4 threads ---------------------------------------------


_ready = None  # each client process's copy of the barrier the timing starts at


def _join_barrier(barrier) -> None:  # type: ignore[no-untyped-def]
    global _ready
    _ready = barrier


def _small_worker(
    args: tuple[str, str, str, str, int, int, str, int],
) -> tuple[float, float, float]:
    """(CPU seconds, start, end) of this client process's operations (boto3 is not free: it
    bounds the rates). The clocks start once every process has imported boto3 and made its
    client: interpreter start-up is not an S3 operation."""
    endpoint, access, secret, bucket, worker, count, op, size = args
    s3 = make_client(endpoint, access, secret)
    body = os.urandom(size)
    per_thread = count // CLIENT_THREADS

    def run(thread: int) -> None:
        for i in range(per_thread):
            if op == "put-interleaved":  # the 16 writers' keys next to each other
                key = f"mixed/{i:06d}-{worker}-{thread}"
            else:  # a range of keys per writer
                key = f"small/{worker:02d}-{thread:02d}-{i:06d}"
            if op.startswith("put"):
                s3.put_object(Bucket=bucket, Key=key, Body=body)
            elif op == "get":
                s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            else:
                s3.head_object(Bucket=bucket, Key=key)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(CLIENT_THREADS)]
    _ready.wait()
    start, cpu = time.perf_counter(), time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.process_time() - cpu, start, time.perf_counter()


def small_objects(
    gw: Gateway, bucket: str, total: int, op: str, size: int = SMALL
) -> tuple[float, float]:
    """(ops/s, client CPU-ms per op) of `op` over `total` keys from 4 processes of 4 threads,
    timed from when all of them are ready to when the last finishes."""
    per_process = total // CLIENT_PROCESSES
    endpoint = f"http://127.0.0.1:{gw.port}"
    jobs = [
        (endpoint, gw.access_key, gw.secret_key, bucket, w, per_process, op, size)
        for w in range(CLIENT_PROCESSES)
    ]
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(CLIENT_PROCESSES)
    with ctx.Pool(CLIENT_PROCESSES, _join_barrier, (barrier,)) as pool:
        results = pool.map(_small_worker, jobs, chunksize=1)
    wall = max(end for _, _, end in results) - min(start for _, start, _ in results)
    client_cpu = sum(cpu for cpu, _, _ in results)
    done = per_process // CLIENT_THREADS * CLIENT_THREADS * CLIENT_PROCESSES
    return done / wall, client_cpu / done * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small", type=int, default=10_000, help="4 KiB objects to PUT/GET/HEAD")
    parser.add_argument(
        "--medium", type=int, default=0, help="also 64 KiB objects (CHK files, not inline)"
    )
    parser.add_argument("--big-gib", type=float, default=0, help="also one object this large")
    parser.add_argument("--no-ceilings", action="store_true")
    args = parser.parse_args()
    from boto3.s3.transfer import TransferConfig

    size = args.size_mib * MiB
    transfer = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    with tempfile.TemporaryDirectory(prefix="s3gw-bench-") as tmpdir:
        tmp = Path(tmpdir)
        source = tmp / "source"
        make_file(source, size)
        (tmp / "gw").mkdir()
        gw = Gateway(tmp / "gw")
        try:
            s3 = gw.client()
            s3.create_bucket(Bucket="bench")
            print(
                f"s3gw on an embedded grid of {len(gw.node_pids)} nodes, k=3 happy=7 n=10, "
                f"{os.cpu_count()} cores; medians of {args.runs} runs"
            )
            if not args.no_ceilings:
                from encode import ceilings  # bench/encode.py

                c = ceilings(3, 10, 3)
                print(
                    "ceilings (1 core, MB/s): "
                    + ", ".join(f"{name} {rate:.0f}" for name, rate in c.items())
                )
            rates: dict[str, list[float]] = {}
            cpu: dict[str, list[tuple[float, float]]] = {}

            def measure(name: str, fn) -> None:  # type: ignore[no-untyped-def]
                before = gw.cpu()
                seconds = timed(fn)
                after = gw.cpu()
                rates.setdefault(name, []).append(size / seconds / 1e6)
                cpu.setdefault(name, []).append((after[0] - before[0], after[1] - before[1]))

            lafs = [sys.executable, "-m", "lafs_core.cli", "--grid", str(gw.grid_file)]
            out_file = str(tmp / "out")

            def one_run(run: int) -> None:
                caps: list[str] = []

                def lafs_put() -> None:
                    out = subprocess.run(
                        [*lafs, "put", str(source)], capture_output=True, text=True, check=True
                    )
                    caps.append(out.stdout.strip().splitlines()[-1])

                def lafs_get() -> None:
                    subprocess.run([*lafs, "get", caps[0], "-o", out_file], check=True)

                def put_object() -> None:
                    with open(source, "rb") as f:
                        s3.put_object(Bucket="bench", Key=f"big-{run}", Body=f)

                def get_object() -> None:
                    drain(s3.get_object(Bucket="bench", Key=f"big-{run}")["Body"])

                def upload_file() -> None:
                    s3.upload_file(str(source), "bench", f"mp-{run}", Config=transfer)

                def download_file() -> None:
                    s3.download_file("bench", f"mp-{run}", out_file, Config=transfer)

                steps = {
                    "lafs put": lafs_put,
                    "lafs get": lafs_get,
                    "put_object": put_object,
                    "get_object": get_object,
                    "upload_file": upload_file,
                    "download_file": download_file,
                }
                for name, fn in steps.items():
                    if "put" in name or "upload" in name:
                        refresh(source)
                    measure(name, fn)
                s3.delete_objects(
                    Bucket="bench",
                    Delete={"Objects": [{"Key": f"big-{run}"}, {"Key": f"mp-{run}"}]},
                )

            for run in range(args.runs):
                one_run(run)
            lafs_put = statistics.median(rates["lafs put"])
            lafs_get = statistics.median(rates["lafs get"])
            print(f"{args.size_mib} MiB object        MB/s   vs lafs   gateway CPU-s  nodes CPU-s")
            for name, values in rates.items():
                ref = lafs_put if "put" in name or "upload" in name else lafs_get
                gcpu = statistics.median(c[0] for c in cpu[name])
                ncpu = statistics.median(c[1] for c in cpu[name])
                rate = statistics.median(values)
                print(f"  {name:15s} {rate:8.1f}   {rate / ref:6.0%}   {gcpu:12.2f}  {ncpu:11.2f}")
            rss_large = gw.peak_rss()
            print(f"peak RSS after {args.size_mib} MiB objects: gateway {rss_large[0]:.0f} MiB, "
                  f"busiest node {rss_large[1]:.0f} MiB")  # fmt: skip

            for bucket, label, object_size, count in (
                ("small", "4 KiB", SMALL, args.small),
                ("medium", "64 KiB", MEDIUM, args.medium),
            ):
                s3.create_bucket(Bucket=bucket)
                ops_here = ["put", "get", "head"] if count else []
                if count and object_size == SMALL:
                    ops_here.append("put-interleaved")
                for op in ops_here:
                    before = gw.cpu()
                    ops, client_ms = small_objects(gw, bucket, count, op, object_size)
                    if op.startswith("put"):
                        wait_idle(gw)  # the PUTs' last journal fold is theirs, not the GETs'
                    after = gw.cpu()
                    gw_ms = (after[0] - before[0]) / count * 1000
                    node_ms = (after[1] - before[1]) / count * 1000
                    ceiling = (os.cpu_count() or 1) * 1000 / (gw_ms + node_ms + client_ms)
                    if op == "put-interleaved":
                        print(f"{label} PUT with the 16 writers' keys interleaved (not in ranges):")
                    print(
                        f"{label} {op.upper().split('-')[0]:4s} {ops:8.0f} ops/s  "
                        f"(CPU-ms per op: gateway {gw_ms:.2f}, nodes {node_ms:.2f}, "
                        f"boto3 clients {client_ms:.2f}; all cores busy would give {ceiling:.0f}/s)"
                    )
            wait_idle(gw)  # the bucket journal's background fold is not the listing's cost
            listing_cpu, listing_wall, listed = [], [], 0
            for _ in range(args.runs):
                before = gw.cpu()[0]
                start = time.perf_counter()
                listed = sum(
                    len(p.get("Contents", []))
                    for p in s3.get_paginator("list_objects_v2").paginate(Bucket="small")
                )
                listing_wall.append(time.perf_counter() - start)
                listing_cpu.append(gw.cpu()[0] - before)
            print(
                f"ListObjectsV2 of {listed} keys: gateway "
                f"{statistics.median(listing_cpu):.3f} CPU-s, "
                f"{statistics.median(listing_wall):.2f} s wall (with boto3 parsing)"
            )
            if listed:
                per_key = statistics.median(listing_cpu) / listed * 1e6
                print(f"  = {per_key:.0f} us of gateway CPU per key listed (goal: under 30; "
                      f"bench/s3_listing.py splits cold and warm)")  # fmt: skip
            if args.big_gib:
                big_size = int(args.big_gib * 1024 * MiB)
                big = tmp / "big"
                make_file(big, big_size)
                t_put = timed(lambda: s3.upload_file(str(big), "bench", "huge", Config=transfer))
                t_get = timed(lambda: drain(s3.get_object(Bucket="bench", Key="huge")["Body"]))
                refresh(big)

                def put_big() -> None:
                    with open(big, "rb") as f:
                        s3.put_object(Bucket="bench", Key="huge-single", Body=f)

                t_single = timed(put_big)
                rss = gw.peak_rss()
                print(
                    f"{args.big_gib:g} GiB object: upload_file {big_size / t_put / 1e6:.1f} MB/s, "
                    f"get_object {big_size / t_get / 1e6:.1f} MB/s, "
                    f"put_object {big_size / t_single / 1e6:.1f} MB/s; peak RSS gateway "
                    f"{rss[0]:.0f} MiB (was {rss_large[0]:.0f}), busiest node {rss[1]:.0f} MiB"
                )
            print(f"peak RSS overall: gateway {gw.peak_rss()[0]:.0f} MiB, "
                  f"busiest node {gw.peak_rss()[1]:.0f} MiB")  # fmt: skip
        finally:
            gw.stop()


if __name__ == "__main__":
    main()
