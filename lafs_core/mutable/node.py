"""`MutableFileNode`: one SDMF or MDMF file on the grid: read, overwrite, modify with retries.

The async face of the pure pieces: update the servermap, retrieve, publish.
`modify` follows spec/tahoe-mutable.md 14, except that each retry takes the
best recoverable version of the refreshed map (1.20 sticks to the first
version and fails with a KeyError when a collision replaced it; on the wire
the two behave the same). Operations on one node object are serialised.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor
from typing import Literal

from ..errors import CorruptShareError, NotEnoughSharesError
from ..grid import Server, StorageBroker
from .caps import Format, MutableReadCap, MutableWriteCap
from .errors import NotWriteableError, UncoordinatedWriteError, UnrecoverableFileError
from .formats import Prefix, Share, Version
from .keys import KeyPair, decrypt_privkey
from .publish import publish
from .retrieve import fetch_version, retrieve, update_servermap
from .servermap import Mode, ServerMap

Modifier = Callable[[bytes, bool], bytes | None]
Backoff = Callable[[int, UncoordinatedWriteError], Awaitable[None]]

MAX_ATTEMPTS = 4


async def default_backoff(attempt: int, error: UncoordinatedWriteError) -> None:
    """Tahoe's BackoffAgent: give up on the 4th collision, else wait ~e^attempt seconds."""
    if attempt >= MAX_ATTEMPTS:
        raise error
    delay = math.e**attempt
    await asyncio.sleep(max(0.0, random.normalvariate(delay, 0.11962656492 * delay)))


def _keys_from(cap: MutableWriteCap, shares: Mapping[int, Share]) -> KeyPair:
    """The key pair, from the first share whose encrypted private key decrypts right."""
    for share in shares.values():
        der = decrypt_privkey(cap.writekey, share.enc_privkey)
        if der is not None:
            return KeyPair(der, share.pubkey_der)
    raise CorruptShareError("no share holds a private key matching the writekey")


