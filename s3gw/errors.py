"""The S3 errors the gateway answers with, mapped in one place.

Every error a client can see is an `S3Error`: an S3 error code, the HTTP status
S3 uses for it, a message, and optionally the resource and extra XML fields
(S3 adds some, e.g. ``StringToSign`` to SignatureDoesNotMatch). The handlers
raise them; one exception handler on the app renders them with
`render_error`. `from_exception` is the one table from `lafs_core` errors (and
anything unmapped) to S3 errors: when a client gets the wrong code, look here.

The codes and statuses are those of the S3 API reference ("Error responses").
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from xml.sax.saxutils import escape

from lafs_core.errors import (
    NotEnoughSharesError,
    StorageConnectionError,
)
from lafs_core.immutable.uploader import UploadUnhappinessError
from lafs_core.mutable.errors import NotEnoughServersError, UncoordinatedWriteError

# code -> (HTTP status, default message), per the S3 error-code list.
ERROR_TABLE: dict[str, tuple[int, str]] = {
    "AccessControlListNotSupported": (400, "The bucket does not allow ACLs"),
    "AccessDenied": (403, "Access Denied"),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (
        400,
        "Error parsing the X-Amz-Credential parameter.",
    ),
    "BadDigest": (400, "The Content-MD5 or checksum you specified did not match what we received."),
    "BucketAlreadyExists": (
        409,
        "The requested bucket name is not available. The bucket namespace is shared by all "
        "users of the system. Please select a different name and try again.",
    ),
    "BucketAlreadyOwnedByYou": (
        409,
        "Your previous request to create the named bucket succeeded and you already own it.",
    ),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size"),
    "EntityTooSmall": (
        400,
        "Your proposed upload is smaller than the minimum allowed object size.",
    ),
    "ExpiredToken": (400, "The provided token has expired."),
    "IllegalLocationConstraintException": (
        400,
        "The specified location-constraint is not valid.",
    ),
    "InvalidBucketAclWithObjectOwnership": (
        400,
        "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting",
    ),
    "IncorrectNumberOfFilesInPostRequest": (
        400,
        "POST requires exactly one file upload per request.",
    ),
    "IncompleteBody": (
        400,
        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
    ),
    "InsufficientStorage": (
        507,
        "The storage grid has no room for this object: its storage nodes are full.",
    ),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (
        403,
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 or checksum you specified is not valid."),
    "InvalidPart": (
        400,
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag.",
    ),
    "InvalidPartOrder": (
        400,
        "The list of parts was not in ascending order. The parts list must be specified in "
        "order by part number.",
    ),
    "InvalidPartNumber": (416, "The requested partnumber is not satisfiable"),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidStorageClass": (400, "The storage class you specified is not valid"),
    "InvalidTag": (400, "The tag provided was not a valid tag."),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedXML": (
        400,
        "The XML you provided was not well-formed or did not validate against our published schema",
    ),
    "MaxMessageLengthExceeded": (400, "Your request was too big."),
    "MetadataTooLarge": (
        400,
        "Your metadata headers exceed the maximum allowed metadata size.",
    ),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingSecurityHeader": (400, "Your request was missing a required header"),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "InvalidPolicyDocument": (
        400,
        "The content of the form does not meet the conditions specified in the policy document.",
    ),
    "MalformedPOSTRequest": (
        400,
        "The body of your POST request is not well-formed multipart/form-data.",
    ),
    "MaxPostPreDataLengthExceeded": (
        400,
        "Your POST request fields preceding the upload file were too large.",
    ),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchLifecycleConfiguration": (404, "The lifecycle configuration does not exist"),
    "NoSuchWebsiteConfiguration": (
        404,
        "The specified bucket does not have a website configuration",
    ),
    "ObjectLockConfigurationNotFoundError": (
        404,
        "Object Lock configuration does not exist for this bucket",
    ),
    "ReplicationConfigurationNotFoundError": (404, "The replication configuration was not found"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (
        404,
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed.",
    ),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NotImplemented": (
        501,
        "A header or query you provided implies functionality that is not implemented.",
    ),
    "NotModified": (304, "Not Modified"),
    "PreconditionFailed": (
        412,
        "At least one of the pre-conditions you specified did not hold",
    ),
    "RequestTimeTooSkewed": (
        403,
        "The difference between the request time and the server's time is too large.",
    ),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (
        403,
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    ),
    "SlowDown": (503, "Please reduce your request rate."),
    "XAmzContentSHA256Mismatch": (
        400,
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
    ),
}


class S3Error(Exception):
    """Root of every error the gateway answers a client with.

    Raised by the pure helpers (auth, XML, ranges, routes) and the handlers;
    the app's one exception handler renders it with `render_error`. `extra`
    holds additional XML fields in order; `headers` extra response headers
    (e.g. ``Allow`` for MethodNotAllowed).
    """

    def __init__(
        self,
        code: str,
        status: int,
        message: str,
        resource: str | None = None,
        extra: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.resource = resource
        self.extra: dict[str, str] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.status}, {self.message!r})"


def make_error(
    code: str,
    message: str | None = None,
    resource: str | None = None,
    **extra: str,
) -> S3Error:
    """An `S3Error` of the class registered for `code`, status from `ERROR_TABLE`."""
    cls = ERROR_CLASSES.get(code)
    if cls is not None:
        err: S3Error = cls(message, resource=resource)
        err.extra.update(extra)
        return err
    status, default = ERROR_TABLE[code]
    return S3Error(code, status, message or default, resource, extra)


class _CodedError(S3Error):
    """A leaf: code and status fixed by the class, message defaulted from the table."""

    code_name = "InternalError"

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        ERROR_CLASSES[cls.code_name] = cls

    def __init__(
        self,
        message: str | None = None,
        resource: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: str,
    ) -> None:
        status, default = ERROR_TABLE[self.code_name]
        super().__init__(self.code_name, status, message or default, resource, extra, headers)


ERROR_CLASSES: dict[str, type[_CodedError]] = {}
# Authentication (raised by s3gw.auth; the client must fix its credentials or clock).


class AccessDenied(_CodedError):
    """403: not allowed, or a presigned URL has expired."""

    code_name = "AccessDenied"


class InvalidAccessKeyId(_CodedError):
    """403: the access key is unknown."""

    code_name = "InvalidAccessKeyId"


class SignatureDoesNotMatch(_CodedError):
    """403: the SigV4 or chunk signature is wrong (or tampered)."""

    code_name = "SignatureDoesNotMatch"


class RequestTimeTooSkewed(_CodedError):
    """403: X-Amz-Date is more than 15 minutes from the server's clock."""

    code_name = "RequestTimeTooSkewed"


