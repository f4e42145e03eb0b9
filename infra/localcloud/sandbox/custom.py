"""The custom endpoint fixture under ``/custom/``: the shapes a workspace's own endpoint may
answer in (OpenAI, JSON, text), one that needs a credential, and careless ones (a redirect to
the metadata address, an error that echoes the caller's credential, a huge body)."""

from __future__ import annotations

from typing import Any

from localcloud.sandbox.behaviours import solve
from localcloud.sandbox.chat import answer_chat, completion_body, stream_answer
from localcloud.sandbox.shapes import last_user
from localcloud.sandbox.toys import ALL_PARAMETERS

SANDBOX_CUSTOM_SECRET = "sandbox-custom-secret"  # noqa: S105 - a toy fixture credential


def route(handler: Any, rest: str, query: dict[str, list[str]]) -> None:
    if rest == "redirect":
        target = (query.get("to") or ["http://169.254.169.254/latest/meta-data/"])[0]
        return handler._send(302, {"redirect": target}, {"Location": target})
    if rest.startswith("status/") and rest[7:].isdigit():
        # Plays a careless endpoint that echoes the caller's credentials in its error
        # message: the provider layer must redact them.
        sent = handler.headers.get("Authorization") or handler.headers.get("X-Api-Key") or "nothing"
        return handler._error(int(rest[7:]), f"sandbox: forced status (you sent {sent})")
    if rest == "large":
        size = int((query.get("bytes") or ["1048576"])[0])
        return handler._send(200, "x" * min(size, 64 * 1024 * 1024))
    body = handler._body()
    if rest.startswith("secure/"):
        supplied = handler._bearer() or handler.headers.get("X-Api-Key") or ""
        if supplied != SANDBOX_CUSTOM_SECRET:
            return handler._error(401, "sandbox: custom endpoint needs its credential")
        rest = rest.removeprefix("secure/")
    messages = body.get("messages") if isinstance(body.get("messages"), list) else []
    text = str(body.get("input") or last_user(messages))
    if not handler._pre("custom"):
        return None
    output = solve(text)
    if rest == "openai":
        # Honours every chat parameter (tools, JSON mode, ...): what an endpoint declares at attach.
        result = answer_chat(solve, body, ALL_PARAMETERS)
        if body.get("stream"):
            model = str(body.get("model") or "custom")
            return stream_answer(handler, model, result, None, body, handler._stream_delay_ms("custom"))
        return handler._send(200, completion_body(str(body.get("model") or "custom"), text, result, None))
    if rest == "json":
        return handler._send(200, {"result": {"text": output}, "meta": {"toy": "sandbox custom endpoint"}})
    if rest == "text":
        return handler._send(200, output)
    if rest == "echo-headers":
        return handler._send(200, {"result": {"text": output}, "headers": dict(handler.headers.items())})
    handler._error(404, f"sandbox: no custom fixture {rest!r}")
