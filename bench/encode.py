"""CHK encode/decode throughput beside the raw ceilings of its stages, and peak memory.

    python bench/encode.py                       # 256 MiB, 3 of 10, 3 runs
    python bench/encode.py --size-mib 64 --runs 5 --memory-mib 256,1024

Every figure is the median of --runs runs, all measured in the same process
run, because machines of one kind differ a lot (only ratios carry over).
The "combined single-core ceiling" is what one core could do if the encoder
did nothing but its stages back to back: per plaintext byte, one AES pass,
one erasure-coding pass (`rs_encode`: the engine `Codec` uses, ISA-L where
installed, else zfec) and 3 + n/k SHA-256 passes (convergent key, whole-ciphertext
hash, segment hashes, block hashes).
"""

import argparse
import asyncio
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import zfec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lafs_core.codec import Codec  # noqa: E402
from lafs_core.crypto import aes_ctr  # noqa: E402
from lafs_core.immutable.encoder import file_reader  # noqa: E402
from lafs_core.immutable.local import encode  # noqa: E402
from lafs_core.immutable.params import EncodingParams  # noqa: E402
from lafs_core.immutable.reader import CHKReader  # noqa: E402
from lafs_core.uri import CHKReadCap  # noqa: E402

MiB = 1 << 20
SECRET = b"benchmark secret"


def median_rate(fn: Callable[[], object], nbytes: int, runs: int) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        rates.append(nbytes / (time.perf_counter() - start) / 1e6)
    return statistics.median(rates)


