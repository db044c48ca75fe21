"""`storage-node create | run | corruption | nurl`: the node's command line.

Configuration is read here, once, into a NodeConfig passed down.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import sys
from pathlib import Path

from lafs_core import base32
from lafs_core.nurl import NURL, format_nurl, spki_hash_of_cert

from .config import (
    NURL_FILE,
    PEM_FILE,
    SOCKET_FILE,
    SWISSNUM_FILE,
    parse_size,
    read_config,
    write_config,
)
from .errors import ConfigError, StorageNodeError
from .tls import certificate_der, create_identity, write_private_file

GC_THRESHOLD = 20_000  # allocations between young-generation collections (Python's: 700)
LOCK_FILE = "node.lock"  # held by the process serving the node directory


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def create_node(
    node_dir: Path,
    host: str = "127.0.0.1",
    port: int | None = None,
    reserved_space: str = "0",
    storage_options: dict[str, str] | None = None,
) -> str:
    """Make a node directory (key, swissnum, config; secrets 0600). Returns its NURL."""
    parse_size(reserved_space)  # refuse a bad size before writing anything
    if node_dir.exists() and any(node_dir.iterdir()):
        raise ConfigError(f"{node_dir} exists and is not empty")
    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "private").mkdir(mode=0o700)
    pem = node_dir / PEM_FILE
    create_identity(pem)
    swissnum = base32.b2a(os.urandom(20))
    write_private_file(node_dir / SWISSNUM_FILE, swissnum.encode("ascii") + b"\n")
    if port is None or port == 0:
        port = _free_port(host)
    write_config(node_dir, host, port, reserved_space, storage_options or {})
    (node_dir / "storage" / "shares").mkdir(parents=True)
    pin = spki_hash_of_cert(certificate_der(pem))
    nurl = format_nurl(NURL(pin, host, port, swissnum))
    (node_dir / NURL_FILE).write_text(nurl + "\n")
    return nurl


def run_node(node_dir: Path, parent_pid: int | None = None) -> None:
    """Serve the node in the foreground until SIGINT or SIGTERM (or `parent_pid` exits)."""
    from lafs_core.malloc import one_arena, reuse_freed_memory

    from .parent import stop_with_parent

    one_arena()  # before any thread starts: freed request buffers serve every thread
    reuse_freed_memory()  # a write's body (up to ~1 MiB) is not faulted in page by page
    if parent_pid is not None and not stop_with_parent(parent_pid):
        raise StorageNodeError(f"the process that started this node ({parent_pid}) is gone")

    from .server import create_app
    from .serving import serve_node
    from .startup import listen_socket, listen_unix_socket, lock_directory

    config = read_config(node_dir)
    # Before the backend, which wipes incoming/: held until the process exits.
    lock = lock_directory(node_dir, LOCK_FILE, "node directory")
    sock = listen_socket(config.host, config.port, "another node? its port is in node.cfg")
    local_sock = listen_unix_socket(node_dir / SOCKET_FILE)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal
    # under the handlers it found; make those no-ops so a clean stop exits 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: None)
    # A request allocates a few hundred objects and leaves no cycles: the collector
    # runs less often, and never again walks the modules and objects made so far.
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD)
    started = serve_node(create_app(config), config, sock, local_sock)
    if local_sock is not None:
        (node_dir / SOCKET_FILE).unlink(missing_ok=True)
    lock.close()
    if not started:
        raise StorageNodeError(f"could not serve on {config.host}:{config.port}")


def list_corruption(node_dir: Path) -> None:
    from .backend import list_advisories

    config = read_config(node_dir)
    for adv in list_advisories(config.storage_dir):
        reason = adv.reason.encode("unicode_escape").decode("ascii")
        print(f"{adv.time}\t{adv.kind}\t{adv.storage_index}\t{adv.share_number}\t{reason}")


def _storage_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError("expected KEY=VALUE")
    return key.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="storage-node", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", help="make a new node directory and print its NURL")
    create.add_argument("dir", type=Path)
    create.add_argument("--host", default="127.0.0.1")
    create.add_argument("--port", type=int, default=None, help="default: a free port")
    create.add_argument("--reserved-space", default="0", help="e.g. 1G, 500MiB")
    create.add_argument(
        "--storage-option",
        type=_storage_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra [storage] setting, e.g. expire.enabled=true",
    )
    run = sub.add_parser("run", help="serve a node in the foreground")
    run.add_argument("dir", type=Path)
    run.add_argument(
        "--parent-pid", type=int, default=None, help="stop when this process exits (Linux)"
    )
    corruption = sub.add_parser("corruption", help="list the corruption advisories received")
    corruption.add_argument("dir", type=Path)
    nurl = sub.add_parser("nurl", help="print the node's NURL")
    nurl.add_argument("dir", type=Path)
    local = sub.add_parser(
        "local-grid", help="create (first time) and run N nodes under DIR, with DIR/grid.toml"
    )
    local.add_argument("dir", type=Path)
    local.add_argument("--nodes", type=int, default=10)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "create":
            nurl = create_node(
                args.dir, args.host, args.port, args.reserved_space, dict(args.storage_option)
            )
            print(f"Node created in {args.dir}")
            print(nurl)
        elif args.command == "run":
            run_node(args.dir, args.parent_pid)
        elif args.command == "corruption":
            list_corruption(args.dir)
        elif args.command == "local-grid":
            from .local_grid import LocalGrid

            if args.nodes < 1:
                raise ConfigError("--nodes must be at least 1")
            if LocalGrid(args.dir, args.nodes).run_forever():
                return 1
        elif args.command == "nurl":
            print((args.dir / NURL_FILE).read_text().strip())
    except (StorageNodeError, OSError) as exc:
        print(f"storage-node: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
