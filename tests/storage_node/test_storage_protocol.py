"""Pure request/response encoding shared by server and client (lafs_core.storage_protocol)."""

import base64

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core import storage_protocol as sp
from lafs_core.errors import StorageProtocolError

SI = bytes(range(16))
shares = st.frozensets(st.integers(0, 2**32), max_size=20)


def test_paths() -> None:
    si = sp.si_to_text(SI)
    assert len(si) == 26
    assert sp.immutable_share_path(SI, 3) == f"/storage/v1/immutable/{si}/3"
    assert sp.immutable_abort_path(SI, 3).endswith("/3/abort")
    assert sp.mutable_rtw_path(SI) == f"/storage/v1/mutable/{si}/read-test-write"
    assert sp.si_from_text(si) == SI
    for bad in ["A" * 26, si[:-1], si + "a", "../" + si[3:], si[:-1] + "b"]:
        with pytest.raises(StorageProtocolError) as e:
            sp.si_from_text(bad)
        assert e.value.status == 404
    with pytest.raises(ValueError):
        sp.immutable_share_path(SI, -1)


def test_authorization() -> None:
    value = sp.authorization_value("44o74u7ktouofseipf2pknuzllyynajr")
    assert value == "Tahoe-LAFS " + base64.b64encode(b"44o74u7ktouofseipf2pknuzllyynajr").decode()
    assert sp.authorization_matches(value.encode(), value)
    assert not sp.authorization_matches(value.lower().encode(), value)
    assert not sp.authorization_matches(value.replace(" ", "  ").encode(), value)
    assert not sp.authorization_matches(None, value)


def test_secrets() -> None:
    secrets = {sp.LEASE_RENEW: b"r" * 32, sp.LEASE_CANCEL: b"c" * 32, sp.UPLOAD: b"u"}
    values = sp.secret_header_values(secrets)
    assert sp.parse_secret_headers(values, sp.ALLOCATE_SECRETS) == secrets
    bad_cases = [
        values[:2],  # missing
        values + [f"{sp.WRITE_ENABLER} {base64.b64encode(b'w').decode()}"],  # extra
        [values[0], values[1], "upload-secret "],  # empty
        [values[0], values[1], "upload-secret ***"],  # not base64
        [values[0], values[1], "upload-secret YQ"],  # bad padding
        [values[0], values[1], values[2], values[2]],  # twice
        ["lease-renew-secret " + base64.b64encode(b"x" * 31).decode(), values[1], values[2]],
        ["bogus-secret YQ==", values[1], values[2]],
    ]
    for case in bad_cases:
        with pytest.raises(StorageProtocolError) as e:
            sp.parse_secret_headers(case, sp.ALLOCATE_SECRETS)
        assert e.value.status == 400
    with pytest.raises(StorageProtocolError):
        sp.parse_secret_headers(values[2:], sp.NO_SECRETS)


@pytest.mark.parametrize(
    "accept,ok",
    [
        (None, True),
        ("application/cbor", True),
        ("*/*", False),
        ("application/*", False),
        ("application/json", False),
        ("application/json;q=0.5, application/cbor", True),
        ("application/cbor;q=0.1, application/json", False),
    ],
)
def test_accept(accept: str | None, ok: bool) -> None:
    assert sp.accepts_cbor(accept) is ok


def test_content_type() -> None:
    assert sp.content_type_is_cbor(None)
    assert sp.content_type_is_cbor("application/cbor; charset=x")
    assert not sp.content_type_is_cbor("application/json")


@given(shares, st.integers(0, 2**63))
def test_allocate_round_trip(numbers: frozenset[int], size: int) -> None:
    req = sp.AllocateRequest(numbers, size)
    raw = sp.encode_allocate_request(req)
    assert sp.decode_allocate_request(raw) == req
    res = sp.AllocateResult(numbers, frozenset({1, 2}) - numbers)
    assert sp.decode_allocate_result(sp.encode_allocate_result(res)) == res


def test_sets_are_tag_258() -> None:
    assert sp.encode_share_set([1, 2]) == bytes.fromhex("d90102820102")
    with pytest.raises(StorageProtocolError):
        sp.decode_share_set(cbor2.dumps([1, 2]))


