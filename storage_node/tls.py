"""The node's TLS identity: a self-signed certificate and key in `private/node.pem`.

Per spec/tahoe-storage-http.md 4.1: one self-signed certificate, no chain; its
SPKI hash is the NURL pin and the SHA-1 of its DER is the node id (tub ID).
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import ssl
from pathlib import Path

from .errors import ConfigError

_CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only (0600), failing if it exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def create_identity(pem_path: Path, now: datetime.datetime | None = None) -> None:
    """Make a new ECDSA P-256 key and a self-signed certificate valid ~100 years."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = now or datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lafs-storage-node")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=36500))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(pem_path, pem)


def certificate_der(pem_path: Path) -> bytes:
    """The DER of the (first) certificate in a PEM file that may also hold the key."""
    try:
        text = pem_path.read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {pem_path}: {exc}") from exc
    m = _CERT_RE.search(text)
    if m is None:
        raise ConfigError(f"no certificate in {pem_path}")
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def nodeid_of(cert_der: bytes) -> bytes:
    """The 20-byte node id (Foolscap tub ID): SHA-1 of the certificate's DER."""
    return hashlib.sha1(cert_der).digest()
