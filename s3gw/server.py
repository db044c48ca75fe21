"""`s3gw serve`: a gateway process, with its embedded local grid when no grid is configured.

The data directory holds what only this gateway knows: credentials
(0600), the root directory's cap (0600), the spool for uploads in flight
and, without a grid file, the embedded grid's storage nodes, started as
child processes before the gateway listens and stopped after it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import ssl
import sys
from pathlib import Path

import uvicorn

from lafs_core import Client
from lafs_core.dirnode import parse_dir_cap
from lafs_core.grid_config import load_grid
from lafs_core.malloc import one_arena, reuse_freed_memory
from s3gw.api import Gateway
from s3gw.app import S3App
from s3gw.catalog import Catalog
from s3gw.config import ConfigError, GatewayConfig
from s3gw.credentials import Credentials, CredentialsError, env_access_key, write_private
from s3gw.maintenance import renew_on_schedule
from s3gw.objects import ObjectStore
from storage_node.joined_writes import JoinedWritesProtocol
from storage_node.local_grid import LocalGrid
from storage_node.startup import StartupError, listen_socket, lock_directory

log = logging.getLogger("s3gw")

FIRST_ACCOUNT = "admin"
LOCK_FILE = "gateway.lock"  # held by the gateway serving the data directory
STARTUP_FAILURE = 3  # uvicorn's exit status when the app did not start
# RSA keys kept ready: a burst of new buckets (three directories each), multipart
# uploads (one each) and index splits (one each) then waits for no key generation.
KEY_POOL_SIZE = 16


def prepare_data_dir(config: GatewayConfig) -> Credentials:
    """Make the data directory (0700) and its first account; print that key pair once."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(config.data_dir, 0o700)
    credentials = Credentials(config.data_dir, env_access_key(os.environ))
    if credentials.env_key is None and not credentials.path.exists():
        key = credentials.add(FIRST_ACCOUNT)
        print(
            f"created account {key.account!r}; its access key and secret key "
            f"(shown once, kept in {credentials.path}):",
            flush=True,
        )
        print(f"{key.access_key} {key.secret_key}", flush=True)
    return credentials


class GatewayService:
    """Builds the grid client, catalog and handlers inside the server's event loop."""

    def __init__(
        self, config: GatewayConfig, app: S3App, grid_file: Path, local_grid: LocalGrid | None
    ) -> None:
        self.config = config
        self.app = app
        self.grid_file = grid_file
        self.local_grid = local_grid
        self.client: Client | None = None
        self.renewal: asyncio.Task[None] | None = None

    async def start(self) -> None:
        config = self.config
        client = Client(load_grid(self.grid_file), key_pool_size=KEY_POOL_SIZE)
        client.key_pool.fill()  # in idle time from now on, before the first request needs one
        self.client = client
        root_path = config.root_cap_path
        if root_path.exists():
            root_cap = parse_dir_cap(root_path.read_text().strip())
        else:
            root_cap = await Catalog.create_root(client)
            write_private(root_path, root_cap.to_string() + "\n")
        catalog = Catalog(
            client,
            client.directory(root_cap),
            cache_seconds=config.index_cache_seconds,
            max_bytes=config.index_leaf_bytes,
        )
        shutil.rmtree(config.spool_dir, ignore_errors=True)  # leftovers of a killed process
        store = ObjectStore(
            client, config.spool_dir, config.inline_max_bytes, config.convergent_encryption
        )
        self.app.gateway = Gateway(catalog, store, config.region)
        if config.lease_renewal_hours > 0:
            self.renewal = asyncio.create_task(
                renew_on_schedule(client, root_cap, config.lease_renewal_hours)
            )
        print(f"s3gw: serving S3 on {config.scheme}://{config.host}:{config.port}/", flush=True)

    async def stop(self) -> None:
        """At lifespan shutdown: uvicorn re-raises the signal that stopped it once it returns,
        so the embedded grid must stop here, not after `uvicorn.run`."""
        if self.renewal is not None:
            self.renewal.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.renewal
        if self.client is not None:
            await self.client.aclose()
        if self.local_grid is not None:
            self.local_grid.stop()


def check_tls_files(config: GatewayConfig) -> None:
    """Load the certificate and key once before anything starts, so a wrong file is a clear
    message, not a traceback after the storage nodes are up."""
    if config.tls_cert_file is None:
        return
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot use TLS certificate {config.tls_cert_file} with key "
            f"{config.tls_key_file}: {exc}"
        ) from exc


def serve(config: GatewayConfig) -> int:
    one_arena()  # before any thread starts: buffers freed by one worker serve the next
    reuse_freed_memory()  # segment and body buffers are reused, not faulted in page by page
    try:
        check_tls_files(config)
        # The port, then the data directory (whose spool a start empties), before anything.
        sock = listen_socket(config.host, config.port, "another gateway? choose a port with --port")
        lock = lock_directory(config.data_dir, LOCK_FILE, "data directory")
        credentials = prepare_data_dir(config)
    except (ConfigError, CredentialsError, StartupError) as exc:
        print(f"s3gw: {exc}", file=sys.stderr)
        return 1
    local_grid = None
    if config.grid is None:
        local_grid = LocalGrid(config.local_grid_dir, config.local_grid_nodes)
        local_grid.start()
        grid_file = local_grid.grid_file
    else:
        grid_file = config.grid
    app = S3App(
        None,
        credentials,
        base_domains=config.base_domains,
        strict_region=config.strict_region,
    )
    service = GatewayService(config, app, grid_file, local_grid)
    app.on_startup, app.on_shutdown = service.start, service.stop
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="uvloop",
            http=JoinedWritesProtocol,  # head and body of a response in one send
            lifespan="on",
            proxy_headers=False,  # no proxy is trusted to name the client
            access_log=False,
            log_level="warning",
            timeout_keep_alive=60,
            server_header=False,
            ssl_certfile=config.tls_cert_file,
            ssl_keyfile=config.tls_key_file,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        if local_grid is not None:
            local_grid.stop()
        lock.close()
    return 0 if server.started else STARTUP_FAILURE
