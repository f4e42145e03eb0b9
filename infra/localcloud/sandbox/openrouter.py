"""OpenRouter's API shapes under ``/api/v1``: the catalogue, a model's endpoints (latency only
for authenticated callers), the key info, and chat completions with ``usage.cost``."""

from __future__ import annotations

import re
from typing import Any

from localcloud.sandbox.chat import answer_chat, completion_body, stream_answer
from localcloud.sandbox.shapes import catalog_entry, content_text, endpoints, last_user
from localcloud.sandbox.toys import TOYS


def route(handler: Any, method: str, path: str) -> None:
    if path == "/models" and method == "GET":
        return handler._send(200, {"data": [catalog_entry(t) for t in TOYS.values()]})
    match = re.fullmatch(r"/models/([^/]+)/([^/]+)/endpoints", path)
    if match and method == "GET":
        toy = TOYS.get(f"{match.group(1)}/{match.group(2)}")
        if toy is None:
            return handler._error(404, "sandbox: no such model")
        # Like OpenRouter: latency only for authenticated callers.
        return handler._send(200, {"data": endpoints(toy, with_latency=handler._openrouter_key_ok())})
    if path == "/key" and method == "GET":
        if not handler._openrouter_key_ok():
            return handler._error(401, "sandbox: invalid API key")
        return handler._send(
            200,
            {"data": {"label": "sandbox key", "usage": 0, "limit": None, "is_free_tier": False}},
        )
    if path == "/chat/completions" and method == "POST":
        return _chat(handler)
    handler._error(404, f"sandbox: no route {method} /api/v1{path}")


def _chat(handler: Any) -> None:
    if not handler._openrouter_key_ok():
        return handler._error(401, "sandbox: invalid API key")
    body = handler._body()
    model = str(body.get("model") or "")
    toy = TOYS.get(model)
    if toy is None:
        return handler._error(400, f"sandbox: {model!r} is not a valid model ID")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return handler._error(400, "sandbox: messages must be a non-empty list")
    text = last_user(messages)
    if toy.id == "sandbox/flaky" and "[fail]" in text and not body.get("stream"):
        return handler._error(500, "sandbox: flaky model failed on demand")
    if toy.id == "sandbox/flaky" and "[429]" in text:
        return handler._error(429, "sandbox: flaky model rate limited on demand", {"Retry-After": "1"})
    if not handler._pre(toy.id):
        return None
    answer = toy.answer
    if toy.reads_conversation:  # the toy reads every user turn, not only the last (the judge)
        users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        whole = "\n\n".join(content_text(m.get("content")) for m in users)
        answer = lambda _last: toy.answer(whole)  # noqa: E731 - answer_chat takes a one-argument answer
    result = answer_chat(answer, body, toy.parameters)
    cost = round(result.prompt_tokens * toy.prompt_price + result.completion_tokens * toy.completion_price, 12)
    if body.get("stream"):
        delay = handler._stream_delay_ms(toy.id)
        fail_mid = toy.id == "sandbox/flaky" and "[fail]" in text
        return stream_answer(handler, toy.id, result, cost, body, delay, fail_mid)
    completed = completion_body(toy.id, text, result, cost)
    completed["provider"] = "Sandbox"
    return handler._send(200, completed)
