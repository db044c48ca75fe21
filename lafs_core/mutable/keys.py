"""RSA key pairs and the key chain of a mutable file (spec/tahoe-mutable.md 2).

A mutable file is named by its RSA-2048 key pair: everything else (writekey,
readkey, storage index, fingerprint, write enablers, per-salt data keys) is a
tagged hash derived from the DER bytes of the keys, so these functions must
see exactly the bytes Tahoe hashes: PKCS#8 DER for the private key and
SubjectPublicKeyInfo DER for the public key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..crypto import aes_ctr
from ..errors import LafsError
from ..hashes import tagged_hash, tagged_pair_hash

KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
SIGNATURE_SIZE = 256
PUBKEY_DER_SIZE = 294  # SubjectPublicKeyInfo of a 2048-bit key

WRITEKEY_TAG = b"allmydata_mutable_privkey_to_writekey_v1"
READKEY_TAG = b"allmydata_mutable_writekey_to_readkey_v1"
STORAGE_INDEX_TAG = b"allmydata_mutable_readkey_to_storage_index_v1"
FINGERPRINT_TAG = b"allmydata_mutable_pubkey_to_fingerprint_v1"
WE_MASTER_TAG = b"allmydata_mutable_writekey_to_write_enabler_master_v1"
WE_TAG = b"allmydata_mutable_write_enabler_master_and_nodeid_to_write_enabler_v1"
DATAKEY_TAG = b"allmydata_mutable_readkey_to_datakey_v1"

# PSS with a fixed 32-byte salt: Tahoe's signatures verify only with these.
_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


class BadKeyError(LafsError, ValueError):
    """Key bytes are not an RSA-2048 key we can use (wrong size, type or encoding)."""


def generate_private_key() -> rsa.RSAPrivateKey:
    """A fresh RSA-2048 key; slow (~50-500 ms), run it in a thread (see `KeyPool`)."""
    return rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=KEY_BITS)


def load_private_key(data: bytes, validate: bool = True) -> rsa.RSAPrivateKey:
    """Load PEM (PKCS#1 or PKCS#8) or DER bytes; refuse anything but RSA-2048.

    `validate=False` skips OpenSSL's RSA consistency check (~50 ms): only for bytes we
    made or authenticated (a decrypted key that hashes back to its writekey).
    """
    skip = not validate
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(
                data, password=None, unsafe_skip_rsa_key_validation=skip
            )
        else:
            key = serialization.load_der_private_key(
                data, password=None, unsafe_skip_rsa_key_validation=skip
            )
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadKeyError(f"cannot load private key: {exc}") from exc
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != KEY_BITS:
        raise BadKeyError("mutable files need an RSA-2048 private key")
    return key


def load_public_key(der: bytes) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise BadKeyError(f"cannot load public key: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size != KEY_BITS:
        raise BadKeyError("mutable files need an RSA-2048 public key")
    return key


def private_key_der(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_der(key: rsa.RSAPublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sign(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    return key.sign(message, _PSS, hashes.SHA256())


def verify_signature(pubkey_der: bytes, signature: bytes, message: bytes) -> bool:
    """True iff `signature` is a valid PSS signature of `message` (never raises on bad input)."""
    return _verify(bytes(pubkey_der), bytes(signature), bytes(message))


@lru_cache(maxsize=1024)
def _verify(pubkey_der: bytes, signature: bytes, message: bytes) -> bool:
    """Remembered: the k shares of one version carry the same signature, and a cached
    directory or index leaf is checked again and again (67 us each here)."""
    try:
        load_public_key(pubkey_der).verify(signature, message, _PSS, hashes.SHA256())
    except (BadKeyError, InvalidSignature, ValueError):
        return False
    return True


# -- the key chain (spec 2.3) ------------------------------------------------


def writekey_from_privkey(privkey_der: bytes) -> bytes:
    return tagged_hash(WRITEKEY_TAG, privkey_der, 16)


def readkey_from_writekey(writekey: bytes) -> bytes:
    return tagged_hash(READKEY_TAG, writekey, 16)


def storage_index_from_readkey(readkey: bytes) -> bytes:
    return tagged_hash(STORAGE_INDEX_TAG, readkey, 16)


def fingerprint_from_pubkey(pubkey_der: bytes) -> bytes:
    return tagged_hash(FINGERPRINT_TAG, pubkey_der)


def write_enabler_master(writekey: bytes) -> bytes:
    return tagged_hash(WE_MASTER_TAG, writekey)


def write_enabler(we_master: bytes, server_seed: bytes) -> bytes:
    """The secret one server demands for writes to this file; `server_seed` is its tub ID."""
    return tagged_pair_hash(WE_TAG, we_master, server_seed)


def data_key(salt: bytes, readkey: bytes) -> bytes:
    """The AES key for one segment: salt first, then the readkey."""
    return tagged_pair_hash(DATAKEY_TAG, salt, readkey, 16)


def encrypt_privkey(writekey: bytes, privkey_der: bytes) -> bytes:
    return aes_ctr(writekey, privkey_der)


def decrypt_privkey(writekey: bytes, encprivkey: bytes) -> bytes | None:
    """The private key DER if it hashes back to `writekey`, else None (that share's key is bad)."""
    der = aes_ctr(writekey, encprivkey)
    return der if writekey_from_privkey(der) == writekey else None


@dataclass(frozen=True)
class KeyPair:
    """One mutable file's keys, as the DER bytes that everything is derived from."""

    privkey_der: bytes
    pubkey_der: bytes

    @classmethod
    def from_private_key(cls, key: rsa.RSAPrivateKey) -> KeyPair:
        return cls(private_key_der(key), public_key_der(key.public_key()))

    @classmethod
    def load(cls, data: bytes) -> KeyPair:
        """From PEM or DER private-key bytes (re-serialised to PKCS#8 before hashing)."""
        return cls.from_private_key(load_private_key(data))

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private_key(generate_private_key())

    @cached_property
    def private_key(self) -> rsa.RSAPrivateKey:
        # the DER was generated here, validated by `load`, or decrypted and checked
        # against the writekey (`decrypt_privkey`): no need to validate it again
        return load_private_key(self.privkey_der, validate=False)

    @property
    def writekey(self) -> bytes:
        return writekey_from_privkey(self.privkey_der)

    @property
    def readkey(self) -> bytes:
        return readkey_from_writekey(self.writekey)

    @property
    def fingerprint(self) -> bytes:
        return fingerprint_from_pubkey(self.pubkey_der)

    def sign(self, message: bytes) -> bytes:
        return sign(self.private_key, message)
