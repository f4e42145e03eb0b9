"""The OpenAPI description of the two inference routes.

They are served by the inference function (no FastAPI there), so the api function's document
would not know them; ``drgero.api.app`` calls :func:`document_inference_routes` to add them.
The request schemas are the very models the function validates with.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from drgero.inference.request import ChatBody, InferenceBody


class ModelRef(BaseModel):
    id: str
    platform: str
    name: str


class TokenUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class FallbackFrom(ModelRef):
    error: str


class InferenceResponse(BaseModel):
    output: str
    model: ModelRef
    usage: TokenUsage
    cost_usd: float | None
    latency_ms: float
    trace_id: str
    fallback_from: list[FallbackFrom] | None = None


class ChatMessageOut(BaseModel):
    role: str
    content: str


class ChatChoice(BaseModel):
    index: int
    message: ChatMessageOut
    finish_reason: str
    logprobs: None = None


class DrGeroExtra(BaseModel):
    model: ModelRef
    cost_usd: float | None
    latency_ms: float
    trace_id: str
    fallback_from: list[FallbackFrom] | None = None


class ChatCompletion(BaseModel):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: TokenUsage
    system_fingerprint: None = None
    drgero: DrGeroExtra


class OpenAIStyleErrorBody(BaseModel):
    code: str
    message: str
    type: str
    param: str | None
    request_id: str
    details: Any = None


class OpenAIStyleError(BaseModel):
    error: OpenAIStyleErrorBody


MODELS = (InferenceBody, ChatBody, InferenceResponse, ChatCompletion, OpenAIStyleError)


def document_inference_routes(schema: dict[str, Any]) -> None:
    """Adds POST /v1/leaderboard/{id}/inference and POST /v1/chat/completions to ``schema``."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for model in MODELS:
        definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, nested in definition.pop("$defs", {}).items():
            components.setdefault(name, nested)
        components[model.__name__] = definition
    error = {"$ref": "#/components/schemas/Error"} if "Error" in components else {"type": "object"}
    openai_error = {"$ref": "#/components/schemas/OpenAIStyleError"}

    def ref(name: str) -> dict[str, Any]:
        return {"$ref": f"#/components/schemas/{name}"}

    def failures(shape: dict[str, Any]) -> dict[str, Any]:
        def failure(text: str) -> dict[str, Any]:
            return {"description": text, "content": {"application/json": {"schema": shape}}}

        return {
            "400": failure(
                "invalid_json, invalid_request (details per field), invalid_model, unsupported_parameter (param "
                "names what the production model cannot honour), provider_bad_request"
            ),
            "401": failure("Missing or invalid credentials"),
            "402": failure("budget_exhausted: the token's budget cannot cover the worst-case cost"),
            "403": failure("insufficient_scope (needs inference); dataset push tokens are refused"),
            "404": failure("No such leaderboard in the caller's workspace"),
            "409": failure("no_production_model: run the leaderboard or pick a model"),
            "413": failure("payload_too_large or too_many_messages (limits in the message)"),
            "429": failure("provider_rate_limited (Retry-After)"),
            "502": failure("provider_error or provider_auth_failed"),
            "504": failure("provider_timeout: the model did not answer in time"),
        }

    common = (
        "Auth: an API token with the inference scope (three header forms). The leaderboard's prompt is applied "
        "to the input, the production model (ranking winner or manual pick) answers; with the leaderboard's "
        "inference.fallback on, a rate-limited, failing or timed-out production model is replaced by the next "
        "ranked model (fallback_from). The worst-case cost is reserved on the token's budget and settled to "
        "the actual cost. Every call leaves an inference trace (trace_id)."
    )
    paths = schema.setdefault("paths", {})
    paths["/v1/leaderboard/{id}/inference"] = {
        "post": {
            "tags": ["inference"],
            "summary": "Call the leaderboard's production model (served by the inference function)",
            "description": common,
            "operationId": "leaderboard_inference",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("InferenceBody")}}},
            "responses": {
                "200": {
                    "description": "The answer",
                    "content": {"application/json": {"schema": ref("InferenceResponse")}},
                },
                **failures(error),
            },
        }
    }
    paths["/v1/chat/completions"] = {
        "post": {
            "tags": ["inference"],
            "summary": "OpenAI-compatible chat completions (served by the inference function)",
            "description": common
            + " model is 'leaderboard/{id}'. Errors carry OpenAI's type and param next to the contract's code and "
            "request_id, so OpenAI SDKs work by changing base_url and api_key. stream: true answers server-sent "
            "events in OpenAI's chunk format (stream_options.include_usage honoured), data: [DONE] last.",
            "operationId": "chat_completions",
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("ChatBody")}}},
            "responses": {
                "200": {
                    "description": "A chat.completion object",
                    "content": {"application/json": {"schema": ref("ChatCompletion")}},
                },
                **failures(openai_error),
            },
        }
    }
