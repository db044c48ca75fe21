#!/usr/bin/env python3
"""Generate tests/vectors/ssk.json with the real Tahoe-LAFS 1.20.0 as the oracle.

Run with the interpreter of a virtualenv that has ``tahoe-lafs==1.20.0``::

    /opt/tahoe-venv/bin/python tests/vectors/generate_mutable.py [--out tests/vectors/ssk.json]

Everything it needs is in this directory: the 240 RSA-2048 keys of the
official Tahoe-LAFS SSK vectors, with the format each was used in and the cap
Tahoe printed, are in ``ssk_official.json``, which this script wrote once
from the official ``test_vectors.yaml`` (``--import-official PATH``). It
asks ``allmydata`` (the Tahoe-LAFS package, imported only here, never by the
project) for:

* ``cases``: for every official key, in the format of its official case, the
  write/read/verify caps (the write cap must equal the official one) and the
  six mutable directory caps built by ``allmydata.uri``, the key chain from
  ``allmydata.util.hashutil`` (writekey, readkey, storage index,
  fingerprint) and the write enabler for a fixed tub ID;
* ``extensions``: MDMF caps with trailing extension fields and what Tahoe
  re-serialises them to;
* ``rejects``: malformed cap strings that Tahoe's ``uri.from_string`` turns
  into an unknown cap (our parser must raise ``CapabilityError``);
* ``sdmf_shares`` and ``mdmf_shares``: whole SDMF and MDMF shares built by
  Tahoe's own publish pieces (``SDMFSlotWriteProxy``/``MDMFSlotWriteProxy``,
  ``CRSEncoder``, ``HashTree``, AES, tagged hashes) for a given key,
  plaintext, seqnum, IV or salts, k and N, with the (randomised) PSS
  signature Tahoe made; a re-implementation given the same inputs and
  that signature must produce byte-identical shares (SHA-256 per share, and
  share 0 in full for the small ones);
* ``dirnode``: directory bodies packed by Tahoe's ``dirnode.pack_children``
  (mutable, with child write caps encrypted under the directory's writekey,
  and immutable), the listing Tahoe's ``DirectoryNode._unpack_contents``
  gives for them with the write cap and with the read cap, how Tahoe's
  node maker classifies (write, read) cap pairs in mutable and immutable
  contexts (known, unknown with its ``ro.``/``imm.`` slots, or refused), and
  ``dirnode.update_metadata`` results;
* ``real_grid`` (skip with ``--no-real-grid``): shares written by a real
  Tahoe-LAFS 1.20 client to real 1.20 storage nodes on loopback (the node
  set-up of ``generate.py`` in this directory is reused): SDMF and MDMF
  files (some rewritten, some empty, one of three MDMF segments) and an
  SDMF and an MDMF directory with several kinds of children made through
  the web API,
  each share as the container holds it
  (SHA-256 of the share bytes, the bytes themselves in base64 for small
  shares and shares 0-3 of large ones, write enabler, node id), plus the
  web API's JSON listing of
  the directory with its write cap and its read cap.
"""

# mypy: disable-error-code="import-not-found"
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import struct
from pathlib import Path

from allmydata import dirnode, uri
from allmydata.codec import CRSEncoder
from allmydata.crypto import aes, rsa
from allmydata.hashtree import HashTree
from allmydata.mutable.layout import MDMFSlotWriteProxy, SDMFSlotWriteProxy
from allmydata.nodemaker import NodeMaker
from allmydata.util import base32, hashutil, mathutil
from cryptography.hazmat.primitives import serialization

FORMAT = "lafs-s3gw-ssk-vectors/1"
TAHOE_VERSION = "1.20.0"
HERE = Path(__file__).resolve().parent
OFFICIAL = HERE / "ssk_official.json"
TUB_ID = bytes(range(20))  # the server seed the write enablers are computed for

