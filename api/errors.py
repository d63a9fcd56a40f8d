"""API errors: a code the official SDK knows and a message a person can act on.

The SES codes are the SDK's (tencentcloud.ses.v20201002.errorcodes); the authentication and
request codes are the cloud's common error codes, which every Tencent Cloud SDK reports as is.
"""

from __future__ import annotations

# Common codes (Tencent Cloud API 3.0, "Common Error Codes").
AUTH_INVALID_AUTHORIZATION = "AuthFailure.InvalidAuthorization"
AUTH_SECRET_ID_NOT_FOUND = "AuthFailure.SecretIdNotFound"
AUTH_SIGNATURE_EXPIRE = "AuthFailure.SignatureExpire"
AUTH_SIGNATURE_FAILURE = "AuthFailure.SignatureFailure"
INVALID_ACTION = "InvalidAction"
NO_SUCH_VERSION = "NoSuchVersion"
REQUEST_SIZE_LIMIT_EXCEEDED = "RequestSizeLimitExceeded"
REQUEST_LIMIT_EXCEEDED = "RequestLimitExceeded"
INTERNAL_ERROR = "InternalError"
# Codes both lists share (and the SES errorcodes.py spells out).
INVALID_PARAMETER = "InvalidParameter"
INVALID_PARAMETER_VALUE = "InvalidParameterValue"
MISSING_PARAMETER = "MissingParameter"
RESOURCE_NOT_FOUND = "ResourceNotFound"
# The SES code of a temporary failure that left nothing done: the caller may simply try again.
SERVICE_NOT_AVAILABLE = "FailedOperation.ServiceNotAvailable"


class ApiError(Exception):
    """Raised anywhere below the view; becomes the error envelope, with nothing written."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ReplayError(ApiError):
    """A replay refused (api.replay): AuthFailure.SignatureFailure on the wire, but the sender holds a
    correctly signed request, so it is no key guess and does not count toward the per-address limit."""

    def __init__(self, message: str):
        super().__init__(AUTH_SIGNATURE_FAILURE, message)
