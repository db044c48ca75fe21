"""The grid client library: capabilities, CHK encoding, the storage protocol client.

The names below are the public API; modules hold one concept each (see README).
"""

from .check_results import CheckAndRepairResults, CheckResults
from .client import Client, ServerStatus
from .errors import (
    BadEncodingParameters,
    CapabilityError,
    CorruptShareError,
    LafsError,
    NotEnoughSharesError,
    ServerIdentityError,
    StorageConnectionError,
    StorageError,
    StorageHTTPError,
)
from .grid_config import GridConfig, GridConfigError, ServerConfig, load_grid
from .immutable.downloader import DownloadResult
from .immutable.local import encode_bytes, encode_path
from .immutable.params import EncodingParams
from .immutable.reader import CHKReader, ShareSource
from .immutable.uploader import UploadResult, UploadUnhappinessError
from .immutable.verifier import VerifyResult, verify
from .nurl import NURL, parse_nurl
from .storage_client import StorageClient
from .uri import CHKReadCap, CHKVerifyCap, LiteralCap, parse_cap

__all__ = [
    "BadEncodingParameters",
    "CHKReadCap",
    "CHKReader",
    "CHKVerifyCap",
    "CapabilityError",
    "CheckAndRepairResults",
    "CheckResults",
    "Client",
    "CorruptShareError",
    "DownloadResult",
    "EncodingParams",
    "GridConfig",
    "GridConfigError",
    "LafsError",
    "LiteralCap",
    "NURL",
    "NotEnoughSharesError",
    "ServerConfig",
    "ServerIdentityError",
    "ServerStatus",
    "ShareSource",
    "StorageClient",
    "StorageConnectionError",
    "StorageError",
    "StorageHTTPError",
    "UploadResult",
    "UploadUnhappinessError",
    "VerifyResult",
    "encode_bytes",
    "encode_path",
    "load_grid",
    "parse_cap",
    "parse_nurl",
    "verify",
]
