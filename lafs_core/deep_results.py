"""Deep-traversal results, pure: the objects a walk reaches, deep-stats and deep-check counters.

Shapes follow Tahoe's web API: `Reached.to_json` gives the per-object fields
of `t=stream-manifest` and `t=stream-deep-check`, `DeepStats.to_json` the
`t=deep-stats` keys, `DeepCheckResults.to_json` the `t=deep-check&output=JSON`
document (with `repair=true`, the pre-/post-repair forms).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from . import base32
from .check_results import CheckAndRepairResults, CheckResults
from .dirnode.caps import AnyCap, DirectoryCap
from .mutable.caps import MutableReadCap, MutableVerifyCap, MutableWriteCap
from .uri import CHKReadCap, CHKVerifyCap, LiteralCap


@dataclass(frozen=True)
class Reached:
    """One object the walk reached. `cap` is None for a child of a kind we do not know."""

    path: tuple[str, ...]
    cap: AnyCap | None
    size: int | None = None  # bytes of a file, or of a directory's serialised body
    children: int | None = None  # for a directory that could be listed

    @property
    def kind(self) -> str:
        return "directory" if isinstance(self.cap, DirectoryCap) else "file"

    def to_json(self) -> dict[str, Any]:
        """The per-object fields of Tahoe's `t=stream-manifest` / `t=stream-deep-check`."""
        cap = self.cap
        verify = verify_cap(cap) if cap is not None else None
        repair = repair_cap(cap) if cap is not None else None
        verify_text = verify.to_string() if verify is not None else ""
        if repair == verify:  # an immutable object's (or nothing, for a LIT one)
            repair_text = verify_text
        else:
            repair_text = "" if repair is None else repair.to_string()
        return {
            "type": self.kind,
            "path": list(self.path),
            "cap": cap.to_string() if cap is not None else "",
            "verifycap": verify_text,
            "repaircap": repair_text,
            # every verify cap's third field is the storage index: printed once, not twice
            "storage-index": verify_text.split(":", 3)[2] if verify_text else "",
        }


def _file_cap(cap: AnyCap) -> AnyCap:
    return cap.inner if isinstance(cap, DirectoryCap) else cap


def storage_index(cap: AnyCap) -> bytes | None:
    inner = _file_cap(cap)
    return None if isinstance(inner, LiteralCap) else inner.storage_index


def verify_cap(cap: AnyCap) -> AnyCap | None:
    if isinstance(cap, DirectoryCap):
        return cap.verify_cap()
    if isinstance(cap, CHKVerifyCap):  # a directory may hold one (Tahoe lists it as a file)
        return cap
    return None if isinstance(cap, LiteralCap) else cap.verify_cap()


def repair_cap(cap: AnyCap) -> AnyCap | None:
    """What repair needs: the verify cap of an immutable object, the write cap of a mutable one."""
    inner = _file_cap(cap)
    if isinstance(inner, (MutableReadCap, MutableVerifyCap)):
        return None
    if isinstance(inner, MutableWriteCap):
        return cap
    return verify_cap(cap)


def size_bucket(size: int) -> tuple[int, int]:
    """The histogram bucket holding `size`: (0,0), (1,3), (4,10), (11,31), (32,100), ..."""
    if size == 0:
        return (0, 0)
    low, i = 1, 1
    while True:
        high = math.isqrt(10**i)  # two buckets per decade
        if size <= high:
            return (low, high)
        low, i = high + 1, i + 1


STAT_KEYS = (
    "count-immutable-files",
    "count-mutable-files",
    "count-literal-files",
    "count-files",
    "count-directories",
    "count-unknown",
    "size-immutable-files",
    "size-literal-files",
    "size-directories",
    "largest-directory",
    "largest-directory-children",
    "largest-immutable-file",
)