# (name, key index, seed, length, seqnum, IV byte, k, N)
SDMF_SHARE_CASES = [
    ("empty-k3n10", 0, b"", 0, 1, 0x11, 3, 10),
    ("a1-k3n10", 1, b"a", 1, 1, 0x22, 3, 10),
    ("a56-k3n10", 2, b"a", 56, 1, 0x33, 3, 10),
    ("abc1000-k1n1", 3, b"abc", 1000, 5, 0x44, 1, 1),
    ("abc1000-k2n3", 4, b"abc", 1000, 2, 0x55, 2, 3),
    ("xyz10000-k3n10", 5, b"xyz", 10000, 7, 0x66, 3, 10),
    ("q4097-k71n255", 6, b"q", 4097, 1, 0x77, 71, 255),
    ("q100000-k25n100", 7, b"q", 100000, 1, 0x88, 25, 100),
    ("q999-k1n255-seq-big", 8, b"q", 999, 2**40 + 3, 0x99, 1, 255),
    ("json300-k3n7", 9, b'{"a": 1}', 300, 3, 0xAA, 3, 7),
]
# (name, key index, seed, length, seqnum, k, N): MDMF, segments of next_multiple(131072, k)
MDMF_SHARE_CASES = [
    ("empty-k3n10", 10, b"", 0, 1, 3, 10),
    ("a1-k3n10", 11, b"a", 1, 1, 3, 10),
    ("abc1000-k2n3", 12, b"abc", 1000, 4, 2, 3),
    ("q131073-k3n10-one-full-segment", 13, b"q", 131073, 1, 3, 10),
    ("q131074-k3n10-tail-of-1", 14, b"q", 131074, 1, 3, 10),
    ("xyz300000-k3n10", 15, b"xyz", 300000, 9, 3, 10),
    ("q400000-k1n1", 16, b"q", 400000, 1, 1, 1),
    ("q270000-k71n255", 17, b"q", 270000, 2, 71, 255),
]
FULL_SHARE_LIMIT = 4000  # record share 0 in full when it is at most this long


