"""Exception types that views and services raise.

An `ApiError` carries everything an envelope style needs to render it; the error
middleware turns it into a response in the style of the route that was hit, so a
service never has to know which wire format its caller speaks.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the client caused or is allowed to see.

    `code` is the machine-readable key (`order_taken`, `ERR_INVALID_COUNT`,
    `errMsg_UserNotFound`); `message` is the readable sentence. `extra` is merged
    into the error body by styles that allow it (sunbird puts it in `result`).
    """

    status: int = 400
    default_code: str = "bad_request"
    default_message: str = "Bad request."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        detail: Any = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        if status is not None:
            self.status = status
        self.detail = detail
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(ApiError):
    status = 400
    default_code = "bad_request"
    default_message = "Bad request."


class ValidationFailed(BadRequest):
    """Body, query or path failed its schema; `detail` maps fields to messages."""

    default_code = "invalid"
    default_message = "Invalid input."


class Unauthorized(ApiError):
    status = 401
    default_code = "not_authenticated"
    default_message = "Authentication credentials were not provided or are invalid."


class Forbidden(ApiError):
    status = 403
    default_code = "permission_denied"
    default_message = "You do not have permission to perform this action."


class NotFound(ApiError):
    status = 404
    default_code = "not_found"
    default_message = "Not found."


class MethodNotAllowed(ApiError):
    status = 405
    default_code = "method_not_allowed"
    default_message = "Method not allowed."


class PayloadTooLarge(ApiError):
    status = 413
    default_code = "payload_too_large"
    default_message = "Request body is too large."


class Unprocessable(ApiError):
    status = 422
    default_code = "unprocessable"
    default_message = "The request could not be processed."


class TooManyRequests(ApiError):
    status = 429
    default_code = "throttled"
    default_message = "Too many requests."


class ServerError(ApiError):
    status = 500
    default_code = "server_error"
    default_message = "Internal server error."


class ConfigError(Exception):
    """Settings are invalid; `problems` lists every one of them at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration:\n  - " + "\n  - ".join(problems))


class PluginError(Exception):
    """Plugins cannot be loaded as configured (unknown, missing dependency, cycle, clash)."""


STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    422: Unprocessable,
    429: TooManyRequests,
    500: ServerError,
}


def error_for_status(status: int, message: str | None = None) -> ApiError:
    """The ApiError matching an HTTP status, for errors aiohttp raises itself."""
    cls = STATUS_ERRORS.get(status)
    if cls is None:
        return ApiError(message, status=status, code=f"http_{status}")
    return cls(message)
