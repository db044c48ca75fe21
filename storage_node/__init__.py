"""A standalone Tahoe-LAFS-compatible HTTPS storage node.

`create_node`/`run_node` back the `storage-node` command; `create_app` gives
the ASGI app for a NodeConfig; `Backend` is the disk store; `LeaseCrawler`
expires leases.
"""

from .backend import Backend, list_advisories
from .cli import create_node, main, run_node
from .config import ExpiryPolicy, NodeConfig, read_config
from .crawler import CycleReport, LeaseCrawler, lease_expired
from .errors import (
    ConfigError,
    CorruptContainerError,
    NoSuchShareError,
    StorageNodeError,
    WriteConflictError,
    WrongSecretError,
)
from .server import StorageServer, create_app

__all__ = [
    "Backend",
    "ConfigError",
    "CorruptContainerError",
    "CycleReport",
    "ExpiryPolicy",
    "LeaseCrawler",
    "NoSuchShareError",
    "NodeConfig",
    "StorageNodeError",
    "StorageServer",
    "WriteConflictError",
    "WrongSecretError",
    "create_app",
    "create_node",
    "lease_expired",
    "list_advisories",
    "main",
    "read_config",
    "run_node",
]
