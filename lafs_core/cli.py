"""`lafs`: the grid client's command line.

Arguments are read here, once, into plain values and dataclasses; every
failure the user can cause ends in one line on stderr and exit status 1.
Commands run on uvloop, as the gateway and the storage nodes do: its TLS and
sockets cost the client a tenth less CPU than asyncio's own loop.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

import uvloop

from . import base32, deep_cli
from .check_results import CheckAndRepairResults
from .client import Client
from .dirnode.caps import AnyCap, DirectoryCap, is_verify_cap, parse_any_cap
from .dirnode.children import Child, Listing
from .dirnode.errors import NoSuchChildError
from .dirnode.listing_json import directory_json, file_json, render
from .dirnode.node import DirectoryNode
from .errors import LafsError
from .grid_config import GridConfig, load_grid
from .immutable.downloader import DownloadResult
from .immutable.local import encode_path
from .immutable.params import DEFAULT_MAX_SEGMENT_SIZE, EncodingParams
from .immutable.uploader import UploadResult
from .malloc import reuse_freed_memory
from .mutable.caps import Format, MutableReadCap, MutableWriteCap
from .mutable.keys import KeyPair
from .uri import CHKReadCap, LiteralCap


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr, not a usage dump."""

    def error(self, message: str) -> "NoReturn":
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_encoding_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", help="the file to encode")
    parser.add_argument(
        "--convergence-secret",
        help="base32 text, as in a Tahoe node's private/convergence file",
    )
    parser.add_argument("-k", "--needed", type=int, default=3, help="shares needed (k)")
    parser.add_argument("--happy", type=int, default=7, help="servers of happiness")
    parser.add_argument("-n", "--total", type=int, default=10, help="total shares (n)")
    parser.add_argument(
        "--max-segment-size", type=int, default=DEFAULT_MAX_SEGMENT_SIZE, metavar="BYTES"
    )


def parse_convergence_secret(text: str) -> bytes:
    cleaned = text.strip()
    try:
        return base32.a2b(cleaned)
    except ValueError:
        raise UsageError(
            "the convergence secret must be base32 text (lower case a-z, 2-7), "
            "as Tahoe writes it in private/convergence"
        ) from None


def _encoding_params(args: argparse.Namespace) -> EncodingParams:
    return EncodingParams(args.needed, args.happy, args.total, args.max_segment_size)


def _input_file(path: str | None) -> Path:
    if path is None:
        raise UsageError("a FILE is needed")
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if not p.is_file():
        raise UsageError(f"not a regular file: {path}")
    return p


def _convergence(args: argparse.Namespace) -> bytes:
    if args.convergence_secret is not None:
        return parse_convergence_secret(args.convergence_secret)
    if args.grid:
        return _grid(args).convergence_secret
    raise UsageError("a convergence secret is needed: pass --convergence-secret or --grid")


def _grid(args: argparse.Namespace) -> GridConfig:
    if not args.grid:
        raise UsageError("no grid: pass --grid FILE or set LAFS_GRID")
    return load_grid(args.grid)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _print_upload(result: UploadResult) -> None:
    err = sys.stderr
    print(f"file size: {result.file_size} bytes", file=err)
    print(f"pre-existing shares: {result.preexisting_shares}", file=err)
    print(f"pushed shares: {result.pushed_shares}", file=err)
    print(f"happiness: {result.happiness}", file=err)
    for sharenum in sorted(result.sharemap):
        print(f"  share {sharenum}: {', '.join(sorted(result.sharemap[sharenum]))}", file=err)
    for server in sorted(result.servermap):
        shares = " ".join(str(n) for n in sorted(result.servermap[server]))
        print(f"  server {server}: shares {shares}", file=err)
    for phase, seconds in result.timings.items():
        print(f"time {phase}: {seconds:.3f} s", file=err)
    print(f"rate: {_size(result.rate)}/s", file=err)


