"""The two request bodies of production inference, validated at the boundary.

- ``POST /v1/leaderboard/{id}/inference``: ``{"input": "…"}`` or ``{"messages": [...]}``, plus
  optional ``max_tokens``, ``temperature``, ``metadata``. Unknown fields are refused (a typo
  should not be silently ignored).
- ``POST /v1/chat/completions``: OpenAI's body; ``model`` is ``leaderboard/{id}``. The
  parameters that change what an answer is (``tools``, ``tool_choice``, ``parallel_tool_calls``,
  ``response_format``, ``logprobs``, ``top_logprobs``, ``stop``, ``seed``, ``top_p``) become
  ``options``, forwarded to the production model only if it honours them (else 400
  ``unsupported_parameter``, checked by the service: drgero.providers.capabilities). Others
  (``user``, ``store``, penalties…) are accepted and ignored, as OpenAI-compatible servers
  do; ``n > 1`` is refused with a clear 400.

Types are strict (``"5"`` is not a number, ``true`` is not an integer): wrong types are 400
``invalid_request`` naming the field, never echoing the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from drgero.core.errors import ApiError
from drgero.core.settings import InferenceSettings
from drgero.core.validation import TextModel, parse
from drgero.datasets.rows import RowError, messages_to_text

INVALID = "The request body is not valid."
MODEL_PREFIX = "leaderboard/"
_LEADERBOARD_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_METADATA_KEYS = 50


class ChatMessage(TextModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Any] | None = None


class _Common(TextModel):
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _metadata_bounded(self) -> _Common:
        if self.metadata is not None and len(self.metadata) > MAX_METADATA_KEYS:
            raise ValueError(f"metadata holds at most {MAX_METADATA_KEYS} keys")
        return self


class InferenceBody(_Common):
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"input": "What is the capital of France?", "metadata": {"user_id": "u_1"}}]},
    )

    input: str | None = None
    messages: list[ChatMessage] | None = None
    # Server-sent events: {"delta"} as text arrives, then an event "result" with the 200 body.
    stream: bool | None = None

    @model_validator(mode="after")
    def _one_input(self) -> InferenceBody:
        if (self.input is None) == (self.messages is None):
            raise ValueError("send exactly one of 'input' (a string) or 'messages' (a chat list)")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' must not be empty")
        return self


class FunctionSpec(TextModel):
    model_config = ConfigDict(extra="allow", strict=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(TextModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["function"]
    function: FunctionSpec


class ResponseFormat(TextModel):
    model_config = ConfigDict(extra="allow", strict=True)

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _schema_when_needed(self) -> ResponseFormat:
        if self.type == "json_schema":
            schema = self.json_schema or {}
            if not isinstance(schema.get("name"), str) or not isinstance(schema.get("schema", {}), dict):
                raise ValueError("json_schema needs a name and a schema object")
        elif self.json_schema is not None:
            raise ValueError("json_schema goes with type 'json_schema' only")
        return self


class ChatBody(_Common):
    model_config = ConfigDict(
        extra="allow",
        strict=True,
        json_schema_extra={
            "examples": [
                {
                    "model": "leaderboard/lb_01jd3k8m2n4p6q8r0s2t4v6w8y",
                    "messages": [{"role": "user", "content": "What is the capital of France?"}],
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stream: bool | None = None
    stream_options: dict[str, Any] | None = None
    n: int | None = Field(default=None, ge=1)
    tools: list[Tool] | None = Field(default=None, min_length=1, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    stop: str | list[str] | None = None
    seed: int | None = None
    top_p: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _stop_bounded(self) -> ChatBody:
        if isinstance(self.stop, list) and len(self.stop) > 4:
            raise ValueError("stop holds at most 4 sequences")
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def options(self) -> dict[str, Any]:
        """The OpenAI parameters to forward (those set, minus no-op values)."""
        options: dict[str, Any] = {}
        if self.tools is not None:
            options["tools"] = [tool.model_dump(mode="json", exclude_none=True) for tool in self.tools]
        for name in ("tool_choice", "parallel_tool_calls", "top_logprobs", "stop", "seed", "top_p"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        if self.response_format is not None and self.response_format.type != "text":
            options["response_format"] = self.response_format.model_dump(mode="json", exclude_none=True)
        if self.logprobs:
            options["logprobs"] = True
        return options


@dataclass
class InferenceRequest:
    """What the service needs, whichever route it came from."""

    input_text: str  # the text the prompt is rendered with (messages joined like pushed rows)
    messages: list[dict[str, Any]] | None  # the chat list as given, when given
    max_tokens: int | None
    temperature: float | None
    metadata: dict[str, Any] = field(default_factory=dict)
    # OpenAI parameters to forward (ChatBody.options), checked against the model's capabilities.
    options: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage


def leaderboard_id_of_model(model: str) -> str | None:
    """The leaderboard id of a ``leaderboard/{id}`` model name, or None for any other name."""
    if not model.startswith(MODEL_PREFIX) or not _LEADERBOARD_ID.match(model[len(MODEL_PREFIX) :]):
        return None
    return model[len(MODEL_PREFIX) :]


def _limits(messages: list[ChatMessage] | None, max_tokens: int | None, settings: InferenceSettings) -> None:
    if messages is not None and len(messages) > settings.max_messages:
        raise ApiError(
            413,
            "too_many_messages",
            f"The request holds {len(messages)} messages; the limit is {settings.max_messages} "
            "(inference.max_messages).",
            {"limit": settings.max_messages, "messages": len(messages)},
        )
    if max_tokens is not None and max_tokens > settings.max_tokens_limit:
        raise ApiError(
            400,
            "invalid_request",
            f"max_tokens is at most {settings.max_tokens_limit} (inference.max_tokens_limit).",
            [{"field": "max_tokens", "error": f"at most {settings.max_tokens_limit}"}],
        )


def _text_of(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    plain = [m.model_dump(mode="json", exclude_none=True) for m in messages]
    try:
        return messages_to_text(plain), plain
    except RowError as exc:
        raise ApiError(400, "invalid_request", str(exc), [{"field": "messages", "error": str(exc)}]) from exc


def parse_inference(body: Any, settings: InferenceSettings) -> InferenceRequest:
    parsed: InferenceBody = parse(InferenceBody, body, INVALID, empty="body")
    _limits(parsed.messages, parsed.max_tokens, settings)
    if parsed.messages is not None:
        text, plain = _text_of(parsed.messages)
    else:
        text, plain = parsed.input or "", None
    return InferenceRequest(
        text, plain, parsed.max_tokens, parsed.temperature, dict(parsed.metadata or {}), stream=bool(parsed.stream)
    )


def parse_chat(body: Any, settings: InferenceSettings) -> tuple[str, InferenceRequest]:
    """(leaderboard id, request) from an OpenAI chat-completions body."""
    parsed: ChatBody = parse(ChatBody, body, INVALID, empty="body")
    if parsed.n not in (None, 1):
        raise ApiError(400, "invalid_request", "Only n = 1 is supported.", [{"field": "n", "error": "must be 1"}])
    leaderboard_id = leaderboard_id_of_model(parsed.model)
    if leaderboard_id is None:
        raise ApiError(
            400,
            "invalid_model",
            "model must be 'leaderboard/{id}', naming the leaderboard whose production model answers.",
            [{"field": "model", "error": "expected leaderboard/{id}"}],
        )
    max_tokens = parsed.max_completion_tokens if parsed.max_completion_tokens is not None else parsed.max_tokens
    _limits(parsed.messages, max_tokens, settings)
    text, plain = _text_of(parsed.messages)
    metadata = dict(parsed.metadata or {})
    include_usage = bool((parsed.stream_options or {}).get("include_usage"))
    if parsed.stream_options is not None and not parsed.stream:
        raise ApiError(
            400,
            "invalid_request",
            "stream_options goes with stream: true only.",
            [{"field": "stream_options", "error": "needs stream: true"}],
        )
    request = InferenceRequest(text, plain, max_tokens, parsed.temperature, metadata, options=parsed.options())
    request.stream, request.include_usage = bool(parsed.stream), include_usage
    return leaderboard_id, request
