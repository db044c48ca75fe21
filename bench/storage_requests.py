"""CPU cost of one storage-protocol request, client side and node side.

    python bench/storage_requests.py                # 400 requests per kind, 3 runs
    python bench/storage_requests.py -n 1000 --runs 5 --kinds get_version,rtw_20k
    python bench/storage_requests.py --loop asyncio  # the client on the stock event loop

One real storage node (a child process, as LocalGrid starts it) and one
StorageClient in this process. Each kind of request that small grid operations
are made of runs N times, with 1 and with 16 requests in flight; per request we
report the client's CPU (process_time), the node's CPU (utime+stime from
/proc/PID/stat, and its user and system parts), wall time and requests/s,
medians over the runs. Small-object
S3 requests and directory operations are bound by these figures.

Syncs of small writes run in kernel workers (Linux AIO), outside the node's
figures. rtw_new_1k's system time is mostly making an inode for the bucket
directory and one for the share; on ext4 without a journal that scans past
every inode freed in the last minutes (`recently_deleted`), so it swings 2-4x
after a benchmark or test run deleted thousands: alternate runs when comparing.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lafs_core import storage_protocol as sp  # noqa: E402
from lafs_core.storage_client import StorageClient  # noqa: E402
from storage_node.config import NURL_FILE  # noqa: E402
from storage_node.local_grid import LocalGrid  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
SECRETS = (os.urandom(32), os.urandom(32))  # lease renew, cancel
WRITE_ENABLER = os.urandom(32)
PAYLOAD_4K = os.urandom(4096)
SLOTS = 16  # mutable slots rewritten in turn by rtw_20k and rtw_85k
Op = Callable[[int], Awaitable[object]]


def node_cpu(pid: int) -> tuple[float, float]:
    """Seconds of CPU the process has used: (user, system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def rtw(data: bytes) -> sp.TestWriteVectors:
    return sp.TestWriteVectors(write=(sp.WriteVector(0, data),))


class Fixture:
    """The shares the read kinds read, made once before timing."""

    def __init__(self, client: StorageClient) -> None:
        self.c = client
        self.mutable_si = os.urandom(16)
        self.immutable_si = os.urandom(16)
        self.slots = [os.urandom(16) for _ in range(SLOTS)]
        self.big_slots = [os.urandom(16) for _ in range(SLOTS)]
        self.huge_slots = [os.urandom(16) for _ in range(SLOTS)]
        self.fresh = 0

    async def setup(self) -> None:
        c = self.c
        await c.read_test_write(
            self.mutable_si, WRITE_ENABLER, *SECRETS, {0: rtw(os.urandom(70_000))}
        )
        for si in self.slots:
            await c.read_test_write(si, WRITE_ENABLER, *SECRETS, {0: rtw(os.urandom(20_480))})
        for si in self.big_slots:
            await c.read_test_write(si, WRITE_ENABLER, *SECRETS, {0: rtw(os.urandom(87_000))})
        for si in self.huge_slots:
            await c.read_test_write(si, WRITE_ENABLER, *SECRETS, {0: rtw(os.urandom(300_000))})
        await c.allocate_buckets(self.immutable_si, *SECRETS, b"u" * 32, [0], 70_000)
        await c.write_share_chunk(self.immutable_si, 0, b"u" * 32, 0, os.urandom(70_000))

    async def put_immutable(self, i: int) -> None:
        """allocate + write + close of a 4 KiB share: two requests."""
        si, upload = os.urandom(16), os.urandom(32)
        await self.c.allocate_buckets(si, *SECRETS, upload, [0], 4096)
        await self.c.write_share_chunk(si, 0, upload, 0, PAYLOAD_4K)

    def kinds(self) -> dict[str, tuple[int, Op]]:
        """name -> (requests per operation, operation)."""
        c, m, im = self.c, self.mutable_si, self.immutable_si
        blob = os.urandom(20_480)
        leaf = os.urandom(87_000)  # a share of a 256 KiB bucket-index leaf (each 4 KiB S3 PUT)
        full_leaf = os.urandom(300_000)  # a share of a leaf near its split size
        dirshare = os.urandom(1_200)  # a share of a new empty directory (mkdir)
        return {
            "get_version": (1, lambda i: c.get_version()),
            "list_mutable": (1, lambda i: c.list_mutable_shares(m)),
            "read_mutable_4k": (1, lambda i: c.read_mutable_share_chunk(m, 0, 0, 4096)),
            "read_mutable_64k": (1, lambda i: c.read_mutable_share_chunk(m, 0, 0, 65536)),
            "rtw_20k": (
                1,
                lambda i: c.read_test_write(
                    self.slots[i % SLOTS], WRITE_ENABLER, *SECRETS, {0: rtw(blob)}
                ),
            ),
            "rtw_85k": (
                1,
                lambda i: c.read_test_write(
                    self.big_slots[i % SLOTS], WRITE_ENABLER, *SECRETS, {0: rtw(leaf)}
                ),
            ),
            "rtw_300k": (
                1,
                lambda i: c.read_test_write(
                    self.huge_slots[i % SLOTS], WRITE_ENABLER, *SECRETS, {0: rtw(full_leaf)}
                ),
            ),
            "rtw_new_1k": (
                1,
                lambda i: c.read_test_write(
                    os.urandom(16), WRITE_ENABLER, *SECRETS, {0: rtw(dirshare)}
                ),
            ),
            "put_immutable_4k": (2, self.put_immutable),
            "read_immutable_4k": (1, lambda i: c.read_share_chunk(im, 0, 0, 4096)),
        }


async def timed(op: Op, count: int, in_flight: int, pid: int) -> tuple[float, float, float, float]:
    """(client CPU, node user CPU, node system CPU, wall) seconds of `count` operations,
    `in_flight` at a time."""
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await op(i)

    c0, (u0, s0), w0 = time.process_time(), node_cpu(pid), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    u1, s1 = node_cpu(pid)
    return time.process_time() - c0, u1 - u0, s1 - s0, time.perf_counter() - w0


async def run(nurl: str, pid: int, args: argparse.Namespace) -> None:
    async with StorageClient(nurl) as client:
        fixture = Fixture(client)
        await fixture.setup()
        kinds = fixture.kinds()
        wanted = args.kinds.split(",") if args.kinds else list(kinds)
        print(
            f"{'kind':<18}{'flight':>7}{'client µs':>11}{'node µs':>9}{'user':>6}{'sys':>6}"
            f"{'wall µs':>9}{'req/s':>8}"
        )
        for name in wanted:
            per_op, op = kinds[name]
            for in_flight in (1, 16):
                await timed(op, 20, in_flight, pid)  # warm the connections
                samples = [await timed(op, args.n, in_flight, pid) for _ in range(args.runs)]
                requests = args.n * per_op
                client, user, system, wall = (
                    statistics.median(s[k] for s in samples) for k in range(4)
                )
                node = statistics.median(s[1] + s[2] for s in samples)
                us = 1e6 / requests
                print(
                    f"{name:<18}{in_flight:>7}{client * us:>11.0f}{node * us:>9.0f}"
                    f"{user * us:>6.0f}{system * us:>6.0f}{wall * us:>9.0f}"
                    f"{requests / wall:>8.0f}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=400, help="operations per run and kind")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="", help="comma-separated; default all")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        grid = LocalGrid(Path(tmp), nodes=1)
        grid.start()
        try:
            nurl = (grid.node_dirs()[0] / NURL_FILE).read_text().strip()
            coro = run(nurl, grid.processes[0].pid, args)
            if args.loop == "uvloop":
                import uvloop

                uvloop.run(coro)
            else:
                asyncio.run(coro)
        finally:
            grid.stop()


if __name__ == "__main__":
    main()