class AuthorizationHeaderMalformed(_CodedError):
    """400: the Authorization header cannot be parsed."""

    code_name = "AuthorizationHeaderMalformed"


class AuthorizationQueryParametersError(_CodedError):
    """400: the presigned-URL query is malformed."""

    code_name = "AuthorizationQueryParametersError"


class ExpiredToken(_CodedError):
    """400: a session token has expired."""

    code_name = "ExpiredToken"


class MissingSecurityHeader(_CodedError):
    """400: a required header is missing."""

    code_name = "MissingSecurityHeader"


# Payload integrity (raised by auth.chunked, checksums and handlers; the client resends).


class XAmzContentSHA256Mismatch(_CodedError):
    """400: the body does not hash to x-amz-content-sha256."""

    code_name = "XAmzContentSHA256Mismatch"


class BadDigest(_CodedError):
    """400: Content-MD5 or an x-amz-checksum-* does not match the body."""

    code_name = "BadDigest"


class InvalidDigest(_CodedError):
    """400: Content-MD5 or a checksum value is not valid base64."""

    code_name = "InvalidDigest"


class IncompleteBody(_CodedError):
    """400: the body ended before its declared length."""

    code_name = "IncompleteBody"


# Buckets and keys.


class NoSuchBucket(_CodedError):
    """404: the bucket does not exist."""

    code_name = "NoSuchBucket"


class NoSuchKey(_CodedError):
    """404: the key does not exist."""

    code_name = "NoSuchKey"


class NoSuchUpload(_CodedError):
    """404: the multipart upload id is unknown or finished."""

    code_name = "NoSuchUpload"


class NoSuchTagSet(_CodedError):
    """404: the object (or bucket) has no tags."""

    code_name = "NoSuchTagSet"


class NoSuchVersion(_CodedError):
    """404: no such version of the object (an unversioned bucket's only one is "null")."""

    code_name = "NoSuchVersion"


# 404s of bucket configurations that cannot be set here, so that no bucket has (routes.py).


class NoSuchBucketPolicy(_CodedError):
    """404: the bucket has no policy."""

    code_name = "NoSuchBucketPolicy"


class NoSuchCORSConfiguration(_CodedError):
    """404: the bucket has no CORS configuration."""

    code_name = "NoSuchCORSConfiguration"


class NoSuchLifecycleConfiguration(_CodedError):
    """404: the bucket has no lifecycle configuration."""

    code_name = "NoSuchLifecycleConfiguration"


class NoSuchWebsiteConfiguration(_CodedError):
    """404: the bucket has no website configuration."""

    code_name = "NoSuchWebsiteConfiguration"


