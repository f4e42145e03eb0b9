"""Requests straight into one function's handler (no gateway, no authorizer: the event carries
the principal the authorizer would have produced). Answers are ``(status, json body)``."""

from __future__ import annotations

import json
from typing import Any

from drgero.identity.principal import Principal

from .events import rest_event


def api(
    aws: Any,
    method: str,
    path: str,
    principal: Principal | None,
    body: Any = None,
    *,
    raw_body: str | None = None,
) -> tuple[int, Any]:
    """``method path`` through the real api function; ``path`` may carry a query string."""
    path, _, query = path.partition("?")
    params = dict(part.split("=", 1) for part in query.split("&")) if query else None
    event = rest_event(method, path, body, principal, query=params, raw_body=raw_body)
    response = aws.functions.invoke("ApiFunction", event)
    text = response.get("body") or ""
    return response["statusCode"], (json.loads(text) if text else None)


def push(
    aws: Any,
    leaderboard_id: str,
    principal: Principal | None,
    body: Any = None,
    raw_body: str | None = None,
    idempotency_key: str | None = None,
) -> tuple[int, Any, dict]:
    """A dataset push through the real push_ingest function; also answers the headers."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    event = rest_event(
        "POST",
        f"/v1/leaderboard/{leaderboard_id}/dataset/push",
        body,
        principal,
        headers=headers,
        resource="/v1/leaderboard/{id}/dataset/push",
        path_parameters={"id": leaderboard_id},
        raw_body=raw_body,
    )
    response = aws.functions.invoke("PushIngestFunction", event)
    return response["statusCode"], json.loads(response["body"]), response.get("headers") or {}