def _print_download(result: DownloadResult) -> None:
    err = sys.stderr
    print(f"file size: {result.file_size} bytes", file=err)
    for server in sorted(result.servermap):
        shares = " ".join(str(n) for n in sorted(result.servermap[server]))
        print(f"  server {server}: holds shares {shares}", file=err)
    for sharenum, server in sorted(result.servers_used.items()):
        print(f"  read share {sharenum} from {server}", file=err)
    for sharenum, reason in sorted(result.corrupt_shares.items()):
        print(f"  corrupt share {sharenum}: {reason}", file=err)
    for server, reason in sorted(result.unreachable_servers.items()):
        print(f"  unreachable {server}: {reason}", file=err)
    print(f"bytes fetched: {result.bytes_fetched}", file=err)
    for phase, seconds in result.timings.items():
        print(f"time {phase}: {seconds:.3f} s", file=err)
    print(f"rate: {_size(result.rate)}/s", file=err)


def cmd_put(args: argparse.Namespace) -> None:
    config = _grid(args)
    target = _split_path(args.target) if args.target else None
    if target is not None:
        replaced = uvloop.run(_replace_mutable(config, target, lambda: _input_bytes(args.path)))
        if replaced is not None:
            print(replaced)
            return
        if not target[1]:
            raise UsageError("put into a directory needs a name: DIRCAP/name")
    if args.mutable:
        keys = _load_key(args.private_key_path) if args.private_key_path else None
        data = _input_bytes(args.path)
        print(uvloop.run(_put_mutable(config, data, args.format, keys, target)))
        return
    if args.path in (None, "-"):
        # Convergent encryption reads the data twice: spool standard input first.
        with tempfile.NamedTemporaryFile(prefix="lafs-put-") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool, 1 << 20)
            spool.flush()
            result = uvloop.run(_upload(config, spool.name, target))
    else:
        result = uvloop.run(_upload(config, _input_file(args.path), target))
    if args.verbose:
        _print_upload(result)
    print(result.cap.to_string())


async def _upload(
    config: GridConfig, path: str | Path, target: tuple[str, str] | None
) -> UploadResult:
    async with Client(config) as client:
        if target is not None:  # fail before uploading if the directory is unusable
            parent, name = await _parent_directory(client, *target)
        result = await client.upload_path(path)
        if target is not None:
            await parent.set_uri(name, result.cap.to_string())
        return result


def _input_bytes(path: str | None) -> bytes:
    """A mutable file's new contents (they are held in memory anyway): FILE or stdin."""
    if path in (None, "-"):
        return sys.stdin.buffer.read()
    return _input_file(path).read_bytes()


async def _replace_mutable(
    config: GridConfig, target: tuple[str, str], contents: Callable[[], bytes]
) -> str | None:
    """As `tahoe put`: a target that is a mutable file we can write (a write cap, or
    DIRCAP/name linking one) gets the new contents in place; its write cap. None otherwise."""
    cap_text, path = target
    async with Client(config) as client:
        if not path:
            cap: AnyCap | None = parse_any_cap(cap_text)
        else:
            parent, name = await _parent_directory(client, cap_text, path)
            try:
                cap = (await parent.get(name)).cap
            except NoSuchChildError:
                return None
        if not isinstance(cap, MutableWriteCap):
            return None
        await client.mutable(cap).overwrite(contents())
        return cap.to_string()


async def _put_mutable(
    config: GridConfig,
    data: bytes,
    format: Format,
    keys: KeyPair | None,
    target: tuple[str, str] | None,
) -> str:
    """Store `data` as a new mutable file (under `keys` if given); its write cap."""
    async with Client(config) as client:
        if target is not None:
            parent, name = await _parent_directory(client, *target)
        node = await client.create_mutable(data, format, keys)
        if target is not None:
            await parent.set_node(name, node)
        return node.cap.to_string()


def _split_path(text: str) -> tuple[str, str]:
    """`CAP/a/b` -> ("CAP", "a/b"); caps contain no slash."""
    cap, _, path = text.partition("/")
    return cap, path.strip("/")


def _open_directory(client: Client, cap_text: str) -> DirectoryNode:
    cap = parse_any_cap(cap_text)
    if not isinstance(cap, DirectoryCap):
        raise UsageError(f"not a directory cap: {cap_text[:60]}")
    return client.directory(cap)


