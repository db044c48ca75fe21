"""NURLs: where a storage server is and how to authenticate it.

Per spec/tahoe-storage-http.md 3-4: `pb://<spki-hash>@<host>:<port>/<swissnum>#v=1`,
where the SPKI hash is the unpadded URL-safe base64 of SHA-256 over the DER
SubjectPublicKeyInfo of the server's certificate. Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import ssl
from dataclasses import dataclass

from .errors import LafsError

SCHEMES = ("pb", "pb+tor")
_SPKI_HASH_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_SWISSNUM_RE = re.compile(r"[A-Za-z0-9._~-]+")
_NURL_RE = re.compile(
    r"(?P<scheme>[a-z+]+)://(?P<pin>[^@/]*)@(?P<host>\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+)"
    r":(?P<port>[0-9]{1,5})/(?P<swissnum>[^/#]*)#(?P<fragment>.*)"
)


class NURLError(LafsError, ValueError):
    """A NURL string is malformed (raised by `parse_nurl`)."""


@dataclass(frozen=True)
class NURL:
    spki_hash: str
    host: str
    port: int
    swissnum: str
    scheme: str = "pb"

    def __str__(self) -> str:
        return format_nurl(self)

    @property
    def base_url(self) -> str:
        """The HTTPS origin the storage protocol is spoken on."""
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"https://{host}:{self.port}"


def parse_nurl(text: str) -> NURL:
    """Parse a version-1 NURL; raises NURLError for anything else."""
    m = _NURL_RE.fullmatch(text.strip())
    if m is None:
        raise NURLError(f"not a NURL: {text!r}")
    if m["scheme"] not in SCHEMES:
        raise NURLError(f"unsupported NURL scheme {m['scheme']!r}")
    if m["fragment"] != "v=1":
        raise NURLError("not a version 1 NURL (fragment must be 'v=1')")
    if not _SPKI_HASH_RE.fullmatch(m["pin"]):
        raise NURLError("NURL SPKI hash must be 43 characters of unpadded base64url")
    if not _SWISSNUM_RE.fullmatch(m["swissnum"]):
        raise NURLError("NURL swissnum is empty or has unsafe characters")
    port = int(m["port"])
    if not 0 < port < 65536:
        raise NURLError(f"NURL port out of range: {port}")
    host = m["host"]
    if host.startswith("["):
        host = host[1:-1]
    return NURL(m["pin"], host, port, m["swissnum"], m["scheme"])


def format_nurl(nurl: NURL) -> str:
    host = nurl.host if ":" not in nurl.host else f"[{nurl.host}]"
    return f"{nurl.scheme}://{nurl.spki_hash}@{host}:{nurl.port}/{nurl.swissnum}#v=1"


def spki_hash_of_spki(spki_der: bytes) -> str:
    """The pin of a DER SubjectPublicKeyInfo: b64url(SHA-256), unpadded."""
    digest = hashlib.sha256(spki_der).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def spki_hash_of_cert(cert: bytes | str) -> str:
    """The pin of a certificate given as DER bytes or PEM text."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    if isinstance(cert, str):
        der = ssl.PEM_cert_to_DER_cert(cert)
    elif cert.lstrip().startswith(b"-----BEGIN"):
        der = ssl.PEM_cert_to_DER_cert(cert.decode("ascii"))
    else:
        der = cert
    try:
        parsed = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise NURLError("not an X.509 certificate") from exc
    spki = parsed.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return spki_hash_of_spki(spki)


def pins_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two SPKI hashes."""
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))
