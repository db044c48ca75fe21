"""`s3gw`: the gateway's command line.

`serve` and `keys` arrive with the S3 handlers (issue 6). Until then the
command says so plainly instead of failing with an import error.
"""

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="s3gw", description="S3 gateway on a Tahoe-LAFS grid")
    parser.add_argument("command", nargs="?", choices=["serve", "keys"])
    parser.parse_args(argv)
    print(
        "s3gw: the S3 gateway is not available yet; "
        "run a grid with `storage-node local-grid DIR` and use `lafs` (see README)",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