@pytest.mark.parametrize(
    "body",
    [
        cbor2.dumps({"share-numbers": [1], "allocated-size": 5}),  # untagged
        cbor2.dumps({"share-numbers": {1}, "allocated-size": 5, "x": 1}),  # extra key
        cbor2.dumps({"share-numbers": {1}}),  # missing key
        cbor2.dumps({"share-numbers": {1}, "allocated-size": -5}),
        cbor2.dumps({"share-numbers": {1}, "allocated-size": True}),
        cbor2.dumps({"share-numbers": set(range(300)), "allocated-size": 5}),
        cbor2.dumps({"share-numbers": {1}, "allocated-size": 5}) + b"\x00",  # trailing
        b"\xff\xfe",
        b"",
        b"\x9f",
    ],
)
def test_allocate_request_rejects(body: bytes) -> None:
    with pytest.raises(StorageProtocolError) as e:
        sp.decode_allocate_request(body)
    assert e.value.status == 400


@given(st.binary(max_size=64))
def test_decoders_never_crash(raw: bytes) -> None:
    for decode in (
        sp.decode_allocate_request,
        sp.decode_rtw_request,
        sp.decode_corrupt_request,
        sp.decode_version,
        sp.decode_share_set,
        sp.decode_required_ranges,
    ):
        try:
            decode(raw)
        except StorageProtocolError:
            pass


def test_version_round_trip() -> None:
    v = sp.VersionInfo(1, 2, 3, b"x/1")
    raw = sp.encode_version(v)
    assert sp.decode_version(raw) == v
    m = cbor2.loads(raw)
    m[sp.PROTOCOL_KEY][b"extra"] = 1
    with pytest.raises(StorageProtocolError):
        sp.decode_version(cbor2.dumps(m))


def test_rtw_round_trip_and_limits() -> None:
    req = sp.ReadTestWriteRequest(
        {
            3: sp.TestWriteVectors((sp.TestVector(0, 1, b""),), (sp.WriteVector(0, b"abc"),), None),
            4: sp.TestWriteVectors((), (), 0),
        },
        (sp.ReadVector(0, 4),),
    )
    assert sp.decode_rtw_request(sp.encode_rtw_request(req)) == req
    many = sp.ReadTestWriteRequest(
        {0: sp.TestWriteVectors(tuple(sp.TestVector(0, 1, b"") for _ in range(31)))}
    )
    with pytest.raises(StorageProtocolError):
        sp.decode_rtw_request(sp.encode_rtw_request(many))
    reads = sp.ReadTestWriteRequest({}, tuple(sp.ReadVector(0, 1) for _ in range(31)))
    with pytest.raises(StorageProtocolError):
        sp.decode_rtw_request(sp.encode_rtw_request(reads))
    res = sp.ReadTestWriteResult(False, {3: [b"0123"]})
    assert sp.decode_rtw_result(sp.encode_rtw_result(res)) == res


def test_corrupt_request() -> None:
    assert sp.decode_corrupt_request(sp.encode_corrupt_request("bad")) == "bad"
    for reason in ["", "x" * 32766]:
        with pytest.raises(StorageProtocolError):
            sp.decode_corrupt_request(sp.encode_corrupt_request(reason))


def test_ranges() -> None:
    assert sp.format_range(5, 10) == "bytes=5-14"
    assert sp.parse_range("bytes=5-14") == (5, 14)
    for bad in ["bytes=5-", "bytes=-5", "bytes=1-2,4-5", "items=1-2", "bytes=5-4", "x"]:
        with pytest.raises(StorageProtocolError) as e:
            sp.parse_range(bad)
        assert e.value.status == 416
    assert sp.format_content_range(40, 47) == "bytes 40-47/*"
    assert sp.parse_content_range("bytes 0-15/*") == (0, 15)
    assert sp.parse_content_range("bytes 0-15/3") == (0, 15)  # total ignored, as 1.20
    for bad in ["bytes */48", "bytes 5-4/*", "bits 0-1/*", ""]:
        with pytest.raises(StorageProtocolError) as e:
            sp.parse_content_range(bad)
        assert e.value.status == 416
