"""The POST policy document and its conditions (pure)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from s3gw.errors import S3Error
from s3gw.post_policy import check_form, check_size, parse_policy

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _encode(document: object) -> str:
    return base64.b64encode(json.dumps(document).encode()).decode()


def _policy(*conditions: object, expiration: str = "2026-11-29T13:00:00.000Z"):  # type: ignore[no-untyped-def]
    return parse_policy(_encode({"expiration": expiration, "conditions": list(conditions)}))


def _refusal(policy, fields: dict[str, str], bucket: str = "photos") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(S3Error) as exc:
        check_form(policy, fields, bucket, NOW)
    return exc.value.code, exc.value.message


def test_exact_and_prefix_conditions() -> None:
    policy = _policy(
        {"bucket": "photos"},
        ["starts-with", "$key", "user/eric/"],
        {"acl": "private"},
        ["eq", "$Content-Type", "image/png"],
        ["starts-with", "$x-amz-meta-note", ""],
    )
    fields = {
        "key": "user/eric/a.png",
        "acl": "private",
        "content-type": "image/png",
        "x-amz-meta-note": "anything",
        "policy": "...",
        "x-amz-signature": "...",
        "x-ignore-tracking": "free",
    }
    check_form(policy, fields, "photos", NOW)
    assert _refusal(policy, {**fields, "key": "user/bob/a.png"}) == (
        "AccessDenied",
        'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", '
        '"user/eric/"]',
    )
    assert _refusal(policy, fields, bucket="other")[1].endswith('failed: {"bucket": "photos"}')
    missing = {k: v for k, v in fields.items() if k != "acl"}
    assert _refusal(policy, missing)[1].endswith('failed: {"acl": "private"}')
    assert _refusal(policy, {**fields, "cache-control": "no-cache"}) == (
        "AccessDenied",
        "Invalid according to Policy: Extra input fields: cache-control",
    )


def test_content_type_lists_match_each_type() -> None:
    policy = _policy(["starts-with", "$Content-Type", "image/"], {"bucket": "photos"})
    check_form(policy, {"content-type": "image/png, image/gif"}, "photos", NOW)
    assert _refusal(policy, {"content-type": "image/png,text/html"})[0] == "AccessDenied"


def test_expiration() -> None:
    policy = _policy(expiration="2026-11-29T11:59:59Z")
    assert _refusal(policy, {}) == ("AccessDenied", "Invalid according to Policy: Policy expired.")
    check_form(policy, {}, "photos", NOW - timedelta(seconds=2))


def test_content_length_range() -> None:
    policy = _policy(["content-length-range", 10, "100"])
    check_size(policy, 5, final=False)  # may still grow
    check_size(policy, 100, final=True)
    for size, final, code in ((101, False, "EntityTooLarge"), (9, True, "EntityTooSmall")):
        with pytest.raises(S3Error) as exc:
            check_size(policy, size, final)
        assert exc.value.code == code
    check_size(_policy(), 1 << 40, final=True)  # no range: no bound


@pytest.mark.parametrize(
    "encoded",
    [
        "not base64!",
        base64.b64encode(b"{not json").decode(),
        _encode(["a list"]),
        _encode({"conditions": []}),
        _encode({"expiration": "2026-11-29T13:00:00Z"}),
        _encode({"expiration": "tomorrow", "conditions": []}),
        _encode({"expiration": "2026-11-29T13:00:00Z", "conditions": [["eq", "key", "x"]]}),
        _encode({"expiration": "2026-11-29T13:00:00Z", "conditions": [["in", "$key", "x"]]}),
        _encode({"expiration": "2026-11-29T13:00:00Z", "conditions": ["key"]}),
        _encode(
            {
                "expiration": "2026-11-29T13:00:00Z",
                "conditions": [["content-length-range", -1, "ten"]],
            }
        ),
    ],
)
def test_malformed_policies(encoded: str) -> None:
    with pytest.raises(S3Error) as exc:
        parse_policy(encoded)
    assert (exc.value.code, exc.value.status) == ("InvalidPolicyDocument", 400)
    assert exc.value.message.startswith("Invalid Policy: ")
