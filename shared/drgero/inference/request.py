"""The two request bodies of production inference, validated at the boundary.

- ``POST /v1/leaderboard/{id}/inference``: ``{"input": "…"}`` or ``{"messages": [...]}``, plus
  optional ``max_tokens``, ``temperature``, ``metadata``. Unknown fields are refused (a typo
  should not be silently ignored).
- ``POST /v1/chat/completions``: OpenAI's body; ``model`` is ``leaderboard/{id}``. Parameters
  we do not use (``top_p``, ``user``, ``stop``…) are accepted and ignored, as OpenAI-compatible
  servers do; ``stream: true`` and ``n > 1`` are refused with a clear 400.

Types are strict (``"5"`` is not a number, ``true`` is not an integer): wrong types are 400
``invalid_request`` naming the field, never echoing the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drgero.core.errors import ApiError
from drgero.core.settings import InferenceSettings
from drgero.core.validation import parse
from drgero.datasets.rows import RowError, messages_to_text

INVALID = "The request body is not valid."
MODEL_PREFIX = "leaderboard/"
_LEADERBOARD_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_METADATA_KEYS = 50


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[Any] | None = None


class _Common(BaseModel):
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

    @model_validator(mode="after")
    def _one_input(self) -> InferenceBody:
        if (self.input is None) == (self.messages is None):
            raise ValueError("send exactly one of 'input' (a string) or 'messages' (a chat list)")
        if self.messages is not None and not self.messages:
            raise ValueError("'messages' must not be empty")
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
    n: int | None = Field(default=None, ge=1)


@dataclass
class InferenceRequest:
    """What the service needs, whichever route it came from."""

    input_text: str  # the text the prompt is rendered with (messages joined like pushed rows)
    messages: list[dict[str, Any]] | None  # the chat list as given, when given
    max_tokens: int | None
    temperature: float | None
    metadata: dict[str, Any] = field(default_factory=dict)


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
    return InferenceRequest(text, plain, parsed.max_tokens, parsed.temperature, dict(parsed.metadata or {}))


def parse_chat(body: Any, settings: InferenceSettings) -> tuple[str, InferenceRequest]:
    """(leaderboard id, request) from an OpenAI chat-completions body."""
    parsed: ChatBody = parse(ChatBody, body, INVALID, empty="body")
    if parsed.stream:
        raise ApiError(
            400,
            "streaming_not_supported",
            "Streaming is not supported by this endpoint; send stream: false (or omit it).",
            [{"field": "stream", "error": "must be false"}],
        )
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
    return leaderboard_id, InferenceRequest(text, plain, max_tokens, parsed.temperature, metadata)
