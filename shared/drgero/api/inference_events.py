"""API Gateway events in, HTTP answers out, for the inference function (no web framework).

Credentials: these two routes have no API Gateway authorizer (the hop cost more than the
rest of the call: docs/performance.md, "authorizer hop"); :func:`authenticate` decides with the
authorizer's own code and token cache, so a credential means the same here as on every other
route, and a revoked token stops working within ``auth.token_cache_seconds``.

Error bodies: both routes answer the one error body of ``drgero.core.errors`` (the contract's
fields plus OpenAI's ``type`` and ``param``), so contract clients and OpenAI SDKs read it alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from drgero.api.raw_events import json_response, read_json, request_id
from drgero.core.errors import ApiError
from drgero.identity.authorizer import Authorizer, Denied, MissingCredential
from drgero.identity.principal import Principal
from drgero.inference.request import parse_chat, parse_inference

CHAT_RESOURCE = "/v1/chat/completions"


def _headers(outcome: Any) -> dict[str, str]:
    return {"X-DrGero-Trace-Id": outcome.trace_id, "X-DrGero-Model-Id": outcome.model.model_id}


def native_body(outcome: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "output": outcome.output,
        "model": outcome.model.public(),
        "usage": outcome.usage,
        "cost_usd": outcome.cost_usd,
        "latency_ms": outcome.latency_ms,
        "trace_id": outcome.trace_id,
    }
    if outcome.fallback_from:
        body["fallback_from"] = outcome.fallback_from
    if outcome.tool_calls:
        body["tool_calls"] = outcome.tool_calls
    return body


def chat_body(leaderboard_id: str, outcome: Any, now: float | None = None) -> dict[str, Any]:
    """OpenAI's chat.completion object, plus a ``drgero`` object with what answered."""
    drgero: dict[str, Any] = {
        "model": outcome.model.public(),
        "cost_usd": outcome.cost_usd,
        "latency_ms": outcome.latency_ms,
        "trace_id": outcome.trace_id,
    }
    if outcome.fallback_from:
        drgero["fallback_from"] = outcome.fallback_from
    message: dict[str, Any] = {"role": "assistant", "content": outcome.output}
    if outcome.tool_calls:
        # As the model sent them; OpenAI's content is null beside tool calls with no text.
        message["tool_calls"] = outcome.tool_calls
        message["content"] = outcome.output or None
    return {
        "id": f"chatcmpl-{outcome.trace_id}",
        "object": "chat.completion",
        "created": int(now if now is not None else time.time()),
        "model": f"leaderboard/{leaderboard_id}",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": outcome.finish_reason,
                "logprobs": outcome.logprobs,
            }
        ],
        "usage": outcome.usage,
        "system_fingerprint": None,
        "drgero": drgero,
    }


STREAM_KEY = "bodyStream"  # a proxy response whose body is a generator of bytes (SSE)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'), default=str)}\n\n".encode()


