"""Request bodies and answer parsing for the wire formats the platforms speak."""

from __future__ import annotations

import re
from typing import Any

from drgero.providers.errors import UpstreamError
from drgero.providers.types import ChatMessage, Usage


def last_user_text(messages: list[ChatMessage]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return content_text(messages[-1].get("content")) if messages else ""


def content_text(content: Any) -> str:
    """Text of an OpenAI message content (a string, or a list of typed parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def prompt_text(messages: list[ChatMessage]) -> str:
    """A plain-text rendering for endpoints that take one string (classic HF ``inputs``)."""
    if len(messages) == 1:
        return content_text(messages[0].get("content"))
    return "\n\n".join(f"{m.get('role', 'user')}: {content_text(m.get('content'))}" for m in messages)


def openai_request(
    model: str | None,
    messages: list[ChatMessage],
    max_tokens: int | None,
    temperature: float | None,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A chat-completions body. ``options``: further OpenAI parameters (tools,
    response_format, ...), already checked against the model's capabilities by the caller."""
    body: dict[str, Any] = {**(options or {}), "messages": messages}
    if model:
        body["model"] = model
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    return body


def parse_openai(body: Any, provider: str) -> tuple[str, Usage, float | None, str | None, str | None]:
    """(text, usage, usage.cost, response id, model) of a chat-completions answer."""
    if not isinstance(body, dict):
        raise UpstreamError("The provider answered with something that is not a chat completion.", provider=provider)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamError("The provider's answer has no choices.", provider=provider)
    message = choices[0].get("message") or {}
    text = content_text(message.get("content")) if isinstance(message, dict) else ""
    if not text and "text" in choices[0]:
        text = str(choices[0]["text"])
    usage_body = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    usage = Usage(
        prompt_tokens=_int(usage_body.get("prompt_tokens")),
        completion_tokens=_int(usage_body.get("completion_tokens")),
    )
    cost = usage_body.get("cost")
    cost_usd = float(cost) if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0 else None
    response_id = body.get("id") if isinstance(body.get("id"), str) else None
    model = body.get("model") if isinstance(body.get("model"), str) else None
    return text, usage, cost_usd, response_id, model


def parse_classic_hf(body: Any, provider: str) -> str:
    """``[{"generated_text": …}]`` (or the same object unwrapped)."""
    item = body[0] if isinstance(body, list) and body else body
    if isinstance(item, dict) and isinstance(item.get("generated_text"), str):
        return item["generated_text"]
    raise UpstreamError("The endpoint's answer has no generated_text.", provider=provider)


_STEP = re.compile(r"([A-Za-z0-9_\-]+)|\[(\d+)\]")


def extract_json_path(body: Any, path: str, provider: str) -> str:
    """Follow a dotted path like ``data.items[0].text``; the value must be a string or number."""
    node = body
    for name, index in _STEP.findall(path.lstrip("$").lstrip(".")):
        if name:
            if not isinstance(node, dict) or name not in node:
                raise UpstreamError(f"The endpoint's JSON has nothing at {path!r}.", provider=provider)
            node = node[name]
        else:
            position = int(index)
            if not isinstance(node, list) or position >= len(node):
                raise UpstreamError(f"The endpoint's JSON has nothing at {path!r}.", provider=provider)
            node = node[position]
    if isinstance(node, bool) or not isinstance(node, str | int | float):
        raise UpstreamError(f"The value at {path!r} is not text.", provider=provider)
    return str(node)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
