"""The provider answer shapes the sandbox speaks: OpenAI chat completions (with OpenRouter's
``usage.cost``), OpenRouter's catalogue and endpoints entries, and the toy tokenizer."""

from __future__ import annotations

import hashlib
from typing import Any

from localcloud.sandbox.toys import CREATED, ToyModel


def tokens(text: str) -> int:
    """The sandbox's toy tokenizer: whitespace-separated words."""
    return len(text.split())


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def last_user(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def truncate(text: str, max_tokens: Any) -> str:
    if isinstance(max_tokens, int) and max_tokens > 0:
        words = text.split(" ")
        return " ".join(words[:max_tokens])
    return text


def completion(
    model: str,
    prompt: str,
    output: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: float | None = None,
    provider: str | None = None,
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cost is not None:
        usage["cost"] = cost
    answer: dict[str, Any] = {
        "id": "gen-sandbox-" + hashlib.sha256(f"{model}\n{prompt}".encode()).hexdigest()[:20],
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": output}, "finish_reason": "stop"}],
        "usage": usage,
    }
    if provider:
        answer["provider"] = provider
    return answer


def catalog_entry(toy: ToyModel) -> dict[str, Any]:
    return {
        "id": toy.id,
        "canonical_slug": toy.id,
        "name": toy.name,
        "created": toy.created,
        "description": toy.description,
        "context_length": 8192,
        "hugging_face_id": toy.hugging_face_id,
        "architecture": {
            "modality": "text->text",
            "input_modalities": ["text"],
            "output_modalities": ["text"],
            "tokenizer": "toy-whitespace",
        },
        "pricing": {
            "prompt": f"{toy.prompt_price:.10f}".rstrip("0").rstrip(".") or "0",
            "completion": f"{toy.completion_price:.10f}".rstrip("0").rstrip(".") or "0",
            "request": "0",
            "image": "0",
        },
        "top_provider": {"context_length": 8192, "max_completion_tokens": 1024, "is_moderated": False},
        "supported_parameters": list(toy.parameters),
    }


def endpoints(toy: ToyModel, with_latency: bool) -> dict[str, Any]:
    entry = catalog_entry(toy)
    return {
        "id": toy.id,
        "name": toy.name,
        "created": toy.created,
        "description": toy.description,
        "architecture": entry["architecture"],
        "endpoints": [
            {
                "name": f"Sandbox | {toy.id}",
                "model_name": toy.name,
                "context_length": 8192,
                "pricing": entry["pricing"],
                "provider_name": "Sandbox",
                "tag": "sandbox",
                "quantization": "unknown",
                "max_completion_tokens": 1024,
                "max_prompt_tokens": 8192,
                "supported_parameters": entry["supported_parameters"],
                "status": 0,
                "uptime_last_30m": 100,
                "latency_last_30m": dict(toy.latency) if with_latency else None,
                "throughput_last_30m": {"p50": 100.0, "p75": 90.0, "p90": 80.0, "p99": 50.0} if with_latency else None,
            }
        ],
    }
