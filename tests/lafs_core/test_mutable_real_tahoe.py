"""Shares a real Tahoe-LAFS 1.20 client wrote to real 1.20 storage nodes (tests/vectors/ssk.json).

Our SDMF parser validates them, our decoder returns the uploaded bytes, our
encoder rebuilds them byte for byte from (key, plaintext, seqnum, IV,
signature), the stored write enablers are ours, and our directory reader
lists the real directory exactly as the real web API did.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from lafs_core import base32
from lafs_core.dirnode.caps import DirectoryCap, parse_dir_cap
from lafs_core.dirnode.children import visible_children
from lafs_core.dirnode.format import Entry, pack_children, unpack_children
from lafs_core.mutable.caps import MutableReadCap, MutableWriteCap, parse_mutable_cap
from lafs_core.mutable.keys import KeyPair, write_enabler, write_enabler_master
from lafs_core.mutable.layout import SDMFShare
from lafs_core.mutable.sdmf import decode_version, encode_version, parse_and_check, recover_privkey

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
REAL: dict[str, Any] = VECTORS["real_grid"]


def read_shares(cap: MutableWriteCap, stored: list[dict[str, Any]]) -> dict[int, SDMFShare]:
    shares = {}
    for s in stored:
        shares[s["shnum"]] = parse_and_check(bytes.fromhex(s["share"]), s["shnum"], cap.fingerprint)
    assert sorted(shares) == list(range(10))
    assert len({sh.prefix for sh in shares.values()}) == 1
    return shares


def check_write_enablers(cap: MutableWriteCap, stored: list[dict[str, Any]]) -> None:
    wem = write_enabler_master(cap.writekey)
    for s in stored:
        tub_id = base32.a2b(REAL["tub_ids"][s["server"]])
        assert s["nodeid"] == base32.b2a(tub_id)
        assert s["write_enabler"] == base32.b2a(write_enabler(wem, tub_id))


@pytest.mark.parametrize("f", REAL["files"], ids=lambda f: f["label"])
def test_real_file(f: dict[str, Any]) -> None:
    cap = parse_mutable_cap(f["cap"])
    assert isinstance(cap, MutableWriteCap)
    shares = read_shares(cap, f["shares"])
    plaintext = bytes.fromhex(f["plaintext"])
    assert decode_version(dict(list(shares.items())[-3:]), cap.readkey) == plaintext
    some = shares[0]
    keys = KeyPair(recover_privkey(cap.writekey, some), some.pubkey_der)
    assert MutableWriteCap.from_keypair(keys) == cap
    p = some.prefix
    rebuilt = encode_version(keys, plaintext, p.seqnum, p.k, p.n, iv=p.iv, signature=some.signature)
    for s in f["shares"]:
        assert rebuilt.shares[s["shnum"]].hex() == s["share"]
    check_write_enablers(cap, f["shares"])
    if f["label"] == "small-rewritten":
        assert p.seqnum == 2


def _webvisible_children(listing: list[Any]) -> dict[str, list[Any]]:
    return {
        name: [info.get("rw_uri"), info.get("ro_uri"), info["metadata"]]
        for name, (_kind, info) in listing[1]["children"].items()
    }


def test_real_directory() -> None:
    d = REAL["directory"]
    dircap = parse_dir_cap(d["cap"])
    inner = dircap.inner
    assert isinstance(inner, MutableWriteCap)
    shares = read_shares(inner, d["shares"])
    body = decode_version(shares, inner.readkey)
    check_write_enablers(inner, d["shares"])

    entries = unpack_children(body, inner.writekey)
    ours = {n: [c.rw_uri, c.ro_uri, md] for n, (c, md) in visible_children(entries, False).items()}
    assert ours == _webvisible_children(d["listing"])
    # Repacking what we read gives the same body, also when every entry is re-encoded.
    assert pack_children(entries, inner.writekey) == body
    fresh = {n: Entry(e.name, e.ro_uri, e.rw_uri, e.metadata) for n, e in entries.items()}
    assert pack_children(fresh, inner.writekey) == body

    ro_cap = DirectoryCap(inner.readonly())
    assert ro_cap.to_string() == d["listing"][1]["ro_uri"]
    assert isinstance(ro_cap.inner, MutableReadCap)
    ro_entries = unpack_children(body, None)
    ro_ours = {
        n: [c.rw_uri, c.ro_uri, md] for n, (c, md) in visible_children(ro_entries, False).items()
    }
    assert ro_ours == _webvisible_children(d["ro_listing"])
