"""The Hugging Face endpoint fixture under ``/hf/{toy}``: TGI's chat completions and the
classic ``{"inputs"}`` shape; ``/hf/private-{toy}`` needs the fixture token."""

from __future__ import annotations

from typing import Any

from localcloud.sandbox.shapes import completion, content_text, last_user, tokens, truncate
from localcloud.sandbox.toys import TOYS

SANDBOX_HF_TOKEN = "hf_sandbox_token"  # noqa: S105 - a toy fixture credential


def route(handler: Any, rest: str) -> None:
    name, _, tail = rest.partition("/")
    if name.startswith("private-"):
        if handler._bearer() != SANDBOX_HF_TOKEN:
            return handler._error(401, "sandbox: Hugging Face endpoint needs its token")
        name = name.removeprefix("private-")
    toy = TOYS.get(f"sandbox/{name}")
    if toy is None:
        return handler._error(404, f"sandbox: no toy {name!r}")
    body = handler._body()
    if not handler._pre("hf"):
        return None
    if tail == "v1/chat/completions":
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return handler._error(422, "sandbox: messages must be a non-empty list")
        text = last_user(messages)
        output = truncate(toy.answer(text), body.get("max_tokens"))
        prompt_tokens = sum(tokens(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
        return handler._send(200, completion("tgi", text, output, prompt_tokens, tokens(output)))
    if tail == "":
        inputs = body.get("inputs")
        if not isinstance(inputs, str):
            return handler._error(422, "sandbox: inputs must be a string")
        max_new = (body.get("parameters") or {}).get("max_new_tokens")
        return handler._send(200, [{"generated_text": truncate(toy.answer(inputs), max_new)}])
    handler._error(404, f"sandbox: no Hugging Face route {tail!r}")
