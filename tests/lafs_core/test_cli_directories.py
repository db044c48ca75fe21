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
    ]:
        out = lafs(healthy_grid, *args)
        text = out.stderr.decode()
        assert out.returncode == 1 and message in text and len(text.strip().splitlines()) == 1, text
