"""The gateway's settings: defaults, an optional TOML file, then command-line flags.

A config file looks like::

    data-dir = "/var/lib/s3gw"
    host = "0.0.0.0"
    port = 7070
    grid = "/etc/lafs/grid.toml"     # absent: an embedded local grid under data-dir/grid
    root-cap-file = "root.cap"       # relative to data-dir; holds the root directory's cap
    region = "us-east-1"             # also the only region accepted in signatures, if strict-region
    base-domains = ["s3.example.com"]  # for virtual-hosted-style bucket addressing
    inline-max-bytes = 4096          # objects up to this size live inside the bucket index
    convergent-encryption = true     # false: a random key per object (no dedupe, one read less)
    index-cache-seconds = 1.0        # how stale another gateway's writes may look here
    index-leaf-bytes = 1048576       # a bucket index leaf splits beyond this (or 250 keys)
    lease-renewal-hours = 24         # 0 turns scheduled renewal off
    local-grid-nodes = 10
    tls-cert-file = "cert.pem"       # with tls-key-file: serve HTTPS (PEM; relative to this file)
    tls-key-file = "key.pem"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_PORT = 7070
DEFAULT_DATA_DIR = Path.home() / ".s3gw"


class ConfigError(Exception):
    """The config file or a flag is unusable; the message says which and why."""


@dataclass(frozen=True)
class GatewayConfig:
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    grid: Path | None = None
    root_cap_file: Path = Path("root.cap")
    region: str = "us-east-1"
    strict_region: bool = False
    base_domains: tuple[str, ...] = field(default_factory=lambda: ("localhost",))
    inline_max_bytes: int = 4096
    convergent_encryption: bool = True
    index_cache_seconds: float = 1.0
    # Leaves full of inline objects (~6.5 KB each) split by bytes. At 1 MiB instead of 256 KiB
    # GETs and listings re-check a quarter as many leaves (a warm listing of 10,000 such keys
    # costs 0.11 instead of 0.66 CPU-s); a 4 KiB PUT rewrites more bytes but splits (each a
    # new RSA key) less often: ~7% fewer PUT/s, the nodes' share of it 13% more CPU.
    index_leaf_bytes: int = 1024 * 1024
    lease_renewal_hours: float = 24.0
    local_grid_nodes: int = 10
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert_file else "http"

    @property
    def root_cap_path(self) -> Path:
        return self.data_dir / self.root_cap_file

    @property
    def local_grid_dir(self) -> Path:
        return self.data_dir / "grid"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


_PATHS = {"data_dir", "grid", "root_cap_file", "tls_cert_file", "tls_key_file"}
_RELATIVE_TO_FILE = ("grid", "tls_cert_file", "tls_key_file")


def _coerce(name: str, value: Any, where: str) -> Any:
    default = getattr(GatewayConfig(), name)
    try:
        if name in _PATHS:
            return Path(str(value)).expanduser()
        if name == "base_domains":
            if not isinstance(value, list):
                raise TypeError("expected a list of strings")
            return tuple(str(v).lower() for v in value)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise TypeError("expected true or false")
            return value
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {name.replace('_', '-')}: {exc}") from exc


def load_config(path: Path | None, **overrides: Any) -> GatewayConfig:
    """Defaults, then `path` (TOML, dashed keys), then the non-None `overrides`."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        known = {f.name for f in fields(GatewayConfig)}
        for key, value in data.items():
            name = key.replace("-", "_")
            if name not in known:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[name] = _coerce(name, value, str(path))
        for name in _RELATIVE_TO_FILE:
            if name in values and not values[name].is_absolute():
                values[name] = path.parent / values[name]
    for name, value in overrides.items():
        if value is not None:
            values[name] = _coerce(name, value, "command line")
    config = replace(GatewayConfig(), **values)
    if (config.tls_cert_file is None) != (config.tls_key_file is None):
        raise ConfigError("tls-cert-file and tls-key-file go together")
    if not 0 <= config.port < 65536:
        raise ConfigError(f"port {config.port} is out of range")
    if config.inline_max_bytes < 0 or config.index_cache_seconds < 0:
        raise ConfigError("inline-max-bytes and index-cache-seconds must not be negative")
    if config.lease_renewal_hours < 0:
        raise ConfigError("lease-renewal-hours must not be negative (0 turns renewal off)")
    return config
