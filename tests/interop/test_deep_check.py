"""Deep-check, manifest and deep-stats JSON against real Tahoe 1.20's web API on the same tree.

The tree is made by the Tahoe client of our storage nodes; then its
`t=stream-deep-check` and `t=stream-manifest` are compared with
`lafs deep-check --json` and `lafs manifest --json` over the same grid.
Server identities differ between the two clients (Tahoe names servers by
node id, we by nickname), so the fields naming servers are compared by shape.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest

from lafs_core.client import Client
from lafs_core.deep import deep_check
from lafs_core.dirnode import parse_dir_cap
from lafs_core.grid_config import load_grid

from .conftest import (
    CLI_TIMEOUT,
    ServerSet,
    TahoeClientNode,
    lafs_cli,
    run_async,
    shares_in,
    wait_until,
)

pytestmark = pytest.mark.interop

SERVER_KEYS = {"servers-responding", "sharemap", "list-corrupt-shares"}


def web(tahoe: TahoeClientNode, method: str, path: str, data: bytes | None = None) -> str:
    url = f"http://127.0.0.1:{tahoe.web_port}{path}"
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=CLI_TIMEOUT) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        exc.close()
        raise AssertionError(f"{method} {path}: {exc.code} {body[-2000:]}") from None


def q(cap: str) -> str:
    return urllib.parse.quote(cap, safe="")


def make_tree(tahoe: TahoeClientNode) -> str:
    """/big (CHK), /lit (LIT), /same (= big), /sub/inner (CHK), /sub/mut (SDMF), /sub/up (= /)."""
    root = web(tahoe, "POST", "/uri?t=mkdir").strip()
    big = web(tahoe, "PUT", f"/uri/{q(root)}/big", os.urandom(5000))
    web(tahoe, "PUT", f"/uri/{q(root)}/lit", b"tiny")
    web(tahoe, "PUT", f"/uri/{q(root)}/same?t=uri", big.encode())
    sub = web(tahoe, "POST", f"/uri/{q(root)}/sub?t=mkdir").strip()
    web(tahoe, "PUT", f"/uri/{q(sub)}/inner", os.urandom(70_000))
    web(tahoe, "PUT", f"/uri/{q(sub)}/mut?format=SDMF", os.urandom(900))
    readonly = json.loads(web(tahoe, "GET", f"/uri/{q(root)}?t=json"))[1]["ro_uri"]
    web(tahoe, "PUT", f"/uri/{q(sub)}/up?t=uri", readonly.encode())
    return root


def deep_check_document(tahoe: TahoeClientNode, root: str) -> dict[str, Any]:
    """Tahoe's deep-check-and-repair JSON document (`t=start-deep-check`, under a handle)."""
    handle = os.urandom(8).hex()
    web(tahoe, "POST", f"/uri/{q(root)}?t=start-deep-check&repair=true&ophandle={handle}")
    status: dict[str, Any] = {}

    def finished() -> bool:
        status.update(json.loads(web(tahoe, "GET", f"/operations/{handle}?output=JSON")))
        return bool(status.get("finished"))

    wait_until(finished, CLI_TIMEOUT, "Tahoe's deep-check to finish")
    return status


def units(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def by_path(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {"/".join(u["path"]): u for u in found if u["type"] != "stats"}


def comparable(results: dict[str, Any]) -> dict[str, Any]:
    """Check results with the server-naming fields replaced by their shape."""
    out = dict(results)
    inner = dict(out.get("results", {}))
    for key in SERVER_KEYS & set(inner):
        value = inner[key]
        inner[key] = (
            sorted(len(v) for v in value.values()) if isinstance(value, dict) else len(value)
        )
    out["results"] = inner
    return out


def test_stream_deep_check_matches_tahoe(ours_set: ServerSet) -> None:
    tahoe = ours_set.tahoe_client()
    root = make_tree(tahoe)
    theirs = units(web(tahoe, "POST", f"/uri/{q(root)}?t=stream-deep-check&verify=true"))
    ours = units(
        lafs_cli("--grid", str(ours_set.grid_file), "deep-check", "--verify", "--json", root).stdout
    )
    assert theirs[-1] == ours[-1], "final stats unit"
    theirs_by, ours_by = by_path(theirs), by_path(ours)
    assert list(theirs_by) == list(ours_by), "walk order"
    for path, unit in theirs_by.items():
        mine = ours_by[path]
        assert set(mine) == set(unit), path
        for key in ("type", "path", "cap", "verifycap", "repaircap", "storage-index"):
            assert mine[key] == unit[key], (path, key)
        assert comparable(mine["check-results"]) == comparable(unit["check-results"]), path


def test_stream_manifest_and_stats_match_tahoe(ours_set: ServerSet) -> None:
    tahoe = ours_set.tahoe_client()
    root = make_tree(tahoe)
    theirs = units(web(tahoe, "POST", f"/uri/{q(root)}?t=stream-manifest"))
    ours = units(lafs_cli("--grid", str(ours_set.grid_file), "manifest", "--json", root).stdout)
    assert ours == theirs
    stats = json.loads(lafs_cli("--grid", str(ours_set.grid_file), "stats", "--json", root).stdout)
    assert stats == theirs[-1]["stats"]


def test_deep_check_repair_matches_tahoe_counters(ours_set: ServerSet) -> None:
    tahoe = ours_set.tahoe_client()
    root = make_tree(tahoe)
    inner = by_path(units(web(tahoe, "POST", f"/uri/{q(root)}?t=stream-manifest")))["sub/inner"]
    files = {
        n: p
        for s in ours_set.servers
        for n, p in shares_in(s.storage_dir, inner["storage-index"]).items()
    }
    for n in sorted(files)[:2]:
        files[n].unlink()
    ours = units(
        lafs_cli("--grid", str(ours_set.grid_file), "deep-check", "--repair", "--json", root).stdout
    )
    unit = by_path(ours)["sub/inner"]["check-and-repair-results"]
    assert unit["repair-attempted"] and unit["repair-successful"]
    theirs = deep_check_document(tahoe, root)
    assert theirs["count-repairs-attempted"] == 0  # ours left nothing for Tahoe to do
    assert theirs["count-objects-healthy-post-repair"] == 5

    async def again() -> dict[str, Any]:
        async with Client(load_grid(ours_set.grid_file)) as client:
            return (await deep_check(client, parse_dir_cap(root), repair=True)).to_json()

    mine = run_async(again())
    assert set(mine) == set(theirs) - {"finished"}
    for key, value in theirs.items():
        if key.startswith("count-") or key == "stats":
            assert mine[key] == value, key
