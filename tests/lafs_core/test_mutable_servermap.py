"""The pure servermap, its query state machine and publish planning, against an in-memory grid."""

import json
from pathlib import Path

import pytest

from lafs_core.errors import CorruptShareError
from lafs_core.mutable.caps import MutableWriteCap
from lafs_core.mutable.errors import NotEnoughServersError
from lafs_core.mutable.keys import KeyPair
from lafs_core.mutable.publish import plan_publish
from lafs_core.mutable.sdmf import SDMFVersion, encode_version
from lafs_core.mutable.servermap import Mode, ServerMap, ServermapUpdater

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "ssk.json").read_text())
KEYS = KeyPair.load(VECTORS["keys"][7].encode())
CAP = MutableWriteCap.from_keypair(KEYS)
SERVERS = [f"s{i:02d}" for i in range(20)]
_VERSIONS: dict[tuple[bytes, int], SDMFVersion] = {}

Store = dict[str, dict[int, bytes]]


def version(data: bytes, seqnum: int) -> SDMFVersion:
    if (data, seqnum) not in _VERSIONS:
        _VERSIONS[data, seqnum] = encode_version(KEYS, data, seqnum, 3, 10)
    return _VERSIONS[data, seqnum]


def store_new(v: SDMFVersion, servers: list[str] = SERVERS) -> Store:
    plan = plan_publish(None, servers, 10)
    store: Store = {s: {} for s in servers}
    for (server, shnum), expected in plan.goal.items():
        assert expected == b""
        store[server][shnum] = v.shares[shnum]  # type: ignore[index]
    return store


def run_updater(
    store: Store, mode: Mode, old: ServerMap[str] | None = None
) -> tuple[ServerMap[str], list[str]]:
    """Answer queries one at a time, in the order asked; returns the map and who was asked."""
    upd: ServermapUpdater[str] = ServermapUpdater(SERVERS, mode, CAP.fingerprint, 3, 10, old)
    queue = upd.start()
    while queue and not upd.done:
        server = queue.pop(0)
        heads = {n: raw[: upd.read_size] for n, raw in store.get(server, {}).items()}
        queue += upd.answer(server, heads if server in store else None)
    return upd.map, upd.queried


def test_new_file_goes_to_the_first_n_servers() -> None:
    v = version(b"hello", 1)
    store = store_new(v)
    assert [sorted(store[s]) for s in SERVERS[:10]] == [[i] for i in range(10)]
    assert all(not store[s] for s in SERVERS[10:])
    plan = plan_publish(None, SERVERS[:4], 10)
    assert sorted(n for (s, n) in plan.goal if s == "s01") == [1, 5, 9]
    with pytest.raises(NotEnoughServersError):
        plan_publish(None, [], 10)


def test_read_mode_finds_the_version_and_stops_early() -> None:
    v = version(b"hello", 1)
    smap, asked = run_updater(store_new(v), Mode.READ)
    assert smap.best_recoverable() == v.prefix
    assert len(asked) < len(SERVERS)
    assert len(smap.answered) >= 6


def test_anything_mode_stops_at_first_recoverable() -> None:
    smap, asked = run_updater(store_new(version(b"hello", 1)), Mode.ANYTHING)
    assert smap.best_recoverable() is not None
    _, read_asked = run_updater(store_new(version(b"hello", 1)), Mode.READ)
    assert len(asked) <= len(read_asked)


def test_check_mode_asks_everyone() -> None:
    smap, asked = run_updater(store_new(version(b"hello", 1)), Mode.CHECK)
    assert sorted(asked) == SERVERS
    best = smap.best_recoverable()
    assert best is not None and smap.versions()[best] == set(range(10))


def test_write_mode_finds_the_boundary() -> None:
    store = store_new(version(b"hello", 1))
    smap, asked = run_updater(store, Mode.WRITE)
    # all ten holders, then k empty servers past the last holder
    assert set(SERVERS[:13]) <= set(asked)
    assert len({n for (_, n) in smap.shares}) == 10


