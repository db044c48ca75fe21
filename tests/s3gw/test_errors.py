"""S3 error table, classes and XML rendering."""

from __future__ import annotations

import errno
import os
import xml.etree.ElementTree as ET

import pytest

from lafs_core.errors import CorruptShareError, NotEnoughSharesError, StorageConnectionError
from lafs_core.immutable.uploader import UploadUnhappinessError
from lafs_core.mutable.errors import NotEnoughServersError, UncoordinatedWriteError
from s3gw import errors
from s3gw.errors import (
    ERROR_CLASSES,
    ERROR_TABLE,
    NoSuchBucket,
    S3Error,
    S3NotImplemented,
    from_exception,
    make_error,
    render_error,
)

EXPECTED_STATUS = {
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403,
    "RequestTimeTooSkewed": 403,
    "XAmzContentSHA256Mismatch": 400,
    "BadDigest": 400,
    "InvalidDigest": 400,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "BucketNotEmpty": 409,
    "BucketAlreadyExists": 409,
    "BucketAlreadyOwnedByYou": 409,
    "InvalidBucketName": 400,
    "InvalidRange": 416,
    "PreconditionFailed": 412,
    "NotModified": 304,
    "MalformedXML": 400,
    "InvalidArgument": 400,
    "InvalidRequest": 400,
    "EntityTooSmall": 400,
    "EntityTooLarge": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "MissingContentLength": 411,
    "KeyTooLongError": 400,
    "MethodNotAllowed": 405,
    "NotImplemented": 501,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "SlowDown": 503,
    "AuthorizationHeaderMalformed": 400,
    "AuthorizationQueryParametersError": 400,
    "ExpiredToken": 400,
    "IncompleteBody": 400,
}


@pytest.mark.parametrize("code, status", sorted(EXPECTED_STATUS.items()))
def test_statuses(code: str, status: int) -> None:
    assert ERROR_TABLE[code][0] == status
    err = make_error(code)
    assert (err.code, err.status) == (code, status)
    assert isinstance(err, ERROR_CLASSES[code])
    assert err.message


def test_every_code_has_a_class_exported() -> None:
    assert set(ERROR_CLASSES) == set(ERROR_TABLE)
    for cls in ERROR_CLASSES.values():
        assert cls.__name__ in errors.__all__
        assert cls.__doc__


def test_render() -> None:
    err = NoSuchBucket(resource="/bkt")
    doc = ET.fromstring(render_error(err, "REQ1", "/ignored"))
    assert doc.tag == "Error"
    assert [c.tag for c in doc] == ["Code", "Message", "Resource", "RequestId"]
    assert doc.findtext("Code") == "NoSuchBucket" and doc.findtext("RequestId") == "REQ1"
    assert doc.findtext("Resource") == "/bkt"
    doc = ET.fromstring(render_error(S3NotImplemented(), "R", "/b/<&>"))
    assert doc.findtext("Resource") == "/b/<&>" and doc.findtext("Code") == "NotImplemented"
    custom = S3Error("Custom", 418, "teapot <x>", extra={"Detail": "d&"})
    doc = ET.fromstring(render_error(custom, "R"))
    assert doc.findtext("Message") == "teapot <x>" and doc.findtext("Detail") == "d&"
    assert doc.find("Resource") is None


def test_from_exception_table() -> None:
    e = NoSuchBucket()
    assert from_exception(e) is e
    assert from_exception(NotEnoughSharesError("x")).status == 503
    assert from_exception(StorageConnectionError("x")).code == "ServiceUnavailable"
    # an unhappy upload: servers down or busy (retry later), or servers full (no retry helps)
    assert from_exception(UploadUnhappinessError("x")).code == "ServiceUnavailable"
    assert from_exception(NotEnoughServersError("x")).code == "ServiceUnavailable"  # a publish
    contended = from_exception(UncoordinatedWriteError("x"))  # collisions past every retry
    assert (contended.code, contended.status) == ("SlowDown", 503)
    for no_room in (UploadUnhappinessError("x", True), NotEnoughServersError("x", True)):
        full = from_exception(no_room)
        assert (full.code, full.status) == ("InsufficientStorage", 507)
    for no_space in (errno.ENOSPC, errno.EDQUOT):  # the gateway's own disk (its spool)
        spool = from_exception(OSError(no_space, os.strerror(no_space)))
        assert (spool.code, spool.status) == ("InsufficientStorage", 507)
        assert "gateway" in spool.message
    assert from_exception(OSError(errno.EIO, "I/O error")).code == "InternalError"
    assert from_exception(CorruptShareError("x")).code == "InternalError"
    internal = from_exception(KeyError("secret detail"))
    assert internal.code == "InternalError" and "secret" not in internal.message
