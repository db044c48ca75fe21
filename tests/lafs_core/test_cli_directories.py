"""`lafs mkdir`, `ls`, `put FILE DIRCAP/name` and `get DIRCAP/path` on ten real nodes."""

import os
import subprocess
from pathlib import Path

from ..conftest import Grid


def lafs(grid: Grid, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["lafs", "--grid", str(grid.grid_file), *args],
        input=stdin,
        capture_output=True,
        timeout=120,
    )


def _verify_cap(dircap: str) -> str:
    from lafs_core.dirnode import parse_dir_cap

    verify = parse_dir_cap(dircap).verify_cap()
    assert verify is not None
    return verify.to_string()


def test_directory_commands(healthy_grid: Grid, tmp_path: Path) -> None:
    made = lafs(healthy_grid, "mkdir")
    assert made.returncode == 0, made.stderr
    root = made.stdout.decode().splitlines()[-1]
    assert root.startswith("URI:DIR2:")
    sub = lafs(healthy_grid, "mkdir", f"{root}/docs").stdout.decode().splitlines()[-1]
    assert sub.startswith("URI:DIR2:")
    data = os.urandom(150_000)
    src = tmp_path / "report.bin"
    src.write_bytes(data)
    put = lafs(healthy_grid, "put", str(src), f"{root}/docs/report.bin")
    assert put.returncode == 0, put.stderr
    cap = put.stdout.decode().splitlines()[-1]
    assert lafs(healthy_grid, "put", "-", f"{root}/note", stdin=b"hi").returncode == 0
    listing = lafs(healthy_grid, "ls", "-l", root).stdout.decode().splitlines()
    assert [line.split() for line in listing] == [["dir", "-", "docs"], ["file", "2", "note"]]
    assert lafs(healthy_grid, "ls", f"{root}/docs").stdout.decode().split() == ["report.bin"]
    assert lafs(healthy_grid, "ls", sub).stdout.decode().split() == ["report.bin"]
    assert lafs(healthy_grid, "get", f"{root}/docs/report.bin").stdout == data
    assert lafs(healthy_grid, "get", cap).stdout == data
    assert lafs(healthy_grid, "get", f"{root}/note").stdout == b"hi"
    for args, message in [
        (["get", f"{root}/missing"], "no such file or directory: 'missing'"),
        (["put", str(src), f"{root}/nodir/x"], "no such file or directory: 'nodir'"),
        (["mkdir", f"{root}/docs"], "already exists"),
        (["ls", f"{root}/note"], "not a directory"),
        (["get", root], "not a directory"),
        (["ls", _verify_cap(root)], "verify-cap cannot list it"),
        (["ls", "--json", _verify_cap(root)], "verify-cap cannot list it"),
    ]:
        out = lafs(healthy_grid, *args)
        text = out.stderr.decode()
        assert out.returncode == 1 and message in text and len(text.strip().splitlines()) == 1, text


def test_mv_rm_put_mutable_and_json(healthy_grid: Grid, tmp_path: Path) -> None:
    import json

    def ok(*args: str, stdin: bytes | None = None) -> str:
        out = lafs(healthy_grid, *args, stdin=stdin)
        assert out.returncode == 0, out.stderr
        return out.stdout.decode()

    root = ok("mkdir").splitlines()[-1]
    ok("mkdir", f"{root}/sub")
    wcap = ok("put", "--mutable", "--format", "mdmf", "-", f"{root}/m", stdin=b"v1").strip()
    assert wcap.startswith("URI:MDMF:")
    assert ok("get", f"{root}/m") == "v1"
    alone = ok("put", "--mutable", "-", stdin=b"alone").strip()
    assert alone.startswith("URI:SSK:") and ok("get", alone) == "alone"
    # as `tahoe put`: onto an existing mutable file, the contents change in place
    assert ok("put", "-", f"{root}/m", stdin=b"v2").strip() == wcap
    assert ok("get", f"{root}/m") == "v2" and ok("get", wcap) == "v2"
    assert ok("put", "--mutable", "-", alone, stdin=b"again").strip() == alone
    assert ok("get", alone) == "again"
    ok("put", "-", f"{root}/f", stdin=b"file")
    assert ok("mv", f"{root}/f", f"{root}/sub") == "OK\n"  # into the directory
    assert ok("mv", f"{root}/m", f"{root}/renamed") == "OK\n"
    assert ok("ls", root).split() == ["renamed", "sub"]
    assert ok("ls", f"{root}/sub").split() == ["f"]
    ok("rm", f"{root}/sub/f")
    assert ok("ls", f"{root}/sub").split() == []
    listing = json.loads(ok("ls", "--json", root))
    assert listing[0] == "dirnode" and listing[1]["rw_uri"] == root
    kids = listing[1]["children"]
    assert kids["renamed"] == [
        "filenode",
        {
            "mutable": True,
            "format": "MDMF",
            "metadata": kids["renamed"][1]["metadata"],
            "rw_uri": wcap,
            "ro_uri": kids["renamed"][1]["ro_uri"],
            "verify_uri": kids["renamed"][1]["verify_uri"],
        },
    ]
    assert json.loads(ok("ls", "--json", f"{root}/renamed"))[1]["size"] == 2
    ro = listing[1]["ro_uri"]
    for args, message in [
        (["mv", f"{root}/missing", f"{root}/x"], "no such file or directory: 'missing'"),
        (["rm", f"{root}/missing"], "no such file or directory: 'missing'"),
        (["mv", f"{ro}/renamed", f"{root}/x"], "read-only"),
        (["rm", f"{ro}/renamed"], "read-only"),
        (["mv", f"{root}/renamed", root], "needs DIRCAP/path"),
        (["put", "--mutable", "--private-key-path", str(tmp_path / "no.pem"), "-"], "no such file"),
    ]:
        out = lafs(healthy_grid, *args, stdin=b"")
        text = out.stderr.decode()
        assert out.returncode == 1 and message in text and len(text.strip().splitlines()) == 1, text
    assert ok("ls", root).split() == ["renamed", "sub"]
