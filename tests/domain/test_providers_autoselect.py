"""The OpenRouter catalog (parsing, TTL cache, stale fallback, S3 store) and auto-select
with each constraint, latency sources, determinism, and the sandbox end to end."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import ValidationError

from drgero.core.settings import ProvidersSettings
from drgero.providers import AuthError, BadRequest, CustomTarget, OpenRouterTarget, ProviderClient, UnsafeUrl
from drgero.providers.autoselect import AutoSelectRequest, ObservedLatency, auto_select, estimate_p95
from drgero.providers.catalog import (
    InMemoryCatalogStore,
    LatencyStats,
    OpenRouterCatalog,
    S3CatalogStore,
    parse_latency,
    parse_model,
)
from drgero.providers.validation import UnknownModel, validate_target
from drgero.store.keys import CATALOG_ENDPOINTS_PREFIX as ENDPOINTS_PREFIX

KEY = "sk-or-catalog-test"
NOW = 1_800_000_000.0


def model(mid: str, created: int, prompt: str, completion: str, hf: str | None = None, output=("text",)) -> dict:
    return {
        "id": mid,
        "name": mid.upper(),
        "created": created,
        "pricing": {"prompt": prompt, "completion": completion},
        "hugging_face_id": hf or "",
        "architecture": {"output_modalities": list(output)},
    }


CATALOG = [
    model("acme/big-3", 300, "0.000010", "0.000030"),  # $10 / $30 per M
    model("acme/mid-2", 200, "0.000001", "0.000002"),  # $1 / $2
    model("acme/old-1", 100, "0.0000001", "0.0000002"),  # $0.1 / $0.2
    model("openlab/llama-x", 250, "0.0000005", "0.000001", hf="openlab/llama-x"),  # $0.5 / $1, open
    model("openlab/llama-y", 150, "0.0000002", "0.0000004", hf="openlab/llama-y"),  # open
    model("zeta/chat", 280, "0.000002", "0.000004"),  # $2 / $4
    model("zeta/chat:free", 290, "0", "0"),
    model("router/auto", 400, "-1", "-1"),  # variable price
    model("pix/image-gen", 350, "0.000001", "0.000001", output=("image",)),
]
LATENCY = {
    "acme/big-3": {"p50": 800, "p75": 1000, "p90": 1500, "p99": 3300},  # p95 est 2500
    "acme/mid-2": {"p50": 300, "p75": 400, "p90": 600, "p99": 1500},  # p95 est 1100
    "acme/old-1": {"p50": 100, "p75": 150, "p90": 200, "p99": 380},  # p95 est 300
    "openlab/llama-x": {"p50": 200, "p75": 300, "p90": 400, "p99": 850},  # p95 est 650
    "openlab/llama-y": None,  # OpenRouter has no figures
    "zeta/chat": {"p50": 250, "p75": 300, "p90": 500, "p99": 950},  # p95 est 750
}


def catalog_with(store=None, now=NOW, **settings) -> tuple[OpenRouterCatalog, InMemoryCatalogStore]:
    store = store or InMemoryCatalogStore()
    store.put("catalog/openrouter.json", {"fetched_at": now, "models": [parse_model(m).model_dump() for m in CATALOG]})
    for mid, stats in LATENCY.items():
        store.put(f"{ENDPOINTS_PREFIX}{mid}.json", {"fetched_at": now, "latency": stats})
    # No server: an unreachable base proves the fresh cache is used.
    client = ProviderClient(
        ProvidersSettings(openrouter_base_url="http://127.0.0.1:9/api/v1", max_retries=0, **settings)
    )
    return OpenRouterCatalog(client, store, now=lambda: now + 10), store


def select(catalog, observed=None, exclude=None, **request):
    kwargs = {"observed": observed} if observed else {}
    return asyncio.run(auto_select(AutoSelectRequest(**request), catalog, api_key=KEY, exclude=exclude, **kwargs))


def ids(result) -> list[str]:
    return [p.model_id for p in result.picked]


# -- parsing ------------------------------------------------------------------------------------


def test_parse_model_prices_per_million_and_open_source():
    parsed = parse_model(model("openlab/llama-x", 1, "0.0000005", "0.000001", hf="openlab/llama-x"))
    assert (parsed.input_per_m_usd, parsed.output_per_m_usd, parsed.open_source) == (0.5, 1.0, True)
    assert parse_model(model("router/auto", 1, "-1", "-1")).pricing is None
    assert parse_model({"id": "no-slash"}) is None


def test_parse_latency_takes_the_worst_endpoint_and_ignores_nulls():
    body = {
        "data": {
            "endpoints": [
                {"latency_last_30m": {"p50": 100, "p75": 150, "p90": 200, "p99": 400}},
                {"latency_last_30m": {"p50": 120, "p75": 140, "p90": 260, "p99": 300}},
                {"latency_last_30m": None},
            ]
        }
    }
    assert parse_latency(body) == LatencyStats(p50=120, p75=150, p90=260, p99=400)
    assert parse_latency({"data": {"endpoints": [{"latency_last_30m": None}]}}) is None
    assert parse_latency({"nope": 1}) is None


def test_p95_estimate_interpolates_between_p90_and_p99():
    assert estimate_p95(LatencyStats(p90=600, p99=1500)) == 1100.0
    assert estimate_p95(LatencyStats(p90=600)) is None


# -- constraints --------------------------------------------------------------------------------


def test_default_pick_is_newest_per_author_and_deterministic():
    catalog, _ = catalog_with()
    first = select(catalog, count=4)
    # free, variable-price and non-text models are never candidates
    assert ids(first) == ["acme/big-3", "zeta/chat", "openlab/llama-x", "acme/mid-2"]
    assert ids(select(catalog, count=4)) == ids(first)
    assert first.excluded == {"free_variant": 1, "unknown_price": 1, "no_text_output": 1}
    assert first.picked[0].reason.startswith("newest model from acme")
    assert first.picked[3].reason.startswith("#2 newest model from acme")
    # latency is reported even without a latency constraint, with its source
    assert first.picked[0].p95.source == "estimate_p90_p99" and first.picked[0].p95.value_ms == 2500.0
    assert first.picked[0].p99.source == "openrouter" and first.picked[0].p99.value_ms == 3300
    assert any("p90 + (p99 - p90) * 5/9" in note for note in first.notes)


def test_count_limits_the_pick():
    catalog, _ = catalog_with()
    assert len(select(catalog, count=1).picked) == 1


def test_max_input_cost():
    catalog, _ = catalog_with()
    assert ids(select(catalog, count=10, max_input_cost_per_m=1.0)) == [
        "openlab/llama-x",
        "acme/mid-2",
        "openlab/llama-y",
        "acme/old-1",
    ]


def test_max_output_cost():
    catalog, _ = catalog_with()
    result = select(catalog, count=10, max_output_cost_per_m=0.5)
    assert ids(result) == ["openlab/llama-y", "acme/old-1"]
    assert result.excluded["output_cost"] == 4


def test_open_source_only():
    catalog, _ = catalog_with()
    result = select(catalog, count=5, open_source_only=True)
    assert ids(result) == ["openlab/llama-x", "openlab/llama-y"]
    assert all(p.open_source and p.hugging_face_id for p in result.picked)
    assert any("Only 2 of 5" in note for note in result.notes)


def test_max_p95_uses_the_estimate_and_skips_unknown():
    catalog, _ = catalog_with()
    result = select(catalog, count=10, max_p95_latency_ms=800)
    assert ids(result) == ["zeta/chat", "openlab/llama-x", "acme/old-1"]
    assert all(p.p95.source == "estimate_p90_p99" for p in result.picked)
    assert result.excluded["p95_unknown"] == 1  # llama-y has no figures
    assert result.excluded["p95_latency"] == 2


def test_max_p95_prefers_our_observed_latency():
    catalog, _ = catalog_with()
    observed = {"acme/big-3": ObservedLatency(p95_ms=400, samples=500)}
    result = select(catalog, observed=observed.get, count=1, max_p95_latency_ms=800)
    assert ids(result) == ["acme/big-3"]
    assert result.picked[0].p95.source == "observed" and result.picked[0].p95.value_ms == 400
    assert "p95 400 ms (observed)" in result.picked[0].reason


def test_max_p99():
    catalog, _ = catalog_with()
    result = select(catalog, count=10, max_p99_latency_ms=900)
    assert ids(result) == ["openlab/llama-x", "acme/old-1"]
    assert all(p.p99.source == "openrouter" for p in result.picked)


def test_excluded_models_are_skipped():
    catalog, _ = catalog_with()
    assert "acme/big-3" not in ids(select(catalog, count=3, exclude={"acme/big-3"}))


@pytest.mark.parametrize(
    "body",
    [
        {"count": 0},
        {"count": 21},
        {"count": "three"},
        {"count": 1, "max_input_cost_per_m": -1},
        {"count": 1, "max_p95_latency_ms": 0},
        {"count": 1, "surprise": True},
        {},
    ],
)
def test_bad_requests_are_refused(body):
    with pytest.raises(ValidationError):
        AutoSelectRequest(**body)


# -- cache --------------------------------------------------------------------------------------


def test_stale_cache_is_refreshed_and_served_if_refresh_fails():
    catalog, store = catalog_with(now=NOW)
    catalog.now = lambda: NOW + 10_000  # past the 3600 s TTL; the base URL is unreachable
    snapshot = asyncio.run(catalog.snapshot(KEY))
    assert snapshot.stale and len(snapshot.models) == len(CATALOG)


def test_empty_cache_and_unreachable_catalog_raise():
    client = ProviderClient(ProvidersSettings(openrouter_base_url="http://127.0.0.1:9/api/v1", max_retries=0))
    with pytest.raises(Exception, match="Could not reach"):  # noqa: B017
        asyncio.run(OpenRouterCatalog(client, InMemoryCatalogStore()).snapshot(KEY))


def test_s3_catalog_store_round_trip(aws):
    store = S3CatalogStore(aws.clients.s3, aws.settings.aws.bucket_name)
    assert store.get("catalog/openrouter.json") is None
    store.put("catalog/openrouter.json", {"fetched_at": 1.0, "models": []})
    assert store.get("catalog/openrouter.json") == {"fetched_at": 1.0, "models": []}
    aws.clients.s3.put_object(Bucket=aws.settings.aws.bucket_name, Key="catalog/openrouter.json", Body=b"{oops")
    assert store.get("catalog/openrouter.json") is None  # corrupt cache = miss


# -- against the sandbox ------------------------------------------------------------------------


def sandbox_catalog(sandbox: str) -> tuple[ProviderClient, OpenRouterCatalog, InMemoryCatalogStore]:
    client = ProviderClient(ProvidersSettings(openrouter_base_url=f"{sandbox}/api/v1", allow_loopback=True))
    store = InMemoryCatalogStore()
    return client, OpenRouterCatalog(client, store), store


def test_auto_select_against_the_sandbox_caches_the_catalog(sandbox):
    client, catalog, store = sandbox_catalog(sandbox)
    result = select(catalog, count=2, open_source_only=True, max_p99_latency_ms=500)
    # sandbox open models: arithmetic-exact (p99 420), coin-flip-half (p99 210), echo (p99 35)
    assert ids(result) == ["sandbox/arithmetic-exact", "sandbox/coin-flip-half"]
    assert result.picked[0].p99.value_ms == 420.0 and result.picked[0].p99.source == "openrouter"
    assert "catalog/openrouter.json" in store.documents
    assert f"{ENDPOINTS_PREFIX}sandbox/arithmetic-exact.json" in store.documents


def test_validate_openrouter_model_against_catalog(sandbox):
    client, catalog, _ = sandbox_catalog(sandbox)
    found = asyncio.run(validate_target(OpenRouterTarget(model="sandbox/echo"), client=client, catalog=catalog))
    assert found.catalog_model.id == "sandbox/echo"
    with pytest.raises(UnknownModel) as caught:
        asyncio.run(validate_target(OpenRouterTarget(model="sandbox/nope"), client=client, catalog=catalog))
    assert caught.value.to_api_error().code == "unknown_model" and isinstance(caught.value, BadRequest)


def test_validate_endpoint_probes_it(sandbox):
    client, _, _ = sandbox_catalog(sandbox)
    ok = asyncio.run(validate_target(CustomTarget(url=f"{sandbox}/custom/openai"), client=client))
    assert ok.probe is not None and ok.probe.output
    with pytest.raises(AuthError):
        asyncio.run(validate_target(CustomTarget(url=f"{sandbox}/custom/secure/json"), client=client))
    with pytest.raises(UnsafeUrl):
        asyncio.run(validate_target(CustomTarget(url="https://169.254.169.254/"), client=client))
