"""Directory bodies, child classification and metadata against Tahoe 1.20 (ssk.json)."""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core.dirnode.caps import parse_dir_cap
from lafs_core.dirnode.children import make_child, visible_children
from lafs_core.dirnode.format import (
    CorruptDirectoryError,
    Entry,
    decrypt_rw_uri,
    dumps_metadata,
    encrypt_rw_uri,
    pack_children,
    tahoe_mac,
    unpack_children,
    update_metadata,
)
from lafs_core.mutable.caps import MutableWriteCap

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
D: dict[str, Any] = VECTORS["dirnode"]
WRITEKEY = parse_dir_cap(D["dir_write"]).inner.writekey  # type: ignore[union-attr]


def listing(children: dict[str, Entry], immutable: bool = False) -> dict[str, list[Any]]:
    """What Tahoe lists, as [write_uri, readonly_uri, metadata]."""
    return {
        n: [c.rw_uri, c.ro_uri, md] for n, (c, md) in visible_children(children, immutable).items()
    }


def entries_from_spec(immutable: bool) -> dict[str, Entry]:
    out = {}
    for name, rw, ro, md in D["children"]:
        child = make_child(rw, ro, immutable)
        if child.error or (immutable and not child.allowed_in_immutable_directory()):
            continue
        out[name] = Entry(name, child.ro_uri, child.rw_uri, md)
    return out


def test_mutable_body_is_byte_identical() -> None:
    assert pack_children(entries_from_spec(False), WRITEKEY).hex() == D["mutable_body"]


def test_immutable_body_is_byte_identical() -> None:
    body = pack_children(entries_from_spec(True), None, deep_immutable=True)
    assert body.hex() == D["immutable_body"]


def test_listing_with_write_cap() -> None:
    children = unpack_children(bytes.fromhex(D["mutable_body"]), WRITEKEY)
    assert listing(children) == D["listing_write"]


def test_listing_with_read_cap_hides_write_caps() -> None:
    children = unpack_children(bytes.fromhex(D["mutable_body"]), None)
    assert listing(children) == D["listing_read"]
    assert all(e.rw_uri is None for e in children.values())


def test_listing_of_immutable_directory() -> None:
    children = unpack_children(bytes.fromhex(D["immutable_body"]), None, mutable=False)
    assert listing(children, immutable=True) == D["listing_immutable"]


def test_unchanged_entries_repack_verbatim() -> None:
    body = bytes.fromhex(D["mutable_body"])
    children = unpack_children(body, WRITEKEY)
    assert pack_children(children, WRITEKEY) == body
    # Re-encoding from scratch gives the same bytes too (deterministic salts).
    fresh = {n: Entry(e.name, e.ro_uri, e.rw_uri, e.metadata) for n, e in children.items()}
    assert pack_children(fresh, WRITEKEY) == body


@pytest.mark.parametrize(
    "case", D["classify"], ids=lambda c: f"{c['rw']}|{c['ro']}|{c['immutable']}"[-60:]
)
def test_classification(case: dict[str, Any]) -> None:
    child = make_child(case["rw"], case["ro"], case["immutable"])
    assert (child.error is not None) == case["error"]
    if not case["error"]:
        assert child.is_unknown == case["unknown"]
        assert child.rw_uri == case["write_uri"]
        assert child.ro_uri == case["readonly_uri"]


@pytest.mark.parametrize("case", D["metadata"], ids=lambda c: f"{c['old']}->{c['new']}")
def test_metadata_update(case: dict[str, Any]) -> None:
    result = update_metadata(case["old"], case["new"], case["now"])
    assert result == case["result"]
    assert dumps_metadata(result).decode() == case["json"]


def test_rwcap_encryption_is_deterministic_and_reversible() -> None:
    cap = MutableWriteCap(b"\1" * 16, b"\2" * 32).to_string().encode()
    data = encrypt_rw_uri(WRITEKEY, cap)
    assert len(data) == 16 + len(cap) + 32
    assert encrypt_rw_uri(WRITEKEY, cap) == data
    assert decrypt_rw_uri(WRITEKEY, data) == cap
    assert len(encrypt_rw_uri(WRITEKEY, b"")) == 48
    assert decrypt_rw_uri(WRITEKEY, b"") == b""  # too short: Tahoe reads it as "no write cap"
    assert decrypt_rw_uri(b"\0" * 16, data) != cap
    # the MAC is not RFC 2104 HMAC: the key is not padded to 64 bytes
    import hmac as std_hmac

    assert tahoe_mac(b"k" * 16, b"x") != std_hmac.new(b"k" * 16, b"x", "sha256").digest()


def test_names_are_nfc_and_duplicates_take_the_last() -> None:
    body = pack_children({"e\u0301": Entry("e\u0301", "URI:LIT:mfqwc", None, {})}, WRITEKEY)
    children = unpack_children(body, WRITEKEY)
    assert list(children) == ["\u00e9"]
    twice = body + pack_children(
        {"\u00e9": Entry("\u00e9", "URI:LIT:mfqwcyi", None, {"n": 2})}, WRITEKEY
    )
    assert unpack_children(twice, WRITEKEY)["\u00e9"].metadata == {"n": 2}


@pytest.mark.parametrize(
    "body",
    [b"5:abc,", b"x:", b"3:abc", b"10:1:a,0:,0:,", b"17:1:a,0:,0:,2:[],", b"13:1:\xff,0:,0:,2:{},"],
)
def test_malformed_bodies(body: bytes) -> None:
    with pytest.raises(CorruptDirectoryError):
        unpack_children(body, WRITEKEY)


def test_write_caps_refused_in_immutable_directories() -> None:
    body = bytes.fromhex(D["mutable_body"])
    with pytest.raises(CorruptDirectoryError):
        unpack_children(body, None, mutable=False)


_names = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12)
_meta = st.dictionaries(
    st.text(max_size=5),
    st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    max_size=3,
)


@given(st.dictionaries(_names, _meta, max_size=6), st.booleans())
def test_round_trip(spec: dict[str, dict[str, Any]], with_rw: bool) -> None:
    entries = {
        name: Entry(name, "URI:LIT:mfqwc", "URI:SSK:x" if with_rw else None, md)
        for name, md in spec.items()
    }
    body = pack_children(entries, WRITEKEY)
    back = unpack_children(body, WRITEKEY)
    import unicodedata

    expected = {unicodedata.normalize("NFC", n): e for n, e in entries.items()}
    assert set(back) == set(expected)
    for name, e in back.items():
        assert e.ro_uri == "URI:LIT:mfqwc"
        assert e.rw_uri == ("URI:SSK:x" if with_rw else None)
        assert json.dumps(e.metadata) == json.dumps(expected[name].metadata)
    assert pack_children(back, WRITEKEY) == body


@given(st.binary(max_size=300))
def test_garbage_fails_cleanly(body: bytes) -> None:
    try:
        unpack_children(body, WRITEKEY)
    except CorruptDirectoryError:
        pass
