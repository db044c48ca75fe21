"""The node's servers: HTTPS on its TCP port, plain HTTP on its Unix socket.

Clients on other machines (and real Tahoe) reach the node over TLS, which
authenticates it by its key; clients on this machine may use its Unix socket
instead, where the file's mode authenticates both ends and no byte is
encrypted twice (the shares are ciphertext already). One app serves both,
its background work running around the two servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
import uvloop

from .config import NodeConfig
from .joined_writes import JoinedWritesProtocol
from .server import StorageServer


class _SignalFollower(uvicorn.Server):
    """A server that leaves SIGINT and SIGTERM to another and stops when told to
    (`should_exit`): two servers capturing them would each hide them from the other."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(app: StorageServer, config: NodeConfig, tls: bool) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        ssl_certfile=str(config.pem_path) if tls else None,
        ssl_keyfile=str(config.pem_path) if tls else None,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http=JoinedWritesProtocol,  # httptools, one send per small response
        proxy_headers=False,  # no proxy in front: skip the per-request middleware
        lifespan="off",  # `app.running()` spans both servers
        timeout_graceful_shutdown=5,
        timeout_keep_alive=75,  # outlives the client's pooled-connection expiry (60 s)
        server_header=False,
    )


def serve_node(
    app: StorageServer,
    config: NodeConfig,
    tcp_socket: socket.socket,
    unix_socket: socket.socket | None,
) -> bool:
    """Serve until SIGINT or SIGTERM; whether the TCP server started at all."""
    server = uvicorn.Server(_config(app, config, tls=True))
    local = _SignalFollower(_config(app, config, tls=False))

    async def serve() -> None:
        # The TCP server stops first, on the signal; then the local one; the app's
        # background work last, once neither has a request left.
        async with app.running():
            following = None
            if unix_socket is not None:
                following = asyncio.ensure_future(local.serve(sockets=[unix_socket]))
            try:
                await server.serve(sockets=[tcp_socket])
            finally:
                if following is not None:
                    local.should_exit = True
                    await following

    uvloop.run(serve())
    return server.started
