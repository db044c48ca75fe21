"""AES-128-CTR as Tahoe uses it: one counter over the whole file, starting at 0.

Starting anywhere lets segments be encrypted in parallel and ranges be
decrypted alone (spec/tahoe-immutable.md 4.4).
"""

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

KEY_SIZE = 16


def aes_ctr_at(key: bytes, offset: int) -> CipherContext:
    """A CTR keystream context positioned at byte `offset` of the stream."""
    counter = (offset // 16).to_bytes(16, "big")
    ctx = Cipher(algorithms.AES(key), modes.CTR(counter)).encryptor()
    skip = offset % 16
    if skip:
        ctx.update(bytes(skip))
    return ctx


def aes_ctr(key: bytes, data: bytes | memoryview, offset: int = 0) -> bytes:
    """Encrypt or decrypt `data`, which sits at `offset` in the stream."""
    return aes_ctr_at(key, offset).update(data)
