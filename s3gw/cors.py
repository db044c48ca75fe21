"""A bucket's CORS rules: which web pages (origins) may call it from a browser, and how.

Browsers ask before a cross-origin request that is not "simple" (an OPTIONS
preflight naming the method and headers it will send), and for every
cross-origin answer look for ``Access-Control-Allow-Origin``. S3 answers from
the first rule of the bucket's CORSConfiguration that matches the origin, the
method and every requested header; an origin or header pattern may hold one
``*``. Pure code: the app asks `match` and sends `answer_headers`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from s3gw.errors import AccessDenied, InvalidRequest, MalformedXML

METHODS = frozenset({"GET", "PUT", "HEAD", "POST", "DELETE"})
MAX_RULES = 100


@dataclass(frozen=True)
class CorsRule:
    origins: tuple[str, ...]
    methods: tuple[str, ...]
    headers: tuple[str, ...] = ()  # allowed request headers, lowercase
    expose: tuple[str, ...] = ()
    max_age: int | None = None
    id: str | None = None

    def allows(self, origin: str, method: str, headers: Sequence[str]) -> bool:
        return (
            method in self.methods
            and any(_wildcard_match(p, origin) for p in self.origins)
            and all(any(_wildcard_match(p, h.lower()) for p in self.headers) for h in headers)
        )


def _wildcard_match(pattern: str, value: str) -> bool:
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def check_rules(rules: Sequence[CorsRule]) -> None:
    """S3's limits on a CORSConfiguration being put; MalformedXML or InvalidRequest."""
    if not 1 <= len(rules) <= MAX_RULES:
        raise MalformedXML(f"A CORS configuration holds 1 to {MAX_RULES} rules.")
    for rule in rules:
        if not rule.origins or not rule.methods:
            raise MalformedXML("Each CORSRule needs an AllowedOrigin and an AllowedMethod.")
        for method in rule.methods:
            if method not in METHODS:
                raise InvalidRequest(
                    f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
                )
        for pattern in (*rule.origins, *rule.headers):
            if pattern.count("*") > 1:
                raise InvalidRequest(f'"{pattern}" can not have more than one wildcard.')


def match(
    rules: Sequence[CorsRule], origin: str, method: str, headers: Sequence[str] = ()
) -> CorsRule | None:
    """The first rule allowing `origin` to send `method` with `headers`, if any."""
    return next((r for r in rules if r.allows(origin, method.upper(), headers)), None)


def requested_headers(value: str | None) -> list[str]:
    """An ``Access-Control-Request-Headers`` value as a list of lowercase names."""
    return [h.strip().lower() for h in (value or "").split(",") if h.strip()]


def answer_headers(
    rule: CorsRule, origin: str, preflight_headers: Sequence[str] | None = None
) -> dict[str, str]:
    """The Access-Control-* headers answering `origin` under `rule`; a preflight's
    (`preflight_headers`: the headers it asked for) also name the methods and headers."""
    headers = {
        "Access-Control-Allow-Origin": "*" if rule.origins == ("*",) else origin,
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    if rule.origins != ("*",):
        headers["Access-Control-Allow-Credentials"] = "true"
    if preflight_headers is not None:
        headers["Access-Control-Allow-Methods"] = ", ".join(rule.methods)
        if preflight_headers:
            headers["Access-Control-Allow-Headers"] = ", ".join(preflight_headers)
        if rule.max_age is not None:
            headers["Access-Control-Max-Age"] = str(rule.max_age)
    if rule.expose:
        headers["Access-Control-Expose-Headers"] = ", ".join(rule.expose)
    return headers


def refused_preflight() -> AccessDenied:
    """S3's 403 for a preflight that no rule allows (or on a bucket with none)."""
    return AccessDenied(
        "CORSResponse: This CORS request is not allowed. This is usually because the "
        "evalution of Origin, request method / Access-Control-Request-Method or "
        "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
    )


def preflight(rules: Sequence[CorsRule], request_headers: Mapping[str, str]) -> dict[str, str]:
    """The answer headers to an OPTIONS preflight (lowercase `request_headers`);
    AccessDenied if it is not allowed."""
    origin = request_headers.get("origin")
    method = request_headers.get("access-control-request-method")
    if not origin:
        raise InvalidRequest("Insufficient information. Origin request header needed.")
    if not method:
        raise InvalidRequest("Invalid Access-Control-Request-Method: null")
    wanted = requested_headers(request_headers.get("access-control-request-headers"))
    rule = match(rules, origin, method, wanted)
    if rule is None:
        raise refused_preflight()
    return answer_headers(rule, origin, wanted)


__all__ = [
    "CorsRule",
    "answer_headers",
    "check_rules",
    "match",
    "preflight",
    "refused_preflight",
    "requested_headers",
]