@dataclass
class DeepStats:
    """Tahoe's deep-stats counters over the objects a walk reached."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAT_KEYS, 0))
    histogram: dict[tuple[int, int], int] = field(default_factory=dict)

    def add(self, reached: Reached) -> None:
        c, cap = self.counts, reached.cap
        if cap is None:
            c["count-unknown"] += 1
        elif isinstance(cap, DirectoryCap):
            c["count-directories"] += 1
            if reached.size is not None:
                c["size-directories"] += reached.size
                c["largest-directory"] = max(c["largest-directory"], reached.size)
            if reached.children is not None:
                c["largest-directory-children"] = max(
                    c["largest-directory-children"], reached.children
                )
        elif isinstance(cap, (MutableWriteCap, MutableReadCap)):
            c["count-mutable-files"] += 1
        elif isinstance(cap, (LiteralCap, CHKReadCap)):
            size = cap.size
            bucket = size_bucket(size)
            self.histogram[bucket] = self.histogram.get(bucket, 0) + 1
            if isinstance(cap, LiteralCap):
                c["count-literal-files"] += 1
                c["size-literal-files"] += size
            else:
                c["count-immutable-files"] += 1
                c["size-immutable-files"] += size
                c["largest-immutable-file"] = max(c["largest-immutable-file"], size)

    def to_json(self) -> dict[str, Any]:
        c: dict[str, Any] = dict(self.counts)
        c["count-files"] = (
            c["count-immutable-files"] + c["count-mutable-files"] + c["count-literal-files"]
        )
        c["size-files-histogram"] = [[lo, hi, n] for (lo, hi), n in sorted(self.histogram.items())]
        c["api-version"] = 1  # Tahoe's marker of this key set
        return c


Outcome = CheckResults | CheckAndRepairResults | None  # None: a LIT or unknown object


def _tally(results: CheckResults) -> tuple[int, int, int, int]:
    """(healthy, unhealthy, unrecoverable, corrupt shares) of one check."""
    healthy = int(results.healthy)
    return healthy, 1 - healthy, int(not results.recoverable), len(results.corrupt_shares)


@dataclass
class DeepCheckResults:
    """Counters over every object a deep-check looked at (LIT and unknown ones are not checked)."""

    root_storage_index: bytes
    repair: bool = False
    stats: DeepStats = field(default_factory=DeepStats)
    checked: int = 0
    pre: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # as `_tally`
    post: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    repairs_attempted: int = 0
    repairs_successful: int = 0
    corrupt_shares: list[tuple[str, bytes, int]] = field(default_factory=list)
    remaining_corrupt_shares: list[tuple[str, bytes, int]] = field(default_factory=list)
    unhealthy: list[tuple[tuple[str, ...], CheckResults]] = field(default_factory=list)
    walk_errors: list[tuple[tuple[str, ...], str]] = field(default_factory=list)

    def add(self, path: tuple[str, ...], outcome: Outcome) -> None:
        if outcome is None:
            return
        self.checked += 1
        if isinstance(outcome, CheckAndRepairResults):
            before, after = outcome.pre_repair, outcome.post_repair
            self.repairs_attempted += outcome.repair_attempted
            self.repairs_successful += outcome.repair_attempted and outcome.repair_successful
        else:
            before = after = outcome
        self.pre = [a + b for a, b in zip(self.pre, _tally(before))]
        self.post = [a + b for a, b in zip(self.post, _tally(after))]
        si = before.storage_index
        self.corrupt_shares += [(server, si, n) for server, n in before.corrupt_shares]
        self.remaining_corrupt_shares += [(server, si, n) for server, n in after.corrupt_shares]
        if not after.healthy:
            self.unhealthy.append((path, after))

    @property
    def healthy(self) -> bool:
        return not self.post[1] and not self.walk_errors

    def counters(self) -> dict[str, int]:
        names = ("count-objects-healthy", "count-objects-unhealthy",
                 "count-objects-unrecoverable", "count-corrupt-shares")  # fmt: skip
        out = {"count-objects-checked": self.checked}
        if not self.repair:
            return out | dict(zip(names, self.pre))
        # Tahoe 1.20's repair form has no unrecoverable counts (`describe` gives them).
        names = (names[0], names[1], "", names[3])
        out |= {f"{name}-pre-repair": n for name, n in zip(names, self.pre) if name}
        out |= {
            "count-repairs-attempted": self.repairs_attempted,
            "count-repairs-successful": self.repairs_successful,
            "count-repairs-unsuccessful": self.repairs_attempted - self.repairs_successful,
        }
        return out | {f"{name}-post-repair": n for name, n in zip(names, self.post) if name}

    def to_json(self) -> dict[str, Any]:
        def shares(found: list[tuple[str, bytes, int]]) -> list[list[Any]]:
            return [[server, base32.b2a(si), n] for server, si, n in found]

        out: dict[str, Any] = {"root-storage-index": base32.b2a(self.root_storage_index)}
        out |= self.counters()
        out["list-corrupt-shares"] = shares(self.corrupt_shares)
        if self.repair:
            out["list-remaining-corrupt-shares"] = shares(self.remaining_corrupt_shares)
        out["list-unhealthy-files"] = [[list(p), r.to_json()] for p, r in self.unhealthy]
        out["stats"] = self.stats.to_json()
        return out

    def describe(self) -> list[str]:
        """The summary `lafs deep-check` prints."""
        h, u, unrec, corrupt = self.pre
        lines = [f"done: {self.checked} objects checked"]
        if not self.repair:
            lines.append(f" {h} healthy, {u} unhealthy, {unrec} unrecoverable")
            lines.append(f" {corrupt} corrupt shares")
        else:
            ph, pu, punrec, pcorrupt = self.post
            failed = self.repairs_attempted - self.repairs_successful
            lines += [
                f" pre-repair: {h} healthy, {u} unhealthy, {unrec} unrecoverable, "
                f"{corrupt} corrupt shares",
                f" {self.repairs_attempted} repairs attempted, {self.repairs_successful} "
                f"successful, {failed} failed",
                f" post-repair: {ph} healthy, {pu} unhealthy, {punrec} unrecoverable, "
                f"{pcorrupt} corrupt shares",
            ]
        for path, results in self.unhealthy:
            lines.append(f" unhealthy: /{'/'.join(path)}: {results.summary}")
        for server, si, n in self.remaining_corrupt_shares if self.repair else self.corrupt_shares:
            lines.append(f" corrupt share: server {server}, SI {base32.b2a(si)}, share {n}")
        for path, why in self.walk_errors:
            lines.append(f" could not list /{'/'.join(path)}: {why}")
        return lines
