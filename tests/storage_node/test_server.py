"""Every endpoint of a real `storage-node` process, through the real client and raw HTTP.

Status codes follow spec/tahoe-storage-http.md 5-8 and 11.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct

import cbor2
import httpx
import pytest

from lafs_core import base32
from lafs_core import storage_protocol as sp
from lafs_core.errors import (
    ShareConflictError,
    ShareNotFoundError,
    StorageHTTPError,
    StorageUnauthorizedError,
)
from lafs_core.storage_protocol import ReadVector, TestVector, TestWriteVectors, WriteVector
from storage_node import container as c
from storage_node.server import INLINE_RTW_BODY

from ..conftest import StorageNodeFactory, StorageNodeProcess
from .helpers import RawClient, lease_secrets, random_si, snapshot

pytestmark = pytest.mark.anyio


def upload_secrets(upload: bytes | None = None) -> dict[str, bytes]:
    return {**lease_secrets(), sp.UPLOAD: upload or os.urandom(20)}


async def allocate(
    raw: RawClient, si: bytes, shares: set[int], size: int, secrets: dict[str, bytes]
) -> dict[str, object]:
    body = sp.encode_allocate_request(sp.AllocateRequest(frozenset(shares), size))
    r = await raw.request("POST", sp.immutable_path(si), secrets=secrets, body=body)
    assert r.status_code == 200, r.text
    return cbor2.loads(r.content)


async def patch(
    raw: RawClient,
    si: bytes,
    n: int,
    upload: bytes,
    first: int,
    data: bytes,
    content_range: str | None = "default",
) -> object:
    headers = []
    if content_range == "default":
        headers.append(("Content-Range", f"bytes {first}-{first + len(data) - 1}/*"))
    elif content_range is not None:
        headers.append(("Content-Range", content_range))
    return await raw.request(
        "PATCH",
        sp.immutable_share_path(si, n),
        secrets={sp.UPLOAD: upload},
        body=data,
        headers=headers,
    )


# -- version and authorization -----------------------------------------------


async def test_version(storage_node: StorageNodeProcess) -> None:
    async with storage_node.client() as client:
        v = await client.get_version()
    assert v.maximum_mutable_share_size == 69105 * 10**12
    assert v.available_space == v.maximum_immutable_share_size > 0
    assert v.application_version


async def test_pipelined_requests_answered_in_order_before_close(
    storage_node: StorageNodeProcess,
) -> None:
    """Writes are joined per loop turn: every answer still arrives, whole and in order,
    and one asking for `Connection: close` is sent before the connection closes."""
    async with RawClient(storage_node.nurl) as raw:
        reader, writer = await raw.open_tls()
        head = f"Host: x\r\nAuthorization: {raw.auth}\r\n".encode()
        version = b"GET /storage/v1/version HTTP/1.1\r\n" + head
        writer.write(version + b"\r\n" + b"GET /storage/v1/nowhere HTTP/1.1\r\n" + head + b"\r\n")
        answers = []
        for _ in range(2):
            lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            length = next(int(x[15:]) for x in lines if x.lower().startswith(b"content-length:"))
            answers.append((lines[0].split()[1], await reader.readexactly(length)))
        writer.write(version + b"Connection: close\r\n\r\n")
        last = await reader.read()  # to the end: the node closes
        writer.close()
    assert [status for status, _ in answers] == [b"200", b"404"]
    assert sp.decode_version(answers[0][1]).available_space > 0
    assert last.startswith(b"HTTP/1.1 200") and sp.PROTOCOL_KEY in last


async def test_large_answer_in_pieces_then_a_small_one(storage_node: StorageNodeProcess) -> None:
    """A large body goes to TLS in pieces, unjoined: it arrives whole, before the answer
    to the request pipelined after it."""
    si, we, (renew, cancel) = random_si(), os.urandom(32), lease_secrets().values()
    data = os.urandom(700_000)  # 2.7 pieces, read with one pread in a thread
    async with storage_node.client() as client:
        await client.read_test_write(
            si, we, renew, cancel, {0: TestWriteVectors(write=(WriteVector(0, data),))}
        )
    async with RawClient(storage_node.nurl) as raw:
        reader, writer = await raw.open_tls()
        head = f"Host: x\r\nAuthorization: {raw.auth}\r\n\r\n".encode()
        read = f"GET {sp.mutable_share_path(si, 0)} HTTP/1.1\r\n".encode()
        version = b"GET /storage/v1/version HTTP/1.1\r\nConnection: close\r\n"
        writer.write(read + head + version + head)
        lines = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = next(int(x[15:]) for x in lines if x.lower().startswith(b"content-length:"))
        body = await reader.readexactly(length)
        last = await reader.read()  # to the end: the node closes
        writer.close()
    assert body == data
    assert last.startswith(b"HTTP/1.1 200") and sp.PROTOCOL_KEY in last


async def test_authorization_failures(storage_node: StorageNodeProcess) -> None:
    async with RawClient(storage_node.nurl) as raw:
        path = sp.version_path()
        assert (await raw.request("GET", path)).status_code == 200
        assert (await raw.request("GET", path, accept=None)).status_code == 200
        for auth in [
            None,
            "Tahoe-LAFS " + base64.b64encode(b"wrong").decode(),
            raw.auth.replace("Tahoe-LAFS", "tahoe-lafs"),
            raw.auth.replace(" ", "  "),
            raw.auth.rstrip("="),
        ]:
            r = await raw.request("GET", path, auth=auth)
            assert r.status_code == 401
            assert r.text == "Wrong Authorization header"
        for accept in ["*/*", "application/*", "application/json"]:
            assert (await raw.request("GET", path, accept=accept)).status_code == 406
        status = await raw.raw_status(
            b"GET /storage/v1/version HTTP/1.1\r\nHost: x\r\nAuthorization: Tahoe-LAFS \xff\xfe"
            b"\r\nConnection: close\r\n\r\n"
        )
        assert status == 400  # not UTF-8
        # No secrets are allowed on version.
        r = await raw.request("GET", path, secrets={sp.UPLOAD: b"x"})
        assert r.status_code == 400


async def test_wrong_swissnum_through_client(storage_node: StorageNodeProcess) -> None:
    from lafs_core.nurl import parse_nurl
    from lafs_core.storage_client import StorageClient

    n = parse_nurl(storage_node.nurl)
    bad = n.__class__(n.spki_hash, n.host, n.port, "x" * 32)
    async with StorageClient(bad) as client:
        with pytest.raises(StorageUnauthorizedError) as e:
            await client.get_version()
    assert e.value.status == 401


# -- routing, traversal and malformed input: refused, nothing written ---------


async def test_bad_paths_are_404_and_write_nothing(storage_node: StorageNodeProcess) -> None:
    before = snapshot(storage_node.storage_dir)
    si = base32.b2a(random_si())
    secrets = upload_secrets()
    body = sp.encode_allocate_request(sp.AllocateRequest(frozenset({0}), 10))
    async with RawClient(storage_node.nurl) as raw:
        for bad in [
            si.upper(),
            si[:-1],
            si + "a",
            si[:-1] + "1",
            si[:-1] + "b",
            "..",
            "%2e%2e%2f" + si[9:],
            si[:20] + "..%2f..",
        ]:
            r = await raw.request(
                "POST", f"/storage/v1/immutable/{bad}", secrets=secrets, body=body
            )
            assert r.status_code == 404, bad
            r = await raw.request("GET", f"/storage/v1/immutable/{bad}/shares")
            assert r.status_code == 404, bad
        # Verbatim traversal attempts, not normalised by a client library.
        auth = raw.auth.encode()
        for target in [
            b"/storage/v1/immutable/../../../../etc/shares",
            b"/storage/v1/../storage/v1/immutable/" + si.encode() + b"/../x/0",
            b"/storage/v1/mutable/" + si.encode() + b"/..%2f..%2f0",
            b"/storage/v1/immutable/" + si.encode() + b"/-1",
            b"/storage/v1/immutable/" + si.encode() + b"/0x1",
        ]:
            status = await raw.raw_status(
                b"GET "
                + target
                + b" HTTP/1.1\r\nHost: x\r\nAuthorization: "
                + auth
                + b"\r\nConnection: close\r\n\r\n"
            )
            assert status in (400, 404), target
        # A known path with the wrong method.
        assert (await raw.request("DELETE", sp.version_path())).status_code == 405
    assert snapshot(storage_node.storage_dir) == before


@pytest.mark.parametrize(
    "case",
    [
        "missing-secret",
        "extra-secret",
        "short-lease-secret",
        "untagged",
        "extra-key",
        "too-many-shares",
        "not-cbor",
        "json",
        "oversized",
        "negative-size",
    ],
)
async def test_malformed_allocate_refused(storage_node: StorageNodeProcess, case: str) -> None:
    si = random_si()
    secrets = upload_secrets()
    body = sp.encode_allocate_request(sp.AllocateRequest(frozenset({0, 1}), 100))
    headers: list[tuple[str, str]] = []
    expected = 400
    if case == "missing-secret":
        del secrets[sp.UPLOAD]
    elif case == "extra-secret":
        secrets[sp.WRITE_ENABLER] = b"w" * 32
    elif case == "short-lease-secret":
        secrets[sp.LEASE_RENEW] = b"r" * 31
    elif case == "untagged":
        body = cbor2.dumps({"share-numbers": [0, 1], "allocated-size": 100})
    elif case == "extra-key":
        body = cbor2.dumps({"share-numbers": {0}, "allocated-size": 100, "x": 1})
    elif case == "too-many-shares":
        body = cbor2.dumps({"share-numbers": set(range(300)), "allocated-size": 100})
    elif case == "not-cbor":
        body = b"\xff\x00garbage"
    elif case == "json":
        body, expected = b'{"share-numbers": [0], "allocated-size": 1}', 415
        headers = [("Content-Type", "application/json")]
    elif case == "oversized":
        body, expected = (
            cbor2.dumps({"share-numbers": {0}, "allocated-size": 1, "pad": b"x" * 9000}),
            413,
        )
    elif case == "negative-size":
        body = cbor2.dumps({"share-numbers": {0}, "allocated-size": -1})
    before = snapshot(storage_node.storage_dir)
    async with RawClient(storage_node.nurl) as raw:
        r = await raw.request(
            "POST", sp.immutable_path(si), secrets=secrets, body=body, headers=headers
        )
    assert r.status_code == expected, r.text
    assert snapshot(storage_node.storage_dir) == before


async def test_oversized_body_without_content_length(storage_node: StorageNodeProcess) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"\xa0" * 1000

    before = snapshot(storage_node.storage_dir)
    async with RawClient(storage_node.nurl) as raw:
        hdrs = [("Authorization", raw.auth)] + [
            (sp.SECRET_HEADER, v) for v in sp.secret_header_values(upload_secrets())
        ]
        r = await raw.http.post(sp.immutable_path(random_si()), content=chunks(), headers=hdrs)
    assert r.status_code == 413
    assert snapshot(storage_node.storage_dir) == before


# -- immutable ---------------------------------------------------------------


async def test_immutable_upload_statuses(storage_node: StorageNodeProcess) -> None:
    si = random_si()
    secrets = upload_secrets()
    up = secrets[sp.UPLOAD]
    async with RawClient(storage_node.nurl) as raw:
        assert await allocate(raw, si, {0, 1}, 48, secrets) == {
            "already-have": set(),
            "allocated": {0, 1},
        }
        # In-progress shares are in neither set.
        assert await allocate(raw, si, {0, 1, 2}, 48, upload_secrets()) == {
            "already-have": set(),
            "allocated": {2},
        }
        r = await patch(raw, si, 0, up, 0, b"a" * 16)
        assert (r.status_code, cbor2.loads(r.content)) == (
            200,
            {"required": [{"begin": 16, "end": 48}]},
        )
        r = await patch(raw, si, 0, up, 32, b"c" * 16)
        assert cbor2.loads(r.content) == {"required": [{"begin": 16, "end": 32}]}
        assert (await patch(raw, si, 0, up, 8, b"a" * 7 + b"X")).status_code == 409
        assert (await patch(raw, si, 0, os.urandom(20), 16, b"b")).status_code == 401
        assert (await patch(raw, si, 0, up, 16, b"b", content_range=None)).status_code == 416
        for bad in ["bytes 16-15/*", "bytes */48", "items 16-16/*", "bytes 16-/*"]:
            assert (await patch(raw, si, 0, up, 16, b"b", content_range=bad)).status_code == 416
        assert (await patch(raw, si, 0, up, 40, b"x" * 9)).status_code == 500  # past the end
        # Overlap with identical bytes is fine; completion is 201.
        r = await patch(raw, si, 0, up, 8, b"a" * 8 + b"b" * 16)
        assert (r.status_code, cbor2.loads(r.content)) == (201, {"required": []})
        assert (await patch(raw, si, 0, up, 0, b"a")).status_code == 404  # complete
        assert (await patch(raw, random_si(), 0, up, 0, b"a")).status_code == 404
        # Abort: wrong secret 401, then 200, then 404; a complete share gives 405.
        abort1 = sp.immutable_abort_path(si, 1)
        assert (await raw.request("PUT", abort1, secrets={sp.UPLOAD: b"z"})).status_code == 401
        assert (await raw.request("PUT", abort1, secrets={sp.UPLOAD: up})).status_code == 200
        assert (await raw.request("PUT", abort1, secrets={sp.UPLOAD: up})).status_code == 404
        r = await raw.request("PUT", sp.immutable_abort_path(si, 0), secrets={sp.UPLOAD: up})
        assert r.status_code == 405
        # After an abort the number can be allocated again; share 0 is already there.
        assert await allocate(raw, si, {0, 1}, 48, secrets) == {
            "already-have": {0},
            "allocated": {1},
        }
        r = await raw.request("GET", sp.immutable_shares_path(si))
        assert r.content == sp.encode_share_set({0})
        r = await raw.request("GET", sp.immutable_shares_path(random_si()))
        assert cbor2.loads(r.content) == set()

        # Reads.
        share = b"a" * 16 + b"b" * 16 + b"c" * 16
        path = sp.immutable_share_path(si, 0)
        r = await raw.request("GET", path)
        assert (r.status_code, r.content) == (200, share)
        assert r.headers["content-type"] == "application/octet-stream"
        r = await raw.request("GET", path, headers=[("Range", "bytes=40-99")])
        assert (r.status_code, r.headers["content-range"], r.content) == (
            206,
            "bytes 40-47/*",
            b"c" * 8,
        )
        r = await raw.request("GET", path, headers=[("Range", "bytes=48-60")])
        assert (r.status_code, r.content) == (204, b"")
        for bad in ["bytes=5-", "bytes=-5", "bytes=0-1,3-4", "lines=0-1", "bytes=5-1"]:
            r = await raw.request("GET", path, headers=[("Range", bad)])
            assert r.status_code == 416, bad
        assert (await raw.request("GET", sp.immutable_share_path(si, 1))).status_code == 404
        assert (await raw.request("GET", sp.immutable_share_path(si, 7))).status_code == 404

    # On disk: Tahoe's layout and container.
    si_text = base32.b2a(si)
    final = storage_node.storage_dir / "shares" / si_text[:2] / si_text / "0"
    raw_file = final.read_bytes()
    assert struct.unpack(">LLL", raw_file[:12]) == (2, 48, 1)
    assert raw_file[12:60] == share
    lease = c.parse_immutable_leases(raw_file[60:], 1)[0]
    assert lease.owner == 0
    assert lease.renew_secret == c.hash_lease_secret(secrets[sp.LEASE_RENEW])


async def test_client_upload_and_read_large_share(storage_node: StorageNodeProcess) -> None:
    si = random_si()
    secrets = upload_secrets()
    data = os.urandom(5 * 1024 * 1024 + 123)
    chunk = 2 * 1024 * 1024
    async with storage_node.client() as client:
        result = await client.allocate_buckets(
            si,
            secrets[sp.LEASE_RENEW],
            secrets[sp.LEASE_CANCEL],
            secrets[sp.UPLOAD],
            [3],
            len(data),
        )
        assert result.allocated == {3}
        view = memoryview(data)
        for offset in range(0, len(data), chunk):
            w = await client.write_share_chunk(
                si, 3, secrets[sp.UPLOAD], offset, view[offset : offset + chunk]
            )
        assert w.finished and w.required == []
        assert await client.list_shares(si) == {3}
        assert await client.read_share_chunk(si, 3, 0, len(data) + 10) == data
        assert await client.read_share_chunk(si, 3, 1_000_000, 7) == data[1_000_000:1_000_007]
        assert await client.read_share_chunk(si, 3, len(data), 5) == b""
        with pytest.raises(ShareNotFoundError):
            await client.read_share_chunk(si, 4, 0, 5)


async def test_streamed_read_stops_when_the_client_goes(storage_node: StorageNodeProcess) -> None:
    """A client that leaves during a streamed read: the node stops and closes the share."""
    assert storage_node.process is not None
    fds = f"/proc/{storage_node.process.pid}/fd"
    si, we, (renew, cancel) = random_si(), os.urandom(32), lease_secrets().values()
    async with storage_node.client() as client:
        write = TestWriteVectors(write=(WriteVector(0, os.urandom(8 << 20)),))
        await client.read_test_write(si, we, renew, cancel, {0: write})
    async with RawClient(storage_node.nurl) as raw:
        before = len(os.listdir(fds))
        reader, writer = await raw.open_tls()
        path = sp.mutable_share_path(si, 0)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {raw.auth}\r\n\r\n".encode()
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        assert len(await reader.read(1 << 16)) > 0
        writer.close()
        for _ in range(100):  # the share's fd and the connection close
            if len(os.listdir(fds)) < before + 1:
                break
            await asyncio.sleep(0.05)
        assert len(os.listdir(fds)) <= before


async def test_client_errors_are_typed(storage_node: StorageNodeProcess) -> None:
    si = random_si()
    s = upload_secrets()
    async with storage_node.client() as client:
        await client.allocate_buckets(
            si, s[sp.LEASE_RENEW], s[sp.LEASE_CANCEL], s[sp.UPLOAD], [0], 10
        )
        await client.write_share_chunk(si, 0, s[sp.UPLOAD], 0, b"0123")
        with pytest.raises(ShareConflictError):
            await client.write_share_chunk(si, 0, s[sp.UPLOAD], 2, b"XX")
        with pytest.raises(StorageUnauthorizedError):
            await client.write_share_chunk(si, 0, b"wrong", 4, b"45")
        with pytest.raises(StorageHTTPError) as e:
            await client.write_share_chunk(si, 0, s[sp.UPLOAD], 8, b"89A")
        assert e.value.status == 500
        await client.abort_upload(si, 0, s[sp.UPLOAD])
        with pytest.raises(ShareNotFoundError):
            await client.abort_upload(si, 0, s[sp.UPLOAD])


# -- leases ------------------------------------------------------------------


async def test_lease_add_and_renew(storage_node: StorageNodeProcess) -> None:
    si = random_si()
    s = upload_secrets()
    async with storage_node.client() as client:
        assert not await client.add_or_renew_lease(si, s[sp.LEASE_RENEW], s[sp.LEASE_CANCEL])
        await client.allocate_buckets(
            si, s[sp.LEASE_RENEW], s[sp.LEASE_CANCEL], s[sp.UPLOAD], [0], 4
        )
        await client.write_share_chunk(si, 0, s[sp.UPLOAD], 0, b"data")
        assert await client.add_or_renew_lease(si, s[sp.LEASE_RENEW], s[sp.LEASE_CANCEL])
        other = lease_secrets()
        assert await client.add_or_renew_lease(si, other[sp.LEASE_RENEW], other[sp.LEASE_CANCEL])
    async with RawClient(storage_node.nurl) as raw:
        r = await raw.request("PUT", sp.lease_path(si), secrets={**other, sp.UPLOAD: b"u"})
        assert r.status_code == 400
        r = await raw.request("PUT", sp.lease_path(random_si()), secrets=other)
        assert r.status_code == 404
    si_text = base32.b2a(si)
    raw_file = (storage_node.storage_dir / "shares" / si_text[:2] / si_text / "0").read_bytes()
    header = c.parse_immutable_header(raw_file)
    assert header.lease_count == 2
    leases = c.parse_immutable_leases(raw_file[16:], 2)
    assert [lease.owner for lease in leases] == [0, 1]
    assert leases[1].cancel_secret == c.hash_lease_secret(other[sp.LEASE_CANCEL])


# -- corruption advisories ---------------------------------------------------


async def test_corruption_advisory_statuses(storage_node: StorageNodeProcess) -> None:
    si = random_si()
    s = upload_secrets()
    async with storage_node.client() as client:
        await client.allocate_buckets(
            si, s[sp.LEASE_RENEW], s[sp.LEASE_CANCEL], s[sp.UPLOAD], [0], 4
        )
        await client.write_share_chunk(si, 0, s[sp.UPLOAD], 0, b"data")
        await client.advise_corrupt_share(si, 0, "hash mismatch")
        await client.advise_corrupt_share(si, 5, "ignored 404")  # the client ignores 404
    async with RawClient(storage_node.nurl) as raw:
        path = sp.immutable_corrupt_path(si, 0)
        r = await raw.request("POST", path, body=sp.encode_corrupt_request(""))
        assert r.status_code == 400
        r = await raw.request("POST", path, body=cbor2.dumps({"reason": "x" * 40000}))
        assert r.status_code == 413
        r = await raw.request(
            "POST", sp.immutable_corrupt_path(si, 5), body=sp.encode_corrupt_request("x")
        )
        assert r.status_code == 404
    names = [p.name for p in (storage_node.storage_dir / "corruption-advisories").iterdir()]
    assert sum(name.endswith(f"--{base32.b2a(si)}-0") for name in names) == 1


# -- mutable -----------------------------------------------------------------


async def test_mutable_sequence(storage_node: StorageNodeProcess) -> None:
    si = random_si()
    we = os.urandom(32)
    ls = lease_secrets()
    renew, cancel = ls[sp.LEASE_RENEW], ls[sp.LEASE_CANCEL]
    create_only = (TestVector(0, 1, b""),)
    async with storage_node.client() as client:
        r = await client.read_test_write(
            si,
            we,
            renew,
            cancel,
            {3: TestWriteVectors(create_only, (WriteVector(0, b"0123456789"),))},
        )
        assert (r.success, r.data) == (True, {})
        r = await client.read_test_write(
            si,
            we,
            renew,
            cancel,
            {3: TestWriteVectors(create_only, (WriteVector(0, b"zzz"),))},
            [ReadVector(0, 4)],
        )
        assert (r.success, r.data) == (False, {3: [b"0123"]})
        await client.read_test_write(si, we, renew, cancel, {3: TestWriteVectors(new_length=6)})
        assert await client.read_mutable_share_chunk(si, 3, 0, 100) == b"012345"
        await client.read_test_write(si, we, renew, cancel, {3: TestWriteVectors(new_length=20)})
        assert await client.read_mutable_share_chunk(si, 3, 0, 100) == b"012345"
        await client.read_test_write(
            si, we, renew, cancel, {3: TestWriteVectors(write=(WriteVector(10, b"G"),))}
        )
        assert await client.read_mutable_share_chunk(si, 3, 0, 100) == b"012345\0\0\0\0G"
        assert await client.read_mutable_share_chunk(si, 3, 2, 3) == b"234"
        assert await client.read_mutable_share_chunk(si, 3, 11, 3) == b""
        # Empty share creation, listing, wrong write enabler, deletion.
        r = await client.read_test_write(
            si, we, renew, cancel, {5: TestWriteVectors()}, [ReadVector(0, 2)]
        )
        assert r.data == {3: [b"01"]}
        assert await client.list_mutable_shares(si) == {3, 5}
        with pytest.raises(StorageUnauthorizedError):
            await client.read_test_write(si, os.urandom(32), renew, cancel, {}, [ReadVector(0, 1)])
        await client.read_test_write(si, we, renew, cancel, {5: TestWriteVectors(new_length=0)})
        assert await client.list_mutable_shares(si) == {3}
        await client.advise_corrupt_mutable_share(si, 3, "bad signature")
        with pytest.raises(ShareNotFoundError):
            await client.read_mutable_share_chunk(si, 5, 0, 1)
        assert await client.list_mutable_shares(random_si()) == frozenset()
    async with RawClient(storage_node.nurl) as raw:
        path = sp.mutable_share_path(si, 3)
        r = await raw.request("GET", path)
        assert (r.status_code, r.content) == (200, b"012345\0\0\0\0G")
        r = await raw.request("GET", path, headers=[("Range", "bytes=5-")])
        assert r.status_code == 416
        r = await raw.request(
            "POST", sp.mutable_corrupt_path(si, 9), body=sp.encode_corrupt_request("x")
        )
        assert r.status_code == 404
        body = sp.encode_rtw_request(
            sp.ReadTestWriteRequest(
                {0: TestWriteVectors(tuple(TestVector(0, 1, b"") for _ in range(31)))}
            )
        )
        r = await raw.request(
            "POST", sp.mutable_rtw_path(si), secrets={**ls, sp.WRITE_ENABLER: we}, body=body
        )
        assert r.status_code == 400
        r = await raw.request("POST", sp.mutable_rtw_path(si), secrets=ls, body=body)
        assert r.status_code == 400
    # On disk: the v2 container with the server's node id and the write enabler in clear.
    si_text = base32.b2a(si)
    raw_file = (storage_node.storage_dir / "shares" / si_text[:2] / si_text / "3").read_bytes()
    h = c.parse_mutable_header(raw_file)
    assert raw_file[:32] == c.MUTABLE_MAGIC_V2
    assert (h.write_enabler, h.data_length, h.extra_lease_offset) == (we, 11, 468 + 11)
    assert raw_file[468:479] == b"012345\0\0\0\0G"
    lease = c.parse_mutable_lease(raw_file[100:192])
    assert lease.owner == 1 and lease.nodeid == h.nodeid
    assert lease.renew_secret == c.hash_lease_secret(renew)


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\x00",
        cbor2.dumps({"test-write-vectors": {}, "read-vector": [], "extra": 1}),
        cbor2.dumps({"test-write-vectors": {0: {"test": [], "write": []}}, "read-vector": []}),
        cbor2.dumps(
            {
                "test-write-vectors": {
                    0: {"test": [], "write": [{"offset": 0, "data": "text"}], "new-length": None}
                },
                "read-vector": [],
            }
        ),
        cbor2.dumps({"test-write-vectors": {"0": {}}, "read-vector": []}),
    ],
)
async def test_malformed_rtw_refused(storage_node: StorageNodeProcess, body: bytes) -> None:
    before = snapshot(storage_node.storage_dir)
    secrets = {**lease_secrets(), sp.WRITE_ENABLER: os.urandom(32)}
    async with RawClient(storage_node.nurl) as raw:
        r = await raw.request("POST", sp.mutable_rtw_path(random_si()), secrets=secrets, body=body)
    assert r.status_code == 400
    assert snapshot(storage_node.storage_dir) == before


async def test_oversized_rtw_refused(storage_node_factory: StorageNodeFactory) -> None:
    node = storage_node_factory.create(storage_options={"max_mutable_write_body": "1000"})
    before = snapshot(node.storage_dir)
    secrets = {**lease_secrets(), sp.WRITE_ENABLER: os.urandom(32)}
    big = sp.encode_rtw_request(
        sp.ReadTestWriteRequest({0: TestWriteVectors(write=(WriteVector(0, b"x" * 2000),))})
    )
    async with RawClient(node.nurl) as raw:
        r = await raw.request("POST", sp.mutable_rtw_path(random_si()), secrets=secrets, body=big)
    assert r.status_code == 413
    assert snapshot(node.storage_dir) == before
    node.stop()


async def test_concurrent_test_and_set_one_winner(storage_node: StorageNodeProcess) -> None:
    """Read-test-writes applied on the event loop stay atomic: of racing writers
    testing the same old contents, exactly one wins, and the share holds its bytes."""
    si, we, ls = random_si(), os.urandom(32), lease_secrets()
    renew, cancel = ls[sp.LEASE_RENEW], ls[sp.LEASE_CANCEL]
    async with storage_node.client() as client:
        old = b"v0" * 8
        await client.read_test_write(
            si, we, renew, cancel, {0: TestWriteVectors(write=(WriteVector(0, old),))}
        )
        for round_ in range(3):
            new = [os.urandom(16) for _ in range(12)]
            results = await asyncio.gather(
                *(
                    client.read_test_write(
                        si,
                        we,
                        renew,
                        cancel,
                        {0: TestWriteVectors((TestVector(0, 16, old),), (WriteVector(0, n),))},
                        [ReadVector(0, 16)],
                    )
                    for n in new
                )
            )
            winners = [n for n, r in zip(new, results, strict=True) if r.success]
            assert len(winners) == 1, round_
            assert all(r.data == {0: [old]} for r in results if r.success)
            old = winners[0]
            assert await client.read_mutable_share_chunk(si, 0, 0, 16) == old


async def test_large_rtw_takes_the_thread_path(storage_node: StorageNodeProcess) -> None:
    """Bodies past INLINE_RTW_BODY and reads past INLINE_RTW give the same answers."""
    si, we, ls = random_si(), os.urandom(32), lease_secrets()
    renew, cancel = ls[sp.LEASE_RENEW], ls[sp.LEASE_CANCEL]
    big = os.urandom(INLINE_RTW_BODY + 1000)
    async with storage_node.client() as client:
        r = await client.read_test_write(
            si, we, renew, cancel, {1: TestWriteVectors(write=(WriteVector(0, big),))}
        )
        assert (r.success, r.data) == (True, {})
        r = await client.read_test_write(
            si, we, renew, cancel, {1: TestWriteVectors(write=(WriteVector(5, b"x"),))},
            [ReadVector(0, 150_000)],
        )  # fmt: skip
        assert (r.success, r.data) == (True, {1: [big[:150_000]]})
        with pytest.raises(StorageUnauthorizedError):
            await client.read_test_write(
                si,
                os.urandom(32),
                renew,
                cancel,
                {1: TestWriteVectors(write=(WriteVector(0, big),))},
            )
        assert await client.read_mutable_share_chunk(si, 1, 0, 10) == big[:5] + b"x" + big[6:10]


async def test_response_heads(storage_node: StorageNodeProcess) -> None:
    """Header sets as the node sent them through Starlette responses (uvicorn adds `date`)."""
    si, ls = random_si(), lease_secrets()
    secrets = {**ls, sp.WRITE_ENABLER: os.urandom(32)}
    rtw = sp.encode_rtw_request(
        sp.ReadTestWriteRequest({2: TestWriteVectors(write=(WriteVector(0, b"abcdef"),))})
    )

    def heads(r: httpx.Response) -> list[tuple[str, str]]:
        return [(k, v) for k, v in r.headers.items() if k != "date"]

    async with RawClient(storage_node.nurl) as raw:
        r = await raw.request("POST", sp.mutable_rtw_path(si), secrets=secrets, body=rtw)
        assert heads(r) == [("content-length", "16"), ("content-type", "application/cbor")]
        path = sp.mutable_share_path(si, 2)
        r = await raw.request("GET", path, headers=[("Range", "bytes=1-2")])
        assert (r.status_code, r.content) == (206, b"bc")
        assert heads(r) == [
            ("content-range", "bytes 1-2/*"),
            ("content-length", "2"),
            ("content-type", "application/octet-stream"),
        ]
        r = await raw.request("GET", path, headers=[("Range", "bytes=10-20")])
        assert (r.status_code, heads(r)) == (204, [])
        r = await raw.request("GET", path, auth="Tahoe-LAFS wrong")
        assert (r.status_code, r.text) == (401, "Wrong Authorization header")
        assert heads(r) == [("content-length", "26"), ("content-type", "text/plain; charset=utf-8")]
        r = await raw.request("DELETE", path)
        assert r.status_code == 405
        assert heads(r) == [
            ("allow", "GET, HEAD"),
            ("content-length", "18"),
            ("content-type", "text/plain; charset=utf-8"),
        ]
        r = await raw.request("GET", sp.mutable_shares_path(si), accept="text/html")
        assert (r.status_code, heads(r)) == (406, [("content-length", "0")])
        r = await raw.request("PUT", sp.lease_path(si), secrets=ls)
        assert (r.status_code, heads(r)) == (204, [])
