"""The grid client library: capabilities, CHK encoding, the storage protocol client.

The names below are the public API; modules hold one concept each (see README).
They are imported on first use (PEP 562), so a storage node that needs only
the pure format modules does not load the client, the HTTP pool and the rest.
"""

import importlib
from typing import Any

_EXPORTS = {
    "BadEncodingParameters": ".errors",
    "CHKReadCap": ".uri",
    "CHKReader": ".immutable.reader",
    "CHKVerifyCap": ".uri",
    "CapabilityError": ".errors",
    "CheckAndRepairResults": ".check_results",
    "CheckResults": ".check_results",
    "Client": ".client",
    "CorruptShareError": ".errors",
    "DownloadResult": ".immutable.downloader",
    "EncodingParams": ".immutable.params",
    "GridConfig": ".grid_config",
    "GridConfigError": ".grid_config",
    "LafsError": ".errors",
    "LiteralCap": ".uri",
    "NURL": ".nurl",
    "NotEnoughSharesError": ".errors",
    "ServerConfig": ".grid_config",
    "ServerIdentityError": ".errors",
    "ServerStatus": ".client",
    "ShareSource": ".immutable.reader",
    "StorageClient": ".storage_client",
    "StorageConnectionError": ".errors",
    "StorageError": ".errors",
    "StorageHTTPError": ".errors",
    "UploadResult": ".immutable.uploader",
    "UploadUnhappinessError": ".immutable.uploader",
    "VerifyResult": ".immutable.verifier",
    "encode_bytes": ".immutable.local",
    "encode_path": ".immutable.local",
    "load_grid": ".grid_config",
    "parse_cap": ".uri",
    "parse_nurl": ".nurl",
    "verify": ".immutable.verifier",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value
