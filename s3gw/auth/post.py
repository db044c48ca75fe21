"""The signature of a browser POST upload: the key holder's signature of the policy field.

SigV4 forms carry ``x-amz-algorithm``, ``x-amz-credential``, ``x-amz-date``
and ``x-amz-signature`` (hex HMAC-SHA256 of the base64 policy with the
scope's signing key); SigV2 forms, which boto3 still makes by default,
``AWSAccessKeyId`` and ``signature`` (base64 HMAC-SHA1 of the policy).
Field names are lowercase here, as `s3gw.form.FormReader` gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from s3gw.auth.canonical import ALGORITHM, sign, signatures_equal, signing_key
from s3gw.auth.sigv2 import sign_v2
from s3gw.auth.sigv4 import parse_amz_date, parse_credential
from s3gw.errors import AccessDenied, InvalidAccessKeyId, InvalidArgument, SignatureDoesNotMatch


def missing_field(name: str) -> InvalidArgument:
    """S3's answer to a form without a field it needs (or with it after the file)."""
    return InvalidArgument(
        f"Bucket POST must contain a field named '{name}'.  If it is specified, "
        "please check the order of the fields.",
        ArgumentName=name,
        ArgumentValue="",
    )


def _required(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if not value:
        raise missing_field(name)
    return value


def verify_post(
    fields: Mapping[str, str],
    lookup_secret: Callable[[str], str | None],
    *,
    region: str | None = None,
) -> str:
    """The access key whose secret signed the form's policy.

    Raises AccessDenied (no policy: anonymous uploads are not allowed),
    InvalidArgument (a signing field missing or malformed),
    InvalidAccessKeyId or SignatureDoesNotMatch.
    """
    policy = fields.get("policy")
    if not policy:
        raise AccessDenied("Anonymous access is not allowed.")
    if "awsaccesskeyid" in fields and "x-amz-credential" not in fields:
        access_key = fields["awsaccesskeyid"]
        secret = lookup_secret(access_key)
        if secret is None:
            raise InvalidAccessKeyId(AWSAccessKeyId=access_key)
        if not signatures_equal(sign_v2(secret, policy), _required(fields, "signature")):
            raise SignatureDoesNotMatch(AWSAccessKeyId=access_key, StringToSign=policy)
        return access_key
    algorithm = _required(fields, "x-amz-algorithm")
    if algorithm != ALGORITHM:
        raise InvalidArgument(
            f"Unsupported x-amz-algorithm: {algorithm}; only {ALGORITHM} is.",
            ArgumentName="x-amz-algorithm",
            ArgumentValue=algorithm,
        )
    credential = parse_credential(_required(fields, "x-amz-credential"), InvalidArgument)
    if region is not None and credential.region != region:
        raise InvalidArgument(
            f"The credential's region '{credential.region}' is wrong; expecting '{region}'.",
            ArgumentName="x-amz-credential",
        )
    if parse_amz_date(_required(fields, "x-amz-date")).strftime("%Y%m%d") != credential.date:
        raise InvalidArgument(
            "The credential's date is not the date of x-amz-date.", ArgumentName="x-amz-date"
        )
    secret = lookup_secret(credential.access_key)
    if secret is None:
        raise InvalidAccessKeyId(AWSAccessKeyId=credential.access_key)
    key = signing_key(secret, credential.date, credential.region, credential.service)
    if not signatures_equal(sign(key, policy), _required(fields, "x-amz-signature")):
        raise SignatureDoesNotMatch(AWSAccessKeyId=credential.access_key, StringToSign=policy)
    return credential.access_key


__all__ = ["missing_field", "verify_post"]
