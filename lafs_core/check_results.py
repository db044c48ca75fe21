"""Results of checking, verifying and repairing a file, with the fields Tahoe reports.

`to_json` gives the shape of Tahoe's web API `t=check&output=JSON` (and of
`repair=true`), so tools written for Tahoe read ours; like Tahoe 1.20's, it
leaves needs-rebalancing out (`describe` says it).
"""

from dataclasses import dataclass, field
from typing import Any

from . import base32


@dataclass
class CheckResults:
    storage_index: bytes
    count_shares_needed: int
    count_shares_expected: int
    sharemap: dict[int, set[str]] = field(default_factory=dict)  # good share -> servers
    corrupt_shares: list[tuple[str, int]] = field(default_factory=list)  # (server, share)
    servers_responding: list[str] = field(default_factory=list)
    count_happiness: int = 0
    count_wrong_shares: int = 0
    verified: bool = False  # every byte was checked, not just listed
    report: list[str] = field(default_factory=list)
    # Mutable files count the versions their servermap saw; a CHK file has one version.
    recoverable_versions: int | None = None
    unrecoverable_versions: int | None = None

    @property
    def count_shares_good(self) -> int:
        return len(self.sharemap)

    @property
    def count_good_share_hosts(self) -> int:
        return len({server for servers in self.sharemap.values() for server in servers})

    @property
    def count_recoverable_versions(self) -> int:
        if self.recoverable_versions is None:
            return int(self.recoverable)
        return self.recoverable_versions

    @property
    def count_unrecoverable_versions(self) -> int:
        if self.unrecoverable_versions is None:
            return 1 - int(self.recoverable)
        return self.unrecoverable_versions

    @property
    def healthy(self) -> bool:
        """All N shares of the one version, and no other version anywhere."""
        one_version = self.count_recoverable_versions == 1 and not self.count_unrecoverable_versions
        return one_version and self.count_shares_good >= self.count_shares_expected

    @property
    def recoverable(self) -> bool:
        return self.count_shares_good >= self.count_shares_needed

    @property
    def needs_rebalancing(self) -> bool:
        """Shares could sit on more distinct servers than they do."""
        spread = min(self.count_shares_good, len(self.servers_responding))
        return self.recoverable and self.count_happiness < spread

    @property
    def summary(self) -> str:
        if self.healthy:
            return "Healthy"
        return (
            f"Not Healthy: {self.count_shares_good} shares "
            f"(enc {self.count_shares_needed}-of-{self.count_shares_expected})"
        )

    def to_json(self) -> dict[str, Any]:
        si = base32.b2a(self.storage_index)
        results = {
            "healthy": self.healthy,
            "recoverable": self.recoverable,
            "count-happiness": self.count_happiness,
            "count-shares-good": self.count_shares_good,
            "count-shares-needed": self.count_shares_needed,
            "count-shares-expected": self.count_shares_expected,
            "count-good-share-hosts": self.count_good_share_hosts,
            "count-corrupt-shares": len(self.corrupt_shares),
            "list-corrupt-shares": [[server, si, n] for server, n in self.corrupt_shares],
            "servers-responding": sorted(self.servers_responding),
            "sharemap": {str(n): sorted(s) for n, s in sorted(self.sharemap.items())},
            "count-wrong-shares": self.count_wrong_shares,
            "count-recoverable-versions": self.count_recoverable_versions,
            "count-unrecoverable-versions": self.count_unrecoverable_versions,
        }
        return {"storage-index": si, "summary": self.summary, "results": results}

    def describe(self) -> list[str]:
        """Human-readable lines, as `lafs check` prints them."""
        lines = [
            f"Summary: {self.summary}",
            f" storage index: {base32.b2a(self.storage_index)}",
            f" good-shares: {self.count_shares_good} "
            f"(encoding is {self.count_shares_needed}-of-{self.count_shares_expected})",
            f" good-share-hosts: {self.count_good_share_hosts}, happiness {self.count_happiness}"
            + (", needs rebalancing" if self.needs_rebalancing else ""),
            f" wrong-shares: {self.count_wrong_shares}",
        ]
        if self.corrupt_shares:
            lines.append(f" corrupt shares: {len(self.corrupt_shares)}")
            lines += [f"  server {server}, share {n}" for server, n in self.corrupt_shares]
        return lines + [f" {line}" for line in self.report]


@dataclass
class CheckAndRepairResults:
    storage_index: bytes
    pre_repair: CheckResults
    post_repair: CheckResults
    repair_attempted: bool = False
    repair_successful: bool = False
    repair_error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "storage-index": base32.b2a(self.storage_index),
            "repair-attempted": self.repair_attempted,
            "repair-successful": self.repair_successful,
            "pre-repair-results": self.pre_repair.to_json(),
            "post-repair-results": self.post_repair.to_json(),
        }
