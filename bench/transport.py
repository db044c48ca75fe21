"""CPU per GiB moved between two processes on this machine: TLS over loopback TCP (what a
storage node's NURL gives), plain TCP, and a Unix socket (a node's local socket).

    python bench/transport.py            # 1 GiB, 3 runs each, medians

The sender writes 1 MiB pieces on uvloop under flow control, as lafs_core's HTTP
client does; the receiver reads into one reused buffer, as the storage node's
protocol does. Both are measured in CPU seconds (user + system) per GiB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uvloop

PIECE = 1 << 20
GIB = 1 << 30


class Sink(asyncio.BufferedProtocol):
    def __init__(self, total: int) -> None:
        self.buffer = memoryview(bytearray(1 << 20))
        self.total = total
        self.received = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.received += nbytes
        if self.received >= self.total:
            self.transport.write(b"done")  # type: ignore[attr-defined]


class Source(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.drained: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.drained is not None:
            self.drained.set_result(None)
            self.drained = None


def _tls(workdir: Path, server: bool) -> ssl.SSLContext:
    if server:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(workdir / "cert.pem", workdir / "key.pem")
        return context
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def serve(kind: str, workdir: Path, total: int) -> None:
    loop = asyncio.get_running_loop()
    if kind == "unix":
        await loop.create_unix_server(lambda: Sink(total), str(workdir / "s.sock"))
    else:
        tls = _tls(workdir, True) if kind == "tls" else None
        server = await loop.create_server(lambda: Sink(total), "127.0.0.1", 0, ssl=tls)
        (workdir / "port").write_text(str(server.sockets[0].getsockname()[1]))
    print("ready", flush=True)
    await asyncio.sleep(3600)


async def send(kind: str, workdir: Path, total: int) -> float:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    if kind == "unix":
        transport, source = await loop.create_unix_connection(
            lambda: Source(done), str(workdir / "s.sock")
        )
    else:
        port = int((workdir / "port").read_text())
        tls = _tls(workdir, False) if kind == "tls" else None
        transport, source = await loop.create_connection(
            lambda: Source(done), "127.0.0.1", port, ssl=tls
        )
    data = os.urandom(PIECE)
    began = time.process_time()
    for _ in range(total // PIECE):
        transport.write(data)
        if source.drained is not None:
            await source.drained
    await done
    transport.close()
    return time.process_time() - began


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(kind: str, workdir: Path, total: int) -> tuple[float, float]:
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, "--dir", str(workdir), "--bytes", str(total)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None and receiver.stdout.readline().strip() == "ready"
        before = cpu_seconds(receiver.pid)
        sent = uvloop.run(send(kind, workdir, total))
        return sent, cpu_seconds(receiver.pid) - before
    finally:
        receiver.kill()
        receiver.wait()
        (workdir / "s.sock").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bytes", type=int, default=GIB)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        uvloop.run(serve(args.serve, args.dir, args.bytes))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
            + ["-nodes", "-keyout", str(workdir / "key.pem"), "-out", str(workdir / "cert.pem")]
            + ["-days", "1", "-subj", "/CN=bench"],
            check=True,
            capture_output=True,
        )
        gib = args.bytes / GIB
        print(f"CPU seconds per GiB moved, medians of {args.runs} runs")
        for kind in ("tls", "tcp", "unix"):
            runs = [one_run(kind, workdir, args.bytes) for _ in range(args.runs)]
            sender = statistics.median(r[0] for r in runs) / gib
            receiver = statistics.median(r[1] for r in runs) / gib
            both = sender + receiver
            print(f"  {kind:5s} sender {sender:.2f}  receiver {receiver:.2f}  both {both:.2f}")


if __name__ == "__main__":
    main()
