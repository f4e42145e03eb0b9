"""CORS: which browser origins may call the API, and the headers that tell the browser so.

One policy for every function that answers HTTP (api, push_ingest, inference), so a browser
app sees the same rules on every route:

- A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) from an
  allowed origin answers 204 with the methods, the request headers a client may send (the
  three credential headers, ``Content-Type``, ``Idempotency-Key``, ``X-Workspace-Id``) and a
  max age; from any other origin it answers 403 ``cors_origin_not_allowed`` (the browser then
  blocks the call, and a person reading the network tab sees why).
- A response to an allowed origin carries ``Access-Control-Allow-Origin`` with that origin
  (never ``*``: credentials travel in headers, and an allow-list is the point) and exposes the
  headers apps read: ``x-request-id``, ``Retry-After`` and our ``x-drgero-*`` headers. Every
  response says ``Vary: Origin`` so a cache never serves one origin's answer to another.

API Gateway's own error responses (no route, authorizer denial, throttling) cannot run this
code: the template's gateway responses echo the request's ``Origin`` instead. That is safe
because they carry no data, only the error, and it lets a browser app read why it failed.

Allowed origins are ``api.cors_allowed_origins``: exact origins, or a ``:*`` port wildcard
(``http://localhost:*``). Empty (the AWS default): no cross-origin browser access.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from drgero.core.settings import Settings

ALLOWED_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = (
    "Authorization, X-API-Key, X-Dr.Gero-API-Key, Content-Type, Idempotency-Key, X-Workspace-Id, X-Request-Id"
)
EXPOSED_HEADERS = "x-request-id, Retry-After, x-drgero-trace-id, x-drgero-model-id, x-amzn-RequestId"


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether ``origin`` matches an allowed origin exactly or through a ``:*`` port wildcard."""
    if not origin or origin == "null":
        return False
    for pattern in allowed:
        if pattern == origin:
            return True
        if pattern.endswith(":*"):
            base = pattern[:-2]
            rest = origin[len(base) :] if origin.startswith(base) else None
            if rest is not None and (rest == "" or (rest.startswith(":") and rest[1:].isdigit())):
                return True
    return False


def request_origin(headers: Mapping[str, str] | None) -> str | None:
    for name, value in (headers or {}).items():
        if name.lower() == "origin":
            return value
    return None


def response_headers(origin: str | None, settings: Settings) -> dict[str, str]:
    """The CORS headers of an ordinary (data-bearing) response to a request from ``origin``."""
    if not origin_allowed(origin, settings.api.cors_allowed_origins):
        return {"Vary": "Origin"} if origin else {}
    return {
        "Access-Control-Allow-Origin": origin or "",
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
        "Vary": "Origin",
    }


def is_preflight(method: str, headers: Mapping[str, str] | None) -> bool:
    if method.upper() != "OPTIONS":
        return False
    return any(name.lower() == "access-control-request-method" for name in (headers or {}))


def preflight_headers(origin: str | None, settings: Settings) -> dict[str, str] | None:
    """The headers of a 204 preflight answer, or None when ``origin`` is not allowed."""
    if not origin_allowed(origin, settings.api.cors_allowed_origins):
        return None
    return {
        "Access-Control-Allow-Origin": origin or "",
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(settings.api.cors_max_age_seconds),
        "Vary": "Origin",
    }
