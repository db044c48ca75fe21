"""Node configuration: `DIR/node.cfg` (INI) plus `DIR/private/`, read once into NodeConfig.

The `[storage]` keys follow tahoe.cfg's names (spec/tahoe-disk-and-leases.md 8.1, 9).
"""

from __future__ import annotations

import configparser
import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .errors import ConfigError
from .tls import certificate_der, nodeid_of

CONFIG_FILE = "node.cfg"
PEM_FILE = "private/node.pem"
SWISSNUM_FILE = "private/swissnum"
NURL_FILE = "node.nurl"
# Where the node also listens for clients on this machine: plain HTTP, no TLS; the
# private directory (0700) and the socket's own mode (0600) admit only the node's user.
SOCKET_FILE = "private/node.sock"
DEFAULT_MAX_MUTABLE_WRITE_BODY = 64 * 1024 * 1024

ExpiryMode = Literal["age", "cutoff-date"]


@dataclass(frozen=True)
class ExpiryPolicy:
    """Which leases the crawler expires (spec/tahoe-disk-and-leases.md 8.2).

    `age` without an override follows the documented intent (a lease expires
    once its expiration time has passed), not 1.20's never-expire quirk.
    """

    enabled: bool = False
    mode: ExpiryMode = "age"
    override_lease_duration: int | None = None
    cutoff_date: int | None = None
    immutable: bool = True
    mutable: bool = True


@dataclass(frozen=True)
class NodeConfig:
    node_dir: Path
    host: str
    port: int
    swissnum: str
    pem_path: Path
    nodeid: bytes
    storage_dir: Path
    reserved_space: int = 0
    expiry: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    crawl_interval: float = 12 * 3600.0
    crawl_first_delay: float = 360.0
    upload_idle_timeout: float = 30 * 60.0
    max_mutable_write_body: int = DEFAULT_MAX_MUTABLE_WRITE_BODY

    @property
    def shares_dir(self) -> Path:
        return self.storage_dir / "shares"


_SIZE_RE = re.compile(r"([0-9]+)\s*([kmgtpe]?)(i?)b?", re.IGNORECASE)
_DURATION_RE = re.compile(r"([0-9]+)\s*(s|seconds?|days?|mo|months?|years?)?", re.IGNORECASE)
_UNIT_SECONDS = {
    "s": 1,
    "second": 1,
    "day": 86400,
    "mo": 31 * 86400,
    "month": 31 * 86400,
    "year": 365 * 86400,
}


def parse_size(text: str) -> int:
    """`1G`, `500MiB`, `0`: K/M/G... are powers of 1000, Ki/Mi/Gi... of 1024."""
    m = _SIZE_RE.fullmatch(text.strip())
    if m is None:
        raise ConfigError(f"not a size: {text!r}")
    number, prefix, binary = int(m[1]), m[2].lower(), m[3]
    if not prefix:
        if binary:
            raise ConfigError(f"not a size: {text!r}")
        return number
    power = "kmgtpe".index(prefix) + 1
    return int(number * (1024 if binary else 1000) ** power)


def parse_duration(text: str) -> int:
    """`60 days`, `2mo`, `1 year`, `90s` (the `s` unit is ours, handy for tests)."""
    m = _DURATION_RE.fullmatch(text.strip())
    if m is None:
        raise ConfigError(f"not a duration: {text!r}")
    unit = (m[2] or "day").lower()
    if unit not in ("s", "mo"):
        unit = unit.removesuffix("s")
    return int(m[1]) * _UNIT_SECONDS[unit]


def parse_date(text: str) -> int:
    """`YYYY-MM-DD` as 00:00:00 UTC of that day, in seconds since the epoch."""
    try:
        day = datetime.date.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigError(f"not a date: {text!r}") from exc
    midnight = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
    return int(midnight.timestamp())


def _bool(section: configparser.SectionProxy, key: str, default: bool) -> bool:
    try:
        return section.getboolean(key, fallback=default)
    except ValueError as exc:
        raise ConfigError(f"[storage]{key} is not a boolean") from exc


def read_expiry(section: configparser.SectionProxy) -> ExpiryPolicy:
    enabled = _bool(section, "expire.enabled", False)
    mode = section.get("expire.mode", "age").strip()
    if mode not in ("age", "cutoff-date"):
        raise ConfigError(f"[storage]expire.mode must be age or cutoff-date, not {mode!r}")
    override = section.get("expire.override_lease_duration", "").strip()
    cutoff = section.get("expire.cutoff_date", "").strip()
    if enabled and mode == "cutoff-date" and not cutoff:
        raise ConfigError("[storage]expire.cutoff_date is required in cutoff-date mode")
    return ExpiryPolicy(
        enabled=enabled,
        mode="age" if mode == "age" else "cutoff-date",
        override_lease_duration=parse_duration(override) if override else None,
        cutoff_date=parse_date(cutoff) if cutoff else None,
        immutable=_bool(section, "expire.immutable", True),
        mutable=_bool(section, "expire.mutable", True),
    )


def read_config(node_dir: Path) -> NodeConfig:
    """Read a node directory made by `storage-node create`."""
    node_dir = node_dir.resolve()
    parser = configparser.ConfigParser(interpolation=None)
    cfg_path = node_dir / CONFIG_FILE
    if not parser.read(cfg_path):
        raise ConfigError(f"{cfg_path} is missing: run `storage-node create {node_dir}` first")
    for section in ("node", "storage"):
        if not parser.has_section(section):
            parser.add_section(section)
    node, storage = parser["node"], parser["storage"]
    try:
        port = int(node.get("port", ""))
        crawl_interval = float(storage.get("crawler.interval", "43200"))
        crawl_first_delay = float(storage.get("crawler.first_delay", "360"))
        idle_timeout = float(storage.get("upload_idle_timeout", "1800"))
    except ValueError as exc:
        raise ConfigError(f"{cfg_path}: {exc}") from exc
    try:
        swissnum = (node_dir / SWISSNUM_FILE).read_text("ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the swissnum: {exc}") from exc
    storage_dir = Path(storage.get("storage_dir", "storage"))
    pem_path = node_dir / PEM_FILE
    return NodeConfig(
        node_dir=node_dir,
        host=node.get("host", "127.0.0.1"),
        port=port,
        swissnum=swissnum,
        pem_path=pem_path,
        nodeid=nodeid_of(certificate_der(pem_path)),
        storage_dir=storage_dir if storage_dir.is_absolute() else node_dir / storage_dir,
        reserved_space=parse_size(storage.get("reserved_space", "0")),
        expiry=read_expiry(storage),
        crawl_interval=crawl_interval,
        crawl_first_delay=crawl_first_delay,
        upload_idle_timeout=idle_timeout,
        max_mutable_write_body=parse_size(
            storage.get("max_mutable_write_body", str(DEFAULT_MAX_MUTABLE_WRITE_BODY))
        ),
    )


def write_config(
    node_dir: Path, host: str, port: int, reserved_space: str, extra_storage: dict[str, str]
) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser["node"] = {"host": host, "port": str(port)}
    parser["storage"] = {"reserved_space": reserved_space, **extra_storage}
    with open(node_dir / CONFIG_FILE, "x", encoding="utf-8") as f:
        parser.write(f)
