"""The `?t=json` listing text: our indented renderer against json.dumps, the text-only CHK path
against the parsed caps. (Byte comparisons with Tahoe's own output: tests/interop.)"""

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lafs_core import base32
from lafs_core.dirnode.caps import parse_any_cap, parse_dir_cap
from lafs_core.dirnode.children import known_child, list_body, listed_file_text
from lafs_core.dirnode.format import Entry, pack_children
from lafs_core.dirnode.listing_json import child_json, directory_json, render

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats()  # NaN and the infinities go through json.dumps itself
    | st.text()  # non-ASCII, control characters, lone surrogates
)
keys = st.text() | st.sampled_from(["tahoe", "linkcrtime", "ctime", "mtime", "é", "\n", '"'])
odd_keys = st.integers() | st.booleans() | st.none() | st.floats(allow_nan=False)


def json_values(key_strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.tuples(inner, inner)
            | st.dictionaries(key_strategy, inner, max_size=4)
        ),
        max_leaves=20,
    )


def chk_texts() -> st.SearchStrategy[str]:
    """Canonical CHK read caps (what a directory stores)."""
    return st.builds(
        lambda key, ueb, kn, size: (
            f"URI:CHK:{base32.b2a(key)}:{base32.b2a(ueb)}:{kn[0]}:{kn[1]}:{size}"
        ),
        st.binary(min_size=16, max_size=16),
        st.binary(min_size=32, max_size=32),
        st.tuples(st.integers(1, 256), st.integers(1, 256)).map(sorted),
        st.integers(0, 2**64),
    )


TAHOE_METADATA = {"tahoe": {"linkcrtime": 1700000000.123456, "linkmotime": 1700000001.5}}
metadata = st.dictionaries(keys, json_values(keys), max_size=3) | st.just(TAHOE_METADATA)


@given(json_values(keys | odd_keys))
def test_render_is_json_dumps_indented(value: Any) -> None:
    assert render(value) == json.dumps(value, indent=1) + "\n"


@given(st.dictionaries(st.text(), st.tuples(st.sampled_from(["filenode", "dirnode"]), metadata)))
def test_render_of_listing_shapes(children: dict[str, Any]) -> None:
    data = ["dirnode", {"children": children, "ro_uri": "URI:DIR2-RO:x", "mutable": True}]
    assert render(data) == json.dumps(data, indent=1) + "\n"


@pytest.mark.parametrize("depth", [10, 600])
def test_render_of_deep_nesting(depth: int) -> None:
    """Deeper than our recursion goes, but not json.dumps'."""
    value = json.loads('{"a":' * depth + "[]" + "}" * depth)
    assert render(value) == json.dumps(value, indent=1) + "\n"


@pytest.mark.parametrize("bad", [[object()], {(1, 2): 3}, {"a": [{1j: 0}]}])
def test_render_refuses_what_json_dumps_refuses(bad: Any) -> None:
    with pytest.raises(TypeError) as expected:
        json.dumps(bad, indent=1)
    with pytest.raises(TypeError) as got:
        render(bad)
    assert str(got.value) == str(expected.value)


@given(chk_texts(), metadata)
def test_listed_chk_child_shown_from_its_text(text: str, md: dict[str, Any]) -> None:
    """The text-only path gives what the parsed cap gives (size, verify cap, key order)."""
    body = pack_children({"f": Entry("f", text, None, md)}, None)
    child, stored_md = list_body(body, None, mutable=False)["f"]
    assert listed_file_text(child) == text
    shown = child_json(child, stored_md)
    parsed = child_json(known_child(parse_any_cap(text)), stored_md)
    assert render(shown) == render(parsed)
    assert shown[1]["verify_uri"] == parse_any_cap(text).verify_cap().to_string()  # type: ignore[union-attr]


DIRECTORY = parse_dir_cap(
    "URI:DIR2-CHK:yzxcoagbetwet65ltjpbqyli3m:"
    "6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:3:10:56"
)
OTHER_CAPS = [
    "URI:LIT:nbswy3dpeb3w64tmmq",
    "URI:LIT:",
    "URI:CHK-Verifier:yzxcoagbetwet65ltjpbqyli3m:"
    "6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:3:10:56",
    "URI:DIR2-CHK:yzxcoagbetwet65ltjpbqyli3m:"
    "6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:3:10:56",
    "URI:CHK:yzxcoagbetwet65ltjpbqyli3m:6b7inuiha2xdtgqzd55i6aeggutnxzr6qfwpv2ep5xlln6pgef7a:03:10:56",
    "URI:NEW-KIND:abc",
]


@given(st.lists(chk_texts() | st.sampled_from(OTHER_CAPS)), metadata)
def test_directory_listing_same_as_from_parsed_caps(caps: list[str], md: dict[str, Any]) -> None:
    """Every child of an immutable directory, text-only or not, shows as its parsed cap does."""
    entries = {f"c{i}-é": Entry(f"c{i}-é", cap, None, md) for i, cap in enumerate(caps)}
    listing = list_body(pack_children(entries, None, True), None, mutable=False)
    parsed = {
        name: (known_child(child.cap) if child.cap is not None else child, stored)
        for name, (child, stored) in listing.items()
    }
    shown = render(directory_json(DIRECTORY, listing))
    assert shown == render(directory_json(DIRECTORY, parsed))
    assert shown == json.dumps(directory_json(DIRECTORY, listing), indent=1) + "\n"
