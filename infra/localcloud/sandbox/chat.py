"""What a toy answers to an OpenAI chat body beyond the text: tool calls, JSON mode and
structured outputs, logprobs and stop sequences, so tools and JSON mode are tested offline.

A toy honours only the parameters its catalog entry lists (``ToyModel.parameters``); others
are ignored, as a real model that does not support them would do (which is why Dr.Gero
refuses them before they reach it). Deterministic:

- ``tools`` given, ``tool_choice`` not ``"none"``, and the last turn is not a tool result:
  one call of the named (``tool_choice``) or first tool, arguments built from its JSON schema
  (strings get the last user text, numbers its arithmetic answer or 0, booleans true);
  ``finish_reason: "tool_calls"``, ``content: null``.
- the last turn is a tool result: the answer is ``"Tool said: <result>"``.
- ``response_format`` ``json_object``: ``{"answer": <text>}``; ``json_schema``: an object with
  every property of the schema filled (strings: the text; numbers: the arithmetic answer).
- ``logprobs``: one entry per word (logprob -0.01); ``stop``: the text is cut at the first stop.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from localcloud.sandbox.behaviours import arithmetic
from localcloud.sandbox.shapes import content_text, last_user, tokens, truncate


@dataclass
class ChatAnswer:
    content: str | None
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str
    logprobs: dict[str, Any] | None
    prompt_tokens: int
    completion_tokens: int


def _value_for(schema: Any, text: str, question: str | None = None) -> Any:
    """A value of ``schema``'s type: strings are ``text``, numbers the arithmetic answer to
    ``question`` (default ``text``)."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("number", "integer"):
        value = arithmetic(question if question is not None else text)
        if value is None:
            return 0
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return _object_for(schema, text, question)
    if isinstance(schema, dict) and isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    return text


def _object_for(schema: dict[str, Any], text: str, question: str | None = None) -> dict[str, Any]:
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    return {name: _value_for(spec, text, question) for name, spec in properties.items()}


