"""Small helpers for functions that answer API Gateway REST proxy events without FastAPI
(push_ingest, inference): they keep those hot paths free of the web framework."""

from __future__ import annotations

import json
from typing import Any

from drgero.core.errors import ApiError


def header(event: dict, name: str) -> str | None:
    """A request header, case-insensitively (API Gateway keeps the client's casing)."""
    wanted = name.lower()
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == wanted:
            return value
    return None


def request_id(event: dict) -> str:
    return str((event.get("requestContext") or {}).get("requestId") or "local")


def json_body(event: dict, max_bytes: int) -> Any:
    """The request body as JSON: 413 over ``max_bytes``, 400 when it is not JSON."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64

        raw_bytes = base64.b64decode(raw)
    else:
        raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw)
    if len(raw_bytes) > max_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"The request body is {len(raw_bytes)} bytes; the limit is {max_bytes} bytes.",
            {"limit_bytes": max_bytes, "size_bytes": len(raw_bytes)},
        )
    if not raw_bytes.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON document.")
    try:
        return json.loads(raw_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps(body, separators=(",", ":"), default=str),
    }


def error_response(error: ApiError, event: dict) -> dict:
    return json_response(error.status, error.body(request_id(event)), error.headers)
