"""SSK/MDMF keys and caps and DIR2 caps against tests/vectors/ssk.json (Tahoe 1.20 as oracle).

The JSON is written by tests/vectors/generate_mutable.py; see
tests/vectors/README.md.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core import base32
from lafs_core.dirnode.caps import DirectoryCap, parse_any_cap, parse_dir_cap
from lafs_core.errors import CapabilityError, LafsError
from lafs_core.mutable.caps import (
    MutableReadCap,
    MutableVerifyCap,
    MutableWriteCap,
    parse_mutable_cap,
)
from lafs_core.mutable.keys import (
    BadKeyError,
    KeyPair,
    write_enabler,
    write_enabler_master,
)
from lafs_core.uri import CHKReadCap, LiteralCap

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
OFFICIAL = json.loads((Path(__file__).parent.parent / "vectors" / "ssk_official.json").read_text())
CASES: list[dict[str, Any]] = VECTORS["cases"]
KEYS = [KeyPair.load(pem.encode()) for pem in VECTORS["keys"]]


def test_the_file_covers_what_we_promise() -> None:
    assert VECTORS["tahoe_version"] == "1.20.0"
    assert len(CASES) == 240
    assert {c["format"] for c in CASES} == {"sdmf", "mdmf"}
    # The 240 keys and caps of the official Tahoe-LAFS vectors, one case each.
    assert [c["write"] for c in CASES] == [c["expected"] for c in OFFICIAL["cases"]]
    assert VECTORS["keys"] == [c["key"] for c in OFFICIAL["cases"]]
    assert sum(c["format"] == "mdmf" for c in CASES) == 120


def test_pkcs1_and_pkcs8_forms_load_alike() -> None:
    from cryptography.hazmat.primitives import serialization

    pem = VECTORS["keys"][1].encode()
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    pkcs8 = serialization.load_pem_private_key(pem, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert KeyPair.load(pkcs8) == KEYS[1]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    keys = KEYS[case["key"]]
    wcap = MutableWriteCap.from_keypair(keys, case["format"])
    assert base32.b2a(wcap.writekey) == case["writekey"]
    assert base32.b2a(wcap.readkey) == case["readkey"]
    assert base32.b2a(wcap.storage_index) == case["storage_index"]
    assert base32.b2a(wcap.fingerprint) == case["fingerprint"]
    seed = base32.a2b(VECTORS["tub_id"])
    assert (
        base32.b2a(write_enabler(write_enabler_master(wcap.writekey), seed))
        == case["write_enabler"]
    )
    assert wcap.to_string() == case["write"]
    assert wcap.readonly().to_string() == case["read"]
    assert wcap.verify_cap().to_string() == case["verify"]
    dcap = DirectoryCap(wcap)
    assert dcap.to_string() == case["dir_write"]
    assert dcap.readonly().to_string() == case["dir_read"]
    verify = dcap.verify_cap()
    assert verify is not None and verify.to_string() == case["dir_verify"]
    for kind in ("write", "read", "verify"):
        parsed = parse_mutable_cap(case[kind])
        assert parsed.to_string() == case[kind]
        assert parse_any_cap(case[kind]) == parsed
        assert parsed.verify_cap().storage_index == wcap.storage_index
    for kind in ("dir_write", "dir_read", "dir_verify"):
        parsed_dir = parse_dir_cap(case[kind])
        assert parsed_dir.to_string() == case[kind]
        assert parse_any_cap(case[kind]) == parsed_dir


@pytest.mark.parametrize("ext", VECTORS["extensions"], ids=lambda e: e["given"][-30:])
def test_mdmf_extension_fields_are_dropped(ext: dict[str, str]) -> None:
    assert parse_any_cap(ext["given"]).to_string() == ext["tahoe"]


@pytest.mark.parametrize("text", VECTORS["rejects"])
def test_tahoe_rejects_so_do_we(text: str) -> None:
    with pytest.raises(CapabilityError):
        parse_any_cap(text)


def test_write_enabler_vector_from_the_spec() -> None:
    # spec/tahoe-disk-and-leases.md 7.3
    wem = write_enabler_master(bytes(range(16)))
    seed = base32.a2b("v67jiisoty6ooyxlql5fuucitqiok2ic")
    assert (
        base32.b2a(write_enabler(wem, seed))
        == "vjxe2d33w55yz65fexnyynrvemxjpekfry5cormd7o5oikrl2ewa"
    )


def test_key_sizes_and_der_forms() -> None:
    keys = KEYS[0]
    assert len(keys.pubkey_der) == 294
    assert keys.pubkey_der.startswith(bytes.fromhex("30820122300d06092a864886f70d0101010500"))
    assert keys.privkey_der.startswith(bytes.fromhex("308204"))
    assert KeyPair.load(keys.privkey_der) == keys  # DER loads to the same bytes
    assert KeyPair.load(VECTORS["keys"][0].encode()) == keys


def test_bad_keys_are_refused() -> None:
    with pytest.raises(BadKeyError):
        KeyPair.load(b"not a key")
    from cryptography.hazmat.primitives.asymmetric import rsa

    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(BadKeyError):
        KeyPair.from_private_key(small).private_key  # noqa: B018
    with pytest.raises(BadKeyError):
        from lafs_core.mutable.keys import load_private_key, private_key_der

        load_private_key(private_key_der(small))


def test_ro_and_imm_prefixes() -> None:
    case = CASES[0]
    assert parse_any_cap("ro." + case["read"]) == parse_mutable_cap(case["read"])
    assert parse_any_cap("ro." + case["dir_read"]) == parse_dir_cap(case["dir_read"])
    with pytest.raises(CapabilityError):
        parse_any_cap("imm." + case["read"])  # mutable, not immutable
    with pytest.raises(CapabilityError):
        parse_any_cap(case["read"], immutable_context=True)
    lit = "URI:LIT:mfqwc"
    assert parse_any_cap("imm." + lit) == LiteralCap(b"aaa")
    assert parse_any_cap("imm.URI:DIR2-LIT:mfqwc") == DirectoryCap(LiteralCap(b"aaa"))
    assert parse_any_cap("URI:DIR2-LIT:mfqwc").verify_cap() is None  # type: ignore[union-attr]


def test_chk_directory_caps() -> None:
    chk = (
        "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:"
        "6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56"
    )
    dcap = parse_dir_cap("URI:DIR2-CHK:" + chk[len("URI:CHK:") :])
    assert isinstance(dcap.inner, CHKReadCap)
    assert dcap.is_readonly and not dcap.is_mutable
    assert dcap.to_string() == "URI:DIR2-CHK:" + chk[len("URI:CHK:") :]
    verify = dcap.verify_cap()
    assert verify is not None and verify.to_string().startswith("URI:DIR2-CHK-Verifier:")
    assert parse_dir_cap(verify.to_string()) == verify


def test_errors_are_rooted() -> None:
    assert issubclass(CapabilityError, LafsError)
    assert issubclass(BadKeyError, LafsError)
    for bad in ["", "URI:SSK:", "URI:DIR2:", "URI:SSK-RO:x:y", 5]:
        with pytest.raises(CapabilityError):
            parse_any_cap(bad)  # type: ignore[arg-type]


_bytes16 = st.binary(min_size=16, max_size=16)
_bytes32 = st.binary(min_size=32, max_size=32)
_fmt = st.sampled_from(["sdmf", "mdmf"])


@given(
    _bytes16, _bytes32, _fmt, st.sampled_from([MutableWriteCap, MutableReadCap, MutableVerifyCap])
)
def test_round_trip(key: bytes, fp: bytes, fmt: str, cls: type) -> None:
    cap = cls(key, fp, fmt)
    text = cap.to_string()
    assert parse_mutable_cap(text) == cap
    assert parse_any_cap(text) == cap
    dtext = DirectoryCap(cap).to_string()
    assert parse_dir_cap(dtext) == DirectoryCap(cap)
    assert parse_any_cap(dtext + "\n") == DirectoryCap(cap)


@given(st.text(max_size=120))
def test_garbage_never_crashes(text: str) -> None:
    try:
        parse_any_cap(text)
    except CapabilityError:
        pass


@given(_bytes16, _bytes32, st.integers(0, 100), st.integers(0, 255))
def test_mutated_caps_fail_cleanly(key: bytes, fp: bytes, pos: int, ch: int) -> None:
    text = MutableWriteCap(key, fp).to_string()
    pos %= len(text)
    mutated = text[:pos] + chr(ch) + text[pos + 1 :]
    try:
        parsed = parse_any_cap(mutated)
    except CapabilityError:
        return
    assert parsed.to_string() in (mutated, mutated.rstrip("\n"))