class ObjectLockConfigurationNotFoundError(_CodedError):
    """404: the bucket has no object lock configuration."""

    code_name = "ObjectLockConfigurationNotFoundError"


class ReplicationConfigurationNotFoundError(_CodedError):
    """404: the bucket has no replication configuration."""

    code_name = "ReplicationConfigurationNotFoundError"


class BucketNotEmpty(_CodedError):
    """409: DeleteBucket on a bucket that has keys."""

    code_name = "BucketNotEmpty"


class BucketAlreadyExists(_CodedError):
    """409: the name is taken by another owner."""

    code_name = "BucketAlreadyExists"


class BucketAlreadyOwnedByYou(_CodedError):
    """409: CreateBucket of a bucket the caller already owns."""

    code_name = "BucketAlreadyOwnedByYou"


class InvalidBucketName(_CodedError):
    """400: the bucket name breaks S3's naming rules."""

    code_name = "InvalidBucketName"


class KeyTooLongError(_CodedError):
    """400: the key is longer than 1024 bytes of UTF-8."""

    code_name = "KeyTooLongError"


class IllegalLocationConstraintException(_CodedError):
    """400: CreateBucket named an unknown region."""

    code_name = "IllegalLocationConstraintException"


# Conditions and ranges (raised by ranges and conditions).


class InvalidRange(_CodedError):
    """416: the Range cannot be satisfied for this object."""

    code_name = "InvalidRange"


class InvalidPartNumber(_CodedError):
    """416: the object has no part of that number (GET or HEAD with partNumber)."""

    code_name = "InvalidPartNumber"


class PreconditionFailed(_CodedError):
    """412: If-Match / If-Unmodified-Since failed."""

    code_name = "PreconditionFailed"


class NotModified(_CodedError):
    """304: If-None-Match / If-Modified-Since; no body is sent."""

    code_name = "NotModified"


# Request shape.


class MalformedXML(_CodedError):
    """400: a request body's XML is bad or breaks the schema."""

    code_name = "MalformedXML"


class InvalidArgument(_CodedError):
    """400: a header or query value is out of range."""

    code_name = "InvalidArgument"


class InvalidRequest(_CodedError):
    """400: the request is inconsistent (e.g. chunk framing)."""

    code_name = "InvalidRequest"


class InvalidTag(_CodedError):
    """400: a tag key or value breaks the tagging rules."""

    code_name = "InvalidTag"


class InvalidStorageClass(_CodedError):
    """400: unknown x-amz-storage-class."""

    code_name = "InvalidStorageClass"


class MetadataTooLarge(_CodedError):
    """400: user metadata is larger than 2 KB."""

    code_name = "MetadataTooLarge"


class MaxMessageLengthExceeded(_CodedError):
    """400: a request body is too large."""

    code_name = "MaxMessageLengthExceeded"


class EntityTooSmall(_CodedError):
    """400: a non-last part is smaller than 5 MiB."""

    code_name = "EntityTooSmall"


class EntityTooLarge(_CodedError):
    """400: an object or part is too large."""

    code_name = "EntityTooLarge"


class InvalidPart(_CodedError):
    """400: Complete names a part that is missing or has another ETag."""

    code_name = "InvalidPart"


class InvalidPartOrder(_CodedError):
    """400: Complete lists parts out of ascending order."""

    code_name = "InvalidPartOrder"


class MissingContentLength(_CodedError):
    """411: a PUT without Content-Length."""

    code_name = "MissingContentLength"


class MethodNotAllowed(_CodedError):
    """405: the method is not allowed on this resource."""

    code_name = "MethodNotAllowed"


# Browser uploads (PostObject): the form and its policy.


class MalformedPOSTRequest(_CodedError):
    """400: the body is not well-formed multipart/form-data."""

    code_name = "MalformedPOSTRequest"


class MaxPostPreDataLengthExceeded(_CodedError):
    """400: the form's fields before the file are over 20 KB."""

    code_name = "MaxPostPreDataLengthExceeded"


class IncorrectNumberOfFilesInPostRequest(_CodedError):
    """400: the form has no file."""

    code_name = "IncorrectNumberOfFilesInPostRequest"


class InvalidPolicyDocument(_CodedError):
    """400: the form's policy is not a policy document."""

    code_name = "InvalidPolicyDocument"


# ACLs: off here, as S3's BucketOwnerEnforced (its default for new buckets since 2023).


class AccessControlListNotSupported(_CodedError):
    """400: an object ACL or grant other than the owner's own full control."""

    code_name = "AccessControlListNotSupported"


