"""The one error type of the API, and the contract's error body.

Every 4xx/5xx body is ``{"error": {"code", "message", "details"?, "request_id"}}``.
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
        return error_body(self.code, self.message, request_id, self.details)


def error_body(code: str, message: str, request_id: str, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        error["details"] = details
    return {"error": error}


# Shorthands for the errors every route can produce.
def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def bad_request(message: str, details: Any = None, code: str = "invalid_request") -> ApiError:
    return ApiError(400, code, message, details)


def conflict(code: str, message: str, details: Any = None) -> ApiError:
    return ApiError(409, code, message, details)
