"""call_model against the sandbox: each platform's happy path, cost sources, error mapping,
and secrets never leaking into results, reprs, errors or logs."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from pydantic import ValidationError

from drgero.core.settings import ProvidersSettings
from drgero.providers import (
    AuthError,
    BadRequest,
    CustomTarget,
    DrGeroTarget,
    EndpointAuth,
    HuggingFaceTarget,
    InsufficientCredits,
    OpenRouterTarget,
    Pricing,
    ProviderClient,
    ProviderTimeout,
    RateLimited,
    UnsafeUrl,
    UpstreamError,
    Usage,
    call_model,
)
from localcloud.sandbox.custom import SANDBOX_CUSTOM_SECRET
from localcloud.sandbox.huggingface import SANDBOX_HF_TOKEN

KEY = "sk-or-test-key-0123456789abcdef"
ASK = [{"role": "user", "content": "What is 17 * 3?"}]


def make_client(sandbox: str, **overrides) -> ProviderClient:
    sleeps: list[float] = []

    async def no_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    settings = ProvidersSettings(openrouter_base_url=f"{sandbox}/api/v1", allow_loopback=True, **overrides)
    client = ProviderClient(settings, sleep=no_sleep, rng=lambda: 0.5)
    client.sleeps = sleeps  # type: ignore[attr-defined]
    return client


def run(client: ProviderClient, coro):
    async def main():
        try:
            return await coro
        finally:
            await client.aclose()

    return asyncio.run(main())


def control(sandbox: str, **knobs) -> None:
    httpx.post(f"{sandbox}/_sandbox/control", json=knobs, trust_env=False).raise_for_status()


# -- happy paths ---------------------------------------------------------------------------


def test_openrouter_happy_path_cost_from_usage(sandbox):
    client = make_client(sandbox)
    result = run(
        client, call_model(OpenRouterTarget(model="sandbox/arithmetic-exact"), ASK, client=client, api_key=KEY)
    )
    assert result.output == "51"
    assert result.platform == "openrouter"
    assert result.model == "sandbox/arithmetic-exact"
    assert result.usage.prompt_tokens == 5 and result.usage.completion_tokens == 1
    # sandbox prices: 1e-6 per prompt token, 2e-6 per completion token
    assert result.cost_source == "provider"
    assert result.cost_usd == pytest.approx(5e-6 + 2e-6)
    assert result.request_id and result.request_id.startswith("gen-sandbox-")
    assert result.latency_ms > 0
    assert result.attempts == 1


def test_openrouter_cost_from_pricing_when_usage_has_no_cost(sandbox, monkeypatch):
    # Strip usage.cost from the answer, as an OpenRouter-compatible proxy might.
    from drgero.providers import formats

    original = formats.parse_openai

    def without_cost(body, provider):
        text, usage, _cost, rid, model = original(body, provider)
        return text, usage, None, rid, model

    monkeypatch.setattr("drgero.providers.call.parse_openai", without_cost)
    client = make_client(sandbox)
    snapshot_price = Pricing(input_per_m_usd=2.0, output_per_m_usd=10.0)
    result = run(
        client,
        call_model(
            OpenRouterTarget(model="sandbox/arithmetic-exact"), ASK, client=client, api_key=KEY, pricing=snapshot_price
        ),
    )
    assert result.cost_source == "pricing"
    assert result.cost_usd == pytest.approx((5 * 2.0 + 1 * 10.0) / 1_000_000)


def test_openrouter_without_cost_or_pricing_is_unknown(sandbox, monkeypatch):
    monkeypatch.setattr("drgero.providers.call.parse_openai", lambda body, provider: ("x", Usage(), None, None, None))
    client = make_client(sandbox)
    result = run(client, call_model(OpenRouterTarget(model="sandbox/echo"), ASK, client=client, api_key=KEY))
    assert result.cost_usd is None and result.cost_source == "unknown"


@pytest.mark.parametrize(
    ("path", "fmt", "json_path", "expected_raw"),
    [
        ("/custom/openai", "openai", None, dict),
        ("/custom/json", "json", "result.text", dict),
        ("/custom/text", "text", None, str),
    ],
)
def test_custom_endpoint_formats(sandbox, path, fmt, json_path, expected_raw):
    client = make_client(sandbox)
    target = CustomTarget(
        url=f"{sandbox}{path}",
        response_format=fmt,
        json_path=json_path,
        pricing=Pricing(input_per_m_usd=1, output_per_m_usd=1),
    )
    result = run(client, call_model(target, ASK, client=client))
    assert result.output == "51"
    assert result.platform == "custom"
    assert isinstance(result.raw, expected_raw)
    if fmt == "openai":
        # usage reported, no usage.cost: the target's pricing prices it
        assert result.cost_source == "pricing" and result.cost_usd == pytest.approx(6 / 1_000_000)
    else:
        # no token counts: cost cannot be known honestly
        assert result.cost_source == "unknown" and result.cost_usd is None


@pytest.mark.parametrize("kind", ["bearer", "header"])
def test_custom_endpoint_auth(sandbox, kind):
    client = make_client(sandbox)
    auth = EndpointAuth(kind=kind, header_name="X-Api-Key" if kind == "header" else None, secret=SANDBOX_CUSTOM_SECRET)
    target = CustomTarget(
        url=f"{sandbox}/custom/secure/json", auth=auth, response_format="json", json_path="result.text"
    )
    assert run(client, call_model(target, ASK, client=client)).output == "51"


def test_custom_endpoint_wrong_secret_is_auth_error(sandbox):
    client = make_client(sandbox)
    auth = EndpointAuth(kind="bearer", secret="wrong-secret-value")
    target = CustomTarget(
        url=f"{sandbox}/custom/secure/json", auth=auth, response_format="json", json_path="result.text"
    )
    with pytest.raises(AuthError) as caught:
        run(client, call_model(target, ASK, client=client))
    assert caught.value.to_api_error().code == "provider_auth_failed"


def test_huggingface_tgi_and_classic(sandbox):
    client = make_client(sandbox)
    tgi = HuggingFaceTarget(url=f"{sandbox}/hf/arithmetic-exact")
    assert tgi.request_url.endswith("/hf/arithmetic-exact/v1/chat/completions")
    result = run(client, call_model(tgi, ASK, client=client))
    assert result.output == "51" and result.usage.prompt_tokens == 5

    classic = HuggingFaceTarget(url=f"{sandbox}/hf/echo", api="classic")
    client = make_client(sandbox)
    result = run(client, call_model(classic, [{"role": "user", "content": "hello there"}], client=client))
    assert result.output == "hello there"
    assert result.raw == [{"generated_text": "hello there"}]


def test_huggingface_private_endpoint_token(sandbox):
    client = make_client(sandbox)
    target = HuggingFaceTarget(url=f"{sandbox}/hf/private-echo", api="classic", token=SANDBOX_HF_TOKEN)
    assert run(client, call_model(target, ASK, client=client)).output == "What is 17 * 3?"
    client = make_client(sandbox)
    with pytest.raises(AuthError):
        run(client, call_model(HuggingFaceTarget(url=f"{sandbox}/hf/private-echo", api="classic"), ASK, client=client))


def test_drgero_model_is_an_openai_endpoint(sandbox):
    client = make_client(sandbox)
    target = DrGeroTarget(url=f"{sandbox}/custom/openai", model_id="dgm_123", model="my-finetune")
    result = run(client, call_model(target, ASK, client=client))
    assert result.output == "51" and result.platform == "drgero" and result.model == "my-finetune"


# -- error classes -> API errors -------------------------------------------------------------


def test_bad_openrouter_key_is_auth_error(sandbox):
    client = make_client(sandbox)
    with pytest.raises(AuthError) as caught:
        run(client, call_model(OpenRouterTarget(model="sandbox/echo"), ASK, client=client, api_key="sk-or-invalid-1"))
    api = caught.value.to_api_error()
    assert (api.status, api.code) == (502, "provider_auth_failed")
    assert api.details == {"provider": "openrouter", "upstream_status": 401}


def test_missing_openrouter_key_is_auth_error_without_a_call(sandbox):
    client = make_client(sandbox)
    with pytest.raises(AuthError, match="No OpenRouter key"):
        run(client, call_model(OpenRouterTarget(model="sandbox/echo"), ASK, client=client, api_key=None))


def test_unknown_model_is_bad_request_with_provider_message(sandbox):
    client = make_client(sandbox)
    with pytest.raises(BadRequest) as caught:
        run(client, call_model(OpenRouterTarget(model="sandbox/nope"), ASK, client=client, api_key=KEY))
    api = caught.value.to_api_error()
    assert (api.status, api.code) == (400, "provider_bad_request")
    assert "not a valid model ID" in api.message


def test_402_is_insufficient_credits(sandbox):
    client = make_client(sandbox)
    with pytest.raises(InsufficientCredits) as caught:
        run(client, call_model(CustomTarget(url=f"{sandbox}/custom/status/402"), ASK, client=client))
    assert caught.value.to_api_error().status == 402


def test_5xx_after_retries_is_upstream_error(sandbox):
    client = make_client(sandbox, max_retries=2)
    with pytest.raises(UpstreamError) as caught:
        run(client, call_model(CustomTarget(url=f"{sandbox}/custom/status/503"), ASK, client=client))
    api = caught.value.to_api_error()
    assert (api.status, api.code) == (502, "provider_error")
    assert len(client.sleeps) == 2  # two retries, no real waiting


def test_timeout_is_provider_timeout(sandbox):
    control(sandbox, model="custom", latency_ms=400)
    client = make_client(sandbox, read_timeout_seconds=0.05, max_retries=0)
    with pytest.raises(ProviderTimeout) as caught:
        run(client, call_model(CustomTarget(url=f"{sandbox}/custom/openai"), ASK, client=client))
    assert caught.value.to_api_error().status == 504


def test_unreachable_endpoint_is_upstream_error(sandbox):
    client = make_client(sandbox, max_retries=1)
    with pytest.raises(UpstreamError, match="Could not reach"):
        run(client, call_model(CustomTarget(url="http://127.0.0.1:9/custom/openai"), ASK, client=client))


def test_rate_limited_maps_to_429_with_retry_after(sandbox):
    control(sandbox, model="sandbox/echo", rate_limit_next=5, retry_after=3)
    client = make_client(sandbox, max_retries=1)
    with pytest.raises(RateLimited) as caught:
        run(client, call_model(OpenRouterTarget(model="sandbox/echo"), ASK, client=client, api_key=KEY))
    api = caught.value.to_api_error()
    assert (api.status, api.code, api.headers["Retry-After"]) == (429, "provider_rate_limited", "3")


def test_unsafe_url_maps_to_400(sandbox):
    client = make_client(sandbox)
    with pytest.raises(UnsafeUrl) as caught:
        run(client, call_model(CustomTarget(url="http://169.254.169.254/latest/meta-data/"), ASK, client=client))
    api = caught.value.to_api_error()
    assert (api.status, api.code) == (400, "unsafe_url")


def test_malformed_answers_are_upstream_errors(sandbox):
    client = make_client(sandbox)
    with pytest.raises(UpstreamError, match="nothing at"):
        run(
            client,
            call_model(
                CustomTarget(url=f"{sandbox}/custom/json", response_format="json", json_path="result.missing"),
                ASK,
                client=client,
            ),
        )
    client = make_client(sandbox)
    with pytest.raises(UpstreamError, match="not answer with JSON"):
        run(
            client,
            call_model(
                CustomTarget(url=f"{sandbox}/custom/large?bytes=10", response_format="openai"), ASK, client=client
            ),
        )


def test_oversized_answer_is_refused(sandbox):
    client = make_client(sandbox, max_response_bytes=1000)
    with pytest.raises(UpstreamError, match="larger than 1000 bytes"):
        run(
            client,
            call_model(
                CustomTarget(url=f"{sandbox}/custom/large?bytes=5000", response_format="text"), ASK, client=client
            ),
        )


def test_empty_messages_are_refused():
    client = ProviderClient(ProvidersSettings())
    with pytest.raises(BadRequest):
        asyncio.run(call_model(OpenRouterTarget(model="a/b"), [], client=client, api_key=KEY))


@pytest.mark.parametrize(
    "config",
    [
        {"platform": "openrouter", "model": "no-slash"},
        {"platform": "openrouter", "model": "a/b/../c"},
        {"platform": "custom", "url": "ftp://example.com/x"},
        {"platform": "custom", "url": "https://example.com/x", "response_format": "json"},
        {"platform": "custom", "url": "https://example.com/x", "json_path": "a.b"},
        {"platform": "custom", "url": "https://example.com/x", "auth": {"kind": "bearer"}},
        {"platform": "custom", "url": "https://example.com/x", "auth": {"kind": "header", "secret": "s"}},
        {
            "platform": "custom",
            "url": "https://example.com/x",
            "auth": {"kind": "header", "header_name": "Host", "secret": "s"},
        },
        {"platform": "custom", "url": "https://example.com/" + "x" * 3000},
        {"platform": "huggingface", "url": "https://example.com", "api": "grpc"},
        {"platform": "drgero", "url": "https://example.com"},
        {"platform": "custom", "url": "https://example.com/x", "surprise": 1},
        {"platform": "mystery"},
    ],
)
def test_invalid_target_configs_are_refused(config):
    from pydantic import TypeAdapter

    from drgero.providers import ModelTarget

    with pytest.raises(ValidationError):
        TypeAdapter(ModelTarget).validate_python(config)


# -- secrets ---------------------------------------------------------------------------------


def test_secrets_never_in_result_repr_errors_or_logs(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    secret = SANDBOX_CUSTOM_SECRET
    auth = EndpointAuth(kind="bearer", secret=secret)
    # 1) a result whose raw answer echoes our request headers
    client = make_client(sandbox)
    target = CustomTarget(
        url=f"{sandbox}/custom/echo-headers", auth=auth, response_format="json", json_path="result.text"
    )
    result = run(client, call_model(target, ASK, client=client))
    assert result.raw["headers"]["Authorization"] == "Bearer [redacted]"
    assert secret not in result.model_dump_json()
    assert (
        secret not in repr(target) and secret not in str(target.model_dump()) and secret not in target.model_dump_json()
    )
    # 2) an error whose upstream message echoes our credentials
    client = make_client(sandbox, max_retries=1)
    with pytest.raises(UpstreamError) as caught:
        run(client, call_model(CustomTarget(url=f"{sandbox}/custom/status/500", auth=auth), ASK, client=client))
    assert "[redacted]" in caught.value.message
    for text in (caught.value.message, str(caught.value), repr(caught.value), str(caught.value.to_api_error().details)):
        assert secret not in text
    # 3) an HF token and an OpenRouter key in the same way
    client = make_client(sandbox, max_retries=0)
    with pytest.raises(AuthError) as caught:
        run(
            client,
            call_model(OpenRouterTarget(model="sandbox/echo"), ASK, client=client, api_key="sk-or-invalid-XYZSECRET"),
        )
    assert "XYZSECRET" not in caught.value.message
    hf = HuggingFaceTarget(url=f"{sandbox}/hf/private-echo", api="classic", token=SANDBOX_HF_TOKEN)
    assert SANDBOX_HF_TOKEN not in repr(hf) and SANDBOX_HF_TOKEN not in hf.model_dump_json()
    # 4) nothing logged carries any of them
    assert secret not in caplog.text and "XYZSECRET" not in caplog.text and SANDBOX_HF_TOKEN not in caplog.text


def test_query_string_credentials_are_not_logged(sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(sandbox)
    target = CustomTarget(url=f"{sandbox}/custom/openai?code=query-secret-123")
    assert run(client, call_model(target, ASK, client=client)).output == "51"
    assert "query-secret-123" not in caplog.text
