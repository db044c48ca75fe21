"""manifest, deep-stats and deep-check (with repair) over a small tree on ten real nodes."""

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lafs_core import base32
from lafs_core.client import Client
from lafs_core.deep import deep_check, manifest
from lafs_core.deep_results import Reached, repair_cap, size_bucket, storage_index, verify_cap
from lafs_core.dirnode import parse_dir_cap
from lafs_core.dirnode.caps import AnyCap, DirectoryCap, FileCap
from lafs_core.mutable.caps import MDMF, SDMF, MutableWriteCap
from lafs_core.mutable.layout import parse_header
from lafs_core.uri import CHKReadCap, LiteralCap, parse_cap
from storage_node.container import MUTABLE_DATA_OFFSET

from ..conftest import Grid
from .test_checker import lafs


@dataclass
class Tree:
    root: str
    big: str
    inner: str
    mutable: str
    sub: str


def make_tree(grid: Grid) -> Tree:
    """/big (CHK), /lit (LIT), /again (= big), /sub/inner (CHK), /sub/mut (SDMF), /sub/up (= /)."""

    async def run() -> Tree:
        async with Client(grid.config()) as client:
            root = await client.create_directory()
            sub = await client.create_directory()
            big = (await client.upload_bytes(os.urandom(2000))).cap.to_string()
            inner = (await client.upload_bytes(os.urandom(40_000))).cap.to_string()
            lit = (await client.upload_bytes(b"tiny")).cap.to_string()
            mut = (await client.create_mutable(os.urandom(700))).cap.to_string()
            for name, cap in (("big", big), ("lit", lit), ("again", big)):
                await root.set_uri(name, cap)
            await root.set_uri("sub", sub.cap.to_string())
            await sub.set_uri("inner", inner)
            await sub.set_uri("mut", mut)
            await sub.set_uri("up", root.cap.readonly().to_string())
            return Tree(root.cap.to_string(), big, inner, mut, sub.cap.to_string())

    return asyncio.run(run())


def shares_of(grid: Grid, si_text: str) -> dict[Path, int]:
    found = {}
    for node in grid.nodes:
        for path in (node.storage_dir / "shares" / si_text[:2] / si_text).glob("*"):
            found[path] = int(path.name)
    return found


def json_lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines()]


def test_size_buckets() -> None:
    assert [size_bucket(n) for n in (0, 1, 3, 4, 10, 11, 31, 32, 100, 101, 317, 1001)] == [
        (0, 0), (1, 3), (1, 3), (4, 10), (4, 10), (11, 31), (11, 31), (32, 100), (32, 100),
        (101, 316), (317, 1000), (1001, 3162),
    ]  # fmt: skip


def every_kind_of_cap() -> list[AnyCap]:
    files: list[FileCap] = [LiteralCap(b"tiny"), LiteralCap(b"")]
    chk = CHKReadCap(os.urandom(16), os.urandom(32), 3, 10, 4000)
    files += [chk, chk.verify_cap()]
    for fmt in (SDMF, MDMF):
        write = MutableWriteCap(os.urandom(16), os.urandom(32), fmt)
        files += [write, write.readonly(), write.verify_cap()]
    return [*files, *(DirectoryCap(inner) for inner in files)]


def test_manifest_fields_of_every_kind_of_cap() -> None:
    """A manifest line prints the verify cap once and takes the storage index from it."""
    for cap in every_kind_of_cap():
        si, verify, repair = storage_index(cap), verify_cap(cap), repair_cap(cap)
        assert Reached(("a",), cap).to_json() == {
            "type": "directory" if isinstance(cap, DirectoryCap) else "file",
            "path": ["a"],
            "cap": cap.to_string(),
            "verifycap": verify.to_string() if verify is not None else "",
            "repaircap": repair.to_string() if repair is not None else "",
            "storage-index": base32.b2a(si) if si else "",
        }


