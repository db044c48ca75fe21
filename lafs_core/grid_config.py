"""The grid file: which storage servers make the grid and how files are encoded.

    [encoding]
    k = 3
    happy = 7
    n = 10
    # max-segment-size = 1048576

    [[storage]]
    nickname = "node1"
    nurl = "pb://<spki-hash>@127.0.0.1:4001/<swissnum>#v=1"
    # permutation-seed = "<base32>"   as a Tahoe server announces it
    # lease-seed = "<base32 of 20 bytes>"   a Tahoe server's tub ID
    # local-socket = "node1/private/node.sock"   the node's Unix socket, when on this
    #     machine (relative to the grid file): used instead of TCP and TLS while it answers

Top-level `convergence-secret` (base32) or `convergence-secret-file` name
the convergence secret; without either, a random one is created beside the
grid file (`<name>.convergence`, mode 0600). The client's lease secret is
kept the same way (`<name>.lease-secret`). The file is read once, in `load_grid`.
"""

import base64
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import base32
from .errors import LafsError
from .immutable.params import DEFAULT_MAX_SEGMENT_SIZE, EncodingParams
from .nurl import NURL, parse_nurl


class GridConfigError(LafsError):
    """The grid file is missing, unreadable or malformed: the message says where."""


@dataclass(frozen=True)
class ServerConfig:
    nickname: str
    nurl: NURL
    permutation_seed: bytes
    lease_seed: bytes
    local_socket: str | None = None


@dataclass(frozen=True)
class GridConfig:
    encoding: EncodingParams
    servers: tuple[ServerConfig, ...]
    convergence_secret: bytes
    lease_secret: bytes


def _pin_bytes(nurl: NURL) -> bytes:
    return base64.urlsafe_b64decode(nurl.spki_hash + "=" * (-len(nurl.spki_hash) % 4))


def read_or_create_secret(path: Path, size: int = 32) -> bytes:
    """A base32 secret kept in a 0600 file, created at random on first use."""
    try:
        return base32.a2b(path.read_text().strip())
    except FileNotFoundError:
        pass
    except ValueError as exc:
        raise GridConfigError(f"{path}: not a base32 secret") from exc
    secret = os.urandom(size)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(base32.b2a(secret) + "\n")
    return secret


def _b32_field(entry: dict[str, Any], key: str, where: str) -> bytes | None:
    if key not in entry:
        return None
    try:
        return base32.a2b(str(entry[key]).strip())
    except ValueError as exc:
        raise GridConfigError(f"{where}: {key} is not base32") from exc


def parse_grid(data: dict[str, Any], path: Path) -> GridConfig:
    enc = data.get("encoding", {})
    try:
        encoding = EncodingParams(
            k=int(enc.get("k", 3)),
            happy=int(enc.get("happy", 7)),
            n=int(enc.get("n", 10)),
            max_segment_size=int(enc.get("max-segment-size", DEFAULT_MAX_SEGMENT_SIZE)),
        )
    except (TypeError, ValueError) as exc:
        raise GridConfigError(f"{path}: [encoding]: {exc}") from exc
    servers = []
    for i, entry in enumerate(data.get("storage", [])):
        where = f"{path}: [[storage]] #{i + 1}"
        if not isinstance(entry, dict) or "nurl" not in entry:
            raise GridConfigError(f"{where}: needs a nurl")
        try:
            nurl = parse_nurl(str(entry["nurl"]))
        except ValueError as exc:
            raise GridConfigError(f"{where}: {exc}") from exc
        pin = _pin_bytes(nurl)
        local_socket = entry.get("local-socket")
        servers.append(
            ServerConfig(
                nickname=str(entry.get("nickname", f"{nurl.host}:{nurl.port}")),
                nurl=nurl,
                permutation_seed=_b32_field(entry, "permutation-seed", where) or pin,
                lease_seed=_b32_field(entry, "lease-seed", where) or pin[:20],
                local_socket=(
                    None if local_socket is None else str((path.parent / local_socket).absolute())
                ),
            )
        )
    nicknames = [s.nickname for s in servers]
    if len(set(nicknames)) != len(nicknames):
        raise GridConfigError(f"{path}: storage nicknames must be distinct")
    secret = _b32_field(data, "convergence-secret", str(path))
    if secret is None:
        secret_file = Path(data.get("convergence-secret-file", path.name + ".convergence"))
        secret = read_or_create_secret(path.parent / secret_file)
    lease_secret = read_or_create_secret(path.parent / (path.name + ".lease-secret"))
    return GridConfig(encoding, tuple(servers), secret, lease_secret)


def load_grid(path: str | os.PathLike[str]) -> GridConfig:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise GridConfigError(f"grid file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GridConfigError(f"cannot read grid file {p}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise GridConfigError(f"{p}: not valid TOML: {exc}") from exc
    return parse_grid(data, p)


def format_grid(encoding: EncodingParams, servers: list[tuple[str, str, str | None]]) -> str:
    """A grid file's text for (nickname, nurl, local socket or None) triples; a socket's
    path is relative to the grid file."""
    lines = [
        "[encoding]",
        f"k = {encoding.k}",
        f"happy = {encoding.happy}",
        f"n = {encoding.n}",
        f"max-segment-size = {encoding.max_segment_size}",
    ]
    for nickname, nurl, local_socket in servers:
        lines += ["", "[[storage]]", f'nickname = "{nickname}"', f'nurl = "{nurl}"']
        if local_socket is not None:
            lines.append(f'local-socket = "{local_socket}"')
    return "\n".join(lines) + "\n"
