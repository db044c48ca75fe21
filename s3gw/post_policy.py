"""The policy of a browser POST upload: which form fields it allows, until when.

The policy is base64 JSON, ``{"expiration": ISO 8601, "conditions": [...]}``,
signed by the key holder (`s3gw.auth.post`). A condition is an exact match
(``{"acl": "private"}`` or ``["eq", "$acl", "private"]``), a prefix
(``["starts-with", "$key", "user/"]``, ``""`` allowing any value) or the
file's size bounds (``["content-length-range", min, max]``). Every field
of the form must be named by some condition, except the policy, the
signature, the file and ``x-ignore-*`` fields. Failures answer as S3 does:
AccessDenied "Invalid according to Policy: ...".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from s3gw.errors import AccessDenied, EntityTooLarge, EntityTooSmall, InvalidPolicyDocument

# Fields no condition has to name: what signs the policy, and the file itself.
UNCHECKED_FIELDS = frozenset({"policy", "x-amz-signature", "signature", "awsaccesskeyid", "file"})


@dataclass(frozen=True)
class Condition:
    operator: str  # "eq" or "starts-with"
    field: str  # lowercase, without the "$"
    value: str
    text: str  # as a failure names it: ["eq", "$key", "user/x"]

    def matches(self, value: str) -> bool:
        if self.operator == "eq":
            return value == self.value
        if self.field == "content-type":  # a list of types: each must match
            return all(v.strip().startswith(self.value) for v in value.split(","))
        return value.startswith(self.value)


@dataclass(frozen=True)
class PostPolicy:
    expiration: datetime
    conditions: tuple[Condition, ...]
    length_range: tuple[int, int] | None  # the file's size, inclusive bounds


def _invalid(reason: str) -> InvalidPolicyDocument:
    return InvalidPolicyDocument(f"Invalid Policy: {reason}")


def _refused(reason: str) -> AccessDenied:
    return AccessDenied(f"Invalid according to Policy: {reason}")


def _field(name: Any) -> str:
    if not isinstance(name, str) or not name.startswith("$"):
        raise _invalid(f"Invalid condition field: {json.dumps(name)}.")
    return name[1:].lower()


def _bound(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _invalid(f"Invalid content-length-range bound: {json.dumps(value)}.")


def parse_policy(encoded: str) -> PostPolicy:
    """A policy from its form field; InvalidPolicyDocument if it is not one."""
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise _invalid("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _invalid("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid("Policy missing expiration.")
    if "conditions" not in document or not isinstance(document["conditions"], list):
        raise _invalid("Policy missing conditions.")
    try:
        expiration = datetime.fromisoformat(str(document["expiration"]))
    except ValueError:
        raise _invalid("Invalid 'expiration' value.") from None
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=UTC)
    conditions: list[Condition] = []
    length_range = None
    for item in document["conditions"]:
        if isinstance(item, dict):
            for name, value in item.items():
                text = json.dumps({name: value})
                conditions.append(Condition("eq", str(name).lower(), str(value), text))
        elif isinstance(item, list) and len(item) == 3:
            operator = str(item[0]).lower()
            text = json.dumps(item)
            if operator == "content-length-range":
                length_range = (_bound(item[1]), _bound(item[2]))
            elif operator in ("eq", "starts-with"):
                conditions.append(Condition(operator, _field(item[1]), str(item[2]), text))
            else:
                raise _invalid(f"Invalid condition operator: {json.dumps(item[0])}.")
        else:
            raise _invalid(f"Invalid condition: {json.dumps(item)}.")
    return PostPolicy(expiration, tuple(conditions), length_range)


def check_form(policy: PostPolicy, fields: Mapping[str, str], bucket: str, now: datetime) -> None:
    """Raise AccessDenied unless the form's fields (lowercase names) meet the policy now."""
    if now > policy.expiration:
        raise _refused("Policy expired.")
    values = {**fields, "bucket": bucket}
    for condition in policy.conditions:
        value = values.get(condition.field)
        if value is None or not condition.matches(value):
            raise _refused(f"Policy Condition failed: {condition.text}")
    named = {c.field for c in policy.conditions}
    extra = [
        name
        for name in fields
        if name not in named and name not in UNCHECKED_FIELDS and not name.startswith("x-ignore-")
    ]
    if extra:
        raise _refused(f"Extra input fields: {', '.join(extra)}")


def check_size(policy: PostPolicy, size: int, final: bool) -> None:
    """The file's size against content-length-range: too large as soon as it is
    (`final` False while the file arrives), too small once it has ended."""
    if policy.length_range is None:
        return
    low, high = policy.length_range
    if size > high:
        raise EntityTooLarge(ProposedSize=str(size), MaxSizeAllowed=str(high))
    if final and size < low:
        raise EntityTooSmall(ProposedSize=str(size), MinSizeAllowed=str(low))


__all__ = ["Condition", "PostPolicy", "check_form", "check_size", "parse_policy"]
