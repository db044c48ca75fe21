"""`Client`: the grid client library, the one object applications hold.

Built from a `GridConfig`; owns the storage broker (connection pools to
every server) and the worker threads that run zfec, AES and SHA-256.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType

from .check_results import CheckAndRepairResults, CheckResults
from .dirnode.caps import DirectoryCap
from .dirnode.node import DirectoryNode
from .errors import StorageError
from .grid import StorageBroker
from .grid_config import GridConfig
from .hashes import TaggedHasher
from .immutable import checker
from .immutable.downloader import Download
from .immutable.encoder import ReadAt, convergent_key_hasher, file_reader
from .immutable.params import EncodingParams
from .immutable.uploader import UploadResult, upload
from .mutable import checker as mutable_checker
from .mutable.caps import Format, MutableCap, MutableReadCap, MutableWriteCap
from .mutable.keymaker import FreshKeys
from .mutable.keypool import KeyPool
from .mutable.keys import KeyPair
from .mutable.node import MutableFileNode
from .uri import CHKReadCap, CHKVerifyCap, LiteralCap

CheckableCap = CHKReadCap | CHKVerifyCap | MutableCap | DirectoryCap


def _stored(cap: CheckableCap) -> CHKReadCap | CHKVerifyCap | MutableCap:
    """The file cap whose shares hold `cap`'s object; LIT objects have none."""
    inner = cap.inner if isinstance(cap, DirectoryCap) else cap
    if isinstance(inner, LiteralCap):
        raise ValueError("a LIT object holds its data in the cap: there is nothing to check")
    return inner


@dataclass(frozen=True)
class ServerStatus:
    nickname: str
    nurl: str
    reachable: bool
    version: str = ""
    available_space: int | None = None
    error: str = ""


