"""`lafs cap` and `lafs debug encode`, run as the installed command."""

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from lafs_core import base32
from lafs_core.immutable.local import encode_bytes
from lafs_core.immutable.params import EncodingParams

SECRET = base32.b2a(b"a" * 16)


def lafs(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["lafs", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_cap_matches_the_spec_example(tmp_path: Path) -> None:
    f = tmp_path / "a56"
    f.write_bytes(b"a" * 56)
    out = lafs("cap", f, "--convergence-secret", SECRET, "-k", "3", "-n", "10")
    assert out.returncode == 0, out.stderr
    expected = "URI:CHK:hah7mxwfpqemm7icdh3hwsa5fa:6epvxt2uxh42obpnfn4wkrplqml7voh7aqpnqnapu7ffcyn2hk3q:3:10:56"  # noqa: E501
    assert out.stdout.splitlines()[-1] == expected


def test_cap_for_lit_and_default_parameters(tmp_path: Path) -> None:
    f = tmp_path / "small"
    f.write_bytes(b"hello")
    out = lafs("cap", f, "--convergence-secret", SECRET)
    assert out.stdout.splitlines()[-1] == "URI:LIT:nbswy3dp"
    big = tmp_path / "big"
    data = os.urandom(2 * 1024 * 1024 + 3)
    big.write_bytes(data)
    secret = os.urandom(32)  # a real node's secret is 32 bytes
    out = lafs("cap", big, "--convergence-secret", base32.b2a(secret) + "\n")
    expected, _ = encode_bytes(data, EncodingParams(), secret)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == expected.to_string()


def test_debug_encode_writes_the_shares(tmp_path: Path) -> None:
    f = tmp_path / "file"
    data = os.urandom(300_000)
    f.write_bytes(data)
    out = lafs(
        "debug",
        "encode",
        f,
        "--out",
        tmp_path / "shares",
        "--convergence-secret",
        SECRET,
        "-k",
        "2",
        "--happy",
        "3",
        "-n",
        "4",
        "--max-segment-size",
        "131072",
    )
    assert out.returncode == 0, out.stderr
    cap, shares = encode_bytes(data, EncodingParams(2, 3, 4, 131072), b"a" * 16)
    assert out.stdout.splitlines()[-1] == cap.to_string()
    written = {int(p.name): p.read_bytes() for p in (tmp_path / "shares").iterdir()}
    assert {n: hashlib.sha256(b).digest() for n, b in written.items()} == {
        n: hashlib.sha256(b).digest() for n, b in shares.items()
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["cap", "{missing}", "--convergence-secret", SECRET], "no such file"),
        (["cap", "{dir}", "--convergence-secret", SECRET], "not a regular file"),
        (
            ["cap", "{file}", "--convergence-secret", SECRET, "-k", "11"],
            "k must be between 1 and n",
        ),
        (["cap", "{file}", "--convergence-secret", SECRET, "-k", "0"], "k must be between 1 and n"),
        (["cap", "{file}", "--convergence-secret", SECRET, "-n", "300"], "n must be at most 256"),
        (["cap", "{file}", "--convergence-secret", SECRET, "--happy", "11"], "happy must be"),
        (
            ["cap", "{file}", "--convergence-secret", SECRET, "--max-segment-size", "0"],
            "segment size",
        ),
        (["cap", "{file}", "--convergence-secret", "NOT*BASE32"], "base32"),
        (["cap", "{file}"], "convergence secret"),
        (["cap", "{file}", "-k", "three"], "invalid int"),
        (["debug", "encode", "{file}", "--convergence-secret", SECRET], "--out"),
        (
            ["debug", "encode", "{file}", "--convergence-secret", SECRET, "--out", "{file}/x"],
            "cannot create",
        ),
    ],
)
def test_bad_input_gets_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    f = tmp_path / "file"
    f.write_bytes(b"x" * 100)
    paths = {"missing": tmp_path / "nope", "dir": tmp_path, "file": f}
    out = lafs(*[a.format(**paths) for a in args])
    assert out.returncode != 0
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr


def test_mutable_caps_from_a_private_key(tmp_path: Path) -> None:
    import json

    from cryptography.hazmat.primitives import serialization

    vectors = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
    for case in vectors["cases"][:2] + vectors["cases"][-2:]:
        key = serialization.load_pem_private_key(vectors["keys"][case["key"]].encode(), None)
        pkcs8 = key.private_bytes(  # the form `tahoe put --private-key-path` takes
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        pem = tmp_path / "key.pem"
        pem.write_bytes(pkcs8)
        out = lafs("cap", "--mutable", "--format", case["format"], "--private-key-path", pem)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [case["write"], case["read"], case["verify"]]
    bad = lafs("cap", "--mutable", "--private-key-path", tmp_path / "missing.pem")
    assert bad.returncode == 1 and "no such file" in bad.stderr