def _chunk_of(leaderboard_id: str, trace_id: str, created: int, choices: list[Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{trace_id}",
        "object": "chat.completion.chunk",
        "created": created,
        "model": f"leaderboard/{leaderboard_id}",
        "system_fingerprint": None,
        "choices": choices,
    }


def chat_events(leaderboard_id: str, live: Any, include_usage: bool, request_id: str) -> Iterator[bytes]:
    """OpenAI's chunk stream: the upstream's choices as they come (id, model and created are
    ours), a last usage chunk when ``include_usage`` (with the ``drgero`` object), then
    ``data: [DONE]``; an upstream failure after the first byte is one ``error`` event (the
    error body) and the end."""
    created = int(time.time())
    for kind, item in live:
        if kind == "error":
            yield _sse(item.body(request_id))
            return
        choices = item.get("choices") or []
        if choices:
            yield _sse(_chunk_of(leaderboard_id, live.trace_id, created, choices))
    outcome = live.outcome
    if include_usage:
        last = _chunk_of(leaderboard_id, live.trace_id, created, [])
        last["usage"] = outcome.usage
        last["drgero"] = {
            "model": outcome.model.public(),
            "cost_usd": outcome.cost_usd,
            "latency_ms": outcome.latency_ms,
            "trace_id": outcome.trace_id,
            **({"fallback_from": outcome.fallback_from} if outcome.fallback_from else {}),
        }
        yield _sse(last)
    yield b"data: [DONE]\n\n"


def native_events(live: Any, request_id: str) -> Iterator[bytes]:
    """The native route's stream: ``{"delta": "…"}`` events as text arrives, then one
    ``event: result`` whose data is the route's normal 200 body (or ``event: error``)."""
    for kind, item in live:
        if kind == "error":
            yield _sse(item.body(request_id), "error")
            return
        for choice in item.get("choices") or []:
            delta = (choice.get("delta") or {}) if isinstance(choice, dict) else {}
            if isinstance(delta.get("content"), str) and delta["content"]:
                yield _sse({"delta": delta["content"]})
    yield _sse(native_body(live.outcome), "result")


def _closing(events: Iterator[bytes], live: Any) -> Iterator[bytes]:
    """``events``, and the call ended (paid, traced) however the iteration stops: closing
    this generator early (the client left) closes the call."""
    try:
        yield from events
    finally:
        live.close()


def stream_response(events: Iterator[bytes], live: Any) -> dict:
    headers = {
        "Content-Type": "text/event-stream",
        "Cache-Control": "no-cache",
        "X-DrGero-Trace-Id": live.trace_id,
        "X-DrGero-Model-Id": live.choice.model_id,
    }
    return {"statusCode": 200, "headers": headers, STREAM_KEY: _closing(events, live)}


def authenticate(authorizer: Authorizer, event: dict) -> Principal:
    """The caller, from the request's credential headers, answered as API Gateway answers them
    on the routes it authorizes: 401 ``unauthorized`` with no credential, 401 with the
    authorizer's code (``invalid_token``, ``token_expired``, ``token_revoked``...) for a bad
    one. ``requestContext.authorizer`` is never read: no authorizer fills it on these routes."""
    try:
        principal = authorizer.principal_of(event)
    except MissingCredential:
        raise ApiError(401, "unauthorized", "Missing or invalid credentials.") from None
    except Denied as denied:
        raise ApiError(401, denied.code, denied.message) from None
    principal.require_workspace()  # a user session with no workspace resolved: as on other routes
    return principal


def handle(event: dict, service: Any, principal: Principal) -> tuple[dict, Any]:
    """One request by ``principal`` (:func:`authenticate`): (HTTP answer, the outcome or None).
    Raises ApiError for the caller to map. A streamed request's answer holds its body as a
    generator under ``STREAM_KEY``; the call is opened (first chunk in hand) before this
    returns, so every refusal is an error."""
    settings = service.settings.inference
    chat = event.get("resource") == CHAT_RESOURCE
    path_leaderboard = None if chat else str((event.get("pathParameters") or {}).get("id") or "")
    # Credentials before the body: a caller who may not call inference learns nothing more.
    service.authorize(principal, path_leaderboard)
    body = read_json(event, settings.max_body_bytes, "inference.max_body_bytes", service.settings.api.max_json_depth)
    rid = request_id(event)
    if chat:
        leaderboard_id, request = parse_chat(body, settings)
        if request.stream:
            live = service.stream(principal, leaderboard_id, request)
            return stream_response(chat_events(leaderboard_id, live, request.include_usage, rid), live), None
        outcome = service.infer(principal, leaderboard_id, request)
        return json_response(200, chat_body(leaderboard_id, outcome), _headers(outcome)), outcome
    request = parse_inference(body, settings)
    if request.stream:
        live = service.stream(principal, path_leaderboard or "", request)
        return stream_response(native_events(live, rid), live), None
    outcome = service.infer(principal, path_leaderboard or "", request)
    return json_response(200, native_body(outcome), _headers(outcome)), outcome
