"""MDMF shares: byte-exact against Tahoe 1.20 (ssk.json), round trips, corruption."""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lafs_core.errors import CorruptShareError
from lafs_core.mutable import mdmf
from lafs_core.mutable.caps import MutableWriteCap
from lafs_core.mutable.errors import UnsupportedMutableFormat
from lafs_core.mutable.keys import KeyPair, decrypt_privkey
from lafs_core.mutable.layout import parse_header

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
CASES: list[dict[str, Any]] = VECTORS["mdmf_shares"]


def stretch(seed: bytes, length: int) -> bytes:
    return (seed * (length // len(seed) + 1))[:length] if seed else b""


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_tahoe_shares_byte_for_byte(case: dict[str, Any]) -> None:
    kp = KeyPair.load(VECTORS["keys"][case["key"]].encode())
    plaintext = stretch(base64.b64decode(case["seed"]), case["length"])
    salts = [bytes.fromhex(s) for s in case["salts"]]
    sig = bytes.fromhex(case["signature"])
    v = mdmf.encode_version(kp, plaintext, case["seqnum"], case["k"], case["n"], salts, sig)
    if "share0" in case:
        assert v.shares[0].hex() == case["share0"]
    assert [hashlib.sha256(s).hexdigest() for s in v.shares] == case["shares"]
    assert v.prefix.root_hash.hex() == case["root_hash"]
    cap = MutableWriteCap.from_keypair(kp, "mdmf")
    parsed = {}
    for i in (0, case["n"] - 1):
        share = mdmf.parse_share(v.shares[i])
        mdmf.check_share(share, i, cap.fingerprint)
        assert mdmf.pack_share(share) == v.shares[i]
        parsed[i] = share
    k = case["k"]
    last = {i: mdmf.parse_share(v.shares[i]) for i in range(case["n"] - k, case["n"])}
    assert mdmf.decode_version(last, cap.readkey) == plaintext


def test_layout_constants() -> None:
    kp = KeyPair.load(VECTORS["keys"][0].encode())
    v = mdmf.encode_version(kp, b"x" * 300000, 1, 3, 10)
    raw = v.shares[5]
    assert raw[0] == 1 and len(v.prefix.checkstring) == 41
    share = mdmf.parse_share(raw)
    assert share.prefix.segsize == 131073 and share.prefix.num_segments == 3
    assert raw.index(share.salts_and_blocks[0][0]) == 2167
    with pytest.raises(UnsupportedMutableFormat):
        parse_header(raw)  # the SDMF parser names MDMF shares as such


_SAMPLE: dict[int, tuple[MutableWriteCap, tuple[bytes, ...]]] = {}


def sample(size: int) -> tuple[MutableWriteCap, tuple[bytes, ...]]:
    if size not in _SAMPLE:
        kp = KeyPair.load(VECTORS["keys"][1].encode())
        v = mdmf.encode_version(kp, bytes(range(256)) * (size // 256), 1, 2, 4)
        _SAMPLE[size] = (MutableWriteCap.from_keypair(kp, "mdmf"), v.shares)
    return _SAMPLE[size]


def test_every_flipped_header_bit_fails_fast() -> None:
    """A flip in datalen once claimed ~2**60 segments: parse_share looped, eating memory."""
    cap, shares = sample(512)
    for pos in range(123):  # the signed prefix and the offset table
        for bit in range(8):
            raw = bytearray(shares[0])
            raw[pos] ^= 1 << bit
            with pytest.raises(CorruptShareError):
                parsed = mdmf.parse_share(bytes(raw))
                mdmf.check_share(parsed, 0, cap.fingerprint)
                if decrypt_privkey(cap.writekey, parsed.enc_privkey) is None:
                    raise CorruptShareError("bad key")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([0, 512, 262144 + 512]), st.data())
def test_flipped_bit_is_caught(size: int, data: st.DataObject) -> None:
    cap, shares = sample(size)
    shnum = data.draw(st.integers(0, 3))
    raw = bytearray(shares[shnum])
    # bytes between the verification key and offset 2167 are an unused gap
    share = mdmf.parse_share(bytes(raw))
    vk_end = 123 + len(share.enc_privkey) + 34 * len(share.share_hash_chain) + 256 + 294
    positions = st.one_of(st.integers(0, vk_end - 1), st.integers(2167, len(raw) - 1))
    pos = data.draw(positions)
    raw[pos] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(CorruptShareError):
        parsed = mdmf.parse_share(bytes(raw))
        mdmf.check_share(parsed, shnum, cap.fingerprint)
        # the encrypted key is covered by no hash: the writekey check finds it
        from lafs_core.mutable.keys import decrypt_privkey

        if decrypt_privkey(cap.writekey, parsed.enc_privkey) is None:
            raise CorruptShareError("bad key")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([0, 512]), st.data())
def test_truncated_share_is_caught(size: int, data: st.DataObject) -> None:
    _cap, shares = sample(size)
    cut = data.draw(st.integers(0, len(shares[0]) - 1))
    with pytest.raises(CorruptShareError):
        mdmf.parse_share(shares[0][:cut])


@given(st.binary(max_size=400))
def test_garbage_fails_cleanly(raw: bytes) -> None:
    with pytest.raises(CorruptShareError):
        mdmf.parse_share(raw)
