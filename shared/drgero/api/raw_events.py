"""Small helpers for functions that answer API Gateway REST proxy events without FastAPI
(push_ingest, inference): they keep those hot paths free of the web framework.

:func:`finish` is the one exit of every HTTP function (api included): each answer leaves with
``x-request-id`` and the CORS headers of ``drgero.core.cors``; :func:`preflight_answer`
answers a CORS preflight.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from drgero.core import cors
from drgero.core.errors import ApiError
from drgero.core.json_depth import check_depth
from drgero.core.settings import Settings


def header(event: dict, name: str) -> str | None:
    """A request header, case-insensitively (API Gateway keeps the client's casing)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return value
    return None


def request_id(event: dict) -> str:
    return str((event.get("requestContext") or {}).get("requestId") or "local")


def raw_body(event: dict) -> bytes:
    """The request body as bytes (API Gateway base64-encodes binary bodies); 400 ``invalid_json``
    when a body that says it is base64 is not."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except ValueError as exc:
            raise ApiError(400, "invalid_json", "The request body is not valid base64.") from exc
    return body.encode("utf-8", "surrogatepass") if isinstance(body, str) else bytes(body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(event: dict, max_bytes: int, setting: str, max_depth: int) -> Any:
    """The body as JSON: 413 over ``max_bytes`` (naming ``setting``), 400 when empty, nested
    deeper than ``max_depth``, not base64 or not strict JSON (``NaN``/``Infinity`` are refused:
    they would poison traces and rows)."""
    data = raw_body(event)
    if len(data) > max_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"The request body is {len(data)} bytes; the limit is {max_bytes} bytes ({setting}).",
            {"limit_bytes": max_bytes, "size_bytes": len(data)},
        )
    if not data.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON object.")
    check_depth(data, max_depth)
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), default=str),
    }


def error_response(error: ApiError, event: dict) -> dict:
    return json_response(error.status, error.body(request_id(event)), error.headers)


def finish(event: dict, response: dict, settings: Settings) -> dict:
    """Adds ``x-request-id`` and the CORS headers for the request's origin to a proxy response."""
    extra = {"x-request-id": request_id(event), **cors.response_headers(header(event, "Origin"), settings)}
    headers = response.setdefault("headers", {}) or {}
    response["headers"] = headers
    present = {name.lower() for name in headers}
    for name, value in extra.items():
        if name.lower() not in present:
            headers[name] = value
    return response


def too_deep_answer(event: dict, settings: Settings) -> dict | None:
    """The 400 ``json_too_deep`` answer for a body nested deeper than ``api.max_json_depth``
    (None when it is not): the api function checks every body before its web framework parses
    it, so no route can meet a ``RecursionError``."""
    if not event.get("body"):
        return None
    try:
        check_depth(raw_body(event), settings.api.max_json_depth)
    except ApiError as error:
        return error_response(error, event)
    return None


def preflight_answer(event: dict, settings: Settings) -> dict | None:
    """The answer to a CORS preflight (None when ``event`` is not one): 204 with the allowed
    methods and headers for an allowed origin, 403 ``cors_origin_not_allowed`` otherwise."""
    if not cors.is_preflight(str(event.get("httpMethod") or ""), event.get("headers")):
        return None
    allowed = cors.preflight_headers(header(event, "Origin"), settings)
    if allowed is None:
        error = ApiError(
            403,
            "cors_origin_not_allowed",
            "This origin may not call the API from a browser (see api.cors_allowed_origins).",
        )
        return error_response(error, event)
    return {"statusCode": 204, "headers": allowed, "body": ""}
