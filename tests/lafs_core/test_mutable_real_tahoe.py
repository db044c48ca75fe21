"""Shares a real Tahoe-LAFS 1.20 client wrote to real 1.20 storage nodes (tests/vectors/ssk.json).

Our SDMF and MDMF parsers validate them, our decoders return the uploaded
bytes, our encoders rebuild them byte for byte from (key, plaintext,
seqnum, IV or salts, signature), the stored write enablers are ours, and our
directory reader lists the real SDMF and MDMF directories exactly as the real
web API did.
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lafs_core import base32
from lafs_core.dirnode.caps import DirectoryCap, parse_dir_cap
from lafs_core.dirnode.children import visible_children
from lafs_core.dirnode.format import Entry, pack_children, unpack_children
from lafs_core.dirnode.listing_json import directory_json, render
from lafs_core.mutable import mdmf
from lafs_core.mutable.caps import MutableReadCap, MutableWriteCap, parse_mutable_cap
from lafs_core.mutable.keys import KeyPair, decrypt_privkey, write_enabler, write_enabler_master
from lafs_core.mutable.layout import SDMFShare
from lafs_core.mutable.sdmf import decode_version, encode_version, parse_and_check, recover_privkey

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
REAL: dict[str, Any] = VECTORS["real_grid"]


def raw_shares(stored: list[dict[str, Any]]) -> dict[int, bytes]:
    out = {}
    for s in stored:
        if "share" in s:
            raw = base64.b64decode(s["share"])
            assert hashlib.sha256(raw).hexdigest() == s["sha256"]
            out[s["shnum"]] = raw
    return out


def check_write_enablers(cap: MutableWriteCap, stored: list[dict[str, Any]]) -> None:
    wem = write_enabler_master(cap.writekey)
    assert sorted(s["shnum"] for s in stored) == list(range(10))
    for s in stored:
        tub_id = base32.a2b(REAL["tub_ids"][s["server"]])
        assert s["nodeid"] == base32.b2a(tub_id)
        assert s["write_enabler"] == base32.b2a(write_enabler(wem, tub_id))


def check_rebuilt(rebuilt: tuple[bytes, ...], stored: list[dict[str, Any]]) -> None:
    for s in stored:
        assert hashlib.sha256(rebuilt[s["shnum"]]).hexdigest() == s["sha256"]


SDMF_FILES = [f for f in REAL["files"] if f["cap"].startswith("URI:SSK:")]
MDMF_FILES = [f for f in REAL["files"] if f["cap"].startswith("URI:MDMF:")]


@pytest.mark.parametrize("f", SDMF_FILES, ids=lambda f: f["label"])
def test_real_sdmf_file(f: dict[str, Any]) -> None:
    cap = parse_mutable_cap(f["cap"])
    assert isinstance(cap, MutableWriteCap)
    shares: dict[int, SDMFShare] = {
        n: parse_and_check(raw, n, cap.fingerprint) for n, raw in raw_shares(f["shares"]).items()
    }
    assert len({sh.prefix for sh in shares.values()}) == 1
    plaintext = decode_version(shares, cap.readkey)
    assert hashlib.sha256(plaintext).hexdigest() == f["plaintext_sha256"]
    some = shares[0]
    keys = KeyPair(recover_privkey(cap.writekey, some), some.pubkey_der)
    assert MutableWriteCap.from_keypair(keys) == cap
    p = some.prefix
    rebuilt = encode_version(keys, plaintext, p.seqnum, p.k, p.n, iv=p.iv, signature=some.signature)
    check_rebuilt(rebuilt.shares, f["shares"])
    check_write_enablers(cap, f["shares"])
    if f["label"] == "small-rewritten":
        assert p.seqnum == 2


@pytest.mark.parametrize("f", MDMF_FILES, ids=lambda f: f["label"])
def test_real_mdmf_file(f: dict[str, Any]) -> None:
    cap = parse_mutable_cap(f["cap"])
    assert isinstance(cap, MutableWriteCap) and cap.format == "mdmf"
    shares = {}
    for n, raw in raw_shares(f["shares"]).items():
        share = mdmf.parse_share(raw)
        mdmf.check_share(share, n, cap.fingerprint)
        assert mdmf.pack_share(share) == raw  # including the zero gap before offset 2167
        shares[n] = share
    plaintext = mdmf.decode_version(shares, cap.readkey)
    assert hashlib.sha256(plaintext).hexdigest() == f["plaintext_sha256"]
    some = shares[0]
    der = decrypt_privkey(cap.writekey, some.enc_privkey)
    assert der is not None
    keys = KeyPair(der, some.pubkey_der)
    p = some.prefix
    salts = [salt for salt, _ in some.salts_and_blocks]
    rebuilt = mdmf.encode_version(keys, plaintext, p.seqnum, p.k, p.n, salts, some.signature)
    check_rebuilt(rebuilt.shares, f["shares"])
    check_write_enablers(cap, f["shares"])
    if f["label"].startswith("mdmf-3-segments"):
        assert p.num_segments == 3 and p.seqnum == 2


def _web_listing(listing: list[Any]) -> dict[str, list[Any]]:
    return {
        name: [info.get("rw_uri"), info.get("ro_uri"), info["metadata"]]
        for name, (_kind, info) in listing[1]["children"].items()
    }


def _directory_body(inner: MutableWriteCap, stored: list[dict[str, Any]]) -> bytes:
    raws = raw_shares(stored)
    if inner.format == "mdmf":
        parsed = {n: mdmf.parse_share(raw) for n, raw in raws.items()}
        for n, share in parsed.items():
            mdmf.check_share(share, n, inner.fingerprint)
        return mdmf.decode_version(parsed, inner.readkey)
    shares = {n: parse_and_check(raw, n, inner.fingerprint) for n, raw in raws.items()}
    return decode_version(shares, inner.readkey)


@pytest.mark.parametrize("which", ["directory", "mdmf_directory"])
def test_real_directory(which: str) -> None:
    d = REAL[which]
    dircap = parse_dir_cap(d["cap"])
    inner = dircap.inner
    assert isinstance(inner, MutableWriteCap)
    assert inner.format == ("mdmf" if which == "mdmf_directory" else "sdmf")
    body = _directory_body(inner, d["shares"])
    check_write_enablers(inner, d["shares"])

    entries = unpack_children(body, inner.writekey)
    ours = {n: [c.rw_uri, c.ro_uri, md] for n, (c, md) in visible_children(entries).items()}
    assert ours == _web_listing(d["listing"])
    # Repacking what we read gives the same body, also when every entry is re-encoded.
    assert pack_children(entries, inner.writekey) == body
    fresh = {n: Entry(e.name, e.ro_uri, e.rw_uri, e.metadata) for n, e in entries.items()}
    assert pack_children(fresh, inner.writekey) == body

    ro_cap = DirectoryCap(inner.readonly())
    assert ro_cap.to_string() == d["listing"][1]["ro_uri"]
    assert isinstance(ro_cap.inner, MutableReadCap)
    ro_entries = unpack_children(body, None)
    ro_ours = {n: [c.rw_uri, c.ro_uri, md] for n, (c, md) in visible_children(ro_entries).items()}
    assert ro_ours == _web_listing(d["ro_listing"])
    # `lafs ls --json` text: the web API's JSON, key order included (json keeps it).
    assert render(directory_json(dircap, visible_children(entries))) == render(d["listing"])
    assert render(directory_json(ro_cap, visible_children(ro_entries))) == render(d["ro_listing"])
