"""Listing semantics against a brute-force model, plus boto3's paginator over rendered pages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.handlers import decode_list_object_v2  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from s3gw import xml
from s3gw.errors import S3Error
from s3gw.listing import (
    Page,
    decode_token,
    encode_token,
    paginate,
    paginate_buckets,
    parse_list_params,
    parse_max_keys,
)
from tests.s3gw.botocore_oracle import parse_response as parse

KEYS = sorted(["a", "a/", "a/b", "a/b/c", "a/c", "b", "b/x", "c/d/e", "é", "日本/x", "z"])


def items(keys: list[str]) -> list[tuple[str, int]]:
    return [(k, i) for i, k in enumerate(keys)]


def test_flat() -> None:
    page = paginate(items(KEYS), max_keys=3)
    assert [k for k, _ in page.contents] == ["a", "a/", "a/b"]
    assert page.is_truncated and page.last == "a/b"
    page = paginate(items(KEYS), start_after="a/b", max_keys=1000)
    assert [k for k, _ in page.contents] == KEYS[3:] and not page.is_truncated


def test_delimiter() -> None:
    page = paginate(items(KEYS), delimiter="/")
    assert [k for k, _ in page.contents] == ["a", "b", "z", "é"]
    assert page.common_prefixes == ["a/", "b/", "c/", "日本/"]
    page = paginate(items(KEYS), prefix="a/", delimiter="/")
    assert [k for k, _ in page.contents] == ["a/", "a/b", "a/c"]
    assert page.common_prefixes == ["a/b/"]
    # A common prefix counts once against max-keys; the next page skips past it.
    page = paginate(items(KEYS), delimiter="/", max_keys=2)
    assert [k for k, _ in page.contents] == ["a"] and page.common_prefixes == ["a/"]
    assert page.is_truncated and page.last == "a/"
    nxt = paginate(items(KEYS), delimiter="/", max_keys=2, start_after="a/")
    assert [k for k, _ in nxt.contents] == ["b"] and nxt.common_prefixes == ["b/"]


def test_max_keys_zero_and_empty() -> None:
    page = paginate(items(KEYS), max_keys=0)
    assert page.contents == [] and not page.is_truncated
    assert paginate(items([]), max_keys=5) == Page()


def model(keys: list[str], prefix: str, delimiter: str | None) -> list[str]:
    """Everything a full listing returns (keys and common prefixes), in order."""
    out: list[str] = []
    for k in sorted(keys):
        if not k.startswith(prefix):
            continue
        if delimiter and delimiter in k[len(prefix) :]:
            cp = k[: k.index(delimiter, len(prefix)) + len(delimiter)]
            if cp not in out:
                out.append(cp)
        else:
            out.append(k)
    return out


@settings(max_examples=200, deadline=None)
@given(
    keys=st.sets(st.text(alphabet="ab/é日", min_size=1, max_size=5), max_size=25),
    prefix=st.text(alphabet="ab/", max_size=2),
    delimiter=st.sampled_from([None, "/", "b", "ab"]),
    max_keys=st.integers(1, 6),
)
def test_paging_matches_model(
    keys: set[str], prefix: str, delimiter: str | None, max_keys: int
) -> None:
    ordered = sorted(keys)
    assert ordered == sorted(keys, key=lambda k: k.encode("utf-8"))  # UTF-8 binary order
    seen: list[str] = []
    marker = ""
    for _ in range(100):
        page = paginate(
            items(ordered),
            prefix=prefix,
            delimiter=delimiter,
            start_after=marker,
            max_keys=max_keys,
        )
        got = sorted([k for k, _ in page.contents] + page.common_prefixes)
        assert len(got) <= max_keys
        seen += got
        if not page.is_truncated:
            break
        assert page.last is not None
        marker = decode_token(encode_token(page.last))
    assert seen == model(ordered, prefix, delimiter)


def test_params() -> None:
    p = parse_list_params({"prefix": "a", "marker": "m", "max-keys": "5000"}, v2=False)
    assert (p.version, p.prefix, p.start_after, p.max_keys, p.fetch_owner) == (
        1,
        "a",
        "m",
        1000,
        True,
    )
    tok = encode_token("k/é")
    p = parse_list_params(
        {
            "list-type": "2",
            "continuation-token": tok,
            "start-after": "z",
            "encoding-type": "url",
            "fetch-owner": "true",
        },
        v2=True,
    )
    assert p.start_after == "k/é" and p.encoding_type == "url" and p.fetch_owner
    assert p.start_after_param == "z" and p.continuation_token == tok
    p = parse_list_params({"start-after": "z", "delimiter": ""}, v2=True)
    assert p.start_after == "z" and p.delimiter is None and not p.fetch_owner
    for bad in (
        {"max-keys": "-1"},
        {"max-keys": "x"},
        {"encoding-type": "base64"},
        {"continuation-token": "!!"},
        {"continuation-token": ""},
        {"continuation-token": encode_token("x")[:-4] + "AAAA"},
    ):
        with pytest.raises(S3Error) as info:
            parse_list_params(bad, v2=True)
        assert info.value.code == "InvalidArgument"
    assert parse_max_keys(None) == 1000 and parse_max_keys("0") == 0


def test_rendered_pages_walk_through_botocore() -> None:
    """Render v2 pages (encoding-type=url), parse and decode them as boto3 does, and follow
    NextContinuationToken until the listing ends."""
    keys = sorted(["a b", "a+b", "dir/x", "dir/y", "ü", "z%"])
    t = datetime(2026, 1, 1, tzinfo=UTC)
    token: str | None = None
    seen: list[str] = []
    prefixes: list[str] = []
    for _ in range(10):
        query = {"delimiter": "/", "max-keys": "2", "encoding-type": "url"}
        if token is not None:
            query["continuation-token"] = token
        params = parse_list_params(query, v2=True)
        page = paginate(
            items(keys),
            delimiter=params.delimiter,
            start_after=params.start_after,
            max_keys=params.max_keys,
        )
        body = xml.render_list_objects_v2(
            bucket="b",
            prefix=params.prefix,
            delimiter=params.delimiter,
            max_keys=params.max_keys,
            is_truncated=page.is_truncated,
            contents=[xml.ObjectEntry(k, t, "e", 1) for k, _ in page.contents],
            common_prefixes=page.common_prefixes,
            continuation_token=token,
            next_continuation_token=page.next_token,
            encoding_type=params.encoding_type,
        )
        parsed = parse("ListObjectsV2", body)
        decode_list_object_v2(parsed, {"encoding_type_auto_set": True})
        seen += [c["Key"] for c in parsed.get("Contents", [])]
        prefixes += [c["Prefix"] for c in parsed.get("CommonPrefixes", [])]
        if not parsed["IsTruncated"]:
            break
        token = parsed["NextContinuationToken"]
    assert seen == ["a b", "a+b", "z%", "ü"] and prefixes == ["dir/"]


def test_paginate_parts() -> None:
    from s3gw.listing import paginate_parts

    parts = [(n, f"e{n}") for n in (1, 2, 5, 7)]
    assert paginate_parts(parts, max_parts=2) == ([(1, "e1"), (2, "e2")], True, 2)
    assert paginate_parts(parts, part_number_marker=2, max_parts=2) == (
        [(5, "e5"), (7, "e7")],
        False,
        7,
    )
    assert paginate_parts(parts, part_number_marker=7) == ([], False, 7)


def test_paginate_uploads() -> None:
    from s3gw.listing import paginate_uploads

    ups = [("a", "u1", 1), ("a", "u2", 2), ("b/x", "u3", 3), ("b/y", "u4", 4), ("c", "u5", 5)]
    page = paginate_uploads(ups, max_uploads=2)
    assert [(k, u) for k, u, _ in page.uploads] == [("a", "u1"), ("a", "u2")]
    assert page.is_truncated and (page.next_key_marker, page.next_upload_id_marker) == ("a", "u2")
    page = paginate_uploads(ups, key_marker="a", upload_id_marker="u1", max_uploads=2)
    assert [(k, u) for k, u, _ in page.uploads] == [("a", "u2"), ("b/x", "u3")]
    page = paginate_uploads(ups, key_marker="a")
    assert [k for k, _, _ in page.uploads] == ["b/x", "b/y", "c"] and not page.is_truncated
    page = paginate_uploads(ups, delimiter="/", max_uploads=3)
    assert [k for k, _, _ in page.uploads] == ["a", "a"] and page.common_prefixes == ["b/"]
    assert page.is_truncated and page.next_key_marker == "b/"
    page = paginate_uploads(ups, delimiter="/", key_marker="b/")
    assert [k for k, _, _ in page.uploads] == ["c"] and page.common_prefixes == []
    page = paginate_uploads(ups, prefix="b/")
    assert [u for _, u, _ in page.uploads] == ["u3", "u4"]


def test_paginate_buckets() -> None:
    names = ["alpha-1", "alpha-2", "alpha-3", "beta"]

    def pages(query: dict[str, str]) -> list[list[str]]:
        out = []
        while True:
            page = paginate_buckets(names, query, "us-east-1")
            out.append(page.names)
            if page.continuation_token is None:
                return out
            query = {**query, "continuation-token": page.continuation_token}

    assert pages({}) == [names]  # no max-buckets: all of them, as older clients expect
    assert pages({"max-buckets": "2"}) == [["alpha-1", "alpha-2"], ["alpha-3", "beta"]]
    assert pages({"prefix": "alpha", "max-buckets": "2"}) == [["alpha-1", "alpha-2"], ["alpha-3"]]
    assert pages({"prefix": "gamma"}) == [[]]
    assert pages({"bucket-region": "eu-west-1"}) == [[]]
    assert pages({"bucket-region": "us-east-1", "max-buckets": "10000"}) == [names]
    for bad in ({"max-buckets": "0"}, {"max-buckets": "10001"}, {"continuation-token": "!"}):
        with pytest.raises(S3Error) as info:
            paginate_buckets(names, bad, "us-east-1")
        assert info.value.code == "InvalidArgument", bad
