"""`lafs put` / `lafs get` throughput on a local grid of storage nodes, and peak memory.

    python bench/grid.py                      # 256 MiB file, 10 nodes, 3 runs
    python bench/grid.py --size-mib 64 --runs 5 --memory-mib 256,1024
    python bench/grid.py --tahoe              # also the real Tahoe-LAFS 1.20 (needs $TAHOE_VENV)

Each figure is the median of --runs runs of the real commands, as a user runs
them. Peak RSS is measured for the `lafs` process and for the storage node
that used the most memory. The rates are whole commands, start-up included;
a second line gives the rates of the transfers alone, from the `time total`
that `--verbose` prints (Tahoe's figures come from its running node's web
API, which pays no start-up). CPU-seconds (the client's, and all nodes' together)
are printed too: on a shared machine they vary less than the rates. With
--tahoe, the same file goes through a real Tahoe 1.20 client node's web API
onto ten real Tahoe storage nodes in the same run, and the ratios are printed;
both gets write the file to the same disk (`lafs get -o`, and Tahoe's GET
body into a file, as `tahoe get CAP FILE` does).
"""

import argparse
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from storage_node.local_grid import LocalGrid  # noqa: E402

MiB = 1 << 20


def make_file(path: Path, size: int) -> None:
    with open(path, "wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
        f.write(os.urandom(size % MiB))


def vm_hwm(pid: int) -> float:
    """Peak resident memory of a live process, MiB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_of_child(cmd: list[str]) -> tuple[float, float, str, float, str]:
    """Run a command; (wall seconds, its peak RSS in MiB, last line of its output, its CPU-s,
    all it printed on stdout and stderr).

    The peak is sampled from /proc while it runs (ru_maxrss would also count the
    parent's size, which a child keeps across fork and exec).
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak = 0.0
        while True:
            peak = max(peak, vm_hwm(process.pid))
            reaped, status, usage = os.wait4(process.pid, os.WNOHANG)
            if reaped:
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        if process.returncode:
            message = err.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"{' '.join(cmd)} failed: {message}")
        printed = out.read().decode(errors="replace")
        last = printed.strip().splitlines()[-1:] or [""]
        printed += err.read().decode(errors="replace")
    return wall, peak, last[0], usage.ru_utime + usage.ru_stime, printed


def reported_seconds(printed: str) -> float:
    """The `time total:` a `lafs ... --verbose` command reports: its transfer, without the
    interpreter's start-up and exit."""
    found = re.search(r"^time total: ([0-9.]+) s$", printed, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no 'time total' in: {printed[-300:]}")
    return float(found.group(1))


def nodes_cpu(grid: LocalGrid) -> float:
    return sum(cpu_seconds(process.pid) for process in grid.processes)


def node_peak_rss(grid: LocalGrid) -> float:
    return max(vm_hwm(process.pid) for process in grid.processes)


def bench_ours(tmp: Path, source: Path, runs: int, nodes: int) -> dict[str, float]:
    grid = LocalGrid(tmp / "grid", nodes)
    grid.start()
    try:
        lafs = [sys.executable, "-m", "lafs_core.cli", "--grid", str(grid.grid_file)]
        put_times, get_times, put_rss, get_rss = [], [], [], []
        put_inner, get_inner = [], []  # the commands' own `time total`
        cpu: dict[str, list[float]] = {"put": [], "get": [], "put_nodes": [], "get_nodes": []}
        for _run in range(runs):
            # A fresh convergence secret per run, so every put really uploads.
            (grid.grid_file.parent / "grid.toml.convergence").unlink(missing_ok=True)
            before = nodes_cpu(grid)
            wall, rss, cap, client_cpu, printed = peak_rss_of_child(
                [*lafs, "put", "--verbose", str(source)]
            )
            put_times.append(wall)
            put_inner.append(reported_seconds(printed))
            put_rss.append(rss)
            cpu["put"].append(client_cpu)
            cpu["put_nodes"].append(nodes_cpu(grid) - before)
            out = tmp / "out"
            before = nodes_cpu(grid)
            wall, rss, _, client_cpu, printed = peak_rss_of_child(
                [*lafs, "get", "--verbose", cap, "-o", str(out)]
            )
            get_times.append(wall)
            get_inner.append(reported_seconds(printed))
            get_rss.append(rss)
            cpu["get"].append(client_cpu)
            cpu["get_nodes"].append(nodes_cpu(grid) - before)
            if out.stat().st_size != source.stat().st_size:
                raise RuntimeError("download size differs")
            out.unlink()
            for node_dir in grid.node_dirs():  # keep the disk from filling over runs
                for share_dir in (node_dir / "storage" / "shares").glob("??"):
                    subprocess.run(["rm", "-rf", str(share_dir)], check=True)
        size = source.stat().st_size
        return {
            "put_MBps": size / statistics.median(put_times) / 1e6,
            "get_MBps": size / statistics.median(get_times) / 1e6,
            "put_inner_MBps": size / statistics.median(put_inner) / 1e6,
            "get_inner_MBps": size / statistics.median(get_inner) / 1e6,
            "put_rss": max(put_rss),
            "get_rss": max(get_rss),
            "node_rss": node_peak_rss(grid),
            **{f"{name}_cpu": statistics.median(values) for name, values in cpu.items()},
        }
    finally:
        grid.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument(
        "--memory-mib", default="", help="extra file sizes for the client memory check"
    )
    parser.add_argument(
        "--tahoe", action="store_true", help="also measure the real Tahoe-LAFS 1.20"
    )
    args = parser.parse_args()
    # Each run starts `lafs` afresh: compile our modules once, as installing a package does,
    # so that an editable checkout under PYTHONDONTWRITEBYTECODE is not timed compiling them
    # (Tahoe's virtualenv holds compiled files from its install).
    root = Path(__file__).resolve().parent.parent
    for package in ("lafs_core", "storage_node"):
        compileall.compile_dir(root / package, quiet=1)
    with tempfile.TemporaryDirectory(prefix="lafs-bench-grid-") as tmpdir:
        tmp = Path(tmpdir)
        source = tmp / "source"
        make_file(source, args.size_mib * MiB)
        print(
            f"file {args.size_mib} MiB, {args.nodes} local storage nodes, k=3 happy=7 n=10, "
            f"median of {args.runs} runs, {os.cpu_count()} cores"
        )
        ours = bench_ours(tmp, source, args.runs, args.nodes)
        print(
            f"ours   put {ours['put_MBps']:7.1f} MB/s   get {ours['get_MBps']:7.1f} MB/s   "
            f"peak RSS: put {ours['put_rss']:.0f} MiB, get {ours['get_rss']:.0f} MiB, "
            f"busiest node {ours['node_rss']:.0f} MiB"
        )
        print(
            f"ours   CPU-s: put client {ours['put_cpu']:.2f}, nodes {ours['put_nodes_cpu']:.2f}; "
            f"get client {ours['get_cpu']:.2f}, nodes {ours['get_nodes_cpu']:.2f}"
        )
        print(
            f"ours   transfer only (the commands' own 'time total', no interpreter start-up): "
            f"put {ours['put_inner_MBps']:.1f} MB/s, get {ours['get_inner_MBps']:.1f} MB/s"
        )
        for mib in [int(x) for x in args.memory_mib.split(",") if x]:
            big = tmp / f"mem{mib}"
            make_file(big, mib * MiB)
            source.unlink(missing_ok=True)
            m = bench_ours(tmp, big, 1, args.nodes)
            print(
                f"memory {mib:5d} MiB: put peak RSS {m['put_rss']:.0f} MiB, "
                f"get {m['get_rss']:.0f} MiB, "
                f"node {m['node_rss']:.0f} MiB ({m['put_MBps']:.1f} / {m['get_MBps']:.1f} MB/s)"
            )
            big.unlink()
        if args.tahoe:
            from tahoe_grid import bench_tahoe  # bench/tahoe_grid.py

            if not source.exists():
                make_file(source, args.size_mib * MiB)
            theirs = bench_tahoe(tmp, source, args.runs, args.nodes)
            print(
                f"tahoe  put {theirs['put_MBps']:7.1f} MB/s   get {theirs['get_MBps']:7.1f} MB/s   "
                f"client RSS {theirs['client_rss']:.0f} MiB, "
                f"busiest node {theirs['node_rss']:.0f} MiB"
            )
            print(
                f"ratio  put {ours['put_MBps'] / theirs['put_MBps']:.1f}x   "
                f"get {ours['get_MBps'] / theirs['get_MBps']:.1f}x   "
                f"(transfer only: put {ours['put_inner_MBps'] / theirs['put_MBps']:.1f}x, "
                f"get {ours['get_inner_MBps'] / theirs['get_MBps']:.1f}x)"
            )


if __name__ == "__main__":
    main()