def stretch(seed: bytes, length: int) -> bytes:
    if not seed:
        return b""
    return (seed * (length // len(seed) + 1))[:length]


def import_official(yaml_path: Path) -> None:
    """Copy the SSK cases (format, private key, expected cap) of the official vectors."""
    import yaml

    doc = yaml.safe_load(yaml_path.read_text())
    cases = [
        {
            "format": v["format"]["params"]["format"],
            "key": v["format"]["params"]["key"],
            "expected": v["expected"],
        }
        for v in doc["vector"]
        if v["format"]["kind"] == "ssk"
    ]
    out = {
        "format": "lafs-s3gw-ssk-official/1",
        "source": f"tahoe-lafs test_vectors.yaml, version {doc['version']}, SSK cases in order",
        "cases": cases,
    }
    OFFICIAL.write_text(json.dumps(out, indent=0) + "\n")


def load_official() -> list[tuple[str, str, bytes, str]]:
    """(format, PEM, PKCS#8 DER, expected write cap) of every official SSK case."""
    out = []
    for c in json.loads(OFFICIAL.read_text())["cases"]:
        key = serialization.load_pem_private_key(c["key"].encode(), None)
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        out.append((c["format"], c["key"], der, c["expected"]))
    return out


def s(cap: object) -> str:
    return str(cap.to_string().decode("ascii"))  # type: ignore[attr-defined]


def cap_case(index: int, fmt: str, der: bytes, expected: str) -> dict[str, object]:
    priv, pub = rsa.create_signing_keypair_from_string(der)
    priv_der = rsa.der_string_from_signing_key(priv)
    pub_der = rsa.der_string_from_verifying_key(pub)
    writekey = hashutil.ssk_writekey_hash(priv_der)
    fingerprint = hashutil.ssk_pubkey_fingerprint_hash(pub_der)
    if fmt == "sdmf":
        wcap = uri.WriteableSSKFileURI(writekey, fingerprint)
        dcap = uri.DirectoryURI(wcap)
    else:
        wcap = uri.WriteableMDMFFileURI(writekey, fingerprint)
        dcap = uri.MDMFDirectoryURI(wcap)
    # Round-trip through Tahoe's parser too, to be sure it accepts what it printed.
    assert s(uri.from_string(s(wcap))) == s(wcap)
    if s(wcap) != expected:
        raise SystemExit(
            f"key {index}: Tahoe 1.20 printed {s(wcap)}, the official vector {expected}"
        )
    readkey = hashutil.ssk_readkey_hash(writekey)
    return {
        "name": f"{fmt}-key{index}",
        "key": index,
        "format": fmt,
        "writekey": base32.b2a(writekey).decode(),
        "readkey": base32.b2a(readkey).decode(),
        "storage_index": base32.b2a(hashutil.ssk_storage_index_hash(readkey)).decode(),
        "fingerprint": base32.b2a(fingerprint).decode(),
        "write_enabler": base32.b2a(hashutil.ssk_write_enabler_hash(writekey, TUB_ID)).decode(),
        "write": s(wcap),
        "read": s(wcap.get_readonly()),
        "verify": s(wcap.get_verify_cap()),
        "dir_write": s(dcap),
        "dir_read": s(dcap.get_readonly()),
        "dir_verify": s(dcap.get_verify_cap()),
    }


def extension_cases(cases: list[dict[str, object]]) -> list[dict[str, str]]:
    out = []
    mdmf = [c for c in cases if c["format"] == "mdmf"][:3]
    for c in mdmf:
        for kind in ("write", "read", "verify", "dir_write", "dir_read", "dir_verify"):
            for tail in (":3:131073", ":1:2:3:4", ":"):
                given = str(c[kind]) + tail
                parsed = uri.from_string(given)
                assert not isinstance(parsed, uri.UnknownURI), given
                out.append({"given": given, "tahoe": s(parsed)})
    return out


def reject_cases(cases: list[dict[str, object]]) -> list[str]:
    sdmf = str(cases[0]["write"])
    mdmf = next(str(c["write"]) for c in cases if c["format"] == "mdmf")
    wk, fp = sdmf.split(":")[2:4]
    bad_last_16 = wk[:-1] + ("b" if wk[-1] != "b" else "c")
    candidates = [
        sdmf + ":3:131073",  # SDMF caps take no extension fields
        sdmf + "x",
        sdmf[:-1],
        sdmf.upper(),
        f"URI:SSK:{bad_last_16}:{fp}",
        f"URI:SSK:{wk}:{fp[:-1]}b",
        f"URI:SSK:{wk}",
        f"URI:SSK:{wk}:{fp}:",
        f"URI:SSK-RO:{wk}:{fp[:50]}",
        f"URI:SSK-Verifier:{wk}1:{fp}",
        f"URI:MDMF:{wk}:{fp}x",
        f"URI:MDMF:{wk[:-1]}:{fp}",
        "URI:MDMF:",
        "URI:DIR2:" + sdmf[len("URI:SSK:") :] + "x",
        "URI:DIR2-MDMF:" + mdmf[len("URI:MDMF:") : -1],
        "ro." + sdmf,  # a write cap claimed read-only
        "imm." + mdmf,
        "imm.URI:DIR2-RO:" + sdmf[len("URI:SSK:") :],
    ]
    rejected = []
    for text in candidates:
        if isinstance(uri.from_string(text), uri.UnknownURI):
            rejected.append(text)
        else:
            raise SystemExit(f"expected Tahoe to reject {text!r}")
    return rejected


class _Capture:
    """Stands in for a storage server: keeps the one write SDMF publish makes."""

    def __init__(self) -> None:
        self.data = b""

    def slot_testv_and_readv_and_writev(self, si, secrets, tw_vectors, readv):  # type: ignore[no-untyped-def]
        ((_testv, datav, _new_length),) = tw_vectors.values()
        ((offset, data),) = datav
        assert offset == 0
        self.data = data


def sdmf_share_case(case: tuple, der: bytes) -> dict[str, object]:  # type: ignore[type-arg]
    """Build every share of one SDMF version the way Tahoe's Publish does, with its code."""
    name, key_index, seed, length, seqnum, iv_byte, k, n = case
    plaintext = stretch(seed, length)
    iv = bytes([iv_byte]) * 16
    priv, pub = rsa.create_signing_keypair_from_string(der)
    priv_der = rsa.der_string_from_signing_key(priv)
    pub_der = rsa.der_string_from_verifying_key(pub)
    writekey = hashutil.ssk_writekey_hash(priv_der)
    readkey = hashutil.ssk_readkey_hash(writekey)
    encprivkey = aes.encrypt_data(aes.create_encryptor(writekey), priv_der)
    segsize = mathutil.next_multiple(len(plaintext), k)
    writers = [
        SDMFSlotWriteProxy(
            i, _Capture(), b"\0" * 16, (b"", b"", b""), seqnum, k, n, segsize, len(plaintext)
        )
        for i in range(n)
    ]
    blockhashes: list[list[bytes]] = [[] for _ in range(n)]
    if plaintext:
        key = hashutil.ssk_readkey_data_hash(iv, readkey)
        crypttext = aes.encrypt_data(aes.create_encryptor(key), plaintext)
        fec = CRSEncoder()
        fec.set_params(segsize, k, n)
        piece = fec.get_block_size()
        pieces = [crypttext[i * piece : (i + 1) * piece].ljust(piece, b"\0") for i in range(k)]
        ids = list(range(n))
        blocks = fec.encoder.encode(pieces, ids)  # what CRSEncoder.encode runs, minus the thread
        for i, block in zip(ids, blocks):
            writers[i].put_block(block, 0, iv)
            blockhashes[i].append(hashutil.block_hash(block))
    else:
        for w in writers:
            w.put_salt(iv)
    leaves = []
    for i, w in enumerate(writers):
        w.put_encprivkey(encprivkey)
        tree = HashTree(blockhashes[i])
        w.put_blockhashes(list(tree))
        leaves.append(tree[0])
    share_tree = HashTree(leaves)
    for i, w in enumerate(writers):
        w.put_sharehashes({j: share_tree[j] for j in share_tree.needed_hashes(i)})
        w.put_root_hash(share_tree[0])
    signature = rsa.sign_data(priv, writers[0].get_signable())
    shares = []
    for w in writers:
        w.put_signature(signature)
        w.put_verification_key(pub_der)
        w.finish_publishing()
        shares.append(w._storage_server.data)
    assert struct.unpack(">B", shares[0][:1]) == (0,)
    out: dict[str, object] = {
        "name": name,
        "key": key_index,
        "seed": base64.b64encode(seed).decode(),
        "length": length,
        "seqnum": seqnum,
        "iv": iv.hex(),
        "k": k,
        "n": n,
        "root_hash": share_tree[0].hex(),
        "signature": signature.hex(),
        "shares": [hashlib.sha256(sh).hexdigest() for sh in shares],
    }
    if len(shares[0]) <= FULL_SHARE_LIMIT:
        out["share0"] = shares[0].hex()
    return out


CHK = (
    "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56"
)
CHK_VERIFY = (
    "URI:CHK-Verifier:"
    + "ydrcnhttqtw6gi5nxt2o4xt4sm:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:1:1:56"
)
LIT = "URI:LIT:mfqwcylbmfqwcylbmfqwcylbmfqwcylbmfqwcylb"


def _node_maker() -> NodeMaker:
    params = {"k": 3, "happy": 7, "n": 10, "max_segment_size": 131072}
    return NodeMaker(None, None, None, None, None, params, None, None)


def _b(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


def _t(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8")


def dirnode_section(cases: list[dict[str, object]]) -> dict[str, object]:
    """Bodies, listings, cap-pair classification and metadata updates, all from Tahoe."""
    sd = [c for c in cases if c["format"] == "sdmf"]
    md = [c for c in cases if c["format"] == "mdmf"]
    nm = _node_maker()
    dir_write, dir_read = str(sd[0]["dir_write"]), str(sd[0]["dir_read"])
    backing = nm.create_from_cap(_b(str(sd[0]["write"])))
    writekey = backing.get_writekey()
    # (name, rw, ro, metadata); names include NFD, CJK, emoji; caps include unknown ones.
    children = [
        ("file.txt", None, CHK, {"mtime": 1732512345.123456, "ctime": 1.0}),
        ("lit", LIT, None, {}),
        ("e\u0301te\u0301", None, LIT, {"tags": ["a", "\u00e9", 3], "nested": {"x": None}}),
        ("\u65e5\u672c\u8a9e.txt", None, CHK, {"\u30ad\u30fc": "\u5024"}),
        (
            "\U0001f600 smile",
            str(sd[1]["write"]),
            str(sd[1]["read"]),
            {"tahoe": {"linkcrtime": 5.5, "linkmotime": 6.25}},
        ),
        ("subdir", str(sd[2]["dir_write"]), str(sd[2]["dir_read"]), {}),
        ("ro-subdir", None, str(sd[3]["dir_read"]), {"no-write": True}),
        ("mdmf-file", str(md[4]["write"]), None, {}),
        ("mdmf-dir", str(md[5]["dir_write"]), None, {}),
        ("future", "x-tahoe-future:rw-part", "x-tahoe-future:ro-part", {}),
        ("future-ro", None, "x-tahoe-future:ro-only", {}),
        ("future-imm", None, "imm.x-tahoe-future:imm-only", {}),
        ("ssk-verifier", None, str(sd[6]["verify"]), {}),
        ("dir-chk", None, "URI:DIR2-CHK:" + CHK[len("URI:CHK:") :], {}),
        ("dir-lit", None, "URI:DIR2-LIT:" + LIT[len("URI:LIT:") :], {}),
    ]
    nodes = {
        name: (nm.create_from_cap(_b(rw), _b(ro), name=name), m) for name, rw, ro, m in children
    }
    mutable_body = dirnode.pack_children(nodes, writekey)
    imm_nodes = {
        name: (nm.create_from_cap(_b(rw), _b(ro), deep_immutable=True, name=name), m)
        for name, rw, ro, m in children
    }
    imm_nodes = {
        k: v
        for k, v in imm_nodes.items()
        if v[0].is_allowed_in_immutable_directory() and not getattr(v[0], "error", None)
    }
    immutable_body = dirnode.pack_children(imm_nodes, None, deep_immutable=True)

    def listing(dircap: str, body: bytes) -> dict[str, object]:
        d = nm.create_from_cap(_b(dircap))
        assert isinstance(d, dirnode.DirectoryNode), dircap
        kids = d._unpack_contents(body)
        return {
            name: [_t(n.get_write_uri()), _t(n.get_readonly_uri()), m]
            for name, (n, m) in kids.items()
        }

    imm_dircap = "URI:DIR2-CHK:" + CHK[len("URI:CHK:") :]
    pairs = [(rw, ro) for _, rw, ro, _ in children] + [
        ("ro." + str(sd[0]["write"]), None),
        ("imm." + str(sd[0]["write"]), None),
        (None, "ro." + str(sd[0]["write"])),
        (str(sd[0]["write"]) + "x", None),
        (None, str(sd[0]["write"])[:-1]),
        ("x-tahoe-future:rw-only", None),
        ("ro.x-tahoe-future:rw-ro", None),
        ("imm.x-tahoe-future:rw-imm", None),
        ("x-tahoe-future:rw", "imm.x-tahoe-future:ro"),
        ("x-tahoe-future:rw", "ro.x-tahoe-future:ro"),
        (None, "URI:SSK-RO:" + "a" * 26),
        ("URI:FUTURE:xyz", "URI:FUTURE-RO:xyz"),
        (None, None),
        (None, "URI:DIR2-Verifier:" + str(sd[0]["verify"])[len("URI:SSK-Verifier:") :]),
    ]
    classified = []
    for rw, ro in pairs:
        for deep in (False, True):
            node = nm.create_from_cap(_b(rw), _b(ro), deep_immutable=deep, name="x")
            error = getattr(node, "error", None) if hasattr(node, "error") else None
            unknown = type(node).__name__ == "UnknownNode"
            classified.append({
                "rw": rw, "ro": ro, "immutable": deep, "unknown": unknown,
                "error": error is not None,
                "write_uri": None if error else _t(node.get_write_uri()),
                "readonly_uri": None if error else _t(node.get_readonly_uri()),
            })  # fmt: skip
    metadata_cases = []
    olds = [
        None,
        {},
        {"ctime": 3.0},
        {"a": 1, "tahoe": {"linkcrtime": 1.5, "linkmotime": 2.5}},
        {"tahoe": {"linkmotime": 9.0}, "ctime": 4.0},
    ]
    news = [None, {}, {"b": "\u00e9"}, {"tahoe": {"linkcrtime": 0.0}, "c": [1, 2]}]
    for old in olds:
        for new in news:
            got = dirnode.update_metadata(
                None if old is None else json.loads(json.dumps(old)), new, 1732512345.25
            )
            metadata_cases.append(
                {
                    "old": old,
                    "new": new,
                    "now": 1732512345.25,
                    "result": got,
                    "json": json.dumps(got),
                }
            )
    return {
        "dir_write": dir_write,
        "dir_read": dir_read,
        "children": [list(c) for c in children],
        "mutable_body": mutable_body.hex(),
        "immutable_dircap": imm_dircap,
        "immutable_body": immutable_body.hex(),
        "listing_write": listing(dir_write, mutable_body),
        "listing_read": listing(dir_read, mutable_body),
        "listing_immutable": listing(imm_dircap, immutable_body),
        "classify": classified,
        "metadata": metadata_cases,
    }


MUTABLE_DATA_OFFSET = 468  # share bytes start here in a mutable container


def _web(port: int, method: str, path: str, body: bytes | None = None) -> bytes:
    import urllib.request

    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    with urllib.request.urlopen(req, timeout=300) as r:
        return bytes(r.read())


def _collect_mutable(grid: object, cap: str) -> list[dict[str, object]]:
    """Every container holding a share of `cap`, unwrapped (share bytes, WE, node id)."""
    si = base32.b2a(uri.from_string(cap.encode()).get_storage_index()).decode()
    out = []
    for node in grid.storage:  # type: ignore[attr-defined]
        sidir = node.basedir / "storage" / "shares" / si[:2] / si
        if not sidir.is_dir():
            continue
        for f in sorted(sidir.iterdir(), key=lambda p: int(p.name)):
            raw = f.read_bytes()
            (length,) = struct.unpack(">Q", raw[84:92])
            share = raw[MUTABLE_DATA_OFFSET : MUTABLE_DATA_OFFSET + length]
            entry = {
                "server": node.basedir.name,
                "shnum": int(f.name),
                "nodeid": base32.b2a(raw[32:52]).decode(),
                "write_enabler": base32.b2a(raw[52:84]).decode(),
                "sha256": hashlib.sha256(share).hexdigest(),
            }
            if len(share) <= FULL_SHARE_LIMIT * 2 or int(f.name) < 4:
                entry["share"] = base64.b64encode(share).decode()  # k=3 plus one spare
            out.append(entry)
    return out


def real_grid_section(tahoe: str) -> dict[str, object]:
    """Files and a directory written by a real 1.20 client to real storage nodes."""
    import sys
    import tempfile
    import types
    import urllib.parse

    sys.path.insert(0, str(HERE))
    import generate as chk_generator  # the CHK generator's node set-up, reused

    work = Path(tempfile.mkdtemp(prefix="lafs-ssk-vectors-"))
    grid = chk_generator.Grid(tahoe, work, 5)
    q = urllib.parse.quote
    try:
        grid.create()
        grid.start_storage()
        case = types.SimpleNamespace(
            group="ssk", convergence=b"\0" * 16, k=3, happy=3, n=10, max_segment_size=131072
        )
        grid.configure_client(case)
        port = grid.web_port
        files = []
        for label, versions in [
            (
                "small-rewritten",
                [b"first version of a mutable file\n", b"second, longer version " * 300],
            ),
            ("empty", [b""]),
            ("binary-10k", [bytes(range(256)) * 40]),
            ("mdmf-small", [b"a small MDMF file"]),
            ("mdmf-3-segments-rewritten", [b"one", (bytes(range(251)) * 1045)[:262147]]),
            ("mdmf-empty", [b""]),
        ]:
            fmt = "MDMF" if label.startswith("mdmf") else "SDMF"
            cap = _web(port, "PUT", f"/uri?format={fmt}", versions[0]).decode().strip()
            for data in versions[1:]:
                _web(port, "PUT", f"/uri/{q(cap)}", data)
            files.append({"label": label, "cap": cap,
                          "plaintext_sha256": hashlib.sha256(versions[-1]).hexdigest(),
                          "length": len(versions[-1]),
                          "shares": _collect_mutable(grid, cap)})  # fmt: skip
        chk = _web(
            port, "PUT", "/uri", b"an immutable child file, long enough for CHK " * 3
        ).decode()
        dircap = _web(port, "POST", "/uri?t=mkdir&format=SDMF").decode().strip()
        base = f"/uri/{q(dircap)}"
        _web(port, "PUT", f"{base}/{q('file.txt')}?t=uri", chk.encode())
        _web(
            port, "PUT", f"{base}/{q('e' + chr(0x301) + 'te' + chr(0x301))}?t=uri", b"URI:LIT:mfqwc"
        )
        cjk = chr(0x65E5) + chr(0x672C) + ".txt"
        _web(port, "PUT", f"{base}/{q(cjk)}?t=uri", str(files[0]["cap"]).encode())
        _web(port, "POST", f"{base}?t=mkdir&name=sub")
        empty_ro = json.loads(_web(port, "GET", f"/uri/{q(str(files[1]['cap']))}?t=json"))[1][
            "ro_uri"
        ]
        future_md = {"key": "v\u00e4lue", "list": [1, 2.5]}
        children = {
            "future": [
                "unknown",
                {
                    "rw_uri": "x-tahoe-future:rw",
                    "ro_uri": "x-tahoe-future:ro",
                    "metadata": future_md,
                },
            ],
            "ro-file": ["filenode", {"ro_uri": empty_ro}],
        }
        _web(port, "POST", f"{base}?t=set_children", json.dumps(children).encode())
        _web(port, "PUT", f"{base}/{q('file.txt')}?t=uri&replace=true", chk.encode())  # relink
        listing = json.loads(_web(port, "GET", f"{base}?t=json"))
        ro_cap = listing[1]["ro_uri"]
        ro_listing = json.loads(_web(port, "GET", f"/uri/{q(ro_cap)}?t=json"))
        directory = {
            "cap": dircap,
            "listing": listing,
            "ro_listing": ro_listing,
            "shares": _collect_mutable(grid, dircap),
        }
        mdmf_cap = _web(port, "POST", "/uri?t=mkdir&format=MDMF").decode().strip()
        mbase = f"/uri/{q(mdmf_cap)}"
        _web(port, "PUT", f"{mbase}/{q('file.txt')}?t=uri", chk.encode())
        _web(port, "PUT", f"{mbase}/{q('mdmf-file')}?t=uri", str(files[3]["cap"]).encode())
        _web(port, "POST", f"{mbase}?t=mkdir&name=sub&format=MDMF")
        _web(port, "POST", f"{mbase}?t=set_children", json.dumps(children).encode())
        mdmf_listing = json.loads(_web(port, "GET", f"{mbase}?t=json"))
        mdmf_directory = {
            "cap": mdmf_cap,
            "listing": mdmf_listing,
            "ro_listing": json.loads(
                _web(port, "GET", f"/uri/{q(mdmf_listing[1]['ro_uri'])}?t=json")
            ),
            "shares": _collect_mutable(grid, mdmf_cap),
        }
        tubs = {}
        for node in grid.storage:
            furl = (node.basedir / "private" / "storage.furl").read_text().strip()
            tubs[node.basedir.name] = furl.split("//", 1)[1].split("@", 1)[0]
        return {
            "files": files,
            "directory": directory,
            "mdmf_directory": mdmf_directory,
            "tub_ids": tubs,
        }
    finally:
        grid.shutdown()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


class _ApplyWrites:
    """A storage server stand-in that applies MDMF's write vectors to one share."""

    def __init__(self) -> None:
        self.data = bytearray()

    def slot_testv_and_readv_and_writev(self, si, secrets, tw_vectors, readv):  # type: ignore[no-untyped-def]
        from twisted.internet import defer

        ((_testv, datav, _new_length),) = tw_vectors.values()
        for offset, data in datav:
            if len(self.data) < offset + len(data):
                self.data.extend(bytes(offset + len(data) - len(self.data)))
            self.data[offset : offset + len(data)] = data
        return defer.succeed((True, {}))


def mdmf_share_case(case: tuple, der: bytes) -> dict[str, object]:  # type: ignore[type-arg]
    """Build every share of one MDMF version the way Tahoe's Publish does, with its code."""
    name, key_index, seed, length, seqnum, k, n = case
    plaintext = stretch(seed, length)
    priv, pub = rsa.create_signing_keypair_from_string(der)
    priv_der = rsa.der_string_from_signing_key(priv)
    pub_der = rsa.der_string_from_verifying_key(pub)
    writekey = hashutil.ssk_writekey_hash(priv_der)
    readkey = hashutil.ssk_readkey_hash(writekey)
    encprivkey = aes.encrypt_data(aes.create_encryptor(writekey), priv_der)
    segsize = mathutil.next_multiple(131072, k)
    nseg = mathutil.div_ceil(len(plaintext), segsize)
    servers = [_ApplyWrites() for _ in range(n)]
    writers = [
        MDMFSlotWriteProxy(
            i, servers[i], b"\0" * 16, (b"", b"", b""), seqnum, k, n, segsize, len(plaintext)
        )
        for i in range(n)
    ]
    blockhashes: list[list[bytes]] = [[] for _ in range(n)]
    salts = []
    for segnum in range(nseg):
        salt = hashlib.sha256(b"salt %d of %s" % (segnum, name.encode())).digest()[:16]
        salts.append(salt)
        chunk = plaintext[segnum * segsize : (segnum + 1) * segsize]
        key = hashutil.ssk_readkey_data_hash(salt, readkey)
        crypttext = aes.encrypt_data(aes.create_encryptor(key), chunk)
        fec = CRSEncoder()
        fec.set_params(len(chunk), k, n)
        piece = fec.get_block_size()
        pieces = [crypttext[i * piece : (i + 1) * piece].ljust(piece, b"\0") for i in range(k)]
        blocks = fec.encoder.encode(pieces, list(range(n)))
        for i, block in enumerate(blocks):
            writers[i].put_block(block, segnum, salt)
            blockhashes[i].append(hashutil.block_hash(salt + block))
    leaves = []
    for i, w in enumerate(writers):
        w.put_encprivkey(encprivkey)
        tree = HashTree(blockhashes[i])
        w.put_blockhashes(list(tree))
        leaves.append(tree[0])
    share_tree = HashTree(leaves)
    for i, w in enumerate(writers):
        w.put_sharehashes({j: share_tree[j] for j in share_tree.needed_hashes(i)})
        w.put_root_hash(share_tree[0])
    signature = rsa.sign_data(priv, writers[0].get_signable())
    for w in writers:
        w.put_signature(signature)
        w.put_verification_key(pub_der)
        w.finish_publishing()
    shares = [bytes(s.data) for s in servers]
    assert shares[0][:1] == b"\1"
    out: dict[str, object] = {
        "name": name,
        "key": key_index,
        "seed": base64.b64encode(seed).decode(),
        "length": length,
        "seqnum": seqnum,
        "salts": [s.hex() for s in salts],
        "k": k,
        "n": n,
        "root_hash": share_tree[0].hex(),
        "signature": signature.hex(),
        "shares": [hashlib.sha256(sh).hexdigest() for sh in shares],
    }
    if len(shares[0]) <= FULL_SHARE_LIMIT:
        out["share0"] = shares[0].hex()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(HERE / "ssk.json"))
    ap.add_argument("--tahoe", default=str(Path(__import__("sys").executable).with_name("tahoe")))
    ap.add_argument("--no-real-grid", action="store_true", help="skip the real-grid section")
    ap.add_argument(
        "--import-official",
        metavar="YAML",
        type=Path,
        help=f"first rewrite {OFFICIAL.name} from Tahoe's official test_vectors.yaml",
    )
    args = ap.parse_args()
    if args.import_official:
        import_official(args.import_official)
    official = load_official()
    keys = [(pem, der) for _fmt, pem, der, _expected in official]
    cases = [
        cap_case(i, fmt, der, expected) for i, (fmt, _pem, der, expected) in enumerate(official)
    ]
    doc = {
        "format": FORMAT,
        "tahoe_version": TAHOE_VERSION,
        "tub_id": base32.b2a(TUB_ID).decode(),
        "keys": [pem for pem, _der in keys],
        "cases": cases,
        "extensions": extension_cases(cases),
        "rejects": reject_cases(cases),
        "sdmf_shares": [sdmf_share_case(c, keys[c[1]][1]) for c in SDMF_SHARE_CASES],
        "mdmf_shares": [mdmf_share_case(c, keys[c[1]][1]) for c in MDMF_SHARE_CASES],
        "dirnode": dirnode_section(cases),
    }
    if not args.no_real_grid:
        doc["real_grid"] = real_grid_section(args.tahoe)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=0)
        f.write("\n")
    shares = len(SDMF_SHARE_CASES) + len(MDMF_SHARE_CASES)
    print(f"wrote {len(cases)} cap cases and {shares} share cases to {args.out}")


if __name__ == "__main__":
    main()
