"""Directory bodies, child classification and metadata against Tahoe 1.20 (ssk.json)."""

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core.dirnode.caps import parse_dir_cap
from lafs_core.dirnode.children import list_body, make_child, visible_children
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
from lafs_core.netstring import netstring

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


@pytest.mark.parametrize(
    ("body", "writekey", "mutable"),
    [(D["mutable_body"], WRITEKEY, True), (D["mutable_body"], None, True)]
    + [(D["immutable_body"], None, False)],
)
def test_one_pass_listing_is_the_listing(body: str, writekey: bytes | None, mutable: bool) -> None:
    data = bytes.fromhex(body)
    listed = list_body(data, writekey, mutable)
    assert listed == visible_children(unpack_children(data, writekey, mutable), not mutable)
    for name, (child, _) in listed.items():  # immutable files parse their caps on first use
        assert child == make_child(child.rw_uri, child.ro_uri, not mutable), name
        assert child.cap == make_child(child.rw_uri, child.ro_uri, not mutable).cap


def test_listed_file_caps_are_parsed_on_use() -> None:
    chk = "URI:CHK:" + "a" * 26 + ":" + "a" * 52 + ":3:10:56"
    body = pack_children(
        {n: Entry(n, ro, None, {}) for n, ro in [("c", chk), ("l", "URI:LIT:mfqwc")]}, WRITEKEY
    )
    for name, (child, _) in list_body(body, WRITEKEY).items():
        assert "cap" not in vars(child)
        assert child.cap.to_string() == child.ro_uri and not child.is_mutable
        assert child.readonly() == child == make_child(None, child.ro_uri)
        assert hash(child) == hash(make_child(None, child.ro_uri)), name


def test_a_dropped_later_duplicate_hides_the_earlier_one() -> None:
    good = pack_children({"a": Entry("a", "URI:LIT:mfqwc", None, {})}, WRITEKEY)
    refused = _entry_bytes(b"a", b"ro.URI:SSK:" + b"a" * 10, b"", b"{}")
    for body in (good + refused, refused + good):
        expected = visible_children(unpack_children(body, WRITEKEY))
        assert list_body(body, WRITEKEY) == expected
        assert len(expected) == (body.endswith(good))


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
        for e in unpack_children(body, WRITEKEY).values():
            assert (e.rw_uri, e.metadata) is not None
    except CorruptDirectoryError:
        pass


def _entry_bytes(name: bytes, ro: bytes, rwcapdata: bytes, metadata: bytes) -> bytes:
    return netstring(b"".join(netstring(f) for f in (name, ro, rwcapdata, metadata)))


@pytest.mark.parametrize("metadata", [b"[]", b"{", b'{"a": 1} x', b"\xff", b""])
def test_bad_metadata_is_refused_when_used(metadata: bytes) -> None:
    good = pack_children({"a": Entry("a", "URI:LIT:mfqwc", None, {"n": 1})}, WRITEKEY)
    body = good + _entry_bytes(b"b", b"URI:LIT:mfqwc", b"", metadata)
    children = unpack_children(body, WRITEKEY)
    assert children["a"].metadata == {"n": 1}
    with pytest.raises(CorruptDirectoryError):
        children["b"].metadata  # noqa: B018
    with pytest.raises(CorruptDirectoryError):
        visible_children(children)  # a listing shows every child: it fails as Tahoe's does
    with pytest.raises(CorruptDirectoryError):
        list_body(body, WRITEKEY)
    assert pack_children(children, WRITEKEY) == body  # a change elsewhere keeps it verbatim


def test_bad_write_cap_is_refused_when_used() -> None:
    cap = MutableWriteCap(b"\1" * 16, b"\2" * 32).to_string()
    good = pack_children({"a": Entry("a", None, cap, {})}, WRITEKEY)
    bad = _entry_bytes(b"b", b"", encrypt_rw_uri(WRITEKEY, b"\xff\xfe"), b"{}")
    children = unpack_children(good + bad, WRITEKEY)
    assert children["a"].rw_uri == cap
    with pytest.raises(CorruptDirectoryError):
        children["b"].rw_uri  # noqa: B018
    with pytest.raises(CorruptDirectoryError):
        visible_children(children)
    with pytest.raises(CorruptDirectoryError):
        list_body(good + bad, WRITEKEY)
    read_only = list_body(good + bad, None)  # "b" is listed without a cap, as Tahoe does
    assert read_only == visible_children(unpack_children(good + bad, None))
    assert read_only["b"][0].is_unknown and read_only["b"][0].ro_uri is None
    # a read-only holder never decrypts: both entries show no write cap, nothing fails
    assert [e.rw_uri for e in unpack_children(good + bad, None).values()] == [None, None]


def test_metadata_is_parsed_once_and_write_caps_decrypted_once() -> None:
    cap = MutableWriteCap(b"\1" * 16, b"\2" * 32).to_string()
    body = pack_children({"a": Entry("a", None, cap, {"n": [1]})}, WRITEKEY)
    entry = unpack_children(body, WRITEKEY)["a"]
    assert entry.metadata is entry.metadata and entry.rw_uri is entry.rw_uri == cap
    changed = replace(entry, metadata={})  # as s3gw.index_node does
    assert (changed.rw_uri, changed.metadata, entry.metadata) == (cap, {}, {"n": [1]})


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(_json, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32-le"]), st.booleans())
def test_metadata_parses_as_json_loads(value: Any, encoding: str, spaced: bool) -> None:
    text = json.dumps({"v": value}, ensure_ascii=False)
    data = (f" {text}\n" if spaced else text).encode(encoding, "surrogatepass")
    body = _entry_bytes(b"a", b"", b"", data)
    try:
        expected = json.loads(data)
    except ValueError:
        with pytest.raises(CorruptDirectoryError):
            unpack_children(body, WRITEKEY)["a"].metadata  # noqa: B018
    else:
        assert json.dumps(unpack_children(body, WRITEKEY)["a"].metadata) == json.dumps(expected)
