"""ListObjectsV2 of many keys through the real gateway: the gateway's CPU seconds per listing.

    python bench/s3_listing.py                       # 10,000 keys of 4 KiB, 3 warm listings
    python bench/s3_listing.py --keys 2000 --object-bytes 0
    python bench/s3_listing.py --data-dir /tmp/lst   # keep the filled grid for the next run
    python bench/s3_listing.py --data-dir /tmp/lst --cache-seconds 3600  # the listing's own CPU

Fills a bucket from 16 writer threads, restarts `s3gw serve` so its index
cache is empty, waits until it is idle, then lists the whole bucket with
boto3's paginator (pages of 1,000 keys): the first listing (cold: every index
node read from the grid) and warm ones. Reports the gateway's CPU seconds
(from /proc) per whole listing and per key, and the boto3 process's own CPU
(its XML parsing) beside. The goal (issue 6) is under 0.3 CPU-s for 10,000 keys.

A warm listing re-checks every cached leaf older than the gateway's
index-cache-seconds (1 s by default, less than a listing of many keys takes)
with the grid: two checkstring reads per leaf, and a servermap update (six
servers, six signatures) when the leaf's last one is over 10 s old. With
4 KiB objects stored inline a leaf holds about 38 keys, so these checks, not
the listing itself, make most of a warm listing's CPU. `--cache-seconds`
longer than the run leaves them out: what remains is the listing's own cost.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import s3  # bench/s3.py (puts bench/ and the repository on sys.path)

WRITERS = 16


def list_all(client, bucket: str) -> int:  # type: ignore[no-untyped-def]
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sum(len(p.get("Contents", [])) for p in pages)


def measure(gw: s3.Gateway, bucket: str) -> tuple[int, float, float, float]:
    """(keys, gateway CPU-s, boto3 CPU-s, wall s) of one whole listing."""
    client = gw.client()
    before, client_before, start = gw.cpu()[0], time.process_time(), time.perf_counter()
    listed = list_all(client, bucket)
    wall = time.perf_counter() - start
    return listed, gw.cpu()[0] - before, time.process_time() - client_before, wall


def settle(gw: s3.Gateway) -> None:
    """Wait until the gateway is idle: it makes its pool of RSA keys right after start,
    which is no part of a listing's cost."""
    last = gw.cpu()[0]
    while True:
        time.sleep(1)
        now = gw.cpu()[0]
        if now - last < 0.02:
            return
        last = now


def fill(gw: s3.Gateway, bucket: str, keys: int, size: int) -> None:
    """PUT `keys` objects from WRITERS threads (the gateway, not boto3, bounds the rate)."""
    client = gw.client()
    client.create_bucket(Bucket=bucket)
    body = os.urandom(size)
    start = time.perf_counter()
    with ThreadPoolExecutor(WRITERS) as pool:
        for _ in pool.map(
            lambda i: client.put_object(Bucket=bucket, Key=f"key/{i:06d}", Body=body),
            range(keys),
        ):
            pass
    seconds = time.perf_counter() - start
    print(f"filled {keys} keys of {size} bytes in {seconds:.0f} s ({keys / seconds:.0f} PUT/s)")


def report(name: str, keys: int, gw_cpu: float, client_cpu: float, wall: float) -> None:
    print(
        f"  {name:5s} gateway {gw_cpu:.3f} CPU-s ({gw_cpu / keys * 1e6:.0f} us/key), "
        f"boto3 {client_cpu:.3f} CPU-s, {wall:.2f} s wall"
    )


def run(data_dir: Path, keys: int, size: int, runs: int, cache_seconds: float | None) -> None:
    marker = data_dir / f"filled-{keys}-{size}"
    if not marker.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        gw = s3.Gateway(data_dir / "gw")
        try:
            fill(gw, "listing", keys, size)
        finally:
            gw.stop()
        marker.touch()
    settings = "" if cache_seconds is None else f"index-cache-seconds = {cache_seconds}\n"
    gw = s3.Gateway(data_dir / "gw", settings)  # a fresh process: an empty index cache
    try:
        settle(gw)
        listed, gw_cpu, client_cpu, wall = measure(gw, "listing")
        print(f"ListObjectsV2 of {listed} keys ({size}-byte objects), pages of 1000:")
        report("cold", listed, gw_cpu, client_cpu, wall)
        warm = [measure(gw, "listing") for _ in range(runs)]
        report(
            "warm",
            listed,
            statistics.median(w[1] for w in warm),
            statistics.median(w[2] for w in warm),
            statistics.median(w[3] for w in warm),
        )
    finally:
        gw.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--object-bytes", type=int, default=s3.SMALL)
    parser.add_argument("--runs", type=int, default=3, help="warm listings (median reported)")
    parser.add_argument("--data-dir", type=Path, help="gateway data dir to keep and reuse")
    parser.add_argument(
        "--cache-seconds", type=float, help="the listing gateway's index-cache-seconds"
    )
    args = parser.parse_args()
    if args.data_dir:
        run(args.data_dir, args.keys, args.object_bytes, args.runs, args.cache_seconds)
        return
    with tempfile.TemporaryDirectory(prefix="s3gw-listing-") as tmp:
        run(Path(tmp), args.keys, args.object_bytes, args.runs, args.cache_seconds)


if __name__ == "__main__":
    main()
