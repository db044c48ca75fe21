"""Accounts and their access keys, kept in one 0600 JSON file in the data directory.

Credentials are the one secret a gateway holds besides its root capability,
so they never go to the grid. `s3gw keys add|remove` may run while the gateway
serves: a lookup re-reads the file when it has changed, so keys work (or
stop working) without a restart.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials.json"
ENV_ACCOUNT = "root"  # the account S3GW_ACCESS_KEY / S3GW_SECRET_KEY define, as MinIO's root user

_KEY_ALPHABET = string.ascii_uppercase + string.digits


class CredentialsError(Exception):
    """A bad account name, a duplicate, or an unreadable credentials file."""


@dataclass(frozen=True)
class AccessKey:
    access_key: str
    secret_key: str
    account: str


def new_key_pair() -> tuple[str, str]:
    """An AWS-shaped pair: a 20-character key id and a 40-character secret."""
    access = "GK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))
    return access, secrets.token_urlsafe(30)


def _valid_account(name: str) -> None:
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise CredentialsError(
            f"invalid account name {name!r}: use 1-64 letters, digits, '-', '_' or '.'"
        )


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, readable by its owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Credentials:
    """The access keys of a data directory, plus the environment's root account if set."""

    def __init__(self, data_dir: Path, env_key: AccessKey | None = None) -> None:
        self.path = data_dir / CREDENTIALS_FILE
        self.env_key = env_key
        self._keys: dict[str, AccessKey] = {}
        self._stamp: tuple[int, int] | None = None
        self.reload()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def reload(self) -> None:
        stamp = self._file_stamp()
        keys: dict[str, AccessKey] = {}
        if stamp is not None:
            try:
                data = json.loads(self.path.read_text())
                for k in data.get("keys", []):
                    keys[k["access_key"]] = AccessKey(
                        k["access_key"], k["secret_key"], k["account"]
                    )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CredentialsError(f"cannot read {self.path}: {exc}") from exc
        self._keys, self._stamp = keys, stamp

    def keys(self) -> list[AccessKey]:
        """The file's keys (not the environment's), in account order."""
        return sorted(self._keys.values(), key=lambda k: (k.account, k.access_key))

    def lookup(self, access_key: str) -> AccessKey | None:
        if self.env_key is not None and access_key == self.env_key.access_key:
            return self.env_key
        if self._file_stamp() != self._stamp:  # one stat: keys added or removed take effect now
            self.reload()
        return self._keys.get(access_key)

    def secret_for(self, access_key: str) -> str | None:
        found = self.lookup(access_key)
        return found.secret_key if found else None

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"keys": [k.__dict__ for k in self.keys()]}
        write_private(self.path, json.dumps(doc, indent=1) + "\n")
        self._stamp = self._file_stamp()

    def add(self, account: str) -> AccessKey:
        """A new account with a new key pair; an existing account name is refused."""
        _valid_account(account)
        self.reload()
        if any(k.account == account for k in self._keys.values()):
            raise CredentialsError(f"account {account!r} already exists")
        access, secret = new_key_pair()
        key = AccessKey(access, secret, account)
        self._keys[access] = key
        self._save()
        return key

    def remove(self, name: str) -> list[AccessKey]:
        """Remove an account (every key of it) or one access key; returns what was removed."""
        self.reload()
        gone = [k for k in self._keys.values() if name in (k.account, k.access_key)]
        if not gone:
            raise CredentialsError(f"no account or access key named {name!r}")
        for k in gone:
            del self._keys[k.access_key]
        self._save()
        return gone


def env_access_key(environ: dict[str, str] | os._Environ[str]) -> AccessKey | None:
    """The root account defined by S3GW_ACCESS_KEY and S3GW_SECRET_KEY, if both are set."""
    access, secret = environ.get("S3GW_ACCESS_KEY"), environ.get("S3GW_SECRET_KEY")
    if not access and not secret:
        return None
    if not access or not secret:
        raise CredentialsError("set both S3GW_ACCESS_KEY and S3GW_SECRET_KEY, or neither")
    return AccessKey(access, secret, ENV_ACCOUNT)
