"""CORS rules and their answers (pure), and the CORSConfiguration XML."""

from __future__ import annotations

import pytest

from s3gw import xml
from s3gw.cors import CorsRule, answer_headers, match, preflight, requested_headers
from s3gw.errors import S3Error

PAGE = CorsRule(("https://app.example", "http://*.local:8080"), ("GET", "PUT"), ("x-amz-*",))
ANYONE = CorsRule(("*",), ("GET", "HEAD"), expose=("ETag",), max_age=60)


def test_match_takes_the_first_rule_that_allows_everything() -> None:
    rules = [PAGE, ANYONE]
    assert match(rules, "https://app.example", "put", ["x-amz-meta-a"]) is PAGE
    assert match(rules, "http://dev.local:8080", "GET") is PAGE
    assert match(rules, "http://dev.local:9090", "GET") is ANYONE  # port differs
    assert match(rules, "https://app.example", "GET", ["content-type"]) is None
    assert match(rules, "https://other.test", "PUT") is None
    assert match(rules, "https://other.test", "HEAD") is ANYONE
    assert match([], "https://app.example", "GET") is None


def test_headers_of_answers() -> None:
    assert requested_headers(" Content-Type ,X-Amz-Date,") == ["content-type", "x-amz-date"]
    assert answer_headers(ANYONE, "https://x.test") == {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Expose-Headers": "ETag",
        "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    }
    answer = preflight(
        [PAGE],
        {
            "origin": "https://app.example",
            "access-control-request-method": "PUT",
            "access-control-request-headers": "x-amz-date",
        },
    )
    assert answer["Access-Control-Allow-Origin"] == "https://app.example"
    assert answer["Access-Control-Allow-Credentials"] == "true"
    assert answer["Access-Control-Allow-Methods"] == "GET, PUT"
    assert answer["Access-Control-Allow-Headers"] == "x-amz-date"


@pytest.mark.parametrize(
    "headers, code",
    [
        ({"access-control-request-method": "GET"}, "InvalidRequest"),
        ({"origin": "https://app.example"}, "InvalidRequest"),
        ({"origin": "https://evil.test", "access-control-request-method": "GET"}, "AccessDenied"),
    ],
)
def test_preflights_refused(headers: dict[str, str], code: str) -> None:
    with pytest.raises(S3Error) as exc:
        preflight([PAGE], headers)
    assert exc.value.code == code


def test_configuration_xml_round_trip() -> None:
    rules = [CorsRule(("*",), ("GET",), ("*",), ("ETag",), 3000, "all"), PAGE]
    assert xml.parse_cors_configuration(xml.render_cors_configuration(rules)) == rules
    for body in (
        b"<CORSConfiguration/>",
        b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"
        b"</CORSConfiguration>",
        b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
        b"<AllowedMethod>GET</AllowedMethod><MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>"
        b"</CORSConfiguration>",
    ):
        with pytest.raises(S3Error) as exc:
            xml.parse_cors_configuration(body)
        assert exc.value.code == "MalformedXML"