async def _parent_directory(client: Client, cap_text: str, path: str) -> tuple[DirectoryNode, str]:
    root = _open_directory(client, cap_text)
    parent_path, _, name = path.rpartition("/")
    node = await root.get_child_at_path(parent_path)
    if not isinstance(node, DirectoryNode):
        node = _child_directory(client, node, parent_path)
    return node, name


def _child_directory(client: Client, child: Child, path: str) -> DirectoryNode:
    if not isinstance(child.cap, DirectoryCap):
        raise UsageError(f"{path!r} is not a directory")
    return client.directory(child.cap)


async def _resolve(client: Client, text: str) -> AnyCap:
    """A cap, or `DIRCAP/path` walked to the child's cap."""
    cap_text, path = _split_path(text)
    if not path:
        return parse_any_cap(cap_text)
    node = await _open_directory(client, cap_text).get_child_at_path(path)
    if isinstance(node, DirectoryNode):
        return node.cap
    if node.cap is None:
        raise UsageError(f"{path!r} is a kind of object this client does not know")
    return node.cap


def cmd_mkdir(args: argparse.Namespace) -> None:
    config = _grid(args)

    async def run() -> str:
        async with Client(config) as client:
            if args.target:
                parent, name = await _parent_directory(client, *_split_path(args.target))
                sub = await parent.create_subdirectory(
                    name, await client.key_pool.get(), overwrite=False
                )
                return sub.cap.to_string()
            return (await client.create_directory(args.format)).cap.to_string()

    print(uvloop.run(run()))


def cmd_ls(args: argparse.Namespace) -> None:
    config = _grid(args)

    async def run() -> list[str]:
        async with Client(config) as client:
            if args.json:
                return [await _ls_json(client, args.target)]
            cap = await _resolve(client, args.target)
            if not isinstance(cap, DirectoryCap):
                raise UsageError("not a directory")
            listing = await _listing(client, cap)
            lines = []
            for name in sorted(listing):
                child, _ = listing[name]
                if not args.long:
                    lines.append(name)
                    continue
                size = getattr(child.cap, "size", None)
                kind = _kind(child)
                lines.append(f"{kind:<8} {size if size is not None else '-':>12} {name}")
            return lines

    for line in uvloop.run(run()):
        print(line)


async def _listing(client: Client, cap: DirectoryCap) -> Listing:
    if is_verify_cap(cap):
        raise UsageError("a directory's verify-cap cannot list it; use its read-cap")
    return await client.directory(cap).list()


async def _ls_json(client: Client, text: str) -> str:
    """What `tahoe ls --json` prints: the web API's `?t=json` of a directory or file."""
    cap_text, path = _split_path(text)
    metadata = None
    if path:
        node, metadata = await _open_directory(client, cap_text).get_child_and_metadata_at_path(
            path
        )
        cap = node.cap
    else:
        cap = parse_any_cap(cap_text)
    if cap is None:
        raise UsageError(f"{path!r} is a kind of object this client does not know")
    if isinstance(cap, DirectoryCap):
        return render(directory_json(cap, await _listing(client, cap)))
    size = None
    if isinstance(cap, (MutableWriteCap, MutableReadCap)):
        size = await client.mutable(cap).get_size_of_best_version()
    return render(file_json(cap, size, metadata))


def cmd_mv(args: argparse.Namespace) -> None:
    """Move (rename) a child; into TARGET itself when TARGET is a directory, as `tahoe mv`."""
    config = _grid(args)

    async def run() -> None:
        async with Client(config) as client:
            source, name = await _parent_directory(client, *_split_path(args.source))
            cap_text, path = _split_path(args.target)
            if not name or not path:
                raise UsageError("lafs mv needs DIRCAP/path for both FROM and TO")
            target, new_name = await _parent_directory(client, cap_text, path)
            try:
                existing = await target.get_child_at_path(new_name)
            except NoSuchChildError:
                existing = None
            if isinstance(existing, Child) and existing.is_directory:
                target, new_name = _child_directory(client, existing, path), name
            await source.move_child_to(name, target, new_name, overwrite="only-files")

    uvloop.run(run())
    print("OK")


def cmd_rm(args: argparse.Namespace) -> None:
    """Unlink a child from its directory (`tahoe unlink`)."""
    config = _grid(args)

    async def run() -> None:
        async with Client(config) as client:
            parent, name = await _parent_directory(client, *_split_path(args.target))
            if not name:
                raise UsageError("lafs rm needs DIRCAP/path")
            await parent.delete(name)

    uvloop.run(run())


