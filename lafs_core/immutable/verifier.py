"""Verify every byte of every share of a CHK file, as a repairer needs to know.

A download reads only what it needs; verification reads each share whole:
its UEB and hash chain (when opened), every block against the share's block
tree, and the share's copy of the crypttext tree against the UEB's root.
A verify-cap is enough: nothing is decrypted.
"""

import asyncio
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from ..errors import CorruptShareError
from ..hashes import BLOCK_TAG, tagged_hash
from ..hashtree import build_tree
from ..uri import CHKReadCap, CHKVerifyCap
from .layout import parse_tree
from .reader import UNAVAILABLE, CHKReader, OpenShare, ShareSource


@dataclass
class VerifyResult:
    good: set[int] = field(default_factory=set)
    corrupt: dict[int, str] = field(default_factory=dict)
    unavailable: dict[int, str] = field(default_factory=dict)


def _check_tree(raw: bytes, root: bytes, num_leaves: int, what: str) -> list[bytes]:
    nodes = parse_tree(raw)
    width = len(nodes) // 2 + 1
    leaves = nodes[width - 1 : width - 1 + num_leaves]
    if len(leaves) != num_leaves or build_tree(leaves) != nodes or nodes[0] != root:
        raise CorruptShareError(f"{what} does not hash to its root")
    return leaves


async def _verify_share(reader: CHKReader, share: OpenShare, pool: Executor | None) -> None:
    source, layout = share.source, share.layout
    geometry = reader.geometry
    loop = asyncio.get_running_loop()

    async def run(fn, *args):  # type: ignore[no-untyped-def]
        return await loop.run_in_executor(pool, fn, *args)

    crypttext_raw = await source.read(layout.crypttext_tree, layout.tree_size)
    block_raw = await source.read(layout.block_tree, layout.tree_size)
    n_seg = geometry.num_segments
    await run(_check_tree, crypttext_raw, reader.ueb.crypttext_root_hash, n_seg, "crypttext tree")
    block_root = share.block_tree.known[0]
    leaves = await run(_check_tree, block_raw, block_root, n_seg, "block hash tree")
    for index in range(n_seg):
        offset, length = geometry.block_span(index)
        block = await source.read(layout.data + offset, length)
        if len(block) != length or await run(tagged_hash, BLOCK_TAG, block) != leaves[index]:
            raise CorruptShareError(f"block {index} does not match its hash")


async def verify(
    cap: CHKReadCap | CHKVerifyCap, sources: Sequence[ShareSource], pool: Executor | None = None
) -> VerifyResult:
    """Check every share offered; never raises for a bad share, it reports it."""
    reader = CHKReader(cap, sources, pool)
    result = VerifyResult()
    shares = await reader.open_all()
    if shares:

        async def one(sharenum: int, share: OpenShare) -> None:
            try:
                await _verify_share(reader, share, pool)
            except CorruptShareError as exc:
                reader.mark_corrupt(sharenum, str(exc))
            except UNAVAILABLE as exc:
                reader.mark_unavailable(sharenum, exc)
            else:
                result.good.add(sharenum)

        await asyncio.gather(*(one(n, s) for n, s in shares.items()))
    result.corrupt = dict(reader.corrupt_shares)
    result.unavailable = dict(reader.unavailable_shares)
    return result
