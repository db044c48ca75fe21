"""Our CHK encoder against the real Tahoe-LAFS 1.20: caps and share bytes, byte for byte.

tests/vectors/chk.json is written by tests/vectors/generate.py, which runs
real Tahoe 1.20 nodes (see tests/vectors/README.md); this test needs neither.
"""

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lafs_core import base32
from lafs_core.immutable.local import encode_bytes
from lafs_core.immutable.params import EncodingParams
from lafs_core.uri import CHKReadCap, parse_cap

from .immutable_helpers import read_back, stretch

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "chk.json").read_text())
CASES: list[dict[str, Any]] = VECTORS["cases"]


def test_the_file_covers_what_we_promise() -> None:
    assert VECTORS["tahoe_version"] == "1.20.0"
    chk = [c for c in CASES if c["cap"].startswith("URI:CHK:")]
    lit_sizes = {c["length"] for c in CASES if c["cap"].startswith("URI:LIT:")}
    assert len(chk) >= 120
    assert lit_sizes >= set(range(56))
    assert any(c["max_segment_size"] == 1048576 and c["length"] > 1048576 for c in chk)
    assert any(c["happy"] != c["k"] for c in chk)
    assert max(c["n"] for c in chk) == 256
    assert any(len(base32.a2b(c["convergence"])) != 16 for c in chk)
    assert all(len(c["shares"]) == c["n"] for c in chk)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    data = stretch(base64.b64decode(case["seed"]), case["length"])
    params = EncodingParams(case["k"], case["happy"], case["n"], case["max_segment_size"])
    cap, shares = encode_bytes(data, params, base32.a2b(case["convergence"]))
    assert cap.to_string() == case["cap"]
    assert parse_cap(case["cap"]) == cap
    got = {str(n): hashlib.sha256(share).hexdigest() for n, share in shares.items()}
    assert got == case["shares"]
    if isinstance(cap, CHKReadCap):
        last = sorted(shares)[-cap.k :]
        assert read_back(cap, {n: shares[n] for n in last}) == data
