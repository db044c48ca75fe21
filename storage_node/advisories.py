"""Corruption advisory files: name and text format (spec/tahoe-disk-and-leases.md 3.1). Pure."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

_NAME_RE = re.compile(r"(?P<time>[0-9T.\-]+)--(?P<si>[a-z2-7]{26})-(?P<shnum>[0-9]+)")


@dataclass(frozen=True)
class Advisory:
    time: str  # as in the file name, e.g. 2026-11-25T055449.120577
    kind: str  # "immutable" or "mutable"
    storage_index: str  # base32
    share_number: int
    reason: str


def advisory_name(now: float, si_text: str, shnum: int) -> str:
    when = datetime.datetime.fromtimestamp(now, datetime.UTC)
    return f"{when.strftime('%Y-%m-%dT%H%M%S.%f')}--{si_text}-{shnum}"


def format_advisory(kind: str, si_text: str, shnum: int, reason: str) -> bytes:
    text = (
        "report: Share Corruption\n"
        f"type: {kind}\n"
        f"storage_index: {si_text}\n"
        f"share_number: {shnum}\n"
        "\n"
        f"{reason}\n"
        "\n"
    )
    return text.encode("utf-8")


def parse_advisory(name: str, raw: bytes) -> Advisory:
    """Parse one advisory file; raises ValueError if it is not one."""
    m = _NAME_RE.fullmatch(name)
    if m is None:
        raise ValueError(f"not an advisory file name: {name!r}")
    text = raw.decode("utf-8")
    head, sep, rest = text.partition("\n\n")
    if not sep:
        raise ValueError("advisory lacks the blank line before its reason")
    fields = dict(line.split(": ", 1) for line in head.split("\n") if ": " in line)
    if fields.get("report") != "Share Corruption":
        raise ValueError("not a share corruption report")
    reason = rest[:-2] if rest.endswith("\n\n") else rest.rstrip("\n")
    return Advisory(
        time=m["time"],
        kind=fields.get("type", "?"),
        storage_index=fields.get("storage_index", m["si"]),
        share_number=int(fields.get("share_number", m["shnum"])),
        reason=reason,
    )
