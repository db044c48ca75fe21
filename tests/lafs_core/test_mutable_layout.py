"""SDMF shares: byte-exact against Tahoe 1.20 (tests/vectors/ssk.json), round trips, corruption."""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lafs_core.errors import CorruptShareError, NotEnoughSharesError
from lafs_core.mutable.caps import MutableWriteCap
from lafs_core.mutable.errors import UnsupportedMutableFormat
from lafs_core.mutable.keys import KeyPair, decrypt_privkey
from lafs_core.mutable.layout import (
    CHECKSTRING_SIZE,
    HEADER_SIZE,
    checkstring,
    pack_share,
    parse_header,
    parse_share,
)
from lafs_core.mutable.sdmf import (
    decode_version,
    encode_version,
    parse_and_check,
    recover_privkey,
)

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
SHARE_CASES: list[dict[str, Any]] = VECTORS["sdmf_shares"]
_KEYS: dict[int, KeyPair] = {}


def keys(i: int) -> KeyPair:
    if i not in _KEYS:
        _KEYS[i] = KeyPair.load(VECTORS["keys"][i].encode())
    return _KEYS[i]


def stretch(seed: bytes, length: int) -> bytes:
    return (seed * (length // len(seed) + 1))[:length] if seed else b""


@pytest.mark.parametrize("case", SHARE_CASES, ids=[c["name"] for c in SHARE_CASES])
def test_tahoe_shares_byte_for_byte(case: dict[str, Any]) -> None:
    kp = keys(case["key"])
    plaintext = stretch(base64.b64decode(case["seed"]), case["length"])
    version = encode_version(
        kp, plaintext, case["seqnum"], case["k"], case["n"],
        iv=bytes.fromhex(case["iv"]), signature=bytes.fromhex(case["signature"]),
    )  # fmt: skip
    if "share0" in case:
        assert version.shares[0].hex() == case["share0"]
    assert [hashlib.sha256(s).hexdigest() for s in version.shares] == case["shares"]
    assert version.prefix.root_hash.hex() == case["root_hash"]
    cap = MutableWriteCap.from_keypair(kp)
    parsed = {i: parse_and_check(raw, i, cap.fingerprint) for i, raw in enumerate(version.shares)}
    for i, share in parsed.items():
        assert pack_share(
            share.prefix, share.pubkey_der, share.signature, share.share_hash_chain,
            share.block_hash_tree, share.block, share.enc_privkey,
        ) == version.shares[i]  # fmt: skip
    k = case["k"]
    last_k = dict(list(parsed.items())[-k:])
    assert decode_version(last_k, cap.readkey) == plaintext
    assert recover_privkey(cap.writekey, parsed[0]) == kp.privkey_der


def test_header_fields() -> None:
    kp = keys(0)
    v = encode_version(kp, b"hello world", 7, 3, 10, iv=b"\x01" * 16)
    prefix, offsets = parse_header(v.shares[3][:HEADER_SIZE])
    assert (prefix.seqnum, prefix.k, prefix.n, prefix.datalen, prefix.segsize) == (7, 3, 10, 11, 12)
    assert offsets.signature == 401 and offsets.share_hash_chain == 657
    assert offsets.block_hash_tree == 657 + 4 * 34
    assert v.checkstring == checkstring(7, prefix.root_hash, b"\x01" * 16)
    assert len(v.checkstring) == CHECKSTRING_SIZE
    assert v.shares[3][:CHECKSTRING_SIZE] == v.checkstring


def test_random_iv_and_signature_differ() -> None:
    a = encode_version(keys(0), b"x", 1, 1, 1)
    b = encode_version(keys(0), b"x", 1, 1, 1)
    assert a.prefix.iv != b.prefix.iv


def test_bad_given_signature_is_refused() -> None:
    with pytest.raises(ValueError):
        encode_version(keys(0), b"x", 1, 1, 2, signature=b"\0" * 256)


def test_mdmf_share_is_reported_as_unsupported() -> None:
    with pytest.raises(UnsupportedMutableFormat):
        parse_header(b"\x01" + bytes(200))


def test_not_enough_shares() -> None:
    kp = keys(1)
    v = encode_version(kp, b"abcdef" * 10, 1, 3, 5)
    cap = MutableWriteCap.from_keypair(kp)
    shares = {i: parse_and_check(v.shares[i], i, cap.fingerprint) for i in (0, 4)}
    with pytest.raises(NotEnoughSharesError):
        decode_version(shares, cap.readkey)


def test_wrong_fingerprint_and_wrong_shnum() -> None:
    kp = keys(2)
    v = encode_version(kp, b"data" * 100, 1, 3, 10)
    other = MutableWriteCap.from_keypair(keys(3))
    with pytest.raises(CorruptShareError):
        parse_and_check(v.shares[0], 0, other.fingerprint)
    cap = MutableWriteCap.from_keypair(kp)
    with pytest.raises(CorruptShareError):
        parse_and_check(v.shares[0], 1, cap.fingerprint)


def test_privkey_with_wrong_writekey() -> None:
    kp = keys(2)
    v = encode_version(kp, b"data", 1, 1, 1)
    share = parse_share(v.shares[0])
    assert decrypt_privkey(b"\0" * 16, share.enc_privkey) is None
    with pytest.raises(CorruptShareError):
        recover_privkey(b"\0" * 16, share)


# One version per k/n/size shape, built once: signing is the slow part.
_SAMPLE: dict[tuple[int, int, int], tuple[MutableWriteCap, bytes, tuple[bytes, ...]]] = {}


def sample(k: int, n: int, size: int) -> tuple[MutableWriteCap, bytes, tuple[bytes, ...]]:
    key = (k, n, size)
    if key not in _SAMPLE:
        kp = keys(4)
        data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        _SAMPLE[key] = (
            MutableWriteCap.from_keypair(kp),
            data,
            encode_version(kp, data, 3, k, n).shares,
        )
    return _SAMPLE[key]


SHAPES = st.sampled_from([(1, 1, 0), (3, 10, 0), (3, 10, 1), (2, 3, 700), (5, 7, 1234), (1, 4, 99)])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SHAPES, st.data())
def test_any_k_shares_decode(shape: tuple[int, int, int], data: st.DataObject) -> None:
    cap, plaintext, shares = sample(*shape)
    k, n, _ = shape
    chosen = data.draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=n, unique=True))
    parsed = {i: parse_and_check(shares[i], i, cap.fingerprint) for i in chosen}
    assert decode_version(parsed, cap.readkey) == plaintext


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SHAPES, st.data())
def test_flipped_bit_is_caught(shape: tuple[int, int, int], data: st.DataObject) -> None:
    cap, _plaintext, shares = sample(*shape)
    shnum = data.draw(st.integers(0, shape[1] - 1))
    raw = bytearray(shares[shnum])
    # The offset table is unsigned: a flip there must still fail a format check.
    pos = data.draw(st.integers(0, len(raw) - 1))
    bit = data.draw(st.integers(0, 7))
    raw[pos] ^= 1 << bit
    with pytest.raises((CorruptShareError, UnsupportedMutableFormat)):
        share = parse_and_check(bytes(raw), shnum, cap.fingerprint)
        # The encrypted private key is covered by no hash: only the writekey check finds it.
        recover_privkey(cap.writekey, share)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SHAPES, st.data())
def test_truncated_share_is_caught(shape: tuple[int, int, int], data: st.DataObject) -> None:
    cap, _plaintext, shares = sample(*shape)
    raw = shares[0]
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(CorruptShareError):
        parse_and_check(raw[:cut], 0, cap.fingerprint)


@given(st.binary(max_size=600))
def test_garbage_fails_cleanly(raw: bytes) -> None:
    with pytest.raises((CorruptShareError, UnsupportedMutableFormat)):
        parse_share(raw)