class Client:
    def __init__(
        self,
        config: GridConfig,
        pool: Executor | None = None,
        depth: int = 4,
        key_pool_size: int = 0,
    ) -> None:
        self.config = config
        self.broker = StorageBroker(config)
        self._own_pool = pool is None
        self.pool = pool or ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
        self.depth = depth
        self._key_pool: KeyPool | None = None
        self._key_pool_size = key_pool_size

    @property
    def key_pool(self) -> KeyPool:
        """RSA keys, made ahead in a background process when `key_pool_size` > 0 (a
        server's choice: a one-shot command makes its one key on the spot), each with
        an empty SDMF first version for the grid's encoding."""
        if self._key_pool is None:
            enc = self.config.encoding
            self._key_pool = KeyPool(self._key_pool_size, empty=(enc.k, enc.n))
        return self._key_pool

    async def aclose(self) -> None:
        if self._key_pool is not None:
            self._key_pool.close()
        await self.broker.aclose()
        if self._own_pool:
            self.pool.shutdown(wait=False)

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def upload_path(
        self,
        path: str | os.PathLike[str],
        params: EncodingParams | None = None,
        convergent: bool = True,
        key: bytes | None = None,
    ) -> UploadResult:
        """Upload a file. Convergent: its key is derived from the contents and the convergence
        secret (the same file is stored once); else a random key (nobody holding the secret
        can tell that two uploads are the same file, and the file is read once, not twice).
        `key`: the convergent key already hashed as the file was written
        (`convergence_hasher`), so the file is read once."""
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size
            return await self._upload(file_reader(fd), size, params, convergent, key)
        finally:
            os.close(fd)

    def convergence_hasher(self, size: int, params: EncodingParams | None = None) -> TaggedHasher:
        """Fed the `size` bytes of a plaintext, its digest is their convergent key."""
        return convergent_key_hasher(
            self.config.convergence_secret, params or self.config.encoding, size
        )

    async def upload_bytes(
        self, data: bytes, params: EncodingParams | None = None, convergent: bool = True
    ) -> UploadResult:
        def read_at(offset: int, length: int) -> bytes:
            return data[offset : offset + length]

        return await self._upload(read_at, len(data), params, convergent)

    async def _upload(
        self,
        read_at: ReadAt,
        size: int,
        params: EncodingParams | None,
        convergent: bool,
        key: bytes | None = None,
    ) -> UploadResult:
        return await upload(
            self.broker,
            read_at,
            size,
            params or self.config.encoding,
            self.config.convergence_secret if convergent else None,
            self.config.lease_secret,
            self.pool,
            self.depth,
            key,
        )

    def download(self, cap: CHKReadCap | CHKVerifyCap) -> Download:
        return Download(self.broker, cap, self.pool, self.depth)

    async def read(
        self, cap: LiteralCap | CHKReadCap, offset: int = 0, size: int | None = None
    ) -> AsyncIterator[bytes]:
        """The plaintext of [offset, offset+size) of a file, in chunks."""
        if isinstance(cap, LiteralCap):
            end = len(cap.data) if size is None else offset + size
            if cap.data[offset:end]:
                yield cap.data[offset:end]
            return
        async for chunk in self.download(cap).chunks(offset, size):
            yield chunk

    async def read_bytes(self, cap: LiteralCap | CHKReadCap) -> bytes:
        return b"".join([chunk async for chunk in self.read(cap)])

    async def check(
        self, cap: CheckableCap, verify: bool = False, add_lease: bool = False
    ) -> CheckResults:
        """Check a CHK file, a mutable file or a directory (not a LIT one: it has no shares)."""
        inner = _stored(cap)
        secret = self.config.lease_secret
        if isinstance(inner, (CHKReadCap, CHKVerifyCap)):
            return await checker.check(
                self.broker, inner, verify=verify, add_lease=add_lease,
                lease_secret=secret, pool=self.pool,
            )  # fmt: skip
        enc = self.config.encoding
        return await mutable_checker.check(
            self.broker, inner, verify=verify, add_lease=add_lease,
            lease_secret=secret, k=enc.k, n=enc.n,
        )  # fmt: skip

    async def check_and_repair(
        self, cap: CheckableCap, verify: bool = True, add_lease: bool = False
    ) -> CheckAndRepairResults:
        """Check, and repair if unhealthy; a mutable file needs its write cap for that."""
        inner = _stored(cap)
        secret = self.config.lease_secret
        if isinstance(inner, (CHKReadCap, CHKVerifyCap)):
            return await checker.check_and_repair(
                self.broker, inner, verify=verify, add_lease=add_lease,
                lease_secret=secret, pool=self.pool,
            )  # fmt: skip
        enc = self.config.encoding
        return await mutable_checker.check_and_repair(
            self.broker, inner, verify=verify, add_lease=add_lease,
            lease_secret=secret, k=enc.k, n=enc.n, pool=self.pool,
        )  # fmt: skip

    # -- mutable files and directories ----------------------------------------

    async def create_mutable(
        self, contents: bytes, format: Format = "sdmf", keys: KeyPair | None = None
    ) -> MutableFileNode:
        """A new mutable file, under `keys` if given (else a fresh key from the pool)."""
        enc = self.config.encoding
        fresh = FreshKeys(keys) if keys else await self.key_pool.get_fresh()
        first = fresh.empty if format == "sdmf" and not contents else None
        return await MutableFileNode.create(
            self.broker, fresh.keys, contents, self.config.lease_secret,
            enc.k, enc.n, self.pool, format=format, first=first,
        )  # fmt: skip

    def mutable(self, cap: MutableWriteCap | MutableReadCap) -> MutableFileNode:
        enc = self.config.encoding
        return MutableFileNode(self.broker, cap, self.config.lease_secret, enc.k, enc.n, self.pool)

    async def create_directory(self, format: Format = "sdmf") -> DirectoryNode:
        enc = self.config.encoding
        fresh = await self.key_pool.get_fresh()
        node = await DirectoryNode.create(
            self.broker, fresh.keys, self.config.lease_secret, k=enc.k, n=enc.n,
            pool=self.pool, format=format, first=fresh.empty if format == "sdmf" else None,
        )  # fmt: skip
        node.read_immutable, node.upload_immutable = self._read_cap, self._store
        return node

    def directory(self, cap: DirectoryCap) -> DirectoryNode:
        """A node for an existing directory cap (mutable or immutable)."""
        inner = cap.inner
        if isinstance(inner, (MutableWriteCap, MutableReadCap)):
            return DirectoryNode(
                cap,
                self.mutable(inner),
                read_immutable=self._read_cap,
                upload_immutable=self._store,
            )
        return DirectoryNode(cap, None, read_immutable=self._read_cap)

    async def _read_cap(self, cap):  # type: ignore[no-untyped-def]
        return await self.read_bytes(cap)

    async def _store(self, data: bytes) -> LiteralCap | CHKReadCap:
        return (await self.upload_bytes(data)).cap

    async def grid_status(self) -> list[ServerStatus]:
        async def one(server) -> ServerStatus:  # type: ignore[no-untyped-def]
            nurl = str(server.config.nurl)
            try:
                version = await asyncio.wait_for(server.client.get_version(), 10)
            except (TimeoutError, StorageError) as exc:
                return ServerStatus(server.nickname, nurl, False, error=str(exc) or "timed out")
            return ServerStatus(
                server.nickname,
                nurl,
                True,
                version.application_version.decode("utf-8", "replace"),
                version.available_space,
            )

        return list(await asyncio.gather(*(one(s) for s in self.broker.servers)))
