"""SigV4 authentication and aws-chunked body decoding, as pure code."""

from s3gw.auth.sigv4 import AuthResult, PayloadMode, PayloadSha256Verifier, verify_request

__all__ = ["AuthResult", "PayloadMode", "PayloadSha256Verifier", "verify_request"]