def _kind(child: Child) -> str:
    cap = child.cap
    if cap is None:
        return "unknown"
    if isinstance(cap, DirectoryCap):
        return "dir"
    if isinstance(cap, (MutableWriteCap, MutableReadCap)):
        return "mutable"
    return "file"


def cmd_get(args: argparse.Namespace) -> None:
    config = _grid(args)
    reuse_freed_memory()
    if args.output:
        target = Path(args.output)
        fd, tmp = tempfile.mkstemp(prefix=".lafs-get-", dir=target.parent or ".")
        try:
            with os.fdopen(fd, "wb") as out:
                result = uvloop.run(_download(config, args.cap, out))
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    else:
        result = uvloop.run(_download(config, args.cap, sys.stdout.buffer))
        sys.stdout.flush()
    if args.verbose:
        _print_download(result)


async def _download(config: GridConfig, cap_text: str, out) -> DownloadResult:  # type: ignore[no-untyped-def]
    """Resolve `CAP` or `DIRCAP/path` and write the file's bytes, in one client session."""
    async with Client(config) as client:
        cap = await _resolve(client, cap_text)
        if isinstance(cap, (MutableWriteCap, MutableReadCap)):
            data = await client.mutable(cap).download_best_version()
            out.write(data)
            return DownloadResult(len(data))
        if isinstance(cap, LiteralCap):
            out.write(cap.data)
            return DownloadResult(cap.size)
        if not isinstance(cap, CHKReadCap):
            raise UsageError("lafs get needs a file's read-cap (not a directory or a verify-cap)")
        download = client.download(cap)
        loop = asyncio.get_running_loop()
        writing: asyncio.Future[object] | None = None
        try:
            async for chunk in download.chunks():
                if writing is not None:
                    await writing
                # in a worker thread, so that the next segments are fetched meanwhile
                writing = loop.run_in_executor(client.pool, out.write, chunk)
        finally:
            if writing is not None:
                await writing
        return download.result


def cmd_check(args: argparse.Namespace) -> None:
    """`lafs check`, and `verify` / `repair` as its shorthands."""
    config = _grid(args)
    verify = args.verify or args.command in ("verify", "repair")
    repair = getattr(args, "repair", False) or args.command == "repair"
    cap = parse_any_cap(args.cap)
    if isinstance((cap.inner if isinstance(cap, DirectoryCap) else cap), LiteralCap):
        if args.json:
            key = "post-repair-results" if repair else "results"
            print(json.dumps({"storage-index": "", key: {"healthy": True}}))
        else:
            print("Summary: Healthy (LIT file: its data is in the cap)")
        return

    async def run():  # type: ignore[no-untyped-def]
        async with Client(config) as client:
            if repair:
                return await client.check_and_repair(cap, verify=verify, add_lease=args.add_lease)
            return await client.check(cap, verify=verify, add_lease=args.add_lease)

    outcome = uvloop.run(run())
    if args.json:
        print(json.dumps(outcome.to_json(), indent=1))
        return
    if isinstance(outcome, CheckAndRepairResults):
        for line in outcome.pre_repair.describe():
            print(line)
        if not outcome.repair_attempted:
            print("No repair needed")
        elif outcome.repair_successful:
            print("Repair successful")
            for line in outcome.post_repair.describe():
                print(line)
        else:
            print(f"Repair unsuccessful: {outcome.repair_error or 'still not healthy'}")
            for line in outcome.post_repair.describe():
                print(line)
            raise SystemExit(2)
    else:
        for line in outcome.describe():
            print(line)


def cmd_deep(args: argparse.Namespace) -> None:
    """`lafs manifest`, `lafs stats` and `lafs deep-check` on DIRCAP (or DIRCAP/path)."""
    config = _grid(args)

    async def run() -> int:
        async with Client(config) as client:
            root = await _resolve(client, args.root)
            if not isinstance(root, DirectoryCap):
                raise UsageError(f"not a directory: {args.root[:60]}")
            if args.command == "manifest":
                await deep_cli.manifest(client, root, args.show, args.json)
                return 0
            if args.command == "stats":
                await deep_cli.stats(client, root, args.json)
                return 0
            return await deep_cli.deep_check_command(
                client, root, verify=args.verify, repair=args.repair,
                add_lease=args.add_lease, as_json=args.json,
            )  # fmt: skip

    status = uvloop.run(run())
    if status:
        raise SystemExit(status)


