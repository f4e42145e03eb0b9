"""``call_model``: the one entry point for calling a candidate model, whatever its platform.

Evaluation, the judge, inference and validation probes all call this. It builds the
platform's request, sends it through ``ProviderClient`` (pools, SSRF guard, retries, AIMD),
parses the answer, works out the cost and returns a ``CallResult`` whose ``raw`` has every
secret redacted; or raises a typed ``ProviderError``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from drgero.providers.capabilities import speaks_chat
from drgero.providers.client import Answer, ProviderClient, RequestSpec, fingerprint
from drgero.providers.errors import AuthError, BadRequest, ProviderError, RateLimited, UpstreamError
from drgero.providers.formats import (
    extract_json_path,
    last_user_text,
    openai_request,
    parse_classic_hf,
    parse_openai,
    prompt_text,
)
from drgero.providers.redact import redact
from drgero.providers.types import (
    CallResult,
    ChatMessage,
    CustomTarget,
    DrGeroTarget,
    HuggingFaceTarget,
    OpenRouterTarget,
    Pricing,
    Usage,
)

Parsed = tuple[str, Usage, float | None, str | None, str | None]


@dataclass
class _Plan:
    spec: RequestSpec
    parse: Callable[[Answer], Parsed]
    pricing: Pricing | None
    text_answer: bool = False  # the answer is plain text: keep raw as text, never JSON-decode it


async def call_model(
    target: OpenRouterTarget | CustomTarget | HuggingFaceTarget | DrGeroTarget,
    messages: list[ChatMessage],
    *,
    client: ProviderClient,
    api_key: str | None = None,
    pricing: Pricing | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    options: dict[str, Any] | None = None,
) -> CallResult:
    """Call ``target`` with chat ``messages``.

    ``api_key``: the workspace's OpenRouter key (``get_integration_key``), used for
    ``openrouter`` targets only. ``pricing``: the catalog snapshot's price for an OpenRouter
    model, used when the answer has no ``usage.cost``. Other platforms carry their own
    credentials and optional pricing in the target. ``options``: further OpenAI chat
    parameters (tools, response_format, ...) for targets that speak OpenAI chat; the caller
    checked the model honours them (drgero.providers.capabilities).
    """
    if not messages:
        raise BadRequest("At least one message is needed.")
    plan = _plan(target, messages, client, api_key, pricing, max_tokens, temperature, options or {})
    secrets = plan.spec.secrets
    try:
        answer = await client.request(plan.spec)
        text, usage, provider_cost, response_id, answered_model = plan.parse(answer)
    except ProviderError as exc:
        # Defence in depth: nothing we raise may carry a secret.
        exc.message = redact(exc.message, secrets)
        exc.args = (exc.message,)
        raise
    if provider_cost is not None:
        cost_usd, cost_source = provider_cost, "provider"
    elif plan.pricing is not None and usage.total_tokens > 0:
        cost_usd, cost_source = plan.pricing.cost(usage.prompt_tokens, usage.completion_tokens), "pricing"
    else:
        cost_usd, cost_source = None, "unknown"
    request_id = response_id or answer.headers.get("x-request-id") or answer.headers.get("x-generation-id")
    return CallResult(
        output=text,
        raw=redact(_raw(answer, plan.text_answer), secrets),
        usage=usage,
        cost_usd=cost_usd,
        cost_source=cost_source,
        latency_ms=round(answer.latency_ms, 3),
        request_id=request_id,
        model=answered_model or getattr(target, "model", None),
        platform=target.platform,
        attempts=answer.attempts,
    )


def limiter_identity(
    target: OpenRouterTarget | CustomTarget | HuggingFaceTarget | DrGeroTarget,
    client: ProviderClient,
    api_key: str | None = None,
) -> tuple[str, str] | None:
    """``(provider, limiter key)`` the calls to ``target`` are limited under (the key is a
    fingerprint, never the credential); None when no call can be planned (no key)."""
    try:
        plan = _plan(target, [{"role": "user", "content": ""}], client, api_key, None, None, None, {})
    except ProviderError:
        return None
    return plan.spec.provider, plan.spec.limiter_key


def _plan(
    target: Any,
    messages: list[ChatMessage],
    client: ProviderClient,
    api_key: str | None,
    pricing: Pricing | None,
    max_tokens: int | None,
    temperature: float | None,
    options: dict[str, Any],
) -> _Plan:
    if options and not speaks_chat(target):
        raise BadRequest(f"The {target.platform} endpoint does not speak OpenAI chat: no {sorted(options)}.")
    if isinstance(target, OpenRouterTarget):
        return _openrouter_plan(target, messages, client, api_key, pricing, max_tokens, temperature, options)
    if isinstance(target, HuggingFaceTarget):
        return _huggingface_plan(target, messages, max_tokens, temperature, options)
    if isinstance(target, CustomTarget | DrGeroTarget):
        return _endpoint_plan(target, messages, max_tokens, temperature, options)
    raise BadRequest(f"Unknown model platform {getattr(target, 'platform', None)!r}.")


def _openrouter_plan(
    target: OpenRouterTarget,
    messages: list[ChatMessage],
    client: ProviderClient,
    api_key: str | None,
    pricing: Pricing | None,
    max_tokens: int | None,
    temperature: float | None,
    options: dict[str, Any],
) -> _Plan:
    if not api_key:
        raise AuthError("No OpenRouter key is configured for this workspace.", provider="openrouter")
    base = client.settings.openrouter_base_url.rstrip("/")
    spec = RequestSpec(
        method="POST",
        url=f"{base}/chat/completions",
        provider="openrouter",
        limiter_key=fingerprint(api_key),
        guarded=False,  # operator-configured URL, not user input
        headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
        json_body=openai_request(target.model, messages, max_tokens, temperature, options),
        secrets=[api_key],
    )
    return _Plan(spec, _openai_parser("openrouter"), pricing)


def _huggingface_plan(
    target: HuggingFaceTarget,
    messages: list[ChatMessage],
    max_tokens: int | None,
    temperature: float | None,
    options: dict[str, Any],
) -> _Plan:
    token = target.token.get_secret_value() if target.token else None
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if target.api == "openai":
        body: Any = openai_request(target.model or "tgi", messages, max_tokens, temperature, options)
        parse = _openai_parser("huggingface")
    else:
        parameters: dict[str, Any] = {"return_full_text": False}
        if max_tokens is not None:
            parameters["max_new_tokens"] = max_tokens
        if temperature is not None:
            parameters["temperature"] = temperature
        body = {"inputs": prompt_text(messages), "parameters": parameters}
        parse = _classic_parser
    spec = _user_spec("huggingface", target.request_url, headers, body, [token] if token else [])
    return _Plan(spec, parse, target.pricing)


def _endpoint_plan(
    target: CustomTarget | DrGeroTarget,
    messages: list[ChatMessage],
    max_tokens: int | None,
    temperature: float | None,
    options: dict[str, Any],
) -> _Plan:
    """A custom endpoint, or a Dr.Gero model's version (always OpenAI-shaped)."""
    provider = target.platform
    headers = {"Accept": "application/json", **target.auth.headers()}
    request_format = target.effective_request_format if isinstance(target, CustomTarget) else "openai"
    if request_format == "openai":
        body = openai_request(target.model, messages, max_tokens, temperature, options)
    else:
        body = {"input": last_user_text(messages), "messages": messages}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        if temperature is not None:
            body["temperature"] = temperature
    response_format = target.response_format if isinstance(target, CustomTarget) else "openai"
    if response_format == "openai":
        parse = _openai_parser(provider)
    elif response_format == "json":
        parse = _json_path_parser(provider, target.json_path or "")
    else:
        parse = _text_parser
    spec = _user_spec(provider, target.url, headers, body, target.auth.secrets())
    return _Plan(spec, parse, target.pricing, text_answer=response_format == "text")


