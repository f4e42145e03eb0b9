"""API Gateway events in, HTTP answers out, for the inference function (no web framework).

Error bodies: both routes answer the one error body of ``drgero.core.errors`` (the contract's
fields plus OpenAI's ``type`` and ``param``), so contract clients and OpenAI SDKs read it alike.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from drgero.api.raw_events import json_response, request_id
from drgero.core.errors import ApiError
from drgero.identity.principal import Principal
from drgero.inference.request import parse_chat, parse_inference

CHAT_RESOURCE = "/v1/chat/completions"


def error_answer(error: ApiError, event: dict) -> dict:
    req_id = request_id(event)
    return json_response(error.status, error.body(req_id), error.headers)


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
    return {
        "id": f"chatcmpl-{outcome.trace_id}",
        "object": "chat.completion",
        "created": int(now if now is not None else time.time()),
        "model": f"leaderboard/{leaderboard_id}",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": outcome.output},
                "finish_reason": outcome.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": outcome.usage,
        "system_fingerprint": None,
        "drgero": drgero,
    }


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json(event: dict, max_bytes: int) -> Any:
    """The body as JSON: 413 over ``max_bytes``, 400 when empty, not base64 or not strict
    JSON (``NaN``/``Infinity`` are refused: they would poison traces and captured rows)."""
    raw = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            data = base64.b64decode(raw, validate=True)
        except ValueError as exc:
            raise ApiError(400, "invalid_json", "The request body is not valid base64.") from exc
    else:
        data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if len(data) > max_bytes:
        raise ApiError(
            413,
            "payload_too_large",
            f"The request body is {len(data)} bytes; the limit is {max_bytes} bytes (inference.max_body_bytes).",
            {"limit_bytes": max_bytes, "size_bytes": len(data)},
        )
    if not data.strip():
        raise ApiError(400, "invalid_json", "The request body is empty; send a JSON object.")
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid_json", f"The request body is not valid JSON: {exc}") from exc


def handle(event: dict, service: Any) -> tuple[dict, Any]:
    """One request: (HTTP answer, the outcome or None). Raises ApiError for the caller to map."""
    settings = service.settings.inference
    principal = Principal.from_context((event.get("requestContext") or {}).get("authorizer"))
    chat = event.get("resource") == CHAT_RESOURCE
    path_leaderboard = None if chat else str((event.get("pathParameters") or {}).get("id") or "")
    # Credentials before the body: a caller who may not call inference learns nothing more.
    service.authorize(principal, path_leaderboard)
    body = read_json(event, settings.max_body_bytes)
    if chat:
        leaderboard_id, request = parse_chat(body, settings)
        outcome = service.infer(principal, leaderboard_id, request)
        return json_response(200, chat_body(leaderboard_id, outcome), _headers(outcome)), outcome
    request = parse_inference(body, settings)
    outcome = service.infer(principal, path_leaderboard or "", request)
    return json_response(200, native_body(outcome), _headers(outcome)), outcome
