"""The `lafs manifest`, `lafs stats` and `lafs deep-check` commands, once `cli` opened the root.

Output follows Tahoe where tools read it: `--json` prints the units of the
web API's `t=stream-manifest` / `t=stream-deep-check` (one JSON object per
line, the deep-stats unit last) and `stats --json` the `t=deep-stats` object.
The progress line goes to stderr only when stderr is a terminal.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

from . import base32
from .check_results import CheckAndRepairResults
from .deep import Checked, deep_check, deep_stats, walk
from .deep_results import DeepStats, Reached, repair_cap, storage_index, verify_cap
from .dirnode.caps import DirectoryCap

if TYPE_CHECKING:
    from .client import Client


def _line(unit: dict[str, object]) -> None:
    print(json.dumps(unit), flush=True)


def _manifest_line(reached: Reached, show: str) -> str | None:
    cap = reached.cap
    if cap is None:
        return None
    if show == "storage-index":
        si = storage_index(cap)
        return base32.b2a(si) if si else None
    if show in ("verify-cap", "repair-cap"):
        found = verify_cap(cap) if show == "verify-cap" else repair_cap(cap)
        return found.to_string() if found is not None else None
    return f"{cap.to_string()} {'/'.join(reached.path)}".rstrip()


async def manifest(client: Client, root: DirectoryCap, show: str, as_json: bool) -> None:
    """`show`: "cap" (cap and path), "storage-index", "verify-cap" or "repair-cap"."""
    stats = DeepStats()
    printed: set[str] = set()
    async for reached in walk(client, root):
        stats.add(reached)
        if as_json:
            _line(reached.to_json())
            continue
        line = _manifest_line(reached, show)
        if line is not None and line not in printed:
            printed.add(line)
            print(line, flush=True)
    if as_json:
        _line({"type": "stats", "stats": stats.to_json()})


async def stats(client: Client, root: DirectoryCap, as_json: bool) -> None:
    found = (await deep_stats(client, root)).to_json()
    if as_json:
        print(json.dumps(found, indent=1))
        return
    histogram = found.pop("size-files-histogram")
    for key, value in found.items():
        print(f"{key}: {value}")
    if histogram:
        print("size-files-histogram:")
        for low, high, count in histogram:
            print(f"  {low}-{high} bytes: {count}")


class _Progress:
    """A one-line counter rewritten in place with a carriage return."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.seen = 0
        self.unhealthy = 0

    def __call__(self, checked: Checked) -> None:
        self.seen += 1
        outcome = checked.outcome
        after = outcome.post_repair if isinstance(outcome, CheckAndRepairResults) else outcome
        self.unhealthy += after is not None and not after.healthy
        self.out.write(f"\rchecked {self.seen} objects, {self.unhealthy} unhealthy")
        self.out.flush()

    def done(self) -> None:
        if self.seen:
            self.out.write("\n")
            self.out.flush()


async def deep_check_command(
    client: Client,
    root: DirectoryCap,
    *,
    verify: bool,
    repair: bool,
    add_lease: bool,
    as_json: bool,
) -> int:
    """Run the check and print it; the exit status is 2 if something stays broken."""
    progress = _Progress(sys.stderr) if sys.stderr.isatty() and not as_json else None

    def on_checked(checked: Checked) -> None:
        if as_json:
            _line(checked.to_json())
        elif progress is not None:
            progress(checked)

    results = await deep_check(
        client, root, verify=verify, repair=repair, add_lease=add_lease, on_checked=on_checked
    )
    if progress is not None:
        progress.done()
    if as_json:
        _line({"type": "stats", "stats": results.stats.to_json()})
        for path, why in results.walk_errors:
            print(f"could not list /{'/'.join(path)}: {why}", file=sys.stderr)
    else:
        for line in results.describe():
            print(line)
    broken = results.walk_errors or (repair and not results.healthy)
    return 2 if broken else 0
