"""The servermap: which server holds which share of which version (spec/tahoe-mutable.md 11).

Two pure pieces. `ServerMap` records validated share headers and answers
"which version is best, is it recoverable, what seqnum comes next".
`ServermapUpdater` is the query state machine: it says which servers to ask
first, and after each answer which to ask next or that it is done, by the
rules of the READ/ANYTHING/WRITE/CHECK modes. The async driver that moves
bytes lives in `retrieve.update_servermap`.

Servers are opaque hashable objects; the permuted order is given.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from ..errors import CorruptShareError, LafsError
from .errors import UnsupportedMutableFormat
from .formats import SDMF_FORMAT, Prefix, ShareFormat
from .keys import fingerprint_from_pubkey, verify_signature

S = TypeVar("S")

# Bytes read per share by a servermap query (1000 in CHECK mode). Tahoe reads 4000;
# we read enough to hold a whole small share (directories, bucket index nodes), which
# retrieve then uses instead of reading it again.
INITIAL_READ_SIZE = 64 * 1024
MAX_OUTSTANDING = 5  # "top up to 5"


class Mode(enum.Enum):
    READ = "read"
    ANYTHING = "anything"
    WRITE = "write"
    CHECK = "check"


SIGNED_PREFIX_SIZE = 75  # recorded for bad shares (their first bytes)


@dataclass(frozen=True)
class ShareInfo:
    prefix: Prefix
    eof: int  # the share's length, from its offset table


@dataclass
class ServerMap(Generic[S]):
    """Shares seen, per (server, share number), plus bad shares and who answered."""

    shares: dict[tuple[S, int], ShareInfo] = field(default_factory=dict)
    bad: dict[tuple[S, int], bytes] = field(default_factory=dict)  # -> checkstring to test
    answered: set[S] = field(default_factory=set)
    failed: set[S] = field(default_factory=set)
    whole: dict[tuple[S, int], bytes] = field(default_factory=dict)  # shares the query read whole

    def add_share(
        self, server: S, shnum: int, head: bytes, fingerprint: bytes, fmt: ShareFormat = SDMF_FORMAT
    ) -> ShareInfo:
        """Validate a share's header, key and signature from its first bytes and record it.

        `head` must reach past the signature (SDMF) or verification key
        (MDMF), which 4000 bytes always do. Raises CorruptShareError, and
        records the share as bad, if it is invalid.
        """
        try:
            info = fmt.head(head)
            if fingerprint_from_pubkey(info.pubkey_der) != fingerprint:
                raise CorruptShareError(
                    "verification key does not match the cap's fingerprint", shnum
                )
            if not verify_signature(info.pubkey_der, info.signature, info.prefix.pack()):
                raise CorruptShareError("bad signature on the share's prefix", shnum)
        except LafsError:
            self.bad[server, shnum] = head[:SIGNED_PREFIX_SIZE]
            self.shares.pop((server, shnum), None)
            raise
        share = ShareInfo(info.prefix, info.eof)
        self.shares[server, shnum] = share
        if len(head) >= info.eof:
            self.whole[server, shnum] = head[: info.eof]
        return share

    def mark_bad(self, server: S, shnum: int) -> None:
        self.whole.pop((server, shnum), None)
        info = self.shares.pop((server, shnum), None)
        if info is not None:
            self.bad[server, shnum] = info.prefix.pack()

    def forget_server(self, server: S) -> None:
        for key in [k for k in self.shares if k[0] == server]:
            del self.shares[key]

    def versions(self) -> dict[Prefix, set[int]]:
        """Each version seen -> the distinct share numbers seen of it."""
        out: dict[Prefix, set[int]] = {}
        for (_server, shnum), info in self.shares.items():
            out.setdefault(info.prefix, set()).add(shnum)
        return out

    def recoverable_versions(self) -> set[Prefix]:
        return {v for v, nums in self.versions().items() if len(nums) >= v.k}

    def unrecoverable_versions(self) -> set[Prefix]:
        return set(self.versions()) - self.recoverable_versions()

    def best_recoverable(self) -> Prefix | None:
        """Highest seqnum, ties broken by the larger root hash."""
        return max(self.recoverable_versions(), default=None)

    def highest_seqnum(self) -> int:
        return max((v.seqnum for v in self.versions()), default=0)

    def needs_merge(self) -> bool:
        seqnums = [v.seqnum for v in self.recoverable_versions()]
        return len(seqnums) != len(set(seqnums))

    def holders(self, version: Prefix) -> list[tuple[S, int]]:
        """(server, shnum) holding `version`, lowest share numbers first."""
        found = [key for key, info in self.shares.items() if info.prefix == version]
        return sorted(found, key=lambda key: key[1])

    def shares_on(self, server: S) -> dict[int, ShareInfo]:
        return {shnum: info for (s, shnum), info in self.shares.items() if s == server}

    def servers_with_shares(self) -> set[S]:
        return {s for s, _ in self.shares} | {s for s, _ in self.bad}

    def copy(self) -> ServerMap[S]:
        return ServerMap(dict(self.shares), dict(self.bad), set(self.answered), set(self.failed))


class ServermapUpdater(Generic[S]):
    """Decides which servers to query, fed one answer at a time (spec 11.2).

    `start()` gives the first batch; `answer(server, shares)` (`shares`:
    share number -> head bytes, or None when the server failed) records it
    in the map and returns the next servers to query. `done` says when to stop.
    """

    def __init__(
        self,
        servers: Sequence[S],
        mode: Mode,
        fingerprint: bytes,
        k: int = 3,
        n: int = 10,
        servermap: ServerMap[S] | None = None,
        fmt: ShareFormat = SDMF_FORMAT,
        read_size: int | None = None,
    ) -> None:
        self.servers = list(servers)
        self._read_size = read_size
        self.mode = mode
        self.fingerprint = fingerprint
        self.fmt = fmt
        self.k, self.n = k, n
        old = servermap or ServerMap()
        self.must_query = {s for s in old.servers_with_shares() if s in self.servers}
        self.map: ServerMap[S] = ServerMap(bad=dict(old.bad))
        self.queried: list[S] = []
        self.outstanding: set[S] = set()
        self.corrupt: list[tuple[S, int, str]] = []  # to advise servers about
        self.unsupported: list[tuple[S, int]] = []  # MDMF shares: not corrupt, not readable yet
        self.done = False

    @property
    def read_size(self) -> int:
        # 1000 bytes hold an SDMF signature; an MDMF key ends near byte 2167.
        if self._read_size is not None:
            return self._read_size
        if self.mode is Mode.CHECK and self.fmt.name == "sdmf":
            return 1000
        return INITIAL_READ_SIZE

    def _send(self, servers: Sequence[S]) -> list[S]:
        fresh = [s for s in servers if s not in self.queried]
        self.queried += fresh
        self.outstanding |= set(fresh)
        return fresh

    def _unqueried(self) -> list[S]:
        return [s for s in self.servers if s not in self.queried]

    def _top_up(self, target: int = MAX_OUTSTANDING) -> list[S]:
        room = target - len(self.outstanding)
        return self._send(self._unqueried()[: max(room, 0)])

    @property
    def _want(self) -> int:
        """How many servers to keep asked (and not failed) at once."""
        return 2 * self.k if self.mode in (Mode.READ, Mode.ANYTHING) else self.n + self.k

    def start(self) -> list[S]:
        if self.mode is Mode.CHECK:
            return self._send(self.servers)
        want = self._want
        first = [s for s in self.servers if s in self.must_query]
        first += [s for s in self.servers if s not in self.must_query][: max(want - len(first), 0)]
        batch = self._send(first)
        if not batch:
            self.done = True
        return batch

    def answer(self, server: S, shares: Mapping[int, bytes] | None) -> list[S]:
        self.outstanding.discard(server)
        if shares is None:
            self.map.failed.add(server)
        else:
            self.map.answered.add(server)
            for shnum, head in sorted(shares.items()):
                try:
                    self.map.add_share(server, shnum, head, self.fingerprint, self.fmt)
                except UnsupportedMutableFormat:
                    self.map.bad.pop((server, shnum), None)  # valid, just not ours to read
                    self.unsupported.append((server, shnum))
                except LafsError as exc:
                    self.corrupt.append((server, shnum, str(exc)))
        return self._next()

    def _next(self) -> list[S]:
        if self.must_query & set(self.outstanding):
            return []
        if not self.outstanding and not self._unqueried():
            self.done = True
            return []
        if self._satisfied():
            self.done = True  # late answers are ignored
            return []
        if self.outstanding and len(self.queried) - len(self.map.failed) >= self._want:
            return []  # enough questions in flight: wait for their answers before asking more
        return self._top_up()

    def _satisfied(self) -> bool:
        m = self.map
        best = m.best_recoverable()
        if self.mode is Mode.CHECK:
            return False  # everyone is asked; finishes when all answered
        if self.mode is Mode.ANYTHING:
            return best is not None
        if self.mode is Mode.READ:
            answers = len(m.answered) + len(m.failed)
            newer = (
                any(v.seqnum > best.seqnum for v in m.unrecoverable_versions()) if best else True
            )
            return best is not None and answers >= 2 * self.k and not newer
        # WRITE: find the boundary, k answered-empty servers after the last holder.
        if best is None:
            return False
        holders = {s for s, _ in m.shares}
        last = max((i for i, s in enumerate(self.servers) if s in holders), default=-1)
        empties = 0
        for i, s in enumerate(self.servers):
            if i <= last:
                continue
            if s in m.answered and s not in holders:
                empties += 1
                if empties >= self.k:
                    before = self.servers[: i + 1]
                    return all(x in m.answered or x in m.failed for x in before)
        return False
