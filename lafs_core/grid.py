"""The storage broker: one protocol client per configured server, in ring order per file."""

import asyncio
from dataclasses import dataclass

from .grid_config import GridConfig, ServerConfig
from .placement import permuted
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


class StorageBroker:
    def __init__(self, config: GridConfig, max_connections: int = 8) -> None:
        self.servers = [
            Server(s, StorageClient(s.nurl, max_connections=max_connections))
            for s in config.servers
        ]

    def permuted(self, storage_index: bytes) -> list[Server]:
        """All servers in the order Tahoe's permuted ring gives for this storage index."""
        return permuted(((s, s.config.permutation_seed) for s in self.servers), storage_index)

    async def aclose(self) -> None:
        await asyncio.gather(*(s.client.aclose() for s in self.servers))