def test_no_shares_anywhere() -> None:
    smap, asked = run_updater({s: {} for s in SERVERS}, Mode.READ)
    assert smap.best_recoverable() is None and sorted(asked) == SERVERS
    assert smap.highest_seqnum() == 0


def test_newer_unrecoverable_version_keeps_read_mode_looking() -> None:
    v1, v2 = version(b"old", 1), version(b"new", 2)
    store = store_new(v1)
    store["s00"][0] = v2.shares[0]  # one share of a newer version, early in the ring
    smap, asked = run_updater(store, Mode.READ)
    assert smap.best_recoverable() == v1.prefix
    assert v2.prefix in smap.unrecoverable_versions()
    assert smap.highest_seqnum() == 2
    assert sorted(asked) == SERVERS  # kept looking for more of seqnum 2


def test_best_version_prefers_seqnum_then_root_hash() -> None:
    a, b, c = version(b"a", 3), version(b"b", 3), version(b"c", 2)
    store: Store = {s: {} for s in SERVERS}
    for i in range(10):
        store[SERVERS[i]][i] = a.shares[i]
        store[SERVERS[10 + i]][i] = b.shares[i] if i < 5 else c.shares[i]
    store[SERVERS[19]] = {9: c.shares[9], 8: c.shares[8], 7: b.shares[7]}
    smap, _ = run_updater(store, Mode.CHECK)
    assert smap.best_recoverable() == max(a.prefix, b.prefix, key=lambda p: p.root_hash)
    assert smap.needs_merge()


def test_corrupt_share_is_recorded_and_reported() -> None:
    v = version(b"hello", 1)
    store = store_new(v)
    bad = bytearray(store["s02"][2])
    bad[500] ^= 1  # inside the signature
    store["s02"][2] = bytes(bad)
    smap, _ = run_updater(store, Mode.CHECK)
    assert ("s02", 2) in smap.bad and ("s02", 2) not in smap.shares
    with pytest.raises(CorruptShareError):
        ServerMap[str]().add_share("x", 0, bytes(bad), CAP.fingerprint)


def test_failed_servers_are_skipped() -> None:
    v = version(b"hello", 1)
    store = store_new(v)
    del store["s00"], store["s01"]  # those two do not answer
    smap, _ = run_updater(store, Mode.READ)
    assert {"s00", "s01"} <= smap.failed
    assert smap.best_recoverable() == v.prefix


def test_overwrite_plan_keeps_shares_in_place_and_tests_old_checkstrings() -> None:
    v1 = version(b"hello", 1)
    store = store_new(v1)
    del store["s03"][3]  # share 3 went missing
    store["s15"][3] = v1.shares[3]  # ... but a copy lives further along the ring
    del store["s04"][4]  # share 4 is gone everywhere
    smap, _ = run_updater(store, Mode.CHECK)
    plan = plan_publish(smap, SERVERS, 10)
    assert plan.seqnum == 2
    assert plan.goal[("s15", 3)] == v1.checkstring
    assert plan.goal[("s00", 0)] == v1.checkstring
    homeless = [(s, n) for (s, n), cs in plan.goal.items() if cs == b""]
    assert len(homeless) == 1 and homeless[0][1] == 4
    # dealt to a server holding nothing yet, the first such in ring order
    assert homeless[0][0] == "s03"
    assert plan.reference == v1.checkstring


def test_bad_shares_are_overwritten_with_their_recorded_bytes() -> None:
    v = version(b"hello", 1)
    store = store_new(v)
    bad = bytearray(store["s01"][1])
    bad[450] ^= 1
    store["s01"][1] = bytes(bad)
    smap, _ = run_updater(store, Mode.CHECK)
    plan = plan_publish(smap, SERVERS, 10)
    assert plan.goal[("s01", 1)] == bytes(bad[:75])
