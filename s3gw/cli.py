"""`s3gw`: run the gateway (`serve`), check a bucket (`fsck`), manage credentials (`keys`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from s3gw.config import DEFAULT_DATA_DIR, DEFAULT_PORT, ConfigError, load_config
from s3gw.credentials import Credentials, CredentialsError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="s3gw", description="S3 gateway on a Tahoe-LAFS grid")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="serve S3 (with no grid configured: on an embedded local grid of 10 storage nodes)",
    )
    serve.add_argument("--config", type=Path, help="TOML settings file")
    serve.add_argument("--data-dir", type=Path, help=f"default {DEFAULT_DATA_DIR}")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"default {DEFAULT_PORT}")
    serve.add_argument("--grid", type=Path, help="grid file of an existing grid")
    serve.add_argument("--tls-cert", type=Path, help="serve HTTPS with this PEM certificate")
    serve.add_argument("--tls-key", type=Path, help="and this PEM private key")

    fsck = sub.add_parser(
        "fsck",
        help="check a bucket's index and objects on the grid (which must be running: "
        "for the embedded grid, while `s3gw serve` runs)",
    )
    fsck.add_argument("bucket")
    fsck.add_argument("--config", type=Path, help="TOML settings file (as for serve)")
    fsck.add_argument("--data-dir", type=Path, help=f"default {DEFAULT_DATA_DIR}")
    fsck.add_argument("--grid", type=Path, help="grid file, if serve was given one")
    fsck.add_argument("--verify", action="store_true", help="download and hash-check every share")
    fsck.add_argument("--repair", action="store_true", help="repair what is unhealthy")
    fsck.add_argument("--json", action="store_true", help="one JSON object per line")

    keys = sub.add_parser("keys", help="manage accounts and their access keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    for name, text in [
        ("add", "create account NAME with a new key pair"),
        ("list", "list accounts and access keys"),
        ("remove", "remove an account (or one access key)"),
    ]:
        p = keys_sub.add_parser(name, help=text)
        p.add_argument("--config", type=Path, help="TOML settings file")
        p.add_argument("--data-dir", type=Path, help=f"default {DEFAULT_DATA_DIR}")
        if name != "list":
            p.add_argument("name")
    return parser


def _keys(args: argparse.Namespace, data_dir: Path) -> int:
    credentials = Credentials(data_dir)
    if args.keys_command == "add":
        key = credentials.add(args.name)
        print(f"account {key.account!r} created; access key id and secret access key:")
        print(f"{key.access_key} {key.secret_key}")
    elif args.keys_command == "list":
        for key in credentials.keys():
            print(f"{key.account} {key.access_key}")
    else:
        for key in credentials.remove(args.name):
            print(f"removed {key.account} {key.access_key}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(
            args.config,
            data_dir=args.data_dir,
            host=getattr(args, "host", None),
            port=getattr(args, "port", None),
            grid=getattr(args, "grid", None),
            tls_cert_file=getattr(args, "tls_cert", None),
            tls_key_file=getattr(args, "tls_key", None),
        )
        if args.command == "keys":
            return _keys(args, config.data_dir)
        if args.command == "fsck":
            from s3gw.fsck import fsck_command

            return fsck_command(
                config, args.bucket, verify=args.verify, repair=args.repair, as_json=args.json
            )
        from s3gw.server import serve

        return serve(config)
    except (ConfigError, CredentialsError) as exc:
        print(f"s3gw: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