def _tool_call(tools: list[Any], choice: Any, text: str) -> dict[str, Any] | None:
    functions = [t.get("function") for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    if not functions:
        return None
    picked = functions[0]
    if isinstance(choice, dict):
        wanted = (choice.get("function") or {}).get("name")
        picked = next((f for f in functions if f.get("name") == wanted), picked)
    parameters = picked.get("parameters") if isinstance(picked.get("parameters"), dict) else {}
    arguments = json.dumps(_object_for(parameters, text))
    call_id = "call_" + hashlib.sha256(f"{picked.get('name')}\n{text}".encode()).hexdigest()[:24]
    return {"id": call_id, "type": "function", "function": {"name": picked.get("name"), "arguments": arguments}}


def _cut_at_stop(text: str, stop: Any) -> tuple[str, bool]:
    stops = [stop] if isinstance(stop, str) else [s for s in stop or [] if isinstance(s, str) and s]
    positions = [text.find(s) for s in stops if s and s in text]
    if not positions:
        return text, False
    return text[: min(positions)], True


def answer_chat(answer: Any, body: dict[str, Any], parameters: tuple[str, ...]) -> ChatAnswer:
    """The toy's answer to ``body``; ``answer`` maps the last user text to the toy's text."""
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    text = last_user(messages)
    prompt_tokens = sum(tokens(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    tools = body.get("tools") if "tools" in parameters and isinstance(body.get("tools"), list) else None
    if tools and last.get("role") != "tool" and body.get("tool_choice") != "none":
        call = _tool_call(tools, body.get("tool_choice"), text)
        if call is not None:
            return ChatAnswer(None, [call], "tool_calls", None, prompt_tokens, tokens(call["function"]["arguments"]))
    if last.get("role") == "tool" and "tools" in parameters:
        output = f"Tool said: {content_text(last.get('content'))}"
    else:
        output = answer(text)
    output = truncate(output, body.get("max_tokens"))
    finish = "stop"
    if "stop" in parameters and body.get("stop"):
        output, _cut = _cut_at_stop(output, body.get("stop"))
    response_format = body.get("response_format") if isinstance(body.get("response_format"), dict) else {}
    if response_format.get("type") == "json_object" and "response_format" in parameters:
        output = json.dumps({"answer": output})
    elif response_format.get("type") == "json_schema" and "structured_outputs" in parameters:
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
        output = json.dumps(_object_for(schema, output, text))
    logprobs = None
    if body.get("logprobs") and "logprobs" in parameters:
        logprobs = {
            "content": [
                {"token": word, "logprob": -0.01, "bytes": list(word.encode()), "top_logprobs": []}
                for word in output.split(" ")
            ],
            "refusal": None,
        }
    return ChatAnswer(output, None, finish, logprobs, prompt_tokens, tokens(output))


def completion_body(model: str, prompt: str, result: ChatAnswer, cost: float | None) -> dict[str, Any]:
    """The chat.completion object of ``result`` (usage.cost when priced, like OpenRouter)."""
    from localcloud.sandbox.shapes import completion

    body = completion(model, prompt, result.content or "", result.prompt_tokens, result.completion_tokens, cost)
    choice = body["choices"][0]
    choice["message"]["content"] = result.content
    if result.tool_calls:
        choice["message"]["tool_calls"] = result.tool_calls
    choice["finish_reason"] = result.finish_reason
    choice["logprobs"] = result.logprobs
    return body


def stream_answer(
    handler: Any,
    model: str,
    result: ChatAnswer,
    cost: float | None,
    body: dict[str, Any],
    delay_ms: float,
    fail_mid: bool = False,
) -> None:
    """Sends ``result`` as OpenAI chat-completion chunks (server-sent events), one word per
    chunk, ``delay_ms`` apart (the pace a test or benchmark sets), then a usage chunk when
    ``stream_options.include_usage`` is true, then ``data: [DONE]``. ``fail_mid``: an error
    event after the first words, as a provider failing mid-answer does."""
    import time

    created = 1_735_689_600
    base = {
        "id": "gen-sandbox-stream-" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16],
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, **extra}]}

    events: list[dict[str, Any]] = [chunk({"role": "assistant", "content": ""})]
    if result.tool_calls:
        for index, call in enumerate(result.tool_calls):
            events.append(chunk({"tool_calls": [{"index": index, **call}]}))
    else:
        words = (result.content or "").split(" ")
        for position, word in enumerate(words):
            piece = word if position == len(words) - 1 else word + " "
            extra = {}
            if result.logprobs is not None:
                extra["logprobs"] = {"content": [result.logprobs["content"][position]], "refusal": None}
            events.append(chunk({"content": piece}, **extra))
    events.append(chunk({}, result.finish_reason))
    options = body.get("stream_options") if isinstance(body.get("stream_options"), dict) else {}
    if options.get("include_usage"):
        usage: dict[str, Any] = {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "total_tokens": result.prompt_tokens + result.completion_tokens,
        }
        if cost is not None:
            usage["cost"] = cost
        events.append({**base, "choices": [], "usage": usage})

    handler.close_connection = True  # the body ends when the connection closes (no length)
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.end_headers()
    try:
        for number, event in enumerate(events):
            if fail_mid and number == 2:
                handler.wfile.write(b'data: {"error": {"code": 502, "message": "sandbox: failed mid-stream"}}\n\n')
                handler.wfile.flush()
                return
            handler.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
            handler.wfile.flush()
            if delay_ms > 0 and number < len(events) - 1:
                time.sleep(delay_ms / 1000)
        handler.wfile.write(b"data: [DONE]\n\n")
        handler.wfile.flush()
    except (BrokenPipeError, ConnectionResetError):
        return  # the caller went away: what it did not read is lost, like a real provider's