def _user_spec(provider: str, url: str, headers: dict[str, str], body: Any, secrets: list[str]) -> RequestSpec:
    origin = urlsplit(url)
    return RequestSpec(
        method="POST",
        url=url,
        provider=provider,
        # One limiter per endpoint host and credential.
        limiter_key=f"{origin.scheme}://{origin.netloc}#{fingerprint(secrets[0] if secrets else None)}",
        guarded=True,
        headers=headers,
        json_body=body,
        secrets=secrets,
    )


def _json(answer: Answer, provider: str) -> Any:
    try:
        return answer.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise UpstreamError(f"The {provider} endpoint did not answer with JSON.", provider=provider) from exc


def _openai_parser(provider: str) -> Callable[[Answer], Parsed]:
    def parse(answer: Answer) -> Parsed:
        body = _json(answer, provider)
        # OpenRouter (and some proxies) report some failures as a 200 with an error object.
        if isinstance(body, dict) and "choices" not in body and isinstance(body.get("error"), dict):
            code = body["error"].get("code")
            message = str(body["error"].get("message") or "error")[:300]
            if code == 429:
                raise RateLimited(f"The {provider} endpoint is rate limiting us: {message}", provider=provider)
            raise UpstreamError(f"The {provider} endpoint reported an error: {message}", provider=provider)
        return parse_openai(body, provider)

    return parse


def _classic_parser(answer: Answer) -> Parsed:
    return parse_classic_hf(_json(answer, "huggingface"), "huggingface"), Usage(), None, None, None


def _json_path_parser(provider: str, path: str) -> Callable[[Answer], Parsed]:
    def parse(answer: Answer) -> Parsed:
        return extract_json_path(_json(answer, provider), path, provider), Usage(), None, None, None

    return parse