def ceilings(k: int, n: int, runs: int) -> dict[str, float]:
    segment = os.urandom(MiB - MiB % k)
    total = 64 * len(segment)
    size = len(segment) // k
    view = memoryview(segment)
    pieces = [view[i * size : (i + 1) * size] for i in range(k)]
    encoder, decoder = zfec.Encoder(k, n), zfec.Decoder(k, n)
    checks = encoder.encode(pieces, list(range(k, n)))[-k:]
    check_numbers = list(range(n - k, n))
    codec = Codec(k, n)

    def loop(fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(64):
                fn()  # each result dropped at once, as the encoder drops sent blocks

        return run

    return {
        "sha256": median_rate(loop(lambda: hashlib.sha256(segment).digest()), total, runs),
        "aes128ctr": median_rate(loop(lambda: aes_ctr(b"k" * 16, segment)), total, runs),
        "zfec_encode": median_rate(
            loop(lambda: encoder.encode(pieces, list(range(k, n)))), total, runs
        ),
        "rs_encode": median_rate(loop(lambda: codec.encode(segment)), total, runs),
        "zfec_decode": median_rate(
            loop(lambda: decoder.decode(checks, check_numbers)), total, runs
        ),
    }


def encode_file(
    path: Path, params: EncodingParams, workers: int, out: Path | None = None
) -> CHKReadCap:
    fd = os.open(path, os.O_RDONLY)
    outputs: dict[int, int] = {}

    def write_at(sharenum: int, offset: int, data: bytes) -> None:
        assert out is not None
        if sharenum not in outputs:
            outputs[sharenum] = os.open(out / str(sharenum), os.O_WRONLY | os.O_CREAT, 0o644)
        os.pwrite(outputs[sharenum], data, offset)

    try:
        with ThreadPoolExecutor(workers) as pool:
            size = os.fstat(fd).st_size
            writer = write_at if out is not None else None
            cap = encode(file_reader(fd), size, params, SECRET, write_at=writer, pool=pool)
    finally:
        os.close(fd)
        for f in outputs.values():
            os.close(f)
    assert isinstance(cap, CHKReadCap)
    return cap


class PreadShare:
    def __init__(self, sharenum: int, path: Path) -> None:
        self.sharenum = sharenum
        self.fd = os.open(path, os.O_RDONLY)

    async def read(self, offset: int, length: int) -> bytes:
        return os.pread(self.fd, length, offset)


def decode_file(cap: CHKReadCap, shares_dir: Path, sharenums: list[int], workers: int) -> None:
    async def run() -> None:
        with ThreadPoolExecutor(workers) as pool:
            sources = [PreadShare(n, shares_dir / str(n)) for n in sharenums]
            reader = CHKReader(cap, sources, pool=pool, depth=2 * workers + 2)
            got = 0
            async for chunk in reader.iter_range():
                got += len(chunk)
            assert got == cap.size
            for s in sources:
                os.close(s.fd)

    asyncio.run(run())


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
        f.write(os.urandom(size % MiB))


def child_peak_rss(path: Path, workers: int) -> float:
    """Encode in a fresh process; its peak RSS in MiB."""
    code = (
        "import resource, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n"
        "import encode as b\n"
        "from lafs_core.immutable.params import EncodingParams\n"
        f"b.encode_file(__import__('pathlib').Path({str(path)!r}), EncodingParams(), {workers})\n"
        # VmHWM, not ru_maxrss: the latter keeps the parent's size across fork and exec.
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--memory-mib", default="256,1024", help="file sizes for the peak-RSS check"
    )
    args = parser.parse_args()
    params = EncodingParams()
    k, n = params.k, params.n
    size = args.size_mib * MiB

    print(
        f"machine: {os.cpu_count()} cores; file {args.size_mib} MiB; k={k} n={n}; "
        f"segment {params.max_segment_size} bytes; median of {args.runs} runs"
    )
    sha_passes = 3 + n / k

    def combined_ceiling(c: dict[str, float]) -> float:
        return 1 / (sha_passes / c["sha256"] + 1 / c["aes128ctr"] + 1 / c["rs_encode"])

    with tempfile.TemporaryDirectory(prefix="lafs-bench-") as tmp:
        tmpdir = Path(tmp)
        source = tmpdir / "plain"
        make_file(source, size)
        # Ceilings and encodes are interleaved run by run, and each run's ratio is
        # taken against the ceiling measured beside it: the machine is shared and noisy.
        runs: list[dict[str, float]] = []
        for _ in range(args.runs):
            row = ceilings(k, n, 1)
            for workers in (1, 2):
                row[f"encode{workers}"] = median_rate(
                    lambda w=workers: encode_file(source, params, w), size, 1
                )
            runs.append(row)
        med = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name in ("sha256", "aes128ctr", "zfec_encode", "rs_encode", "zfec_decode"):
            print(f"ceiling  {name:<12} {med[name]:8.0f} MB/s  (one core)")
        combined = statistics.median(combined_ceiling(r) for r in runs)
        print(
            f"ceiling  {'combined':<12} {combined:8.0f} MB/s  "
            f"(one core: AES + rs_encode + {sha_passes:.2f} x SHA-256)"
        )
        decode_combined = statistics.median(
            1 / (2 / r["sha256"] + 1 / r["aes128ctr"]) for r in runs
        )
        print(
            f"ceiling  {'decode':<12} {decode_combined:8.0f} MB/s  "
            "(one core: AES + 2 x SHA-256, systematic shares)"
        )
        for workers in (1, 2):
            ratio = statistics.median(r[f"encode{workers}"] / combined_ceiling(r) for r in runs)
            print(
                f"encode   {workers} thread(s)  {med[f'encode{workers}']:8.0f} MB/s  "
                f"= {ratio:.0%} of the one-core combined ceiling (median of per-run ratios)"
            )
        shares = tmpdir / "shares"
        shares.mkdir()
        cap = encode_file(source, params, 2, shares)
        for label, nums in (("systematic 0,1,2", [0, 1, 2]), ("check 7,8,9", [7, 8, 9])):
            for workers in (1, 2):
                rate = median_rate(
                    lambda n=nums, w=workers: decode_file(cap, shares, n, w), size, args.runs
                )
                print(f"decode   {workers} thread(s)  {rate:8.0f} MB/s  from shares {label}")
        for f in shares.iterdir():
            f.unlink()
        source.unlink()
        for mib in [int(x) for x in args.memory_mib.split(",") if x]:
            path = tmpdir / f"mem{mib}"
            make_file(path, mib * MiB)
            print(f"memory   encode of {mib:5d} MiB: peak RSS {child_peak_rss(path, 2):6.1f} MiB")
            path.unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {peak:.0f} MiB")


if __name__ == "__main__":
    main()
