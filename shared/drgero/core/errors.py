"""The one error type of the API, and the contract's error body.

Every 4xx/5xx body is ``{"error": {"code", "message", "type", "param", "details", "request_id"}}``:
the contract's fields plus OpenAI's (``type``, ``param``), so contract clients and OpenAI SDKs
both read it. The gateway responses in ``template.yaml`` answer the same superset.
Domain code raises ApiError; each handler maps it to its transport.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the caller should see, with its HTTP status and a stable snake_case code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self, request_id: str) -> dict[str, Any]:
        return error_body(self.code, self.message, request_id, self.details, status=self.status)


# OpenAI's error ``type`` for each status (what its SDKs and LangChain branch on).
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
}


def error_type(status: int) -> str:
    """OpenAI's ``type`` for an HTTP status (``api_error`` for an unlisted 5xx)."""
    return _OPENAI_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")


def _param(details: Any) -> str | None:
    """OpenAI's ``param``: the first offending field named in the details, if any."""
    if isinstance(details, list) and details and isinstance(details[0], dict):
        field = details[0].get("field")
        return str(field) if field else None
    return None


def error_body(
    code: str, message: str, request_id: str, details: Any = None, *, status: int = 400, param: str | None = None
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "type": error_type(status),
            "param": param if param is not None else _param(details),
            "details": details,
            "request_id": request_id,
        }
    }


# Shorthands for the errors every route can produce.
def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def bad_request(message: str, details: Any = None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, details)


def conflict(code: str, message: str, details: Any = None) -> ApiError:
    return ApiError(409, code, message, details)