class InvalidBucketAclWithObjectOwnership(_CodedError):
    """400: CreateBucket with an ACL other than the owner's own full control."""

    code_name = "InvalidBucketAclWithObjectOwnership"


class S3NotImplemented(_CodedError):
    """501: an operation or sub-resource we do not serve."""

    code_name = "NotImplemented"


# Server side (the client retries).


class InternalError(_CodedError):
    """500: an unexpected failure; logged with the request id."""

    code_name = "InternalError"


class ServiceUnavailable(_CodedError):
    """503: the grid cannot serve (too few shares)."""

    code_name = "ServiceUnavailable"


class InsufficientStorage(_CodedError):
    """507 (HTTP's "Insufficient Storage", as MinIO answers a full disk): the grid or the
    gateway's spool is full. Clients do not retry it: only freed space or more storage
    nodes help."""

    code_name = "InsufficientStorage"


class SlowDown(_CodedError):
    """503: too many concurrent requests; back off and retry."""

    code_name = "SlowDown"


def from_exception(exc: BaseException) -> S3Error:
    """Map any exception to the `S3Error` a client sees (the one mapping table).

    S3Errors pass through; grid failures become 503 ServiceUnavailable (the
    client retries later), writers that kept colliding 503 SlowDown, and a grid
    or spool disk without room 507 InsufficientStorage; anything else is 500
    InternalError, whose details the caller logs and never sends.
    """
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, UploadUnhappinessError | NotEnoughServersError) and exc.no_room:
        return InsufficientStorage()
    grid_down = NotEnoughSharesError | NotEnoughServersError | StorageConnectionError
    if isinstance(exc, grid_down | UploadUnhappinessError):
        return ServiceUnavailable("The storage grid cannot serve this request now; retry later.")
    if isinstance(exc, UncoordinatedWriteError):  # writers kept colliding on one index node
        return SlowDown()
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(
            "The gateway has no room to receive this object: its disk is full."
        )
    return InternalError()


def render_error(err: S3Error, request_id: str, resource: str | None = None) -> bytes:
    """The S3 XML error document for `err` (Code, Message, extra fields, Resource, RequestId).

    `resource` (the request path) is used when the error carries none. A 304
    has no body; callers send none (this still returns a document).
    """
    res = err.resource if err.resource is not None else resource
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
        f"<Code>{escape(err.code)}</Code>",
        f"<Message>{escape(err.message)}</Message>",
    ]
    for name, value in err.extra.items():
        parts.append(f"<{name}>{escape(value)}</{name}>")
    if res is not None:
        parts.append(f"<Resource>{escape(res)}</Resource>")
    parts.append(f"<RequestId>{escape(request_id)}</RequestId>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8")


__all__ = [
    "ERROR_CLASSES",
    "ERROR_TABLE",
    "S3Error",
    "from_exception",
    "make_error",
    "render_error",
    "AccessControlListNotSupported",
    "AccessDenied",
    "AuthorizationHeaderMalformed",
    "AuthorizationQueryParametersError",
    "BadDigest",
    "BucketAlreadyExists",
    "BucketAlreadyOwnedByYou",
    "BucketNotEmpty",
    "EntityTooLarge",
    "EntityTooSmall",
    "ExpiredToken",
    "IllegalLocationConstraintException",
    "IncompleteBody",
    "IncorrectNumberOfFilesInPostRequest",
    "InsufficientStorage",
    "InternalError",
    "InvalidAccessKeyId",
    "InvalidArgument",
    "InvalidBucketAclWithObjectOwnership",
    "InvalidBucketName",
    "InvalidDigest",
    "InvalidPart",
    "InvalidPartNumber",
    "InvalidPartOrder",
    "InvalidPolicyDocument",
    "InvalidRange",
    "InvalidRequest",
    "InvalidStorageClass",
    "InvalidTag",
    "KeyTooLongError",
    "MalformedPOSTRequest",
    "MalformedXML",
    "MaxMessageLengthExceeded",
    "MaxPostPreDataLengthExceeded",
    "MetadataTooLarge",
    "MethodNotAllowed",
    "MissingContentLength",
    "MissingSecurityHeader",
    "NoSuchBucket",
    "NoSuchBucketPolicy",
    "NoSuchCORSConfiguration",
    "NoSuchKey",
    "NoSuchLifecycleConfiguration",
    "NoSuchTagSet",
    "NoSuchUpload",
    "NoSuchVersion",
    "NoSuchWebsiteConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "ReplicationConfigurationNotFoundError",
    "NotModified",
    "PreconditionFailed",
    "RequestTimeTooSkewed",
    "S3NotImplemented",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "SlowDown",
    "XAmzContentSHA256Mismatch",
]