class MutableFileNode:
    def __init__(
        self,
        broker: StorageBroker,
        cap: MutableWriteCap | MutableReadCap,
        lease_secret: bytes,
        k: int = 3,
        n: int = 10,
        pool: Executor | None = None,
        keys: KeyPair | None = None,
        backoff: Backoff = default_backoff,
    ) -> None:
        self.broker = broker
        self.cap = cap
        self.lease_secret = lease_secret
        self.k, self.n = k, n
        self.pool = pool
        self._keys = keys
        self.backoff = backoff
        self._lock = asyncio.Lock()
        # What this node last published: its contents and where its shares went. The next
        # modify tries it first (test-and-set makes a stale guess fail, never win).
        self._last: tuple[bytes, ServerMap[Server]] | None = None

    @classmethod
    async def create(
        cls,
        broker: StorageBroker,
        keys: KeyPair,
        contents: bytes,
        lease_secret: bytes,
        k: int = 3,
        n: int = 10,
        pool: Executor | None = None,
        backoff: Backoff = default_backoff,
        format: Format = "sdmf",
        first: Version | None = None,
    ) -> MutableFileNode:
        """Publish the first version (seqnum 1) of a new file under `keys` (`first`: that
        version, if encoded beforehand)."""
        cap = MutableWriteCap.from_keypair(keys, format)
        node = cls(broker, cap, lease_secret, k, n, pool, keys, backoff)
        servers = broker.permuted(cap.storage_index)
        written = await publish(
            servers, cap, keys, contents, None, lease_secret, k, n, pool, version=first
        )
        node._last = (contents, written)
        return node

    @property
    def is_readonly(self) -> bool:
        return not isinstance(self.cap, MutableWriteCap)

    @property
    def storage_index(self) -> bytes:
        return self.cap.storage_index

    def _servers(self) -> list[Server]:
        return self.broker.permuted(self.storage_index)

    async def get_servermap(
        self, mode: Mode, old: ServerMap[Server] | None = None, read_size: int | None = None
    ) -> ServerMap[Server]:
        return await update_servermap(
            self._servers(), self.cap, mode, self.k, self.n, old, read_size, self.lease_secret
        )

    async def download_best_version(self) -> bytes:
        async with self._lock:
            smap = await self.get_servermap(Mode.READ)
            try:
                plaintext, _version, _ = await retrieve(smap, self.cap, pool=self.pool)
            except UnrecoverableFileError:
                raise
            except (
                NotEnoughSharesError,
                UncoordinatedWriteError,
            ):  # one wider search, as Tahoe does
                smap = await self.get_servermap(Mode.WRITE)
                plaintext, _version, _ = await retrieve(smap, self.cap, pool=self.pool)
            return plaintext

    async def get_size_of_best_version(self) -> int:
        """The best recoverable version's length, from share headers only (no download)."""
        async with self._lock:
            best = (await self.get_servermap(Mode.READ)).best_recoverable()
            if best is None:
                raise UnrecoverableFileError("no recoverable version found")
            return best.datalen

    def _writecap(self) -> MutableWriteCap:
        if not isinstance(self.cap, MutableWriteCap):
            raise NotWriteableError("this mutable file was opened read-only")
        return self.cap

    async def _ensure_keys(self, smap: ServerMap[Server], version: Prefix) -> KeyPair:
        if self._keys is None:
            cap = self._writecap()
            shares = await fetch_version(smap, cap, version)
            self._keys = _keys_from(cap, shares)
        return self._keys

    async def overwrite(self, contents: bytes) -> None:
        """Replace the contents; needs an existing recoverable version."""
        cap = self._writecap()
        async with self._lock:
            smap = await self.get_servermap(Mode.WRITE)
            best = smap.best_recoverable()
            if best is None:
                raise UnrecoverableFileError("cannot overwrite: no recoverable version found")
            keys = await self._ensure_keys(smap, best)
            await self._publish(cap, keys, contents, smap, best)

    async def _publish(
        self,
        cap: MutableWriteCap,
        keys: KeyPair,
        contents: bytes,
        smap: ServerMap[Server],
        best: Prefix | None,
    ) -> None:
        k, n = (best.k, best.n) if best is not None else (self.k, self.n)
        self._last = None
        written = await publish(
            self._servers(), cap, keys, contents, smap, self.lease_secret, k, n, self.pool
        )
        self._last = (contents, written)

    async def _modify_last(
        self, cap: MutableWriteCap, modifier: Modifier
    ) -> Literal["done", "fresh", "collided"]:
        """Apply `modifier` to what we last published and publish over exactly those shares.

        Saves the servermap update and the read when no other writer came in between.
        "fresh": decide again on fresh contents (the modifier refused or changed nothing on
        our copy). "collided": another writer got in; some of our shares may be written, so
        the caller must settle it as after any collision (CHECK mode, republish).
        """
        assert self._last is not None and self._keys is not None
        old, smap = self._last
        try:
            new = modifier(old, True)
        except Exception:
            return "fresh"  # perhaps only because our copy is stale: ask the grid
        if new is None or new == old:
            return "fresh"
        try:
            await self._publish(cap, self._keys, new, smap, smap.best_recoverable())
        except UncoordinatedWriteError:
            return "collided"
        return "done"

    async def modify(self, modifier: Modifier) -> None:
        """Apply `modifier(old_contents, first_time)` and publish, retrying on collisions.

        The modifier may run several times and must be idempotent; returning
        None (or the old contents) means "no change". After a collision the
        map is rebuilt asking every server (CHECK mode) and the best version
        re-read; `backoff(attempt, error)` waits or re-raises to give up.
        """
        cap = self._writecap()
        async with self._lock:
            first_time = True
            if self._last is not None and self._keys is not None:
                outcome = await self._modify_last(cap, modifier)
                if outcome == "done":
                    return
                first_time = outcome == "fresh"
            attempt = 0
            while True:
                mode = Mode.WRITE if first_time else Mode.CHECK
                try:
                    smap = await self.get_servermap(mode)
                    old, best, shares = await retrieve(smap, cap, pool=self.pool)
                    if self._keys is None:
                        self._keys = _keys_from(cap, shares)
                    new = modifier(old, first_time)
                    if new is None or new == old:
                        if first_time:
                            return
                        new = old  # republish to settle the collision
                    await self._publish(cap, self._keys, new, smap, best)
                    return
                except UncoordinatedWriteError as exc:
                    attempt += 1
                    await self.backoff(attempt, exc)
                    first_time = False