def cmd_grid_status(args: argparse.Namespace) -> None:
    config = _grid(args)

    async def status():  # type: ignore[no-untyped-def]
        async with Client(config) as client:
            return await client.grid_status()

    rows = uvloop.run(status())
    for row in rows:
        if row.reachable:
            space = _size(row.available_space or 0)
            print(f"{row.nickname}: reachable, version {row.version}, free space {space}")
        else:
            print(f"{row.nickname}: UNREACHABLE ({row.error})")
    up = sum(r.reachable for r in rows)
    print(f"{up} of {len(rows)} storage nodes reachable")


def cmd_cap(args: argparse.Namespace) -> None:
    if args.mutable:
        _mutable_caps(args)
        return
    if args.file is None:
        raise UsageError("a FILE is needed (or --mutable with --private-key-path)")
    params = _encoding_params(args)
    cap = encode_path(_input_file(args.file), params, _convergence(args))
    print(cap.to_string())


def _mutable_caps(args: argparse.Namespace) -> None:
    """The write-, read- and verify-cap that a mutable file made with this key has."""
    if not args.private_key_path:
        raise UsageError("--mutable needs --private-key-path KEY.pem")
    write = MutableWriteCap.from_keypair(_load_key(args.private_key_path), args.format)
    read = write.readonly()
    print(write.to_string())
    print(read.to_string())
    print(read.verify_cap().to_string())


def _load_key(path: str) -> KeyPair:
    try:
        return KeyPair.load(Path(path).read_bytes())
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None


