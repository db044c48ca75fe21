"""Mutable files (SDMF), per spec/tahoe-mutable.md.

Pure layers: `keys` (RSA key pair and the derived key chain), `caps`
(SSK/MDMF cap strings), `layout` (SDMF share bytes), `sdmf` (encrypt,
encode, sign; validate, decode), `servermap` (version bookkeeping and the
query state machine). Async edges: `retrieve`, `publish`, `node`
(`MutableFileNode` with `modify` retries) and `keypool`.
`mdmf` is the MDMF share format; `formats` puts both behind one interface
used by servermap, publish and retrieve (MDMF in-place partial updates are
not implemented: MDMF files are always rewritten whole).
"""

from .caps import (
    MDMF,
    SDMF,
    MutableCap,
    MutableReadCap,
    MutableVerifyCap,
    MutableWriteCap,
    parse_mutable_cap,
)
from .errors import (
    NotEnoughServersError,
    NotWriteableError,
    UncoordinatedWriteError,
    UnrecoverableFileError,
    UnsupportedMutableFormat,
)
from .formats import FORMATS, MDMF_FORMAT, SDMF_FORMAT, ShareFormat, format_of
from .keymaker import FreshKeys
from .keypool import KeyPool
from .keys import BadKeyError, KeyPair, write_enabler, write_enabler_master
from .layout import SDMFPrefix, SDMFShare, pack_share, parse_header, parse_share
from .node import MutableFileNode, default_backoff
from .publish import plan_publish, publish
from .retrieve import retrieve, update_servermap
from .sdmf import SDMFVersion, check_share, decode_version, encode_version
from .servermap import Mode, ServerMap, ServermapUpdater

__all__ = [
    "FORMATS",
    "MDMF_FORMAT",
    "SDMF_FORMAT",
    "ShareFormat",
    "format_of",
    "MDMF",
    "SDMF",
    "BadKeyError",
    "FreshKeys",
    "KeyPair",
    "KeyPool",
    "Mode",
    "MutableCap",
    "MutableFileNode",
    "MutableReadCap",
    "MutableVerifyCap",
    "MutableWriteCap",
    "NotEnoughServersError",
    "NotWriteableError",
    "SDMFPrefix",
    "SDMFShare",
    "SDMFVersion",
    "ServerMap",
    "ServermapUpdater",
    "UncoordinatedWriteError",
    "UnrecoverableFileError",
    "UnsupportedMutableFormat",
    "check_share",
    "decode_version",
    "default_backoff",
    "encode_version",
    "pack_share",
    "parse_header",
    "parse_mutable_cap",
    "parse_share",
    "plan_publish",
    "publish",
    "retrieve",
    "update_servermap",
    "write_enabler",
    "write_enabler_master",
]