def _text_parser(answer: Answer) -> Parsed:
    return answer.content.decode("utf-8", errors="replace"), Usage(), None, None, None


def _raw(answer: Answer, text_answer: bool) -> Any:
    if text_answer:
        return answer.content[:65536].decode("utf-8", errors="replace")
    try:
        return json.loads(answer.content)
    except (ValueError, UnicodeDecodeError):
        return answer.content[:65536].decode("utf-8", errors="replace")


class ModelStream:
    """A chat-completions stream from a model: ``chunks()`` yields OpenAI chunk objects as the
    upstream sends them, and keeps what the caller needs once it ends (text, tool calls,
    finish reason, usage and cost). The upstream is always asked for its usage
    (``stream_options.include_usage``) so the call can be paid for what it produced."""

    def __init__(self, answer: Any, target: Any, pricing: Pricing | None, secrets: list[str]) -> None:
        self._answer = answer
        self.target = target
        self.pricing = pricing
        self.secrets = secrets
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.provider_cost: float | None = None
        self.response_id: str | None = None
        self.model: str | None = None
        self.latency_ms = answer.latency_ms
        self.finished = False  # the upstream ended the stream itself

    async def chunks(self) -> Any:
        try:
            async for chunk in self._answer.events():
                if not isinstance(chunk, dict):
                    continue
                if isinstance(chunk.get("error"), dict):
                    message = redact(str(chunk["error"].get("message") or "error")[:300], self.secrets)
                    raise UpstreamError(
                        f"The {self.target.platform} stream failed: {message}", provider=self.target.platform
                    )
                self._observe(chunk)
                yield chunk
            self.finished = True
        except ProviderError as exc:
            exc.message = redact(exc.message, self.secrets)
            exc.args = (exc.message,)
            raise

    def _observe(self, chunk: dict[str, Any]) -> None:
        self.response_id = self.response_id or (chunk.get("id") if isinstance(chunk.get("id"), str) else None)
        self.model = self.model or (chunk.get("model") if isinstance(chunk.get("model"), str) else None)
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self.usage = Usage(
                prompt_tokens=_count(usage.get("prompt_tokens")),
                completion_tokens=_count(usage.get("completion_tokens")),
            )
            cost = usage.get("cost")
            if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
                self.provider_cost = float(cost)
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            if isinstance(delta.get("content"), str):
                self.text.append(delta["content"])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    self._merge_tool_call(call)
            if isinstance(choice.get("finish_reason"), str):
                self.finish_reason = choice["finish_reason"]

    def _merge_tool_call(self, call: dict[str, Any]) -> None:
        index = call.get("index") if isinstance(call.get("index"), int) else len(self.tool_calls)
        merged = self.tool_calls.setdefault(
            index, {"id": None, "type": "function", "function": {"name": "", "arguments": ""}}
        )
        if call.get("id"):
            merged["id"] = call["id"]
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        if isinstance(function.get("name"), str):
            merged["function"]["name"] += function["name"]
        if isinstance(function.get("arguments"), str):
            merged["function"]["arguments"] += function["arguments"]

    @property
    def output(self) -> str:
        return "".join(self.text)

    def cost(self) -> tuple[float | None, str]:
        """(cost in USD, its source) of what the upstream reported so far."""
        if self.provider_cost is not None:
            return self.provider_cost, "provider"
        if self.pricing is not None and self.usage is not None and self.usage.total_tokens > 0:
            return self.pricing.cost(self.usage.prompt_tokens, self.usage.completion_tokens), "pricing"
        return None, "unknown"

    async def aclose(self) -> None:
        await self._answer.aclose()


async def open_model_stream(
    target: OpenRouterTarget | CustomTarget | HuggingFaceTarget | DrGeroTarget,
    messages: list[ChatMessage],
    *,
    client: ProviderClient,
    api_key: str | None = None,
    pricing: Pricing | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    options: dict[str, Any] | None = None,
) -> ModelStream:
    """Opens a streamed call of ``target`` (it must speak OpenAI chat); retried only until the
    upstream's answer headers arrive. The caller reads ``chunks()`` and closes the stream."""
    from drgero.providers.client import open_stream

    if not speaks_chat(target):
        raise BadRequest(f"The {target.platform} endpoint does not speak OpenAI chat: it cannot stream.")
    plan = _plan(target, messages, client, api_key, pricing, max_tokens, temperature, options or {})
    plan.spec.json_body = {**plan.spec.json_body, "stream": True, "stream_options": {"include_usage": True}}
    plan.spec.headers = {**plan.spec.headers, "Accept": "text/event-stream"}
    try:
        answer = await open_stream(client, plan.spec)
    except ProviderError as exc:
        exc.message = redact(exc.message, plan.spec.secrets)
        exc.args = (exc.message,)
        raise
    return ModelStream(answer, target, plan.pricing, plan.spec.secrets)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0