def cmd_debug_encode(args: argparse.Namespace) -> None:
    params = _encoding_params(args)
    source = _input_file(args.file)
    secret = _convergence(args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    cap = encode_path(source, params, secret, out_dir=out)
    print(cap.to_string())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lafs", description="Client of a Tahoe-LAFS style grid")
    parser.add_argument(
        "--grid",
        default=os.environ.get("LAFS_GRID"),
        metavar="FILE",
        help="the grid file (TOML); default: $LAFS_GRID",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    put = commands.add_parser("put", help="upload a file (or standard input) and print its cap")
    put.add_argument("path", nargs="?", help="file to upload; '-' or nothing for standard input")
    put.add_argument("target", nargs="?", help="DIRCAP/name: also link the file there")
    put.add_argument("-v", "--verbose", action="store_true", help="print what the upload did")
    put.add_argument("--mutable", action="store_true", help="a mutable file: prints its write cap")
    put.add_argument("--format", choices=["sdmf", "mdmf"], default="sdmf", help="with --mutable")
    put.add_argument(
        "--private-key-path", metavar="KEY.pem", help="with --mutable: the file's RSA-2048 key"
    )
    put.set_defaults(func=cmd_put)

    get = commands.add_parser("get", help="download a file by its cap")
    get.add_argument("cap", help="a file's cap, or DIRCAP/path")
    get.add_argument("-o", "--output", metavar="PATH", help="default: standard output")
    get.add_argument("-v", "--verbose", action="store_true", help="print what the download did")
    get.set_defaults(func=cmd_get)

    for name, text in (
        ("check", "ask the servers which shares of a file they hold"),
        ("verify", "download and hash-check every share of a file"),
        ("repair", "verify, then regenerate missing or corrupt shares"),
    ):
        cmd = commands.add_parser(name, help=text)
        cmd.add_argument("cap", help="a file's or directory's cap (write, read or verify)")
        if name == "check":
            cmd.add_argument(
                "--verify", action="store_true", help="check every byte of every share"
            )
            cmd.add_argument("--repair", action="store_true", help="repair if not healthy")
        else:
            cmd.set_defaults(verify=True)
        cmd.add_argument("--add-lease", action="store_true", help="renew this client's leases")
        cmd.add_argument("--json", action="store_true", help="Tahoe's t=check&output=JSON shape")
        cmd.set_defaults(func=cmd_check)

    manifest = commands.add_parser("manifest", help="list everything reachable from a directory")
    manifest.add_argument("root", metavar="DIRCAP", help="DIRCAP or DIRCAP/path")
    show = manifest.add_mutually_exclusive_group()
    for value in ("storage-index", "verify-cap", "repair-cap"):
        show.add_argument(f"--{value}", dest="show", action="store_const", const=value)
    show.add_argument("--json", action="store_true", help="Tahoe's t=stream-manifest lines")
    manifest.set_defaults(func=cmd_deep, show="cap")
    stats = commands.add_parser("stats", help="deep-stats: counts and sizes below a directory")
    stats.add_argument("root", metavar="DIRCAP", help="DIRCAP or DIRCAP/path")
    stats.add_argument("--json", action="store_true", help="Tahoe's t=deep-stats object")
    stats.set_defaults(func=cmd_deep)
    deep = commands.add_parser("deep-check", help="check everything reachable from a directory")
    deep.add_argument("root", metavar="DIRCAP", help="DIRCAP or DIRCAP/path")
    deep.add_argument("--verify", action="store_true", help="check every byte of every share")
    deep.add_argument("--repair", action="store_true", help="repair what is not healthy")
    deep.add_argument("--add-lease", action="store_true", help="renew this client's leases")
    deep.add_argument("--json", action="store_true", help="Tahoe's t=stream-deep-check lines")
    deep.set_defaults(func=cmd_deep)

    mkdir = commands.add_parser("mkdir", help="make a directory and print its cap")
    mkdir.add_argument("target", nargs="?", help="DIRCAP/name: make it there (default: unlinked)")
    mkdir.add_argument("--format", choices=["sdmf", "mdmf"], default="sdmf")
    mkdir.set_defaults(func=cmd_mkdir)

    ls = commands.add_parser("ls", help="list a directory")
    ls.add_argument("target", help="DIRCAP or DIRCAP/path")
    ls.add_argument("-l", "--long", action="store_true", help="kind and size too")
    ls.add_argument("--json", action="store_true", help="what `tahoe ls --json` prints")
    ls.set_defaults(func=cmd_ls)

    mv = commands.add_parser("mv", help="move or rename a child: DIRCAP/path to DIRCAP/path")
    mv.add_argument("source", help="DIRCAP/path")
    mv.add_argument("target", help="DIRCAP/path (a directory: move into it)")
    mv.set_defaults(func=cmd_mv)

    rm = commands.add_parser("rm", help="unlink a child from its directory")
    rm.add_argument("target", help="DIRCAP/path")
    rm.set_defaults(func=cmd_rm)

    grid = commands.add_parser("grid", help="the grid's storage nodes")
    grid_commands = grid.add_subparsers(dest="grid_command", required=True)
    grid_status = grid_commands.add_parser("status", help="reachability, version, free space")
    grid_status.set_defaults(func=cmd_grid_status)

    cap = commands.add_parser("cap", help="print the read-cap that uploading FILE would produce")
    _add_encoding_options(cap)
    cap.add_argument(
        "--mutable", action="store_true", help="print the write-, read- and verify-cap of a key"
    )
    cap.add_argument("--format", choices=["sdmf", "mdmf"], default="sdmf")
    cap.add_argument("--private-key-path", metavar="KEY.pem", help="an unencrypted RSA-2048 key")
    cap.set_defaults(func=cmd_cap)

    debug = commands.add_parser("debug", help="tools for comparing with other implementations")
    debug_commands = debug.add_subparsers(dest="debug_command", required=True)
    enc = debug_commands.add_parser("encode", help="write FILE's shares into a directory")
    _add_encoding_options(enc)
    enc.add_argument("--out", required=True, metavar="DIR", help="one file per share number")
    enc.set_defaults(func=cmd_debug_encode)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except NoSuchChildError as exc:
        print(f"lafs: error: no such file or directory: {exc.args[0]!r}", file=sys.stderr)
        return 1
    except (UsageError, LafsError) as exc:
        print(f"lafs: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        print(f"lafs: error:{name} {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
