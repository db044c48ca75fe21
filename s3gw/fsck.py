"""`s3gw fsck BUCKET`: check, verify or repair everything one bucket keeps on the grid.

A bucket is its directory, the directories of its index, the objects its
index entries name (for a multipart object, each part: their caps live only
in entry metadata, where `lafs deep-check` cannot see them) and its multipart
uploads in progress. Index nodes come first; one that cannot be read at all
ends the listing of entries, which fsck reports as an error. Keys sharing
one stored object (convergent encryption) share one check while it runs.

fsck opens the gateway's data directory (root cap, grid file) and talks to
a running grid: for the embedded grid, one `s3gw serve` is running.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lafs_core import Client, base32
from lafs_core.check_results import CheckAndRepairResults, CheckResults
from lafs_core.deep_results import DeepCheckResults, Outcome, storage_index, verify_cap
from lafs_core.dirnode import AnyCap, parse_any_cap, parse_dir_cap
from lafs_core.errors import LafsError
from lafs_core.grid_config import load_grid
from s3gw.catalog import Bucket, Catalog
from s3gw.config import GatewayConfig
from s3gw.errors import NoSuchBucket
from s3gw.maintenance import part_caps
from storage_node.local_grid import GRID_FILE

CHECKS_AT_ONCE = 8


@dataclass(frozen=True)
class Target:
    """One stored thing of a bucket, named the way an operator knows it."""

    kind: str  # bucket, index-node, object, part, parts-list, uploads, upload, upload-part
    cap: AnyCap
    key: str | None = None
    part: int | None = None

    @property
    def label(self) -> str:
        text = {"part": "object", "upload-part": "upload"}.get(self.kind, self.kind)
        text = text.replace("-", " ")
        if self.key is not None:
            text += f" {self.key!r}"
        if self.part is not None:
            text += f" part {self.part}"
        si = storage_index(self.cap)
        if self.key is None and si is not None:
            text += f" {base32.b2a(si)}"
        return text

    def to_json(self, outcome: Outcome | str) -> dict[str, Any]:
        vcap = verify_cap(self.cap)
        si = storage_index(self.cap)
        out: dict[str, Any] = {
            "type": self.kind,
            "key": self.key,
            "part": self.part,
            "storage-index": base32.b2a(si) if si else "",
            "verifycap": vcap.to_string() if vcap is not None else "",
        }
        if isinstance(outcome, str):
            out["error"] = outcome
        elif isinstance(outcome, CheckAndRepairResults):
            out["check-and-repair-results"] = outcome.to_json()
        elif isinstance(outcome, CheckResults):
            out["check-results"] = outcome.to_json()
        else:  # a LIT object: its data is in its cap
            out["check-results"] = {"storage-index": "", "results": {"healthy": True}}
        return out


def problem(target: Target, outcome: Outcome | str) -> str | None:
    """The report line for one checked target, None when there is nothing to say."""
    if isinstance(outcome, str):
        return f"error: {target.label}: {outcome}"
    if isinstance(outcome, CheckAndRepairResults):
        before, after = outcome.pre_repair, outcome.post_repair
        if not outcome.repair_attempted:
            return None if after.healthy else f"unhealthy: {target.label}: {after.summary}"
        verdict = "repaired" if outcome.repair_successful and after.healthy else "repair failed"
        why = f" ({outcome.repair_error})" if outcome.repair_error else ""
        return f"{verdict}: {target.label}: {before.summary} -> {after.summary}{why}"
    if outcome is None or outcome.healthy:
        return None
    verdict = "unhealthy" if outcome.recoverable else "unrecoverable"
    return f"{verdict}: {target.label}: {outcome.summary}"


@dataclass
class FsckResults:
    bucket: str
    tally: DeepCheckResults  # its walk_errors: the targets whose check failed
    literal: int = 0  # LIT objects: nothing stored apart from the cap
    errors: list[str] = field(default_factory=list)  # what could not be read, so not checked

    @property
    def healthy(self) -> bool:
        return self.tally.healthy and not self.errors

    def add(self, target: Target, outcome: Outcome | str) -> None:
        if isinstance(outcome, str):
            self.tally.walk_errors.append(((target.label,), outcome))
        elif outcome is None:
            self.literal += 1
        else:
            self.tally.add((target.label,), outcome)

    def summary(self) -> str:
        t = self.tally
        h, u, unrec, corrupt = t.post
        text = f"fsck {self.bucket}: {t.checked} checked, {self.literal} LIT objects; "
        if t.repair:
            ph, pu, punrec, pcorrupt = t.pre
            text += (
                f"before repair {ph} healthy, {pu} unhealthy, {punrec} unrecoverable, "
                f"{pcorrupt} corrupt shares; {t.repairs_attempted} repairs attempted, "
                f"{t.repairs_successful} successful; now "
            )
        text += f"{h} healthy, {u} unhealthy, {unrec} unrecoverable, {corrupt} corrupt shares"
        failed = len(t.walk_errors) + len(self.errors)
        if failed:
            text += f"; {failed} errors"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "summary", "bucket": self.bucket, "healthy": self.healthy}
        out |= self.tally.counters()
        out["count-literal-objects"] = self.literal
        out["errors"] = [f"{path[0]}: {why}" for path, why in self.tally.walk_errors]
        out["errors"] += self.errors
        return out


async def targets(bucket: Bucket) -> AsyncIterator[Target]:
    """Everything `bucket` keeps, index nodes first; raises LafsError if a part is unreadable."""
    yield Target("bucket", bucket.cap)
    for cap in await bucket.index.node_caps():
        yield Target("index-node", cap)
    async for key, entry in bucket.index.entries():
        if entry.cap is not None:
            yield Target("object", parse_any_cap(entry.cap), key)
        else:
            for number, text in enumerate(part_caps(entry.info), 1):
                yield Target("part", parse_any_cap(text), key, number)
            if "parts-cap" in entry.info:
                yield Target("parts-list", parse_any_cap(entry.info["parts-cap"]), key)
    uploads = bucket.uploads
    yield Target("uploads", uploads.directory.cap)
    for upload in await uploads.list():
        yield Target("upload", upload.parts_dir.cap, upload.key)
        for number, stored in (await uploads.parts(upload)).items():
            yield Target("upload-part", parse_any_cap(stored.cap), upload.key, number)


async def fsck(
    client: Client,
    bucket: Bucket,
    *,
    verify: bool = False,
    repair: bool = False,
    on_checked: Callable[[Target, Outcome | str], None] | None = None,
    at_once: int = CHECKS_AT_ONCE,
) -> FsckResults:
    """Check (or check and repair) every target of `bucket`, reporting them in order."""
    root_si = storage_index(bucket.cap) or b""
    results = FsckResults(bucket.name, DeepCheckResults(root_si, repair))
    running: dict[bytes, asyncio.Task[Outcome]] = {}
    limit = asyncio.Semaphore(at_once)

    async def check(cap: AnyCap) -> Outcome:
        async with limit:
            if repair:
                return await client.check_and_repair(cap, verify)  # type: ignore[arg-type]
            return await client.check(cap, verify)  # type: ignore[arg-type]

    async def settle(target: Target, task: asyncio.Task[Outcome] | None) -> None:
        outcome: Outcome | str = None
        if task is not None:
            try:
                outcome = await task
            except LafsError as exc:
                outcome = str(exc) or type(exc).__name__
            si = storage_index(target.cap)
            if si is not None and running.get(si) is task:
                del running[si]
        results.add(target, outcome)
        if on_checked is not None:
            on_checked(target, outcome)

    window: deque[tuple[Target, asyncio.Task[Outcome] | None]] = deque()
    try:
        async for target in targets(bucket):
            si = storage_index(target.cap)
            task = None if si is None else running.get(si)
            if si is not None and task is None:
                task = running[si] = asyncio.create_task(check(target.cap))
            window.append((target, task))
            while len(window) > 2 * at_once:
                await settle(*window.popleft())
    except LafsError as exc:
        results.errors.append(f"bucket index: cannot be read: {exc}")
    while window:
        await settle(*window.popleft())
    return results


class _Progress:
    """A counter on stderr, rewritten in place (only on a terminal)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seen = 0

    def __call__(self, line: str | None) -> None:
        self.seen += 1
        if line is not None:
            self.out.write("\r\x1b[K")
            print(line, flush=True)
        self.out.write(f"\rfsck: {self.seen} checked")
        self.out.flush()

    def done(self) -> None:
        self.out.write("\r\x1b[K")
        self.out.flush()


