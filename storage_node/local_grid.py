"""A whole grid on one machine: N storage nodes as child processes under one directory.

For a first try, tests and benchmarks, and the gateway's embedded grid. The
directory holds `node1` ... `nodeN` and a `grid.toml` that names them all;
running again reuses them (same keys, same shares).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

from lafs_core.grid_config import format_grid
from lafs_core.immutable.params import EncodingParams

from .cli import LOCK_FILE as NODE_LOCK_FILE
from .cli import create_node
from .config import NURL_FILE, SOCKET_FILE
from .startup import UNIX_PATH_MAX, lock_directory, wait_until_free

GRID_FILE = "grid.toml"
LOCK_FILE = "local-grid.lock"  # held while this grid's nodes run


def storage_node_command() -> list[str]:
    exe = shutil.which("storage-node")
    return [exe] if exe else [sys.executable, "-m", "storage_node"]


class LocalGrid:
    def __init__(
        self, directory: Path, nodes: int = 10, encoding: EncodingParams | None = None
    ) -> None:
        self.directory = directory
        self.count = nodes
        self.encoding = encoding or EncodingParams(happy=min(7, nodes))
        self.processes: list[subprocess.Popen[bytes]] = []
        self._lock: TextIO | None = None

    @property
    def grid_file(self) -> Path:
        return self.directory / GRID_FILE

    def node_dirs(self) -> list[Path]:
        return [self.directory / f"node{i + 1}" for i in range(self.count)]

    def create(self) -> Path:
        """Make the nodes that do not exist yet and (re)write the grid file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        servers = []
        for node_dir in self.node_dirs():
            if not (node_dir / NURL_FILE).exists():
                create_node(node_dir)
            nurl = (node_dir / NURL_FILE).read_text().strip()
            local_socket: str | None = f"{node_dir.name}/{SOCKET_FILE}"
            if len(os.fsencode((node_dir / SOCKET_FILE).absolute())) > UNIX_PATH_MAX:
                local_socket = None  # too long a path for the node to listen on: TCP only
            servers.append((node_dir.name, nurl, local_socket))
        text = format_grid(self.encoding, servers)
        older = format_grid(self.encoding, [(name, nurl, None) for name, nurl, _ in servers])
        # A grid file as an earlier version wrote it, untouched since, gains the sockets.
        if not self.grid_file.exists() or self.grid_file.read_text() == older != text:
            replacement = self.grid_file.with_name(GRID_FILE + ".new")
            replacement.write_text(text)
            os.replace(replacement, self.grid_file)
        return self.grid_file

    def start(self, timeout: float = 30.0) -> None:
        """Start every node; a node stops by itself if this process dies without stopping it
        (Linux ties it to the calling thread: call from the main thread)."""
        self.create()
        # A second grid on this directory would find the ports answering (the first's nodes)
        # and report success while its own nodes exit: it stops here instead.
        self._lock = lock_directory(self.directory, LOCK_FILE, "grid directory")
        parent = str(os.getpid())
        try:
            for node_dir in self.node_dirs():
                # The nodes of a gateway killed just before this one started may still be
                # stopping: each lets go of its directory within seconds.
                wait_until_free(node_dir, NODE_LOCK_FILE, timeout)
                with open(node_dir / "node.log", "ab") as log:
                    self.processes.append(
                        subprocess.Popen(
                            [*storage_node_command(), "run", str(node_dir), "--parent-pid", parent],
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL,
                        )
                    )
            self.wait_until_listening(timeout)
        except BaseException:
            self.stop()  # the nodes that did start, and the lock
            raise

    def wait_until_listening(self, timeout: float) -> None:
        import socket

        from lafs_core.nurl import parse_nurl

        deadline = time.monotonic() + timeout
        for node_dir, process in zip(self.node_dirs(), self.processes):
            nurl = parse_nurl((node_dir / NURL_FILE).read_text().strip())
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"storage node {node_dir} exited; see {node_dir}/node.log")
                try:
                    socket.create_connection((nurl.host, nurl.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"storage node {node_dir} did not start") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def run_forever(self) -> bool:
        """Start, print where the grid file is, and stop cleanly on SIGINT or SIGTERM, or
        when a node exits by itself (then returns True: the grid failed)."""
        self.start()
        print(f"{self.count} storage nodes running under {self.directory}", flush=True)
        print(f"use it with: lafs --grid {self.grid_file} put FILE", flush=True)
        stopping = failed = False

        def stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for node_dir, process in zip(self.node_dirs(), self.processes):
                    if process.poll() is not None:
                        print(
                            f"storage node {node_dir.name} exited with {process.returncode}",
                            file=sys.stderr,
                        )
                        stopping = failed = True
                time.sleep(0.2)
        finally:
            self.stop()
        return failed
