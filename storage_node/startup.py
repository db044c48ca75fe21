"""What a server process claims before it touches anything: its directory and its ports.

A storage node wipes its `incoming/` uploads when it starts, and a gateway its
spool; a second process started on the same directory by mistake would do that
under the first one's feet. So each holds an exclusive lock on its directory
for its lifetime, and binds its port before anything starts: either being
taken is a one-line message, with nothing changed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import TextIO

from .errors import StorageNodeError


class StartupError(StorageNodeError):
    """The directory is in use by another process, or the port cannot be had."""


def lock_directory(directory: Path, lock_name: str, what: str) -> TextIO:
    """Hold `directory/lock_name` (making the directory if need be) locked for as long as
    the returned file stays open (keep it for the process's lifetime); StartupError naming
    the holder's pid if another process holds it. `what` names the directory in that
    message ("node directory")."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        f = open(directory / lock_name, "a+")  # noqa: SIM115 (held open: that is the lock)
    except OSError as exc:
        raise StartupError(f"cannot open {directory / lock_name}: {exc.strerror}") from exc
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip()
        f.close()
        by = f" (pid {holder})" if holder.isdigit() else ""
        raise StartupError(f"{what} {directory} is in use by another process{by}") from None
    except OSError:
        pass  # a filesystem without locks (ENOLCK): serve unguarded, as before locks
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def wait_until_free(directory: Path, lock_name: str, timeout: float) -> None:
    """Wait up to `timeout` seconds for the holder of `directory/lock_name` to let go: a
    process on its way out, such as a node whose gateway was just killed (it stops on
    SIGTERM). Past that, the caller's own `lock_directory` names the holder."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(directory / lock_name) as f:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return  # free (released again as the file closes)
        except BlockingIOError:
            if time.monotonic() > deadline:
                return
        except OSError:
            return  # no lock file yet, or a filesystem without locks (as lock_directory)
        time.sleep(0.05)


def listen_socket(host: str, port: int, hint: str) -> socket.socket:
    """A socket bound to host:port, for the server to listen on; StartupError if the port
    is taken (`hint` says what to do then) or the address is not this machine's."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        advice = f" ({hint})" if exc.errno == errno.EADDRINUSE else ""
        raise StartupError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}{advice}"
        ) from exc
    return sock


UNIX_PATH_MAX = 107  # a Unix socket's path: sun_path's 108 bytes, less the final NUL


def listen_unix_socket(path: Path) -> socket.socket | None:
    """A Unix socket bound at `path` (mode 0600), for clients on this machine; None where
    there can be none (no Unix sockets on this platform or filesystem, a path too long
    for one): clients then use TCP. A socket file left by a node that did not stop
    cleanly is replaced: call with the directory's lock held."""
    if not hasattr(socket, "AF_UNIX") or len(os.fsencode(path)) > UNIX_PATH_MAX:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        path.unlink(missing_ok=True)
        sock.bind(str(path))
        os.chmod(path, 0o600)
    except OSError:
        sock.close()
        return None
    return sock
