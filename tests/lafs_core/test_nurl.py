"""NURL parsing/formatting and SPKI hashes (lafs_core.nurl)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core.nurl import NURL, NURLError, format_nurl, parse_nurl, pins_equal, spki_hash_of_cert

# Certificate / SPKI-hash pairs from Tahoe-LAFS's spki-hash-test-vectors.yaml
# (an RSA-2048 and an Ed25519 certificate).
VECTORS = [
    (
        """-----BEGIN CERTIFICATE-----
MIIDWTCCAkECFCf+I+3oEhTfqt+6ruH4qQ4Wst1DMA0GCSqGSIb3DQEBCwUAMGkx
CzAJBgNVBAYTAlpaMRAwDgYDVQQIDAdOb3doZXJlMRQwEgYDVQQHDAtFeGFtcGxl
dG93bjEcMBoGA1UECgwTRGVmYXVsdCBDb21wYW55IEx0ZDEUMBIGA1UEAwwLZXhh
bXBsZS5jb20wHhcNMjIwMzAyMTUyNTQ3WhcNMjMwMzAyMTUyNTQ3WjBpMQswCQYD
VQQGEwJaWjEQMA4GA1UECAwHTm93aGVyZTEUMBIGA1UEBwwLRXhhbXBsZXRvd24x
HDAaBgNVBAoME0RlZmF1bHQgQ29tcGFueSBMdGQxFDASBgNVBAMMC2V4YW1wbGUu
Y29tMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAv9vqtA8Toy9D6xLG
q41iUafSiAXnuirWxML2ct/LAcGJzATg6JctmJxxZQL7vkmaFFPBF6Y39bOGbbEC
M2iQYn2Qemj5fl3IzKTnYLqzryGM0ZwwnNbPyetSe/sksAIYRLzn49d6l+AHR+Dj
GyvoLzIyGUTn41MTDafMNtPgWx1i+65lFW3GHYpEmugu4bjeUPizNja2LrqwvwFu
YXwmKxbIMdioCoRvDGX9SI3/euFstuR4rbOEUDxniYRF5g6reP8UMF30zJzF5j0k
yDg8Z5b1XpKFNZAeyRYxcs9wJCqVlP6BLPDnvNVpMXodnWLeTK+r6YWvGadGVufk
YNC1PwIDAQABMA0GCSqGSIb3DQEBCwUAA4IBAQByrhn78GSS3dJ0pJ6czmhMX5wH
+fauCtt1+Wbn+ctTodTycS+pfULO4gG7wRzhl8KNoOqLmWMjyA2A3mon8kdkD+0C
i8McpoPaGS2wQcqC28Ud6kP9YO81YFyTl4nHVKQ0nmplT+eoLDTCIWMVxHHzxIgs
2ybUluAc+THSjpGxB6kWSAJeg3N+f2OKr+07Yg9LiQ2b8y0eZarpiuuuXCzWeWrQ
PudP0aniyq/gbPhxq0tYF628IBvhDAnr/2kqEmVF2TDr2Sm/Y3PDBuPY6MeIxjnr
ox5zO3LrQmQw11OaIAs2/kviKAoKTFFxeyYcpS5RuKNDZfHQCXlLwt9bySxG
-----END CERTIFICATE-----
""",
        "JIj6ezHkdSBlHhrnezAgIC_mrVQHy4KAFyL-8ZNPGPM",
    ),
    (
        """-----BEGIN CERTIFICATE-----
