"""Typed provider errors, each with the API error a caller should surface.

A provider call either returns a ``CallResult`` or raises one of these. Messages are written
for the workspace user and never contain secrets (keys, tokens, auth headers): the call layer
redacts every known secret from anything it puts in a message.
"""

from __future__ import annotations

from typing import Any

from drgero.core.errors import ApiError


class ProviderError(Exception):
    """Base class: ``status``/``code`` are the API error callers map this to."""

    status = 502
    code = "provider_error"
    retryable = False

    def __init__(self, message: str, *, provider: str = "", upstream_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.upstream_status = upstream_status

    def details(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.provider:
            details["provider"] = self.provider
        if self.upstream_status is not None:
            details["upstream_status"] = self.upstream_status
        return details

    def to_api_error(self) -> ApiError:
        return ApiError(self.status, self.code, self.message, self.details() or None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, provider={self.provider!r})"


class AuthError(ProviderError):
    """The provider rejected the credentials (401/403): the integration key or endpoint token."""

    status = 502
    code = "provider_auth_failed"


class RateLimited(ProviderError):
    """429 from the provider after our retries, or a Retry-After longer than we wait in-process."""

    status = 429
    code = "provider_rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def details(self) -> dict[str, Any]:
        details = super().details()
        if self.retry_after is not None:
            details["retry_after_seconds"] = self.retry_after
        return details

    def to_api_error(self) -> ApiError:
        error = super().to_api_error()
        if self.retry_after is not None:
            error.headers["Retry-After"] = str(max(1, int(round(self.retry_after))))
        return error


class BadRequest(ProviderError):
    """The provider refused the request itself (4xx other than auth/429): fix the input/config."""

    status = 400
    code = "provider_bad_request"


class InsufficientCredits(BadRequest):
    """402 from the provider: the account behind the key has no credit left."""

    status = 402
    code = "provider_insufficient_credits"


class UpstreamError(ProviderError):
    """5xx, connection failure, malformed/oversized/redirected answer after our retries."""

    status = 502
    code = "provider_error"
    retryable = True


class ProviderTimeout(ProviderError):
    """No answer within the connect/read timeouts, after our retries."""

    status = 504
    code = "provider_timeout"
    retryable = True


class UnsafeUrl(ProviderError):
    """A user-supplied URL the SSRF guard refuses (scheme, credentials, non-global address)."""

    status = 400
    code = "unsafe_url"

    def __init__(self, message: str, *, reason: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reason = reason

    def details(self) -> dict[str, Any]:
        details = super().details()
        if self.reason:
            details["reason"] = self.reason
        return details


def probe_error(exc: ProviderError) -> ApiError:
    """A failed probe of an endpoint the user gave us (a candidate, a Dr.Gero model version)
    is a problem with what they gave us: 400, whatever the provider error's own status."""
    if isinstance(exc, UnsafeUrl) or exc.status == 400:
        return exc.to_api_error()
    if isinstance(exc, AuthError):
        message = "The endpoint rejected the credentials given for it."
    else:
        message = f"The endpoint did not answer a test request: {exc.message}"
    return ApiError(400, "endpoint_probe_failed", message, {"cause": exc.code, **exc.details()})
