"""Conditional request precedence as S3 documents it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from s3gw.conditions import (
    Conditions,
    DeleteConditions,
    etag_matches,
    evaluate,
    evaluate_delete,
    evaluate_write,
    format_http_date,
    parse_http_date,
)
from s3gw.errors import S3Error

ETAG = "d41d8cd98f00b204e9800998ecf8427e"
LM = datetime(2026, 11, 27, 12, 0, 0, 500000, tzinfo=UTC)
BEFORE = format_http_date(LM - timedelta(hours=1))
AT = format_http_date(LM)
AFTER = format_http_date(LM + timedelta(hours=1))


def outcome(cond: Conditions, method: str = "GET", copy_source: bool = False) -> int:
    try:
        evaluate(cond, ETAG, LM, method=method, copy_source=copy_source)
    except S3Error as err:
        return err.status
    return 200


@pytest.mark.parametrize(
    "cond, expected",
    [
        (Conditions(), 200),
        (Conditions(if_match=f'"{ETAG}"'), 200),
        (Conditions(if_match=ETAG), 200),
        (Conditions(if_match='"other", "' + ETAG + '"'), 200),
        (Conditions(if_match="*"), 200),
        (Conditions(if_match='"other"'), 412),
        (Conditions(if_none_match=f'"{ETAG}"'), 304),
        (Conditions(if_none_match="*"), 304),
        (Conditions(if_none_match='"other"'), 200),
        (Conditions(if_modified_since=BEFORE), 200),
        (Conditions(if_modified_since=AT), 304),  # same second: not modified
        (Conditions(if_modified_since=AFTER), 304),
        (Conditions(if_unmodified_since=AFTER), 200),
        (Conditions(if_unmodified_since=AT), 200),
        (Conditions(if_unmodified_since=BEFORE), 412),
        (Conditions(if_modified_since="garbage"), 200),
        (Conditions(if_unmodified_since="garbage"), 200),
        # S3's documented precedence:
        (Conditions(if_match=ETAG, if_unmodified_since=BEFORE), 200),
        (Conditions(if_none_match='"other"', if_modified_since=AFTER), 200),
        (Conditions(if_none_match=ETAG, if_modified_since=BEFORE), 304),
        (Conditions(if_match='"other"', if_none_match=ETAG), 412),
        (Conditions(if_match=ETAG, if_none_match=ETAG), 304),
    ],
)
def test_get(cond: Conditions, expected: int) -> None:
    assert outcome(cond) == expected
    assert outcome(cond, "HEAD") == expected


def test_not_get_and_copy_source_give_412() -> None:
    assert outcome(Conditions(if_none_match=ETAG), "PUT") == 412
    assert outcome(Conditions(if_modified_since=AFTER), copy_source=True) == 412
    assert outcome(Conditions(if_none_match=ETAG), copy_source=True) == 412


def test_from_headers_copy_source_prefix() -> None:
    c = Conditions.from_headers(
        {"X-Amz-Copy-Source-If-Match": ETAG, "If-Match": "x"}, prefix="x-amz-copy-source-"
    )
    assert c.if_match == ETAG and c.any
    assert not Conditions.from_headers({}).any


def test_not_modified_carries_etag() -> None:
    with pytest.raises(S3Error) as info:
        evaluate(Conditions(if_none_match=ETAG), ETAG, LM)
    assert info.value.code == "NotModified" and info.value.headers["ETag"] == f'"{ETAG}"'


def test_write_conditions() -> None:
    evaluate_write(Conditions(if_none_match="*"), None)
    with pytest.raises(S3Error) as info:
        evaluate_write(Conditions(if_none_match="*"), ETAG)
    assert info.value.status == 412
    with pytest.raises(S3Error) as info:
        evaluate_write(Conditions(if_match=ETAG), None)
    assert info.value.code == "NoSuchKey"
    evaluate_write(Conditions(if_match=ETAG), ETAG)
    with pytest.raises(S3Error):
        evaluate_write(Conditions(if_match="other"), ETAG)


def test_http_dates() -> None:
    assert parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT") == datetime(
        2015, 10, 21, 7, 28, tzinfo=UTC
    )
    assert parse_http_date("Wednesday, 21-Oct-15 07:28:00 GMT") is not None
    assert parse_http_date("nope") is None and parse_http_date(None) is None
    assert etag_matches('W/"abc"', "abc")


def test_conditional_delete() -> None:
    current = (ETAG, LM, 10)

    def code(cond: DeleteConditions, found: tuple[str, datetime, int] | None = current) -> str:
        try:
            evaluate_delete(cond, found)
        except S3Error as err:
            return err.code
        return "deleted"

    assert code(DeleteConditions()) == "deleted"
    assert code(DeleteConditions(if_match=f'"{ETAG}"')) == "deleted"
    assert code(DeleteConditions(if_match="*")) == "deleted"
    assert code(DeleteConditions(if_match='"other"')) == "PreconditionFailed"
    assert code(DeleteConditions(if_match="*"), None) == "NoSuchKey"
    assert code(DeleteConditions(size=10, last_modified=LM.replace(microsecond=0))) == "deleted"
    assert code(DeleteConditions(size=11)) == "PreconditionFailed"
    assert code(DeleteConditions(last_modified=LM - timedelta(seconds=1))) == "PreconditionFailed"
    assert code(DeleteConditions(size=11), None) == "deleted"  # nothing there to protect


def test_delete_conditions_from_headers() -> None:
    cond = DeleteConditions.from_headers(
        {"If-Match": '"e"', "x-amz-if-match-last-modified-time": AT, "x-amz-if-match-size": "5"}
    )
    assert cond == DeleteConditions('"e"', LM.replace(microsecond=0), 5) and cond.any
    assert not DeleteConditions.from_headers({"If-None-Match": "*"}).any
    for bad in ({"x-amz-if-match-size": "-1"}, {"x-amz-if-match-last-modified-time": "soon"}):
        with pytest.raises(S3Error) as info:
            DeleteConditions.from_headers(bad)
        assert info.value.code == "InvalidArgument"