MIIBnzCCAVGgAwIBAgIUBM5d9fmVxhjKQod7TLp6Bb2vEd4wBQYDK2VwMEUxCzAJ
BgNVBAYTAkFVMRMwEQYDVQQIDApTb21lLVN0YXRlMSEwHwYDVQQKDBhJbnRlcm5l
dCBXaWRnaXRzIFB0eSBMdGQwHhcNMjMwODIyMTI1NjE0WhcNMjQwODIxMTI1NjE0
WjBFMQswCQYDVQQGEwJBVTETMBEGA1UECAwKU29tZS1TdGF0ZTEhMB8GA1UECgwY
SW50ZXJuZXQgV2lkZ2l0cyBQdHkgTHRkMCowBQYDK2VwAyEA6gbCgxeb9kkSDo4W
bB76aTvBWnpyzColUKDxyDhPu96jUzBRMB0GA1UdDgQWBBQC8cbPWjZilcD4FSU/
J1sSNYwpAjAfBgNVHSMEGDAWgBQC8cbPWjZilcD4FSU/J1sSNYwpAjAPBgNVHRMB
Af8EBTADAQH/MAUGAytlcANBAGfmvq0a+Ip6nDBlj1tOpyJzcl1J+wj+4N72V23z
H1c75cXDrl9DMOqLwNVK9YD2wmaxPyEWO4tdth560Nir4QM=
-----END CERTIFICATE-----
""",
        "nG1UHCwz7nXHp2zMCiSfxRbCY29OK3RockkeOiw-t8A",
    ),
]

OBSERVED = (
    "pb://8iN8OJhDvir5Gx1yz4FdSmDVlN7G1KSCX4oLudsKZrg@127.0.0.1:47811/"
    "44o74u7ktouofseipf2pknuzllyynajr#v=1"
)


@pytest.mark.parametrize("pem,expected", VECTORS)
def test_spki_hash_vectors(pem: str, expected: str) -> None:
    assert spki_hash_of_cert(pem) == expected
    assert spki_hash_of_cert(pem.encode()) == expected


def test_parse_observed_nurl() -> None:
    n = parse_nurl(OBSERVED)
    assert n == NURL(
        "8iN8OJhDvir5Gx1yz4FdSmDVlN7G1KSCX4oLudsKZrg",
        "127.0.0.1",
        47811,
        "44o74u7ktouofseipf2pknuzllyynajr",
    )
    assert n.base_url == "https://127.0.0.1:47811"
    assert format_nurl(n) == OBSERVED == str(n)


def test_ipv6_and_tor() -> None:
    pin = "A" * 43
    n = parse_nurl(f"pb://{pin}@[::1]:1234/swiss#v=1")
    assert n.host == "::1" and n.base_url == "https://[::1]:1234"
    assert format_nurl(n) == f"pb://{pin}@[::1]:1234/swiss#v=1"
    assert parse_nurl(f"pb+tor://{pin}@abc.onion:80/s#v=1").scheme == "pb+tor"


@pytest.mark.parametrize(
    "text",
    [
        "",
        OBSERVED.replace("#v=1", ""),  # a fURL, not a NURL
        OBSERVED.replace("#v=1", "#v=2"),
        OBSERVED.replace("pb://", "https://"),
        OBSERVED.replace("pb://", "pb+i2p://"),
        OBSERVED.replace("8iN8", "8iN"),  # short pin
        OBSERVED.replace(":47811", ""),  # no port
        OBSERVED.replace(":47811", ":99999"),
        OBSERVED.replace("44o74u7ktouofseipf2pknuzllyynajr", ""),  # empty swissnum
        OBSERVED.replace("127.0.0.1", "tcp:127.0.0.1"),
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(NURLError):
        parse_nurl(text)


@given(
    pin=st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=43, max_size=43
    ),
    host=st.from_regex(r"[a-z0-9][a-z0-9.-]{0,30}", fullmatch=True),
    port=st.integers(1, 65535),
    swissnum=st.text("abcdefghijklmnopqrstuvwxyz234567", min_size=1, max_size=40),
)
def test_round_trip(pin: str, host: str, port: int, swissnum: str) -> None:
    n = NURL(pin, host, port, swissnum)
    assert parse_nurl(format_nurl(n)) == n


def test_pins_equal() -> None:
    assert pins_equal("abc", "abc")
    assert not pins_equal("abc", "abd")