def grid_file(config: GatewayConfig) -> Path:
    """The grid the gateway of `config` uses: its configured one, or its embedded grid's."""
    return config.grid if config.grid is not None else config.local_grid_dir / GRID_FILE


async def _run(config: GatewayConfig, name: str, verify: bool, repair: bool, as_json: bool) -> int:
    root = parse_dir_cap(config.root_cap_path.read_text().strip())
    progress = _Progress(sys.stderr) if sys.stderr.isatty() and not as_json else None

    def on_checked(target: Target, outcome: Outcome | str) -> None:
        if as_json:
            print(json.dumps(target.to_json(outcome)), flush=True)
        elif progress is not None:
            progress(problem(target, outcome))
        elif (line := problem(target, outcome)) is not None:
            print(line, flush=True)

    async with Client(load_grid(grid_file(config))) as client:
        try:
            bucket = await Catalog(client, client.directory(root)).get(name)
        except NoSuchBucket:
            print(f"s3gw: no bucket {name!r}", file=sys.stderr)
            return 1
        results = await fsck(client, bucket, verify=verify, repair=repair, on_checked=on_checked)
    if progress is not None:
        progress.done()
    if as_json:
        print(json.dumps(results.to_json()))
    else:
        for error in results.errors:
            print(f"error: {error}")
        print(results.summary())
    return 0 if results.healthy else 2


def fsck_command(
    config: GatewayConfig, bucket: str, *, verify: bool, repair: bool, as_json: bool
) -> int:
    """Exit status 0: everything healthy after the run; 2: something is not; 1: fsck could
    not start (no gateway data here, grid unreachable, no such bucket)."""
    if not config.root_cap_path.exists():
        print(f"s3gw: no gateway root cap at {config.root_cap_path}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_run(config, bucket, verify, repair, as_json))
    except LafsError as exc:
        print(
            f"s3gw: cannot read the gateway's buckets: {exc} (fsck needs the grid running; "
            "an embedded grid runs while `s3gw serve` does)",
            file=sys.stderr,
        )
        return 1
