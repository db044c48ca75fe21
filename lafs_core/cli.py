"""`lafs`: the grid client's command line.

Arguments are read here, once, into plain values and dataclasses; every
failure the user can cause ends in one line on stderr and exit status 1.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from . import base32
from .errors import LafsError
from .immutable.local import encode_path
from .immutable.params import DEFAULT_MAX_SEGMENT_SIZE, EncodingParams


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr, not a usage dump."""

    def error(self, message: str) -> "NoReturn":
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_encoding_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the file to encode")
    parser.add_argument(
        "--convergence-secret",
        help="base32 text, as in a Tahoe node's private/convergence file",
    )
    parser.add_argument("-k", "--needed", type=int, default=3, help="shares needed (k)")
    parser.add_argument("--happy", type=int, default=7, help="servers of happiness")
    parser.add_argument("-n", "--total", type=int, default=10, help="total shares (n)")
    parser.add_argument(
        "--max-segment-size", type=int, default=DEFAULT_MAX_SEGMENT_SIZE, metavar="BYTES"
    )


def parse_convergence_secret(text: str) -> bytes:
    cleaned = text.strip()
    try:
        return base32.a2b(cleaned)
    except ValueError:
        raise UsageError(
            "the convergence secret must be base32 text (lower case a-z, 2-7), "
            "as Tahoe writes it in private/convergence"
        ) from None


def _encoding_params(args: argparse.Namespace) -> EncodingParams:
    return EncodingParams(args.needed, args.happy, args.total, args.max_segment_size)


def _input_file(path: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if not p.is_file():
        raise UsageError(f"not a regular file: {path}")
    return p


def _convergence(args: argparse.Namespace) -> bytes:
    if args.convergence_secret is None:
        raise UsageError("a convergence secret is needed: pass --convergence-secret")
    return parse_convergence_secret(args.convergence_secret)


def cmd_cap(args: argparse.Namespace) -> None:
    params = _encoding_params(args)
    cap = encode_path(_input_file(args.file), params, _convergence(args))
    print(cap.to_string())


def cmd_debug_encode(args: argparse.Namespace) -> None:
    params = _encoding_params(args)
    source = _input_file(args.file)
    secret = _convergence(args)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    cap = encode_path(source, params, secret, out_dir=out)
    print(cap.to_string())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lafs", description="Client of a Tahoe-LAFS style grid")
    commands = parser.add_subparsers(dest="command", required=True)

    cap = commands.add_parser("cap", help="print the read-cap that uploading FILE would produce")
    _add_encoding_options(cap)
    cap.set_defaults(func=cmd_cap)

    debug = commands.add_parser("debug", help="tools for comparing with other implementations")
    debug_commands = debug.add_subparsers(dest="debug_command", required=True)
    enc = debug_commands.add_parser("encode", help="write FILE's shares into a directory")
    _add_encoding_options(enc)
    enc.add_argument("--out", required=True, metavar="DIR", help="one file per share number")
    enc.set_defaults(func=cmd_debug_encode)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (UsageError, LafsError) as exc:
        print(f"lafs: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        name = f" {exc.filename}" if exc.filename else ""
        print(f"lafs: error:{name} {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