def test_manifest_and_stats(healthy_grid: Grid) -> None:
    tree = make_tree(healthy_grid)
    out = lafs(healthy_grid, "manifest", tree.root)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert [line.partition(" ")[2] for line in lines] == [
        "", "again", "lit", "sub", "sub/inner", "sub/mut"
    ]  # fmt: skip
    assert lines[1] == f"{tree.big} again" and lines[3] == f"{tree.sub} sub"
    units = json_lines(lafs(healthy_grid, "manifest", "--json", tree.root).stdout)
    kinds = ["directory", "file", "file", "directory", "file", "file", "stats"]
    assert [u["type"] for u in units] == kinds
    assert units[2]["storage-index"] == "" and units[2]["verifycap"] == ""
    assert units[1]["repaircap"] == units[1]["verifycap"] != ""
    sis = lafs(healthy_grid, "manifest", "--storage-index", tree.root).stdout.split()
    assert len(sis) == 5 and all(len(si) == 26 for si in sis)

    stats = json.loads(lafs(healthy_grid, "stats", "--json", tree.root).stdout)
    assert stats["count-immutable-files"] == 2 and stats["count-literal-files"] == 1
    assert stats["count-mutable-files"] == 1 and stats["count-files"] == 4
    assert stats["count-directories"] == 2 and stats["count-unknown"] == 0
    assert stats["size-immutable-files"] == 42_000 and stats["size-literal-files"] == 4
    assert stats["largest-immutable-file"] == 40_000
    assert stats["largest-directory-children"] == 4
    assert stats["size-files-histogram"] == [[4, 10, 1], [1001, 3162, 1], [31623, 100000, 1]]
    text = lafs(healthy_grid, "stats", tree.root).stdout
    assert "count-directories: 2" in text and "1001-3162 bytes: 1" in text

    async def walked() -> list[tuple[str, ...]]:
        async with Client(healthy_grid.config()) as client:
            return [r.path for r in await manifest(client, parse_dir_cap(tree.root))]

    assert asyncio.run(walked())[-1] == ("sub", "mut")


def test_deep_check_verify_and_repair(healthy_grid: Grid) -> None:
    tree = make_tree(healthy_grid)
    inner_si = base32.b2a(parse_cap(tree.inner).storage_index)
    for path in sorted(shares_of(healthy_grid, inner_si), key=lambda p: p.name)[:3]:
        path.unlink()
    mut_si = json_lines(lafs(healthy_grid, "manifest", "--json", tree.root).stdout)[5][
        "storage-index"
    ]
    victim = next(iter(shares_of(healthy_grid, mut_si)))
    raw = bytearray(victim.read_bytes())
    _prefix, offsets = parse_header(bytes(raw[MUTABLE_DATA_OFFSET:]))
    raw[MUTABLE_DATA_OFFSET + offsets.share_data + 3] ^= 0x40
    victim.write_bytes(bytes(raw))

    plain = lafs(healthy_grid, "deep-check", tree.root)
    assert plain.returncode == 0, plain.stderr
    assert "done: 5 objects checked" in plain.stdout
    assert " 4 healthy, 1 unhealthy, 0 unrecoverable" in plain.stdout
    assert "unhealthy: /sub/inner" in plain.stdout

    out = lafs(healthy_grid, "deep-check", "--verify", "--json", tree.root)
    units = json_lines(out.stdout)
    assert units[-1]["type"] == "stats" and units[-1]["stats"]["count-files"] == 4
    by_path = {"/".join(u["path"]): u for u in units[:-1]}
    assert by_path["lit"]["check-results"] == {"storage-index": "", "results": {"healthy": True}}
    assert by_path["sub/inner"]["check-results"]["results"]["count-shares-good"] == 7
    mut = by_path["sub/mut"]["check-results"]["results"]
    assert mut["count-corrupt-shares"] == 1 and not mut["healthy"]

    repaired = lafs(healthy_grid, "deep-check", "--verify", "--repair", tree.root)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    assert "2 repairs attempted, 2 successful, 0 failed" in repaired.stdout
    assert "post-repair: 5 healthy, 0 unhealthy" in repaired.stdout

    async def after() -> dict:  # type: ignore[type-arg]
        async with Client(healthy_grid.config()) as client:
            root = parse_dir_cap(tree.root)
            return (await deep_check(client, root, verify=True)).to_json()

    report = asyncio.run(after())
    assert report["count-objects-checked"] == 5 and report["count-objects-healthy"] == 5
    assert report["count-corrupt-shares"] == 0 and report["list-unhealthy-files"] == []


def test_deep_check_progress_on_a_terminal(healthy_grid: Grid) -> None:
    tree = make_tree(healthy_grid)
    leader, follower = os.openpty()
    try:
        proc = subprocess.run(
            ["lafs", "--grid", str(healthy_grid.grid_file), "deep-check", tree.root],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            timeout=300,
        )
        os.close(follower)
        shown = os.read(leader, 65536).decode()
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert "\rchecked 5 objects, 0 unhealthy" in shown
    assert "checked" not in lafs(healthy_grid, "deep-check", tree.root).stderr
