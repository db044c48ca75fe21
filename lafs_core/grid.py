"""The storage broker: one protocol client per configured server, in ring order per file."""

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import StorageError
from .grid_config import GridConfig, ServerConfig
from .placement import permuted
from .secrets import lease_secrets
from .storage_client import StorageClient


@dataclass(eq=False)
class Server:
    """A storage server of the grid and our connection pool to it."""

    config: ServerConfig
    client: StorageClient

    @property
    def nickname(self) -> str:
        return self.config.nickname

    def __repr__(self) -> str:
        return f"<Server {self.nickname}>"

    async def add_lease(self, storage_index: bytes, lease_secret: bytes) -> bool:
        """Add or renew our lease on this server's shares of `storage_index`; False if it
        holds none. Raises StorageError."""
        secrets = lease_secrets(lease_secret, storage_index, self.config.lease_seed)
        return await self.client.add_or_renew_lease(storage_index, secrets.renew, secrets.cancel)


async def add_leases(
    servers: Iterable[Server], storage_index: bytes, lease_secret: bytes
) -> dict[Server, bool | StorageError]:
    """`Server.add_lease` on every server at once; per server, whether it held shares or
    the error it answered (leases are best effort: callers decide what a failure means)."""

    async def one(server: Server) -> bool | StorageError:
        try:
            return await server.add_lease(storage_index, lease_secret)
        except StorageError as exc:
            return exc

    servers = list(servers)
    return dict(zip(servers, await asyncio.gather(*(one(s) for s in servers))))


class StorageBroker:
    def __init__(self, config: GridConfig, max_connections: int = 8) -> None:
        self.servers = [
            Server(
                s,
                StorageClient(s.nurl, max_connections=max_connections, unix_socket=s.local_socket),
            )
            for s in config.servers
        ]

    def permuted(self, storage_index: bytes) -> list[Server]:
        """All servers in the order Tahoe's permuted ring gives for this storage index."""
        return permuted(((s, s.config.permutation_seed) for s in self.servers), storage_index)

    async def aclose(self) -> None:
        await asyncio.gather(*(s.client.aclose() for s in self.servers))
