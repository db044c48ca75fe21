"""Check, verify and repair a mutable file (SDMF or MDMF), and so a directory.

check: a CHECK-mode servermap (every server asked, every share's signed
header validated) tells which versions exist and where. verify: also read
every share of the best recoverable version whole and validate its hashes
up to the signed root. Bad shares are reported to their servers. repair:
read the best version and publish it again with the next seqnum (as Tahoe
does), which rewrites every share in place and puts the missing share
numbers on servers that lack one. Writing needs the write cap; a read or
verify cap can check but not repair.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor

from ..check_results import CheckAndRepairResults, CheckResults
from ..errors import CorruptShareError, LafsError
from ..grid import Server, StorageBroker, add_leases
from ..placement import happiness
from .caps import MutableReadCap, MutableVerifyCap, MutableWriteCap
from .formats import Prefix, format_of
from .node import _keys_from
from .publish import publish
from .retrieve import _advise, _Changed, _fetch_one, retrieve, update_servermap
from .servermap import Mode, ServerMap

AnyMutableCap = MutableWriteCap | MutableReadCap | MutableVerifyCap


class MutableRepairError(LafsError):
    """The mutable file was not repaired: unrecoverable, read-only cap, or a writer got in."""


async def _verify_shares(
    smap: ServerMap[Server], cap: AnyMutableCap, version: Prefix
) -> list[tuple[Server, int, str]]:
    """Read every share of `version` whole; bad ones leave the map. Returns (server, n, why)."""
    si = cap.storage_index
    fmt = format_of(cap)
    holders = smap.holders(version)
    outcomes = await asyncio.gather(
        *(_fetch_one(s, si, n, smap, version, fmt, cap.fingerprint) for s, n in holders)
    )
    corrupt = []
    for (server, shnum), outcome in zip(holders, outcomes):
        if isinstance(outcome, CorruptShareError):
            smap.mark_bad(server, shnum)
            corrupt.append((server, shnum, str(outcome)))
        elif isinstance(outcome, _Changed):
            smap.shares.pop((server, shnum), None)  # rewritten meanwhile: not ours to judge
    await asyncio.gather(*(_advise(s, si, n, why) for s, n, why in corrupt))
    return corrupt


def _results(
    smap: ServerMap[Server], si: bytes, k: int, n: int, verified: bool
) -> tuple[CheckResults, Prefix | None]:
    versions = smap.versions()
    best = smap.best_recoverable() or max(versions, default=None)
    if best is not None:
        k, n = best.k, best.n
    results = CheckResults(si, k, n, verified=verified)
    results.servers_responding = sorted(s.nickname for s in smap.answered)
    results.recoverable_versions = len(smap.recoverable_versions())
    results.unrecoverable_versions = len(smap.unrecoverable_versions())
    per_server: dict[str, set[int]] = {}
    for (server, shnum), info in smap.shares.items():
        if info.prefix == best:
            results.sharemap.setdefault(shnum, set()).add(server.nickname)
            per_server.setdefault(server.nickname, set()).add(shnum)
        else:
            results.count_wrong_shares += 1
    results.count_happiness = happiness(per_server)
    results.corrupt_shares = sorted((s.nickname, shnum) for s, shnum in smap.bad)
    for prefix in sorted(versions, reverse=True):
        state = "recoverable" if prefix in smap.recoverable_versions() else "unrecoverable"
        results.report.append(
            f"version seqnum {prefix.seqnum}: {len(versions[prefix])} shares "
            f"(need {prefix.k}), {state}"
        )
    return results, smap.best_recoverable()


async def _check(
    broker: StorageBroker,
    cap: AnyMutableCap,
    verify: bool,
    k: int,
    n: int,
) -> tuple[CheckResults, ServerMap[Server], Prefix | None]:
    si = cap.storage_index
    smap = await update_servermap(broker.permuted(si), cap, Mode.CHECK, k, n)
    best = smap.best_recoverable()
    corrupt = await _verify_shares(smap, cap, best) if verify and best is not None else []
    results, best = _results(smap, si, k, n, verify)
    results.report += [f"corrupt share {i} on {s.nickname}: {why}" for s, i, why in corrupt]
    return results, smap, best


async def check(
    broker: StorageBroker,
    cap: AnyMutableCap,
    *,
    verify: bool = False,
    add_lease: bool = False,
    lease_secret: bytes | None = None,
    k: int = 3,
    n: int = 10,
) -> CheckResults:
    """`k` and `n` are only reported when no share is found at all."""
    results, smap, _best = await _check(broker, cap, verify, k, n)
    if add_lease:
        if lease_secret is None:
            raise ValueError("adding leases needs the client's lease secret")
        await add_leases(smap.servers_with_shares(), cap.storage_index, lease_secret)
    return results


async def repair(
    broker: StorageBroker,
    cap: AnyMutableCap,
    smap: ServerMap[Server],
    best: Prefix | None,
    lease_secret: bytes,
    pool: Executor | None = None,
) -> None:
    """Republish `best` (from a verifying check's map) so all N shares are good again."""
    if not isinstance(cap, MutableWriteCap):
        raise MutableRepairError("repairing a mutable file needs its write cap")
    if best is None:
        raise MutableRepairError("unrecoverable: no version has enough good shares")
    if any(v.seqnum > best.seqnum for v in smap.unrecoverable_versions()):
        raise MutableRepairError("a newer version exists but is unrecoverable; not overwriting it")
    plaintext, _version, shares = await retrieve(smap, cap, best, pool)
    keys = _keys_from(cap, shares)
    live = [s for s in broker.permuted(cap.storage_index) if s in smap.answered]
    await publish(live, cap, keys, plaintext, smap, lease_secret, best.k, best.n, pool)


async def check_and_repair(
    broker: StorageBroker,
    cap: AnyMutableCap,
    *,
    verify: bool = True,
    add_lease: bool = False,
    lease_secret: bytes,
    k: int = 3,
    n: int = 10,
    pool: Executor | None = None,
) -> CheckAndRepairResults:
    pre, smap, best = await _check(broker, cap, verify, k, n)
    if add_lease:
        await add_leases(smap.servers_with_shares(), cap.storage_index, lease_secret)
    outcome = CheckAndRepairResults(cap.storage_index, pre, pre)
    if pre.healthy:
        return outcome
    outcome.repair_attempted = True
    if not verify:  # repair must know which shares are really good
        _, smap, best = await _check(broker, cap, True, k, n)
    try:
        await repair(broker, cap, smap, best, lease_secret, pool)
    except LafsError as exc:  # MutableRepairError, a collision, too few servers
        outcome.repair_error = str(exc)
    outcome.post_repair = (await _check(broker, cap, verify, k, n))[0]
    outcome.repair_successful = not outcome.repair_error and outcome.post_repair.healthy
    return outcome
