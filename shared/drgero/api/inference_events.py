"""API Gateway events in, HTTP answers out, for the inference function (no web framework).

Error bodies: both routes answer the one error body of ``drgero.core.errors`` (the contract's
fields plus OpenAI's ``type`` and ``param``), so contract clients and OpenAI SDKs read it alike.
"""

from __future__ import annotations

import time
from typing import Any

from drgero.api.raw_events import json_response, read_json
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


def handle(event: dict, service: Any) -> tuple[dict, Any]:
    """One request: (HTTP answer, the outcome or None). Raises ApiError for the caller to map."""
    settings = service.settings.inference
    principal = Principal.from_context((event.get("requestContext") or {}).get("authorizer"))
    chat = event.get("resource") == CHAT_RESOURCE
    path_leaderboard = None if chat else str((event.get("pathParameters") or {}).get("id") or "")
    # Credentials before the body: a caller who may not call inference learns nothing more.
    service.authorize(principal, path_leaderboard)
    body = read_json(event, settings.max_body_bytes, "inference.max_body_bytes", service.settings.api.max_json_depth)
    if chat:
        leaderboard_id, request = parse_chat(body, settings)
        outcome = service.infer(principal, leaderboard_id, request)
        return json_response(200, chat_body(leaderboard_id, outcome), _headers(outcome)), outcome
    request = parse_inference(body, settings)
    outcome = service.infer(principal, path_leaderboard or "", request)
    return json_response(200, native_body(outcome), _headers(outcome)), outcome
