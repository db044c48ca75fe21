"""Helpers for tests that drive real S3 command-line clients: file trees, tool processes and
the keys they leave in a bucket."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def write_tree(root: Path, files: dict[str, bytes]) -> None:
    """Create `files` (relative POSIX path -> bytes) under `root`, with their directories."""
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under `root` as relative POSIX path -> bytes, to compare whole trees."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def bucket_keys(s3, bucket: str, prefix: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    """Every key under `prefix`, through boto3 (all pages), to check what a tool stored."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def tool_env(home: Path, **extra: str) -> dict[str, str]:
    """A minimal environment: the machine's own AWS_*, CA-bundle and proxy variables would
    otherwise change how the tools talk to the gateway."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "LANG": "C.UTF-8", **extra}


def run_tool(
    cmd: list[str], env: dict[str, str], cwd: Path | None = None, stdin: str | None = None
) -> str:
    """Run a client to completion and return its stdout; a failure shows all its output."""
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{cmd} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout
