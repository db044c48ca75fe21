"""Signatures of browser upload forms, SigV4 and SigV2 (pure), against botocore's own."""

from __future__ import annotations

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.config import Config  # type: ignore[import-untyped]

from s3gw.auth.post import verify_post
from s3gw.errors import S3Error

SECRETS = {"AKIDEXAMPLE": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}


def _form(signature_version: str, secret: str = SECRETS["AKIDEXAMPLE"]) -> dict[str, str]:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=secret,
        config=Config(signature_version=signature_version, s3={"addressing_style": "path"}),
    )
    fields = client.generate_presigned_post("photos", "k")["fields"]
    return {name.lower(): value for name, value in fields.items()}


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_botocore_forms_verify(version: str) -> None:
    assert verify_post(_form(version), SECRETS.get) == "AKIDEXAMPLE"
    assert verify_post(_form(version), SECRETS.get, region="eu-west-1") == "AKIDEXAMPLE"


def _code(fields: dict[str, str], **kw: str) -> str:
    with pytest.raises(S3Error) as exc:
        verify_post(fields, SECRETS.get, **kw)
    return exc.value.code


@pytest.mark.parametrize("version", ["s3v4", "s3"])
def test_refusals(version: str) -> None:
    form = _form(version)
    assert _code(_form(version, secret="wrong")) == "SignatureDoesNotMatch"
    assert _code({**form, "policy": form["policy"] + "="}) == "SignatureDoesNotMatch"
    assert _code({k: v for k, v in form.items() if k != "policy"}) == "AccessDenied"
    with pytest.raises(S3Error) as exc:
        verify_post(form, {}.get)
    assert exc.value.code == "InvalidAccessKeyId"


def test_sigv4_fields_are_checked() -> None:
    form = _form("s3v4")
    assert _code(form, region="us-east-1") == "InvalidArgument"
    assert _code({**form, "x-amz-algorithm": "AWS4-HMAC-SHA1"}) == "InvalidArgument"
    assert _code({**form, "x-amz-date": "20200101T000000Z"}) == "InvalidArgument"
    assert _code({**form, "x-amz-credential": "AKIDEXAMPLE/2020"}) == "InvalidArgument"
    unsigned = {k: v for k, v in form.items() if k != "x-amz-signature"}
    with pytest.raises(S3Error) as exc:
        verify_post(unsigned, SECRETS.get)
    assert exc.value.code == "InvalidArgument"
    assert exc.value.extra["ArgumentName"] == "x-amz-signature"
