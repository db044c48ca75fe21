"""Check, verify and repair a CHK file on the grid.

check: ask every server which shares it holds. verify: also read and hash
every byte of every share (`verifier.verify`), and tell servers about bad
ones. repair: decode the ciphertext from k good shares (a verify-cap is
enough), re-encode it, and upload the missing share numbers to servers that
lack them, preferring servers that hold no share of the file yet. Re-encoding
the same ciphertext gives the very same shares, so the file's caps do not
change; a repair that would produce anything else is aborted.
"""

import asyncio
from collections import defaultdict
from concurrent.futures import Executor

from ..check_results import CheckAndRepairResults, CheckResults
from ..errors import LafsError, StorageError
from ..grid import Server, StorageBroker, add_leases
from ..placement import happiness
from ..uri import CHKReadCap, CHKVerifyCap
from .downloader import DISCOVERY_TIMEOUT, GridShare
from .encoder import CHKEncoder
from .params import EncodingParams
from .reader import CHKReader
from .uploader import UploadJob
from .verifier import verify as verify_shares


class RepairError(LafsError):
    """The file could not be repaired (too few good shares, or no server took a share)."""


async def _list_all(
    broker: StorageBroker, storage_index: bytes
) -> dict[Server, frozenset[int] | None]:
    servers = broker.permuted(storage_index)

    async def ask(server: Server) -> frozenset[int] | None:
        try:
            return await asyncio.wait_for(
                server.client.list_shares(storage_index), DISCOVERY_TIMEOUT
            )
        except (TimeoutError, StorageError):
            return None

    return dict(zip(servers, await asyncio.gather(*(ask(s) for s in servers))))


async def check(
    broker: StorageBroker,
    cap: CHKReadCap | CHKVerifyCap,
    *,
    verify: bool = False,
    add_lease: bool = False,
    lease_secret: bytes | None = None,
    pool: Executor | None = None,
) -> CheckResults:
    si = cap.storage_index
    listing = await _list_all(broker, si)
    results = CheckResults(si, cap.k, cap.n, verified=verify)
    results.servers_responding = [s.nickname for s, shares in listing.items() if shares is not None]
    held = {s: shares for s, shares in listing.items() if shares}
    if verify:
        outcomes = await asyncio.gather(
            *(
                verify_shares(cap, [GridShare(s, si, n) for n in sorted(shares)], pool)
                for s, shares in held.items()
            )
        )
        for server, outcome in zip(held, outcomes):
            for sharenum in outcome.good:
                results.sharemap.setdefault(sharenum, set()).add(server.nickname)
            for sharenum, reason in sorted(outcome.corrupt.items()):
                results.corrupt_shares.append((server.nickname, sharenum))
                results.report.append(f"corrupt share {sharenum} on {server.nickname}: {reason}")
            await _advise(server, si, outcome.corrupt)
    else:
        for server, shares in held.items():
            for sharenum in shares:
                results.sharemap.setdefault(sharenum, set()).add(server.nickname)
    per_server: dict[str, set[int]] = defaultdict(set)
    for sharenum, names in results.sharemap.items():
        for name in names:
            per_server[name].add(sharenum)
    results.count_happiness = happiness(per_server)
    if add_lease:
        if lease_secret is None:
            raise ValueError("adding leases needs the client's lease secret")
        await add_leases(held, si, lease_secret)  # unreachable servers: servers-responding
    return results


async def _advise(server: Server, si: bytes, corrupt: dict[int, str]) -> None:
    for sharenum, reason in corrupt.items():
        try:
            await server.client.advise_corrupt_share(si, sharenum, reason)
        except StorageError:
            pass


