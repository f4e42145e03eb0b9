"""What a model can honour beyond messages, max_tokens and temperature (docs/inference.md).

OpenAI chat parameters that change what an answer *is* (tools, JSON mode, structured outputs,
logprobs, stop sequences, seed, top_p) are only forwarded to a model that says it takes them;
otherwise the request is refused (400 ``unsupported_parameter``), never silently dropped.

Where a model says so:
- ``openrouter``: the catalog's ``supported_parameters`` for the model, stored on the
  candidate at attach time (OpenRouter's names: ``tools``, ``tool_choice``,
  ``response_format``, ``structured_outputs``, ``logprobs``, ``top_logprobs``, ``stop``,
  ``seed``, ``top_p``, …).
- ``custom`` (request format ``openai``), ``huggingface`` (api ``openai``), ``drgero``: the
  ``supported_parameters`` the workspace declared when attaching it (same names; ``stream``
  for streaming). Nothing declared: none of them.
- endpoints that do not speak OpenAI chat (custom ``input`` format, classic HF): none, and
  their input is one flattened text (earlier turns cannot pass through as turns).
"""

from __future__ import annotations

from typing import Any

# Every name a model may declare. ``stream`` is ours for non-OpenRouter endpoints
# (OpenRouter streams every model).
KNOWN_PARAMETERS = frozenset(
    {
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "structured_outputs",
        "logprobs",
        "top_logprobs",
        "stop",
        "seed",
        "top_p",
        "temperature",
        "max_tokens",
        "stream",
    }
)


def speaks_chat(target: Any) -> bool:
    """Does the target take an OpenAI chat-completions body (turns, tools, response_format)?"""
    platform = getattr(target, "platform", None)
    if platform in ("openrouter", "drgero"):
        return True
    if platform == "custom":
        return target.effective_request_format == "openai" and target.response_format == "openai"
    if platform == "huggingface":
        return target.api == "openai"
    return False


def supported_parameters(target: Any, item: dict[str, Any]) -> frozenset[str]:
    """The parameters ``target`` (its stored candidate ``item``) honours; empty when it does
    not speak OpenAI chat."""
    if not speaks_chat(target):
        return frozenset()
    if getattr(target, "platform", None) == "openrouter":
        declared = item.get("supported_parameters") or []
        return frozenset(str(p) for p in declared) | {"stream"}
    return frozenset(getattr(target, "supported_parameters", None) or [])


def required_parameters(options: dict[str, Any], messages: list[dict[str, Any]] | None) -> list[str]:
    """The capabilities a request's forwarded ``options`` (and its tool turns) need, in the
    order they are checked: the first missing one is named in the 400."""
    needed: list[str] = []
    for name in ("tools", "tool_choice", "parallel_tool_calls"):
        if name in options:
            needed.append(name if name != "parallel_tool_calls" else "tools")
    if messages and any(m.get("role") == "tool" or m.get("tool_calls") for m in messages):
        needed.append("tools")
    response_format = options.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_object":
            needed.append("response_format")
        elif kind == "json_schema":
            needed.append("structured_outputs")
    for name in ("logprobs", "top_logprobs", "stop", "seed", "top_p"):
        if name in options:
            needed.append(name)
    seen: list[str] = []
    for name in needed:
        if name not in seen:
            seen.append(name)
    return seen


def missing_parameter(supported: frozenset[str], needed: list[str]) -> str | None:
    """The first needed parameter the model cannot honour, or None."""
    for name in needed:
        if name == "tool_choice" and "tools" in supported and "tool_choice" not in supported:
            # Some catalog entries list only "tools"; tool_choice travels with them.
            continue
        if name not in supported:
            return name
    return None


# A leaderboard's required capabilities (its ``required_capabilities``) and the parameter that
# shows a model has each.
CAPABILITY_PARAMETERS = {"tools": "tools", "json_mode": "response_format", "streaming": "stream"}


def candidate_parameters(item: dict[str, Any]) -> frozenset[str]:
    """:func:`supported_parameters` of a stored candidate item (its config has no secret)."""
    from drgero.providers.types import CustomTarget, DrGeroTarget, HuggingFaceTarget, OpenRouterTarget

    kinds = {"openrouter": OpenRouterTarget, "custom": CustomTarget, "huggingface": HuggingFaceTarget}
    kinds["drgero"] = DrGeroTarget
    config = {k: v for k, v in (item.get("config") or {}).items() if k != "auth"}
    try:
        target = kinds[item.get("platform", "")].model_validate(config)
    except (KeyError, ValueError):
        return frozenset()
    return supported_parameters(target, item)


def missing_capabilities(required: list[str], item: dict[str, Any] | None) -> list[str]:
    """The required capabilities the candidate ``item`` lacks (all of them when it is gone)."""
    if not required:
        return []
    honoured = candidate_parameters(item) if item else frozenset()
    return [name for name in required if CAPABILITY_PARAMETERS.get(name) not in honoured]