async def repair(
    broker: StorageBroker,
    cap: CHKReadCap | CHKVerifyCap,
    pre: CheckResults,
    lease_secret: bytes,
    pool: Executor | None = None,
) -> int:
    """Upload every share number missing from `pre` (a verifying check). Returns how many."""
    if not pre.recoverable:
        raise RepairError(f"unrecoverable: {pre.count_shares_good} good shares, {cap.k} needed")
    missing = [n for n in range(cap.n) if n not in pre.sharemap]
    if not missing:
        return 0
    si = cap.storage_index
    by_name = {s.nickname: s for s in broker.servers}
    sources = [
        GridShare(by_name[sorted(names)[0]], si, n) for n, names in sorted(pre.sharemap.items())
    ]
    reader = CHKReader(cap.verify_cap() if isinstance(cap, CHKReadCap) else cap, sources, pool)
    await reader.open_all()
    ueb = reader.ueb
    params = EncodingParams(cap.k, 1, cap.n, ueb.segment_size)
    encoder = CHKEncoder(None, cap.size, params, storage_index=si)
    job = UploadJob(broker, encoder, params, lease_secret, pool, depth=2)
    holders = {name for names in pre.sharemap.values() for name in names}
    corrupt_on = {(server, n) for server, n in pre.corrupt_shares}
    load = {s: sum(s.nickname in names for names in pre.sharemap.values()) for s in broker.servers}
    ring = [s for s in broker.permuted(si) if s.nickname in pre.servers_responding]
    try:
        for sharenum in missing:
            candidates = sorted(
                (s for s in ring if (s.nickname, sharenum) not in corrupt_on),
                key=lambda s: (s.nickname in holders, load[s], ring.index(s)),
            )
            for server in candidates:
                if sharenum in await job.allocate(server, {sharenum}):
                    load[server] += 1
                    holders.add(server.nickname)
                    break
        if not job.buckets:
            await job.find_full_servers()
            raise RepairError("no server accepted a new share" + job.no_room_message())
        job.failed.clear()  # a refused allocation was answered by trying the next server
        await _reencode_and_push(job, reader, cap)
    except BaseException:
        await asyncio.shield(job.abort())
        raise
    return len(job.buckets)


async def _reencode_and_push(
    job: UploadJob, reader: CHKReader, cap: CHKReadCap | CHKVerifyCap
) -> None:
    encoder = job.encoder
    loop = asyncio.get_running_loop()
    index = 0
    async for ciphertext in reader.iter_range():
        segment = await loop.run_in_executor(job.pool, encoder.encode_segment, index, ciphertext)
        encoder.absorb(segment)
        last = index == encoder.geometry.num_segments - 1
        trailers = None
        if last:
            result = encoder.finish()
            if result.ueb_hash != cap.ueb_hash:
                raise RepairError("re-encoding did not reproduce the file's shares")
            trailers = result.trailers
        offset, bodies = job.batch_bodies([segment], trailers)
        await job.push(offset, bodies)
        index += 1
    await job.check_complete()
    if job.failed:
        raise RepairError(f"servers failed during repair: {', '.join(sorted(job.failed))}")


async def check_and_repair(
    broker: StorageBroker,
    cap: CHKReadCap | CHKVerifyCap,
    *,
    verify: bool = True,
    add_lease: bool = False,
    lease_secret: bytes,
    pool: Executor | None = None,
) -> CheckAndRepairResults:
    pre = await check(
        broker, cap, verify=verify, add_lease=add_lease, lease_secret=lease_secret, pool=pool
    )
    outcome = CheckAndRepairResults(cap.storage_index, pre, pre)
    if pre.healthy:
        return outcome
    outcome.repair_attempted = True
    if not verify:  # repair must know which shares are really good
        pre_verified = await check(broker, cap, verify=True, pool=pool)
    else:
        pre_verified = pre
    try:
        await repair(broker, cap, pre_verified, lease_secret, pool)
    except LafsError as exc:  # RepairError, or every new share's server failed
        outcome.repair_error = str(exc)
    outcome.post_repair = await check(broker, cap, verify=verify, pool=pool)
    outcome.repair_successful = not outcome.repair_error and outcome.post_repair.healthy
    return outcome
